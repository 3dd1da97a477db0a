//! The workers' handle on the queue: every transition of a delivered job
//! (start, progress, finish, fail, retry, requeue), its inline input, the
//! heartbeat and housekeeping a draining worker keeps up, and the apalis
//! workers themselves.
//!
//! Workers never see apalis: they implement [`TaskHandler`] and say how a
//! delivery ended with [`TaskError`]; [`JobsLifecycle::run_worker`] builds the
//! apalis worker for whichever backend the queue runs on and translates.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{AbortError, BoxDynError, Data, TaskId};
use broker_core::config::ExportSettings;
use ulid::Ulid;

use crate::JobId;
use crate::job::{ExportJob, JobError, JobStatus, now};
use crate::queue::{BackendKind, JobQueue, QueueError};

/// What a worker may do with a delivered task.
#[derive(Debug, PartialEq, Eq)]
pub enum StartOutcome {
    /// Run it: this is attempt number `attempt` (1-based).
    Run { attempt: u32 },
    /// The job ended already (or its record expired): drop the task.
    Skip(Option<JobStatus>),
}

/// How a delivery ended when it did not simply finish, in the queue's terms.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// The job failed for good (it is `failed` now): the task is killed and
    /// never delivered again.
    #[error("{0}")]
    Abort(String),
    /// Deliver the same task again shortly: the attempt was interrupted by a
    /// shutdown, or its outcome could not be recorded.
    #[error("{0}")]
    RunAgain(String),
}

impl From<QueueError> for TaskError {
    fn from(error: QueueError) -> Self {
        TaskError::RunAgain(error.to_string())
    }
}

/// What a worker runs for every delivered task.
#[async_trait::async_trait]
pub trait TaskHandler: Send + Sync + 'static {
    /// `task_id` names this delivery (for logs): the first task of a job has
    /// the job's id, each retry a new one.
    async fn handle(&self, job: ExportJob, task_id: String) -> Result<(), TaskError>;
}

/// A worker's handler as apalis task data. A named type: with a bare
/// `Arc<dyn TaskHandler>` in its signature, [`deliver`] fails the
/// higher-ranked bounds apalis puts on handlers.
#[derive(Clone)]
pub(crate) struct SharedHandler(pub Arc<dyn TaskHandler>);

/// The apalis handler of every backend: hands the task to the worker's
/// [`TaskHandler`] and turns its answer into apalis's (`AbortError` kills the
/// task; any other error has it delivered again).
pub(crate) async fn deliver(job: ExportJob, handler: Data<SharedHandler>, task_id: TaskId) -> Result<(), BoxDynError> {
    let Data(SharedHandler(handler)) = handler;
    match handler.handle(job, task_id.to_string()).await {
        Ok(()) => Ok(()),
        Err(TaskError::Abort(reason)) => Err(AbortError::new(reason).into()),
        Err(TaskError::RunAgain(reason)) => Err(reason.into()),
    }
}

/// The workers' handle on the queue (see the module docs).
#[derive(Debug, Clone)]
pub struct JobsLifecycle {
    queue: JobQueue,
}

impl JobsLifecycle {
    pub(crate) fn new(queue: JobQueue) -> Self {
        JobsLifecycle { queue }
    }

    pub fn settings(&self) -> &ExportSettings {
        self.queue.settings()
    }

    pub fn kind(&self) -> BackendKind {
        self.queue.kind()
    }

    /// Counts a new attempt and marks the job `running`, unless it ended.
    pub async fn start_attempt(&self, job_id: JobId) -> Result<StartOutcome, QueueError> {
        self.queue.backend().start_attempt(job_id).await
    }

    /// Records progress of a running job; returns its current status (so a
    /// worker sees a cancel), or `None` if the record is gone.
    pub async fn progress(&self, job_id: JobId, rows: u64) -> Result<Option<JobStatus>, QueueError> {
        self.queue.backend().progress(job_id, rows).await
    }

    /// Marks a running job done; returns the status before (anything but
    /// `Running` means the job was cancelled meanwhile and stays as it was).
    pub async fn finish(&self, job_id: JobId, object_key: &str, rows: u64) -> Result<Option<JobStatus>, QueueError> {
        self.queue.backend().finish(job_id, object_key, rows).await
    }

    pub async fn fail(&self, job_id: JobId, error: &JobError) -> Result<(), QueueError> {
        self.queue.backend().fail(job_id, error).await
    }

    /// Back to `queued`, keeping the error, and a new task for the job after
    /// `delay`. Status first: if the push fails, the caller's task runs again.
    pub async fn retry_later(&self, job: &ExportJob, error: &JobError, delay: Duration) -> Result<(), QueueError> {
        self.queue
            .backend()
            .retry_later(job.job_id, error, now() + delay.as_secs())
            .await?;
        self.queue
            .push(job, TaskId::from_ulid(Ulid::generate()), Some(delay))
            .await
    }

    /// Back to `queued` without counting the attempt (the worker is shutting down).
    pub async fn requeue(&self, job_id: JobId) -> Result<(), QueueError> {
        self.queue.backend().requeue(job_id).await
    }

    /// Refreshes the heartbeat of worker `name` (used while it drains).
    pub async fn keep_alive(&self, name: &str) -> Result<(), QueueError> {
        self.queue.backend().keep_alive(name).await
    }

    /// The inline rows of a job, while it has not ended.
    pub async fn inline_input(&self, job_id: JobId) -> Result<Option<Vec<u8>>, QueueError> {
        self.queue.backend().input(job_id).await
    }

    /// Drops finished apalis tasks and expired records (run periodically by workers).
    pub async fn housekeeping(&self) -> Result<usize, QueueError> {
        self.queue.backend().housekeeping().await
    }

    /// Runs one apalis worker called `name` with `EXPORT_CONCURRENCY` tasks
    /// at once, each handed to `handler`, until `stop` resolves (`Ok`) or the
    /// worker loses its queue (`Err`: build a new one).
    pub async fn run_worker(
        &self,
        name: &str,
        handler: Arc<dyn TaskHandler>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), QueueError> {
        self.queue
            .backend()
            .run_worker(name, self.settings().concurrency, handler, Box::pin(stop))
            .await
    }
}
