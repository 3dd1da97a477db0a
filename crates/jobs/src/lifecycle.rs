//! The workers' handle on the queue: every transition of a delivered job
//! (start, progress, finish, fail, retry, release), its inline input, the
//! heartbeat and housekeeping a draining worker keeps up, and the apalis
//! workers themselves.
//!
//! A task may be delivered twice while its first attempt still runs: apalis
//! hands a worker's tasks to another when its heartbeat looks stale (a
//! stalled VM, SIGSTOP, CPU starvation), and a retry may be pushed by an
//! attempt that then fails to say so. So every attempt gets a token when it
//! starts, the job's record keeps the token of the latest one, and every later
//! transition is made only for the attempt holding it ([`Attempt`]): an
//! attempt that was superseded learns it ([`Standing::Superseded`]) and
//! touches neither the record nor the output.
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

/// One attempt at a job, as [`JobsLifecycle::start_attempt`] recorded it.
/// Every later transition takes it, and happens only while it is the job's
/// live attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub job_id: JobId,
    /// Attempts started so far, this one included (interrupted ones are given back).
    pub number: u32,
    /// Earlier attempts that failed transiently (the store was down): `EXPORT_MAX_ATTEMPTS` counts these.
    pub failures: u32,
    /// Earlier attempts whose worker was lost (killed, or taken for dead)
    /// before they ended: `EXPORT_MAX_LOST_WORKERS` counts these.
    pub lost_workers: u32,
    pub(crate) token: String,
}

/// What a worker may do with a delivered task.
#[derive(Debug, PartialEq, Eq)]
pub enum StartOutcome {
    /// Run it: the record now names this attempt as the live one.
    Run(Attempt),
    /// The job ended already (or its record expired): drop the task.
    Skip(Option<JobStatus>),
}

/// Where a job stands for one of its attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Running, with this attempt as the live one (after `finish`: now done
    /// with this attempt's output).
    Current,
    /// Still running, but a later attempt has started: this one must stop and
    /// leave the record and the output alone.
    Superseded,
    /// No longer running (cancelled, ended by another attempt), or gone (`None`).
    Ended(Option<JobStatus>),
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
    to_apalis(handler.handle(job, task_id.to_string()).await)
}

/// A handler's answer in apalis's terms (also for the webhook deliveries).
pub(crate) fn to_apalis(result: Result<(), TaskError>) -> Result<(), BoxDynError> {
    match result {
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

    /// The webhook handle over the same queue, to emit the exports' events.
    pub fn webhooks(&self, settings: &broker_core::config::WebhookSettings) -> crate::Webhooks {
        self.queue.webhooks(settings)
    }

    /// The delivery workers' handle over the same queue.
    pub fn webhook_deliveries(&self, settings: &broker_core::config::WebhookSettings) -> crate::WebhookDeliveries {
        self.queue.webhook_deliveries(settings)
    }

    pub fn settings(&self) -> &ExportSettings {
        self.queue.settings()
    }

    pub fn kind(&self) -> BackendKind {
        self.queue.kind()
    }

    /// Marks the job `running` under a new attempt, unless it ended. A job
    /// found `running` was left by an attempt that never ended: its worker was
    /// lost, which is counted, and that attempt is superseded.
    pub async fn start_attempt(&self, job_id: JobId) -> Result<StartOutcome, QueueError> {
        let token = Ulid::generate().to_string();
        self.queue.backend().start_attempt(job_id, &token).await
    }

    /// Records the rows written so far, if `attempt` is still the live one;
    /// says where the job stands (so a worker sees a cancel or a newer attempt).
    pub async fn progress(&self, attempt: &Attempt, rows: u64) -> Result<Standing, QueueError> {
        self.queue.backend().progress(attempt, rows).await
    }

    /// Marks the job done with `object_key`, if `attempt` is still the live
    /// one ([`Standing::Current`]); otherwise changes nothing and says why.
    pub async fn finish(&self, attempt: &Attempt, object_key: &str, rows: u64) -> Result<Standing, QueueError> {
        self.queue.backend().finish(attempt, object_key, rows).await
    }

    /// Fails the job for good, if `attempt` is still the live one.
    pub async fn fail(&self, attempt: &Attempt, error: &JobError) -> Result<Standing, QueueError> {
        self.queue.backend().fail(attempt, error).await
    }

    /// Back to `queued`, keeping the error and counting a transient failure,
    /// and a new task for the job after `delay`, if `attempt` is still the
    /// live one. Status first: if the push fails, the caller's task runs again.
    pub async fn retry_later(
        &self,
        attempt: &Attempt,
        job: &ExportJob,
        error: &JobError,
        delay: Duration,
    ) -> Result<Standing, QueueError> {
        let standing = self
            .queue
            .backend()
            .retry_later(attempt, error, now() + delay.as_secs())
            .await?;
        if standing == Standing::Current {
            self.queue
                .push(job, TaskId::from_ulid(Ulid::generate()), Some(delay))
                .await?;
        }
        Ok(standing)
    }

    /// Back to `queued` without counting `attempt`, if it is still the live
    /// one (it was interrupted: the worker shut down or lost the queue).
    pub async fn release(&self, attempt: &Attempt) -> Result<Standing, QueueError> {
        self.queue.backend().release(attempt).await
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
        let worker = self.queue.worker_spec(name, handler);
        self.queue.backend().run_worker(worker, Box::pin(stop)).await
    }
}
