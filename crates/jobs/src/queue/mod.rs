//! The export queue and the jobs' status records, over one of two backends:
//!
//! * **Redis** (`REDIS_URL` set): apalis-redis carries the tasks, and each job
//!   has a status hash `{queue}:job:{id}` (plus its inline rows and idempotency
//!   key) that expires after `EXPORT_STATUS_TTL`. API processes only enqueue;
//!   any number of `upload-broker worker` processes, on any host, consume.
//! * **SQLite** (the all-in-one `serve` without Redis, cargo feature `sqlite`):
//!   apalis-sqlite on `{DATA_DIR}/exports.sqlite3`, with the status records in
//!   the same file, so ids, status and crash recovery survive a restart.
//!
//! Each backend implements [`Backend`] once: the storage operations below, and
//! running an apalis worker over its own storage type. [`JobQueue`] holds one
//! of them behind that trait and adds what does not depend on the backend
//! (task building, timeouts); the two handles made from it,
//! [`JobsClient`](crate::JobsClient) and [`JobsLifecycle`](crate::JobsLifecycle),
//! split the operations between the API and the workers, so these state
//! transitions are the only ones there are, and only workers can make the
//! ones in the middle:
//!
//! ```text
//! queued ──start──▶ running ──finish──▶ done
//!   ▲                 │ ├──fail (permanent, or out of attempts)──▶ failed
//!   └──retry_later────┘ └──release (interrupted; attempt not counted)──▶ queued
//! queued | running ──cancel──▶ cancelled
//! running ──start (its worker was lost; counted)──▶ running under a new attempt
//! ```
//! Every transition is conditional on the current status (a Lua script in
//! Redis, a guarded `UPDATE` in SQLite), so a cancel racing a worker can never
//! move a finished job; and each one after `start` also on the attempt's token
//! (see [`crate::lifecycle`]), so of two deliveries of one job only the later
//! attempt can move it.

mod poll;
mod redis_backend;
mod redis_webhooks;
#[cfg(feature = "sqlite")]
mod sqlite_backend;
#[cfg(feature = "sqlite")]
mod sqlite_webhooks;
#[cfg(feature = "sqlite")]
pub use sqlite_backend::open_pool as open_sqlite_pool;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{Task, TaskBuilder, TaskId, TaskSink};
use broker_core::config::{ExportSettings, WebhookSettings};
use broker_core::{Secret, TenantId};

use crate::job::{ExportJob, JobError, JobRecord, JobStatus};
use crate::lifecycle::{Attempt, Standing, StartOutcome, TaskHandler};
use crate::webhook::{DeliveryBackend, WebhookDeliveries, Webhooks};
use crate::{JobId, JobsClient, JobsLifecycle};

/// Upper bound on one queue or status operation, so a dead Redis turns into a
/// prompt `queue_unavailable` instead of a hanging request.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(3);

/// How often an idle worker looks for new tasks.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// apalis-redis ignores this (it hard-codes 25); apalis-sqlite re-runs a task
/// that returned an error while `attempts < max_attempts`. Our own policy
/// (`EXPORT_MAX_ATTEMPTS`, exponential backoff) lives in the status record;
/// a plain error only ever means "interrupted, run again".
pub(crate) const APALIS_MAX_ATTEMPTS: usize = 25;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis (or the SQLite file) cannot be reached or failed; callers answer 503.
    #[error("the export queue is unavailable: {0}")]
    Unavailable(String),
    /// A record that this code did not write.
    #[error("an export record is corrupt: {0}")]
    Corrupt(String),
}

impl QueueError {
    pub(crate) fn unavailable(error: impl fmt::Display) -> Self {
        QueueError::Unavailable(error.to_string())
    }
}

/// Which backend a queue runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// Shared by every process; the API's `/readyz` checks it.
    Redis,
    /// A file of this process (the all-in-one `serve`).
    Sqlite,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::Redis => "redis",
            BackendKind::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status record a new job starts with.
pub(crate) struct NewRecord<'a> {
    pub job: &'a ExportJob,
    pub total: Option<u64>,
    pub input: Option<Vec<u8>>,
    /// The `Idempotency-Key` and the value stored under it.
    pub idempotency: Option<(&'a str, String)>,
    pub ttl: Duration,
    pub limits: QueuedLimits,
}

/// What one tenant may have queued or running at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueuedLimits {
    /// `EXPORT_MAX_QUEUED_JOBS`.
    pub jobs: u64,
    /// `EXPORT_MAX_QUEUED_BYTES`: their stored inline input.
    pub bytes: u64,
}

/// What [`Backend::create`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Created {
    New,
    /// The idempotency key is taken: nothing was stored; this is its value.
    Existing(String),
    /// Refused: the tenant is at its [`QueuedLimits::jobs`].
    TooManyJobs,
    /// Refused: the input would take the tenant past its [`QueuedLimits::bytes`].
    TooManyBytes,
}

/// Resolves when a worker must stop taking tasks.
pub(crate) type StopSignal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One backend: its status records, its tasks, its workers.
#[async_trait::async_trait]
pub(crate) trait Backend: Send + Sync {
    /// Stores a new job's record, inline rows and idempotency key, in one
    /// step with the check of the tenant's queued limits. If the key is
    /// taken, or a limit would be passed, stores nothing.
    async fn create(&self, record: &NewRecord<'_>) -> Result<Created, QueueError>;

    /// Removes a record written by [`Backend::create`] (and its idempotency key).
    async fn forget(&self, job_id: JobId, idempotency: Option<(&TenantId, &str)>) -> Result<(), QueueError>;

    async fn get(&self, job_id: JobId) -> Result<Option<JobRecord>, QueueError>;

    /// Cancels a queued or running job of `tenant`; returns the status before
    /// (`None`: no such job for this tenant).
    async fn cancel(&self, job_id: JobId, tenant: &TenantId) -> Result<Option<JobStatus>, QueueError>;

    async fn ping(&self) -> Result<(), QueueError>;

    /// Jobs waiting for a worker: queued now or scheduled for a retry.
    async fn depth(&self) -> Result<u64, QueueError>;

    async fn push(&self, task: Task<ExportJob>) -> Result<(), QueueError>;

    /// Starts an attempt holding `token` (see [`crate::JobsLifecycle::start_attempt`]).
    async fn start_attempt(&self, job_id: JobId, token: &str) -> Result<StartOutcome, QueueError>;

    /// Records the rows written so far by the live attempt.
    async fn progress(&self, attempt: &Attempt, rows: u64) -> Result<Standing, QueueError>;

    /// `running` to `done`, for the live attempt.
    async fn finish(&self, attempt: &Attempt, object_key: &str, rows: u64) -> Result<Standing, QueueError>;

    /// `running` to `failed`, for the live attempt.
    async fn fail(&self, attempt: &Attempt, error: &JobError) -> Result<Standing, QueueError>;

    /// `running` to `queued` with a transient failure counted, for the live attempt.
    async fn retry_later(&self, attempt: &Attempt, error: &JobError, retry_at: u64) -> Result<Standing, QueueError>;

    /// `running` to `queued`, giving the attempt back, for the live attempt.
    async fn release(&self, attempt: &Attempt) -> Result<Standing, QueueError>;

    /// Refreshes a worker's heartbeat (apalis sends none while it drains).
    async fn keep_alive(&self, worker: &str) -> Result<(), QueueError>;

    /// The inline rows of a job, while it has not ended.
    async fn input(&self, job_id: JobId) -> Result<Option<Vec<u8>>, QueueError>;

    /// Drops finished apalis tasks and expired records; returns how many.
    async fn housekeeping(&self) -> Result<usize, QueueError>;

    /// Runs one apalis worker named `name` over this backend's storage, handing
    /// every task to `handler`, until `stop` resolves (`Ok`) or the worker
    /// loses its queue (`Err`).
    async fn run_worker(&self, worker: WorkerSpec<'_>, stop: StopSignal) -> Result<(), QueueError>;
}

/// What one apalis worker runs: its name, how many tasks at once, and the
/// handler every task goes to (an export's [`TaskHandler`] by default, or a
/// webhook's `DeliveryHandler`).
pub(crate) struct WorkerSpec<'a, H: ?Sized = dyn TaskHandler> {
    pub name: &'a str,
    pub concurrency: usize,
    pub handler: Arc<H>,
}

/// The body of [`Backend::run_worker`] (and of the webhook deliveries'
/// `run_worker`) for an apalis storage: the same code for both backends, over
/// storage types whose bounds apalis would have a generic function spell out
/// at length. `$worker` has a name, a concurrency and a handler, which is
/// wrapped in the `SharedHandler` of the module `$family` (`lifecycle` for
/// exports, `webhook` for deliveries) and handed to its apalis handler `deliver`.
macro_rules! run_apalis_worker {
    ($family:ident: $storage:expr, $worker:expr, $stop:expr) => {{
        let worker = $worker;
        let stop = $stop;
        apalis::prelude::WorkerBuilder::new(worker.name)
            .backend($storage)
            .data($crate::$family::SharedHandler(worker.handler))
            .concurrency(worker.concurrency)
            .build($crate::$family::deliver)
            .run_until(async move {
                stop.await;
                Ok::<(), std::io::Error>(())
            })
            .await
            .map_err(QueueError::unavailable)
    }};
}
pub(crate) use run_apalis_worker;

/// Hands a built task to an apalis storage (either backend's, for exports or
/// webhook deliveries).
pub(crate) async fn push_task<S, A, K>(mut storage: S, task: Task<A>) -> Result<(), QueueError>
where
    S: TaskSink<A, K> + Send,
    S::Error: fmt::Display,
    A: Send,
{
    storage.push_task(task).await.map_err(QueueError::unavailable)
}

/// One connection to the queue, from which the API's [`JobsClient`] and the
/// workers' [`JobsLifecycle`] are made. Cheap to clone: clones share it.
#[derive(Clone)]
pub struct JobQueue {
    backend: Arc<dyn Backend>,
    deliveries: Arc<dyn DeliveryBackend>,
    kind: BackendKind,
    settings: ExportSettings,
}

impl fmt::Debug for JobQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobQueue")
            .field("backend", &self.kind())
            .field("queue", &self.settings.queue)
            .finish()
    }
}

impl JobQueue {
    /// Redis: connects lazily, so the API starts (and answers 503 for exports)
    /// while Redis is down, and reconnects by itself when it returns.
    pub fn redis(url: &Secret, settings: &ExportSettings) -> Result<Self, QueueError> {
        let backend = Arc::new(redis_backend::RedisQueue::new(url, settings)?);
        Ok(JobQueue {
            backend: backend.clone(),
            deliveries: backend,
            kind: BackendKind::Redis,
            settings: settings.clone(),
        })
    }

    /// The embedded backend: creates or opens `settings.sqlite_path`.
    #[cfg(feature = "sqlite")]
    pub async fn sqlite(settings: &ExportSettings) -> Result<Self, QueueError> {
        let backend = Arc::new(sqlite_backend::SqliteQueue::open(settings).await?);
        Ok(JobQueue {
            backend: backend.clone(),
            deliveries: backend,
            kind: BackendKind::Sqlite,
            settings: settings.clone(),
        })
    }

    /// The handle for the API: submit, read, cancel, ping.
    pub fn client(&self) -> JobsClient {
        JobsClient::new(self.clone())
    }

    /// The handle for workers: every transition of a running job, and the apalis workers themselves.
    pub fn lifecycle(&self) -> JobsLifecycle {
        JobsLifecycle::new(self.clone())
    }

    pub fn settings(&self) -> &ExportSettings {
        &self.settings
    }

    /// An apalis worker called `name`, running `EXPORT_CONCURRENCY` tasks at once.
    pub(crate) fn worker_spec<'a, H: ?Sized>(&self, name: &'a str, handler: Arc<H>) -> WorkerSpec<'a, H> {
        WorkerSpec {
            name,
            concurrency: self.settings.concurrency,
            handler,
        }
    }

    pub fn kind(&self) -> BackendKind {
        self.kind
    }

    pub(crate) fn backend(&self) -> &dyn Backend {
        &*self.backend
    }

    pub(crate) fn deliveries(&self) -> &dyn DeliveryBackend {
        &*self.deliveries
    }

    /// The webhook handle of the API and the export handler (emit, dead letters, replay).
    pub fn webhooks(&self, settings: &WebhookSettings) -> Webhooks {
        Webhooks::new(self.clone(), settings)
    }

    /// The webhook delivery workers' handle.
    pub fn webhook_deliveries(&self, settings: &WebhookSettings) -> WebhookDeliveries {
        WebhookDeliveries::new(self.clone(), settings)
    }

    /// Enqueues one attempt of `job` under `task_id`, now or after `delay`.
    pub(crate) async fn push(
        &self,
        job: &ExportJob,
        task_id: TaskId,
        delay: Option<Duration>,
    ) -> Result<(), QueueError> {
        let mut task = TaskBuilder::new(job.clone())
            .task_id(task_id)
            .max_attempts(APALIS_MAX_ATTEMPTS);
        if let Some(delay) = delay {
            task = task.run_after(delay);
        }
        tokio::time::timeout(OP_TIMEOUT, self.backend.push(task.build()))
            .await
            .map_err(|_| QueueError::Unavailable("timed out".into()))?
    }
}
