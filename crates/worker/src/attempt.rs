//! One attempt of an export job: read its rows, write the output into a
//! multipart upload, complete it ([`execute`]); and the same attempt under
//! watch ([`watched`]), reporting progress and looking for a cancel or a
//! newer attempt every [`PROGRESS_EVERY`], and stopping when the worker's
//! drain time is over.
//!
//! Output is idempotent: the key is derived from the job id, and the object
//! appears only when its multipart upload completes, so a retried job
//! overwrites its own output and never leaves a partial object. The upload is
//! completed only after the queue has confirmed that this attempt is still the
//! job's live one, so a superseded attempt (its worker taken for dead, or its
//! task delivered twice) aborts instead of replacing the live attempt's
//! output.

use std::sync::Arc;
use std::time::Duration;

use broker_core::disposition::attachment;
use broker_core::keys::{DatasetFormat, ExportSource};
use broker_core::record::ObjectRecord;
use broker_core::store::{PutOptions, Store, StoreError};
use broker_core::{ObjectKey, Scope};
use broker_jobs::job::{ExportJob, JobSource, JobStatus, download_name};
use broker_jobs::{Attempt, JobsLifecycle, Standing};
use tokio::sync::watch;

use crate::failure::{Failure, Fault};
use crate::multipart::{MultipartUpload, PART_SIZE, PartWriter};
use crate::patience::patiently;
use crate::pipeline::{ChannelReader, ExportSink, OutputSpec, Progress, StopReason, feed_csv, feed_inline, feed_json};

/// How often a running job reports progress and looks for a cancel.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// What every job of a worker process shares.
pub(crate) struct JobContext {
    pub jobs: JobsLifecycle,
    pub store: Store,
    /// Flips to `true` when the drain timeout is over: running jobs stop and go back to the queue.
    pub interrupt: watch::Receiver<bool>,
    /// Emits `export.done` and `export.failed`.
    pub webhooks: broker_jobs::Webhooks,
}

/// The outcome of one successful attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exported {
    pub object_key: ObjectKey,
    pub rows: u64,
    pub bytes: u64,
}

/// Runs one attempt of `job`: reads its rows, writes the output into a
/// multipart upload, completes it. On any failure the upload is aborted, so
/// nothing is left at the output key.
async fn execute(
    ctx: &JobContext,
    job: &ExportJob,
    attempt: &Attempt,
    progress: Arc<Progress>,
) -> Result<Exported, Failure> {
    let layout = ctx.store.layout();
    // Checked again: the job was queued under the rule as it was then.
    let source = match &job.source {
        JobSource::Inline => None,
        JobSource::Object { key: raw } => Some(layout.export_source(&job.tenant, raw).map_err(|_| {
            Failure::permanent(
                "invalid_source",
                "the source is not a verified CSV or JSON upload of this tenant",
            )
        })?),
    };
    // The output is readable by whoever may read the source; inline rows are the tenant's.
    let scope = source.as_ref().map_or(Scope::Tenant, |source| source.scope.clone());
    let key = layout
        .export_key(
            &job.tenant,
            &scope,
            &job.job_id.to_string(),
            &job.filename,
            job.format.extension(),
        )
        .map_err(|e| Failure::permanent("invalid_job", format!("no valid output key: {e}")))?;

    // The input, before anything is written.
    enum Input {
        /// The request body the rows came in.
        Inline(Vec<u8>),
        Object(DatasetFormat, ChannelReader),
    }
    let input = match source {
        None => {
            let body = patiently("reading the inline rows", || ctx.jobs.inline_input(job.job_id))
                .await?
                .ok_or_else(|| Failure::permanent("input_missing", "the job's rows are no longer stored"))?;
            Input::Inline(body)
        }
        Some(ExportSource {
            key: source, format, ..
        }) => {
            let body = match ctx.store.get(&source).await {
                Ok(body) => body,
                Err(StoreError::NotFound) => {
                    return Err(Failure::permanent(
                        "source_not_found",
                        "the source object does not exist",
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            Input::Object(format, ChannelReader::spawn(body))
        }
    };

    let wanted_name = download_name(&job.filename, job.format);
    let disposition = attachment(&wanted_name);
    // The key names the job; the record carries the name the browser saves.
    let metadata = ObjectRecord {
        filename: Some(wanted_name),
        ..ObjectRecord::default()
    }
    .to_metadata()
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let options = PutOptions {
        content_type: job.format.content_type(),
        content_disposition: &disposition,
        metadata,
        create_only: false,
    };
    let upload_id = ctx.store.create_multipart(&key, options, false).await?;
    let upload = MultipartUpload::new(&ctx.store, &key, upload_id);

    let (writer, parts) = PartWriter::new(PART_SIZE);
    let spec = OutputSpec::of(job, ctx.jobs.settings().max_pdf_pages);
    let blocking_progress = progress.clone();
    // Faults met on the blocking thread are logged in the attempt's span.
    let span = tracing::Span::current();
    let writing = tokio::task::spawn_blocking(move || {
        let _span = span.enter();
        let progress = &*blocking_progress;
        let mut sink = ExportSink::new(spec, writer, progress);
        match input {
            Input::Inline(body) => feed_inline(&body, &mut sink)?,
            Input::Object(DatasetFormat::Csv, reader) => feed_csv(reader, &mut sink)?,
            Input::Object(DatasetFormat::Json, reader) => feed_json(reader, &mut sink)?,
        }
        let (writer, rows) = sink.finish()?;
        let bytes = writer.finish().map_err(|e| Failure::fault(Fault::UploadFailed, e))?;
        Ok::<_, Failure>((rows, bytes))
    });

    let (written, uploaded) = tokio::join!(writing, upload.upload_parts(parts));
    let written = written.unwrap_or_else(|e| {
        Err(Failure::fault(
            Fault::Internal,
            format!("the export thread failed: {e}"),
        ))
    });
    let result = match (written, uploaded) {
        // A stop request wins over the errors it causes.
        (Err(Failure::Stopped(reason)), _) => Err(Failure::Stopped(reason)),
        (_, Err(e)) => Err(e.into()),
        (Err(failure), Ok(_)) => Err(failure),
        (Ok((rows, bytes)), Ok(parts)) => match still_current(ctx, attempt, &progress, rows).await {
            Err(failure) => Err(failure),
            Ok(()) => upload
                .complete(&parts)
                .await
                .map(|()| (rows, bytes))
                .map_err(Failure::from),
        },
    };
    match result {
        Ok((rows, bytes)) => Ok(Exported {
            object_key: key.clone(),
            rows,
            bytes,
        }),
        Err(failure) => {
            upload.abort().await;
            Err(failure)
        }
    }
}

/// The last look before the output appears at its key: not for a cancelled
/// job, and never over the output of an attempt that took the job over.
async fn still_current(ctx: &JobContext, attempt: &Attempt, progress: &Progress, rows: u64) -> Result<(), Failure> {
    if let Some(reason) = progress.stopped() {
        return Err(Failure::Stopped(reason));
    }
    let standing = patiently("the last progress check", || ctx.jobs.progress(attempt, rows)).await?;
    match stop_for(standing) {
        None => Ok(()),
        Some(reason) => {
            progress.stop(reason);
            Err(Failure::Stopped(reason))
        }
    }
}

/// Why an attempt must stop, given where its job stands.
fn stop_for(standing: Standing) -> Option<StopReason> {
    match standing {
        Standing::Current => None,
        Standing::Ended(Some(JobStatus::Cancelled)) => Some(StopReason::Cancelled),
        // A newer attempt runs it, or has ended it: it owns the job and the output.
        Standing::Superseded | Standing::Ended(_) => Some(StopReason::Superseded),
    }
}

/// Runs [`execute`] while reporting progress every [`PROGRESS_EVERY`] and
/// watching for a cancel or a newer attempt (in the status record) or an
/// interrupt (shutdown).
pub(crate) async fn watched(
    ctx: &JobContext,
    job: &ExportJob,
    attempt: &Attempt,
    progress: Arc<Progress>,
) -> Result<Exported, Failure> {
    let mut interrupt = ctx.interrupt.clone();
    let run = execute(ctx, job, attempt, progress.clone());
    tokio::pin!(run);
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    ticker.tick().await;
    loop {
        tokio::select! {
            result = &mut run => return result,
            _ = ticker.tick() => {
                // Also while no rows move (PDF assembly, last parts): a cancel is seen within a tick.
                match ctx.jobs.progress(attempt, progress.rows()).await {
                    Ok(standing) => {
                        if let Some(reason) = stop_for(standing) {
                            progress.stop(reason);
                        }
                    }
                    Err(error) => tracing::warn!(%error, "could not record progress"),
                }
            }
            changed = interrupt.changed() => {
                if changed.is_err() || *interrupt.borrow() {
                    progress.stop(StopReason::Interrupted);
                }
            }
        }
    }
}
