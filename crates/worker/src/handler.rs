//! What a worker does with one delivered task: start an attempt in the status
//! record, run it ([`crate::attempt`]), and carry out what its outcome and the
//! retry policy ([`crate::retry`]) decide: done, cancelled, superseded,
//! failed, retried later with a new task, or handed back to run again.
//!
//! The delivery runs in a task of its own, not in apalis's handler: when a
//! worker loses its queue (a Redis restart), apalis drops the handler, and the
//! delivery must still stop its attempt, abort the upload and give the
//! attempt back once the queue returns, or the outage would count against the
//! job as a lost worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_core::ObjectKey;
use broker_core::config::WebhookEvent;
use broker_core::metrics::{self, ExportStatus};
use broker_core::store::Store;
use broker_jobs::job::{ExportJob, JobError, JobStatus};
use broker_jobs::{Attempt, Standing, StartOutcome, TaskError, TaskHandler};
use tracing::{Instrument, info, warn};

use crate::attempt::{self, JobContext};
use crate::failure::{Failure, Fault};
use crate::patience::patiently;
use crate::pipeline::{Progress, StopReason};
use crate::retry::{self, ErrorClass, Limits, Next};

/// Tries to delete the output of a job cancelled while its upload completed.
const DELETE_TRIES: u32 = 5;
/// The pause after the first failed delete; it doubles after each.
const DELETE_PAUSE: Duration = Duration::from_millis(500);

/// The worker's [`TaskHandler`]: every task of one worker process shares the context.
pub(crate) struct ExportHandler(pub Arc<JobContext>);

/// Stops the attempt when apalis drops the handler (its worker lost the queue).
struct StopOnDrop(Arc<Progress>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop(StopReason::Interrupted);
    }
}

#[async_trait::async_trait]
impl TaskHandler for ExportHandler {
    async fn handle(&self, job: ExportJob, task_id: String) -> Result<(), TaskError> {
        let progress = Arc::new(Progress::default());
        let _stop_on_drop = StopOnDrop(progress.clone());
        let span = tracing::info_span!("export", job_id = %job.job_id, %task_id);
        tokio::spawn(deliver(self.0.clone(), job, progress).instrument(span))
            .await
            .unwrap_or_else(|e| Err(TaskError::RunAgain(format!("the export delivery failed: {e}"))))
    }
}

/// One delivery of a task, from the start of its attempt to its outcome in the record.
async fn deliver(ctx: Arc<JobContext>, job: ExportJob, progress: Arc<Progress>) -> Result<(), TaskError> {
    let attempt = match ctx.jobs.start_attempt(job.job_id).await {
        Ok(StartOutcome::Run(attempt)) => attempt,
        Ok(StartOutcome::Skip(status)) => {
            info!(?status, "task skipped: the job already ended");
            return Ok(());
        }
        // The queue is unreachable and nothing was recorded: deliver it again.
        Err(error) => return Err(error.into()),
    };
    let limits = Limits::of(ctx.jobs.settings());
    if attempt.lost_workers > 0 {
        warn!(
            lost_workers = attempt.lost_workers,
            "the job's previous attempt never ended (its worker was lost)"
        );
    }
    if let Err(reason) = retry::before_attempt(attempt.lost_workers, &limits) {
        return fail(&ctx, &attempt, &job, reason).await;
    }
    info!(attempt = attempt.number, format = job.format.as_str(), "export started");
    let started = Instant::now();

    // Its own task, so a panic in the attempt fails the job instead of this delivery.
    let attempt_task = {
        let (ctx, job, attempt) = (ctx.clone(), job.clone(), attempt.clone());
        tokio::spawn(async move { attempt::watched(&ctx, &job, &attempt, progress).await }.in_current_span())
    };
    let result = match attempt_task.await {
        Ok(result) => result,
        Err(e) => Err(Failure::fault(Fault::Internal, format!("the export task failed: {e}"))),
    };

    let failure = match result {
        Ok(exported) => {
            let recorded = patiently("finishing the job", || {
                ctx.jobs.finish(&attempt, exported.object_key.as_str(), exported.rows)
            })
            .await?;
            match recorded {
                Standing::Current => {
                    metrics::export(job.format.as_str(), ExportStatus::Done);
                    metrics::export_duration(job.format.as_str(), started.elapsed());
                    info!(
                        rows = exported.rows,
                        bytes = exported.bytes,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "export done"
                    );
                    let details = serde_json::json!({"jobId": job.job_id.to_string(), "format": job.format.as_str(), "filename": job.filename, "rows": exported.rows, "size": exported.bytes});
                    ctx.webhooks
                        .emit(
                            WebhookEvent::ExportDone,
                            &job.tenant,
                            Some(exported.object_key.to_string()),
                            details,
                        )
                        .await;
                }
                Standing::Ended(Some(JobStatus::Cancelled)) => {
                    info!("export cancelled while its upload completed; removing its output");
                    remove_output(&ctx.store, &exported.object_key).await;
                }
                // Another attempt owns the job now: the output at the key is, or
                // will be, its own, and must stay.
                standing => not_ours(standing),
            }
            return Ok(());
        }
        Err(failure) => failure,
    };
    let class = match &failure {
        Failure::Stopped(StopReason::Cancelled) => {
            info!("export cancelled");
            return Ok(());
        }
        Failure::Stopped(StopReason::Superseded) => {
            info!("another attempt took the job over; this one stopped and aborted its upload");
            return Ok(());
        }
        Failure::Stopped(StopReason::Interrupted) => ErrorClass::Interrupted,
        Failure::Permanent(error) => ErrorClass::Permanent(error),
        Failure::Transient(error) => ErrorClass::Transient(error),
    };
    match retry::after_failure(class, attempt.failures, &limits) {
        Next::RunAgainUncounted => {
            match patiently("giving the attempt back", || ctx.jobs.release(&attempt)).await {
                Ok(Standing::Current) => info!("export interrupted; it goes back to the queue"),
                Ok(standing) => {
                    not_ours(standing);
                    return Ok(());
                }
                Err(error) => warn!(%error, "could not give the interrupted attempt back"),
            }
            Err(TaskError::RunAgain("interrupted; the task will run again".into()))
        }
        Next::Fail { reason } => fail(&ctx, &attempt, &job, reason).await,
        Next::RetryAfter { delay, reason } => {
            warn!(attempt = attempt.number, code = %reason.code, message = %reason.message, retry_in_s = delay.as_secs(), "export attempt failed; retrying");
            retry_later(&ctx, &attempt, &job, &reason, delay).await
        }
    }
}

/// Fails the job for good, and kills the task, if the attempt still owns the job.
async fn fail(ctx: &JobContext, attempt: &Attempt, job: &ExportJob, reason: JobError) -> Result<(), TaskError> {
    match patiently("failing the job", || ctx.jobs.fail(attempt, &reason)).await? {
        Standing::Current => {
            metrics::export(job.format.as_str(), ExportStatus::Failed);
            warn!(attempt = attempt.number, code = %reason.code, message = %reason.message, "export failed");
            let details = serde_json::json!({"jobId": job.job_id.to_string(), "format": job.format.as_str(), "filename": job.filename, "code": reason.code, "message": reason.message});
            ctx.webhooks
                .emit(WebhookEvent::ExportFailed, &job.tenant, None, details)
                .await;
            Err(TaskError::Abort(format!("{}: {}", reason.code, reason.message)))
        }
        standing => {
            not_ours(standing);
            Ok(())
        }
    }
}

/// The attempt found the job moved on without it (cancelled, or taken over
/// by a later attempt): its delivery ends quietly, so apalis neither runs it
/// again nor kills a task the live attempt may share.
fn not_ours(standing: Standing) {
    info!(
        ?standing,
        "another attempt took the job over, or it ended; this attempt leaves it alone"
    );
}

/// Queues the retry. Not [`patiently`]: if the status moved but the new task
/// could not be pushed, a second try would find the attempt no longer current
/// and push nothing; running this task again instead starts the job from
/// `queued`.
async fn retry_later(
    ctx: &JobContext,
    attempt: &Attempt,
    job: &ExportJob,
    reason: &JobError,
    delay: Duration,
) -> Result<(), TaskError> {
    match ctx.jobs.retry_later(attempt, job, reason, delay).await? {
        Standing::Current => {}
        standing => not_ours(standing),
    }
    Ok(())
}

/// Deletes the output of a job cancelled as its upload completed, retrying a
/// failed delete. If every try fails the object stays in the store, but the
/// API never signs a download for a job that is not done.
async fn remove_output(store: &Store, key: &ObjectKey) {
    if !delete_with_retries(key, || store.delete(key)).await {
        tracing::error!(%key, "could not delete a cancelled export's output; it stays, never signed");
    }
}

/// Runs `delete` until it succeeds, at most [`DELETE_TRIES`] times, pausing
/// [`DELETE_PAUSE`] (doubled each time) after a failure; whether it succeeded.
async fn delete_with_retries<E, F, Fut>(key: &ObjectKey, mut delete: F) -> bool
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let mut pause = DELETE_PAUSE;
    for attempt in 1..=DELETE_TRIES {
        match delete().await {
            Ok(()) => return true,
            Err(error) => {
                warn!(%key, %error, attempt, "could not delete a cancelled export's output");
                if attempt < DELETE_TRIES {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ObjectKey {
        ObjectKey::parse("acme/exports/01M83ZAXYNVFVE1NPVFNNVXZG7/a.csv").expect("key")
    }

    /// A delete that fails its first `failures` calls; counts the calls.
    fn flaky(
        failures: u32,
        calls: &std::cell::Cell<u32>,
    ) -> impl FnMut() -> std::future::Ready<Result<(), String>> + '_ {
        move || {
            calls.set(calls.get() + 1);
            std::future::ready(if calls.get() <= failures {
                Err("503 SlowDown".to_owned())
            } else {
                Ok(())
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_delete_of_a_cancelled_output_is_tried_again() {
        let calls = std::cell::Cell::new(0);
        let started = tokio::time::Instant::now();
        assert!(delete_with_retries(&key(), flaky(2, &calls)).await);
        assert_eq!(calls.get(), 3, "two failures, then the delete that works");
        assert_eq!(started.elapsed(), DELETE_PAUSE * 3, "0.5 s, then 1 s");

        let calls = std::cell::Cell::new(0);
        assert!(delete_with_retries(&key(), flaky(0, &calls)).await);
        assert_eq!(calls.get(), 1, "no second delete after one that worked");
    }

    #[tokio::test(start_paused = true)]
    async fn a_delete_that_keeps_failing_is_given_up_after_the_last_try() {
        let calls = std::cell::Cell::new(0);
        let started = tokio::time::Instant::now();
        assert!(!delete_with_retries(&key(), flaky(u32::MAX, &calls)).await);
        assert_eq!(calls.get(), DELETE_TRIES);
        // 0.5 + 1 + 2 + 4 s between the five tries, none after the last.
        assert_eq!(started.elapsed(), Duration::from_millis(7_500));
    }
}
