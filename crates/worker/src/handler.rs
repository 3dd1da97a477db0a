//! What a worker does with one delivered task: count the attempt in the
//! status record, run it ([`crate::attempt`]) in its own task, and carry out
//! what its outcome and the retry policy ([`crate::retry`]) decide: done,
//! cancelled, failed, retried later with a new task, or handed back to run
//! again.

use std::sync::Arc;
use std::time::Instant;

use broker_jobs::job::{ExportJob, JobError, JobStatus};
use broker_jobs::{StartOutcome, TaskError, TaskHandler};
use tracing::{info, warn};

use crate::attempt::{self, JobContext};
use crate::failure::Failure;
use crate::pipeline::{Progress, StopReason};
use crate::retry::{self, ErrorClass, Limits, Next};

/// The worker's [`TaskHandler`]: every task of one worker process shares the context.
pub(crate) struct ExportHandler(pub Arc<JobContext>);

/// Stops the job's blocking thread when apalis drops the task (its worker lost the queue).
struct StopOnDrop(Arc<Progress>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop(StopReason::Interrupted);
    }
}

#[async_trait::async_trait]
impl TaskHandler for ExportHandler {
    async fn handle(&self, job: ExportJob, task_id: String) -> Result<(), TaskError> {
        let ctx = &self.0;
        let job_id = job.job_id;
        let attempt = match ctx.jobs.start_attempt(job_id).await {
            Ok(StartOutcome::Run { attempt }) => attempt,
            Ok(StartOutcome::Skip(status)) => {
                info!(%job_id, %task_id, ?status, "task skipped: the job already ended");
                return Ok(());
            }
            // The queue is unreachable: let the task be delivered again.
            Err(error) => return Err(error.into()),
        };
        let limits = Limits::of(ctx.jobs.settings());
        if let Err(reason) = retry::before_attempt(attempt, &limits) {
            ctx.jobs.fail(job_id, &reason).await?;
            return Err(abort(&reason));
        }
        info!(%job_id, %task_id, attempt, format = job.format.as_str(), "export started");
        let started = Instant::now();

        // The attempt runs in its own task so jobs use every core. If apalis drops
        // this handler (its worker lost the queue), the guard tells the attempt to
        // stop, and it aborts its multipart upload before it ends.
        let progress = Arc::new(Progress::default());
        let _stop_on_drop = StopOnDrop(progress.clone());
        let attempt_task = {
            let ctx = ctx.clone();
            let job = job.clone();
            tokio::spawn(async move { attempt::watched(&ctx, &job, progress).await })
        };
        let result = match attempt_task.await {
            Ok(result) => result,
            Err(e) => Err(Failure::permanent("internal", format!("the export task failed: {e}"))),
        };

        let failure = match result {
            Ok(exported) => {
                match ctx
                    .jobs
                    .finish(job_id, exported.object_key.as_str(), exported.rows)
                    .await?
                {
                    Some(JobStatus::Running) => {
                        info!(%job_id, rows = exported.rows, bytes = exported.bytes, elapsed_ms = started.elapsed().as_millis() as u64, "export done");
                    }
                    status => {
                        // Cancelled while the upload completed: the output must not stay.
                        info!(%job_id, ?status, "export finished after a cancel; removing its output");
                        ctx.store
                            .delete(&exported.object_key)
                            .await
                            .map_err(|e| TaskError::RunAgain(e.to_string()))?;
                    }
                }
                return Ok(());
            }
            Err(failure) => failure,
        };
        let class = match &failure {
            Failure::Stopped(StopReason::Cancelled) => {
                info!(%job_id, "export cancelled");
                return Ok(());
            }
            Failure::Stopped(StopReason::Interrupted) => ErrorClass::Interrupted,
            Failure::Permanent(error) => ErrorClass::Permanent(error),
            Failure::Transient(error) => ErrorClass::Transient(error),
        };
        match retry::after_failure(class, attempt, &limits) {
            Next::RunAgainUncounted => {
                info!(%job_id, "export interrupted; it goes back to the queue");
                if let Err(error) = ctx.jobs.requeue(job_id).await {
                    warn!(%job_id, %error, "could not requeue the interrupted export");
                }
                Err(TaskError::RunAgain(
                    "interrupted by shutdown; the task will run again".into(),
                ))
            }
            Next::Fail { reason } => {
                warn!(%job_id, attempt, code = %reason.code, message = %reason.message, "export failed");
                ctx.jobs.fail(job_id, &reason).await?;
                Err(abort(&reason))
            }
            Next::RetryAfter { delay, reason } => {
                warn!(%job_id, attempt, code = %reason.code, message = %reason.message, retry_in_s = delay.as_secs(), "export attempt failed; retrying");
                ctx.jobs.retry_later(&job, &reason, delay).await?;
                Ok(())
            }
        }
    }
}

/// The job has failed for good: its task is killed with the reason.
fn abort(reason: &JobError) -> TaskError {
    TaskError::Abort(format!("{}: {}", reason.code, reason.message))
}
