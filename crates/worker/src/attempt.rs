//! Running export jobs: one attempt ([`execute`]), the apalis handler that
//! applies our retry policy around it, and the worker loop that keeps apalis
//! workers alive across queue outages and drains them on shutdown.
//!
//! Retry policy (apalis-redis 1.0 hard-codes 25 attempts with a linear delay,
//! so we keep our own):
//! * the attempt counter lives in the job's status record and is incremented
//!   when an attempt starts, so a crash (SIGKILL) counts as an attempt too;
//! * permanent failures (bad source, unparsable data, ragged rows) fail the
//!   job at once and the task ends with [`AbortError`];
//! * transient failures (store or queue unavailable) put the job back to
//!   `queued` and enqueue a new task delayed by `EXPORT_RETRY_BASE × 2^(n-1)`
//!   (capped at `EXPORT_RETRY_MAX`), until `EXPORT_MAX_ATTEMPTS`;
//! * an attempt interrupted by shutdown returns a plain error: apalis runs the
//!   same task again shortly, and the attempt is not counted.
//!
//! Output is idempotent: the key is derived from the job id, and the object
//! appears only when its multipart upload completes, so a re-delivered or
//! retried job overwrites its own output and never leaves a partial object.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{AbortError, BoxDynError, Data, TaskId, WorkerBuilder, WorkerBuilderExt};
use broker_core::config::{StaticCredentials, StoreBackend};
use broker_core::disposition::{attachment, encode_filename};
use broker_core::keys::Area;
use broker_core::store::{PutOptions, Store, StoreEndpoint, StoreError};
use broker_core::{ObjectKey, Settings, TenantId};
use tokio::sync::{mpsc, watch};
use ulid::Ulid;

use crate::job::{ExportJob, InlineData, JobError, JobSource, JobStatus, download_name, now};
use crate::multipart::{MultipartUpload, PART_SIZE, PartWriter};
use crate::pipeline::{
    ChannelReader, ExportSink, Failure, OutputSpec, Progress, SourceKind, StopReason, feed_csv, feed_inline, feed_json,
};
use crate::queue::{Backend, Exports, QueueError, StartOutcome, backoff};

/// How often a running job reports progress and looks for a cancel.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// How often a worker drops old finished tasks and expired records.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);

/// What every job of a worker process shares.
pub struct JobContext {
    pub exports: Exports,
    pub store: Store,
    /// Flips to `true` when the drain timeout is over: running jobs stop and go back to the queue.
    interrupt: watch::Receiver<bool>,
}

/// The outcome of one successful attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub object_key: ObjectKey,
    pub rows: u64,
    pub bytes: u64,
}

fn queue_failure(error: QueueError) -> Failure {
    Failure::transient("queue_unavailable", error)
}

fn store_failure(error: StoreError) -> Failure {
    match error {
        StoreError::Unavailable(detail) => Failure::transient("store_unavailable", detail),
        StoreError::NotFound => Failure::transient("store_unavailable", "the bucket or upload is missing"),
        other => Failure::transient("store_refused", other),
    }
}

/// The source object's key, if it is a verified export upload of the job's tenant.
fn source_key(store: &Store, tenant: &TenantId, raw: &str) -> Result<(ObjectKey, SourceKind), Failure> {
    let invalid = || {
        Failure::permanent(
            "invalid_source",
            "the source is not a verified CSV or JSON upload of this tenant",
        )
    };
    let key = ObjectKey::parse(raw).map_err(|_| invalid())?;
    match store.layout().classify(&key) {
        Ok(Area::Served {
            tenant: owner,
            area: "uploads",
        }) if &owner == tenant => {}
        _ => return Err(invalid()),
    }
    let kind = SourceKind::of_key(key.as_str()).ok_or_else(invalid)?;
    Ok((key, kind))
}

/// Runs one attempt of `job`: reads its rows, writes the output into a
/// multipart upload, completes it. On any failure the upload is aborted, so
/// nothing is left at the output key.
pub async fn execute(ctx: &JobContext, job: &ExportJob, progress: Arc<Progress>) -> Result<Exported, Failure> {
    let tenant = TenantId::parse(&job.tenant).map_err(|e| Failure::permanent("invalid_job", e))?;
    let layout = ctx.store.layout();
    let extension = job.format.extension();
    let key = layout
        .export_key(&tenant, &job.job_id, &job.filename, extension)
        .map_err(|e| Failure::permanent("invalid_job", format!("no valid output key: {e}")))?;

    // The input, before anything is written.
    enum Input {
        Inline(InlineData),
        Object(SourceKind, mpsc::Receiver<io::Result<bytes::Bytes>>),
    }
    let input = match &job.source {
        JobSource::Inline => {
            let bytes = ctx
                .exports
                .inline_input(&job.job_id)
                .await
                .map_err(queue_failure)?
                .ok_or_else(|| Failure::permanent("input_missing", "the job's rows are no longer stored"))?;
            Input::Inline(serde_json::from_slice(&bytes).map_err(|e| Failure::permanent("input_missing", e))?)
        }
        JobSource::Object { key: raw } => {
            let (source, kind) = source_key(&ctx.store, &tenant, raw)?;
            let body = match ctx.store.get(&source).await {
                Ok(body) => body,
                Err(StoreError::NotFound) => {
                    return Err(Failure::permanent(
                        "source_not_found",
                        "the source object does not exist",
                    ));
                }
                Err(e) => return Err(store_failure(e)),
            };
            let (tx, rx) = mpsc::channel(4);
            tokio::spawn(async move {
                let mut body = body;
                loop {
                    let chunk = match body.try_next().await {
                        Ok(Some(chunk)) => Ok(chunk),
                        Ok(None) => break,
                        Err(e) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, e.to_string())),
                    };
                    let failed = chunk.is_err();
                    if tx.send(chunk).await.is_err() || failed {
                        break;
                    }
                }
            });
            Input::Object(kind, rx)
        }
    };

    let wanted_name = download_name(&job.filename, job.format);
    let disposition = attachment(&wanted_name);
    let metadata = [
        ("filename".to_owned(), encode_filename(&wanted_name)),
        ("job".to_owned(), job.job_id.clone()),
    ]
    .into();
    let options = PutOptions {
        content_type: job.format.content_type(),
        content_disposition: &disposition,
        metadata,
        create_only: false,
    };
    let upload_id = ctx.store.create_multipart(&key, options).await.map_err(store_failure)?;
    let upload = MultipartUpload::new(&ctx.store, &key, upload_id);

    let (writer, parts) = PartWriter::new(PART_SIZE);
    let spec = OutputSpec::of(job);
    let blocking_progress = progress.clone();
    let writing = tokio::task::spawn_blocking(move || {
        let progress = &*blocking_progress;
        let mut sink = ExportSink::new(spec, writer, progress);
        match input {
            Input::Inline(data) => feed_inline(&data, &mut sink)?,
            Input::Object(SourceKind::Csv, rx) => feed_csv(ChannelReader::new(rx), &mut sink)?,
            Input::Object(SourceKind::Json, rx) => feed_json(ChannelReader::new(rx), &mut sink)?,
        }
        let (writer, rows) = sink.finish()?;
        let bytes = writer.finish().map_err(|e| Failure::transient("upload_failed", e))?;
        Ok::<_, Failure>((rows, bytes))
    });

    let (written, uploaded) = tokio::join!(writing, upload.upload_parts(parts));
    let written =
        written.unwrap_or_else(|e| Err(Failure::permanent("internal", format!("the export thread failed: {e}"))));
    let result = match (written, uploaded) {
        // A stop request wins over the errors it causes.
        (Err(Failure::Stopped(reason)), _) => Err(Failure::Stopped(reason)),
        (_, Err(e)) => Err(store_failure(e)),
        (Err(failure), Ok(_)) => Err(failure),
        (Ok((rows, bytes)), Ok(parts)) => match progress.stopped() {
            Some(reason) => Err(Failure::Stopped(reason)),
            None => upload
                .complete(&parts)
                .await
                .map(|()| (rows, bytes))
                .map_err(store_failure),
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

/// Runs [`execute`] while reporting progress every [`PROGRESS_EVERY`] and
/// watching for a cancel (in the status record) or an interrupt (shutdown).
async fn execute_watched(ctx: &JobContext, job: &ExportJob, progress: Arc<Progress>) -> Result<Exported, Failure> {
    let mut interrupt = ctx.interrupt.clone();
    let run = execute(ctx, job, progress.clone());
    tokio::pin!(run);
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    ticker.tick().await;
    loop {
        tokio::select! {
            result = &mut run => return result,
            _ = ticker.tick() => {
                // Also while no rows move (PDF assembly, last parts): a cancel is seen within a tick.
                match ctx.exports.progress(&job.job_id, progress.rows()).await {
                    Ok(Some(JobStatus::Running)) => {}
                    // Cancelled, expired, or moved on by someone else: stop.
                    Ok(_) => progress.stop(StopReason::Cancelled),
                    Err(error) => tracing::warn!(job_id = %job.job_id, %error, "could not record progress"),
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

/// Stops the job's blocking thread when apalis drops the task (its worker lost the queue).
struct StopOnDrop(Arc<Progress>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop(StopReason::Interrupted);
    }
}

/// The apalis handler: status transitions and the retry policy around one attempt.
pub async fn handle(job: ExportJob, ctx: Data<Arc<JobContext>>, task_id: TaskId) -> Result<(), BoxDynError> {
    let ctx: Arc<JobContext> = (*ctx).clone();
    let job_id = job.job_id.clone();
    let attempt = match ctx.exports.start_attempt(&job_id).await {
        Ok(StartOutcome::Run { attempt }) => attempt,
        Ok(StartOutcome::Skip(status)) => {
            tracing::info!(%job_id, %task_id, ?status, "task skipped: the job already ended");
            return Ok(());
        }
        // The queue is unreachable: let apalis deliver the task again.
        Err(error) => return Err(error.into()),
    };
    let max_attempts = ctx.exports.settings().max_attempts;
    if attempt > max_attempts {
        let error = JobError {
            code: "too_many_attempts".into(),
            message: format!("the job was interrupted {} times", attempt - 1),
        };
        ctx.exports.fail(&job_id, &error).await?;
        return Err(AbortError::new(error.message).into());
    }
    tracing::info!(%job_id, %task_id, attempt, format = job.format.as_str(), "export started");
    let started = std::time::Instant::now();

    // The attempt runs in its own task so jobs use every core. If apalis drops
    // this handler (its worker lost the queue), the guard tells the attempt to
    // stop, and it aborts its multipart upload before it ends.
    let progress = Arc::new(Progress::default());
    let _stop_on_drop = StopOnDrop(progress.clone());
    let attempt_task = {
        let ctx = ctx.clone();
        let job = job.clone();
        tokio::spawn(async move { execute_watched(&ctx, &job, progress).await })
    };
    let result = match attempt_task.await {
        Ok(result) => result,
        Err(e) => Err(Failure::permanent("internal", format!("the export task failed: {e}"))),
    };

    match result {
        Ok(exported) => {
            match ctx
                .exports
                .finish(&job_id, exported.object_key.as_str(), exported.rows)
                .await?
            {
                Some(JobStatus::Running) => {
                    tracing::info!(%job_id, rows = exported.rows, bytes = exported.bytes, elapsed_ms = started.elapsed().as_millis() as u64, "export done");
                }
                status => {
                    // Cancelled while the upload completed: the output must not stay.
                    tracing::info!(%job_id, ?status, "export finished after a cancel; removing its output");
                    ctx.store.delete(&exported.object_key).await?;
                }
            }
            Ok(())
        }
        Err(Failure::Stopped(StopReason::Cancelled)) => {
            tracing::info!(%job_id, "export cancelled");
            Ok(())
        }
        Err(Failure::Stopped(StopReason::Interrupted)) => {
            tracing::info!(%job_id, "export interrupted; it goes back to the queue");
            if let Err(error) = ctx.exports.requeue(&job_id).await {
                tracing::warn!(%job_id, %error, "could not requeue the interrupted export");
            }
            Err("interrupted by shutdown; the task will run again".into())
        }
        Err(Failure::Permanent(error)) => {
            tracing::warn!(%job_id, code = %error.code, message = %error.message, "export failed");
            ctx.exports.fail(&job_id, &error).await?;
            Err(AbortError::new(format!("{}: {}", error.code, error.message)).into())
        }
        Err(Failure::Transient(error)) if attempt >= max_attempts => {
            tracing::warn!(%job_id, attempt, code = %error.code, message = %error.message, "export failed; no attempts left");
            let error = JobError {
                code: error.code,
                message: format!("{} (after {attempt} attempts)", error.message),
            };
            ctx.exports.fail(&job_id, &error).await?;
            Err(AbortError::new(error.message).into())
        }
        Err(Failure::Transient(error)) => {
            let delay = backoff(ctx.exports.settings(), attempt);
            tracing::warn!(%job_id, attempt, code = %error.code, message = %error.message, retry_in_s = delay.as_secs(), "export attempt failed; retrying");
            // Status first: if the push fails, apalis runs this task again.
            ctx.exports
                .retry_later(&job_id, &error, now() + delay.as_secs())
                .await?;
            ctx.exports
                .push(&job, TaskId::from_ulid(Ulid::generate()), Some(delay))
                .await?;
            Ok(())
        }
    }
}

/// Runs export workers until `shutdown` resolves, then drains: running jobs
/// get `EXPORT_DRAIN_TIMEOUT` to finish before they are interrupted and handed
/// back to the queue. Workers that lose their queue (Redis down) are rebuilt
/// with a backoff, so the process reconnects by itself.
pub async fn run_workers(exports: Exports, store: Store, shutdown: impl Future<Output = ()> + Send + 'static) {
    let (interrupt_tx, interrupt) = watch::channel(false);
    let ctx = Arc::new(JobContext {
        exports: exports.clone(),
        store,
        interrupt,
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (finished_tx, mut finished) = watch::channel(false);
    let current_name = Arc::new(std::sync::Mutex::new(String::new()));
    let drain_timeout = exports.settings().drain_timeout;
    let heartbeat = exports.settings().heartbeat;
    let drain = {
        let exports = exports.clone();
        let current_name = current_name.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown => {}
                _ = finished.changed() => return,
            }
            tracing::info!(drain_timeout_s = drain_timeout.as_secs(), "export workers draining");
            let _ = stop_tx.send(true);
            // apalis stops heartbeating while it drains; without this, another
            // worker would take the running jobs over after the orphan timeout.
            let deadline = tokio::time::sleep(drain_timeout);
            tokio::pin!(deadline);
            let mut ticker = tokio::time::interval(heartbeat);
            loop {
                tokio::select! {
                    _ = &mut deadline, if !*interrupt_tx.borrow() => {
                        tracing::warn!("drain timeout: interrupting running exports");
                        let _ = interrupt_tx.send(true);
                    }
                    _ = ticker.tick() => {
                        let name = current_name.lock().map(|n| n.clone()).unwrap_or_default();
                        if let Err(error) = exports.keep_alive(&name).await {
                            tracing::debug!(%error, "drain heartbeat failed");
                        }
                    }
                    _ = finished.changed() => return,
                }
            }
        })
    };

    let housekeeping = {
        let exports = exports.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(HOUSEKEEPING_EVERY);
            loop {
                tokio::select! {
                    _ = ticker.tick() => match exports.housekeeping().await {
                        Ok(removed) if removed > 0 => tracing::info!(removed, "export housekeeping"),
                        Ok(_) => {}
                        Err(error) => tracing::debug!(%error, "export housekeeping skipped"),
                    },
                    _ = stop.changed() => break,
                }
            }
        })
    };

    let mut restart_delay = Duration::from_millis(250);
    loop {
        if *stop_rx.borrow() {
            break;
        }
        let name = format!("exports-{}-{}-{}", host_name(), std::process::id(), Ulid::generate());
        if let Ok(mut current) = current_name.lock() {
            current.clone_from(&name);
        }
        let concurrency = exports.settings().concurrency;
        let mut stop = stop_rx.clone();
        let signal = async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
            Ok::<(), std::io::Error>(())
        };
        let started = std::time::Instant::now();
        tracing::info!(worker = %name, backend = exports.backend_name(), concurrency, "export worker starting");
        let result = match &exports.backend {
            Backend::Redis(redis) => {
                WorkerBuilder::new(name.as_str())
                    .backend(redis.worker_storage())
                    .data(ctx.clone())
                    .concurrency(concurrency)
                    .build(handle)
                    .run_until(signal)
                    .await
            }
            Backend::Sqlite(sqlite) => {
                WorkerBuilder::new(name.as_str())
                    .backend(sqlite.worker_storage())
                    .data(ctx.clone())
                    .concurrency(concurrency)
                    .build(handle)
                    .run_until(signal)
                    .await
            }
        };
        match result {
            Ok(()) if *stop_rx.borrow() => break,
            Ok(()) => tracing::warn!(worker = %name, "export worker stopped by itself; restarting"),
            Err(error) => tracing::warn!(worker = %name, %error, "export worker lost its queue; reconnecting"),
        }
        if started.elapsed() > Duration::from_secs(30) {
            restart_delay = Duration::from_millis(250);
        }
        let mut stop = stop_rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(restart_delay) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        restart_delay = (restart_delay * 2).min(Duration::from_secs(5));
    }
    housekeeping.abort();
    let _ = finished_tx.send(true);
    let _ = drain.await;
    tracing::info!("export workers stopped");
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// The store a standalone worker writes to: the configured S3 endpoint, or
/// with `S3_ENABLED` unset the embedded store that `upload-broker serve` runs
/// on `DEVSTORE_BIND_ADDR` (which then needs `S3_ACCESS_KEY`/`S3_SECRET_KEY`,
/// the same as `serve`'s).
pub async fn worker_store(settings: &Settings) -> Result<Store, String> {
    let endpoint = match &settings.store.backend {
        StoreBackend::External {
            endpoint,
            force_path_style,
        } => StoreEndpoint {
            endpoint: endpoint.clone(),
            force_path_style: *force_path_style,
            credentials: settings.store.credentials.clone(),
        },
        StoreBackend::Embedded { bind, .. } => {
            let credentials: StaticCredentials = settings.store.credentials.clone().ok_or_else(|| {
                "with S3_ENABLED unset the worker writes to the embedded store of `upload-broker serve`; \
                 set S3_ACCESS_KEY and S3_SECRET_KEY to the same values for both"
                    .to_owned()
            })?;
            StoreEndpoint {
                endpoint: Some(format!("http://{bind}")),
                force_path_style: true,
                credentials: Some(credentials),
            }
        }
    };
    Ok(Store::connect(&settings.store, endpoint).await)
}
