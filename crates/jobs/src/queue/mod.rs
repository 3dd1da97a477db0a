//! The export queue and the jobs' status records, over one of two backends:
//!
//! * **Redis** (`REDIS_URL` set): apalis-redis carries the tasks, and each job
//!   has a status hash `{queue}:job:{id}` (plus its inline rows and idempotency
//!   key) that expires after `EXPORT_STATUS_TTL`. API processes only enqueue;
//!   any number of `upload-broker worker` processes, on any host, consume.
//! * **SQLite** (the all-in-one `serve` without Redis): apalis-sqlite on
//!   `{DATA_DIR}/exports.sqlite3`, with the status records in the same file, so
//!   ids, status and crash recovery survive a restart.
//!
//! The API and the workers use the same [`Exports`] handle, so the state
//! transitions below are the only ones there are:
//!
//! ```text
//! queued ──start──▶ running ──finish──▶ done
//!   ▲                 │ ├──fail (permanent, or out of attempts)──▶ failed
//!   └──retry_later────┘ └──requeue (worker shutting down; attempt not counted)──▶ queued
//! queued | running ──cancel──▶ cancelled
//! ```
//! Every transition is conditional on the current status (a Lua script in
//! Redis, a guarded `UPDATE` in SQLite), so a cancel racing a worker, or two
//! deliveries of one task, can never move a finished job.

mod poll;
mod redis_backend;
mod sqlite_backend;

use std::time::Duration;

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use broker_core::Secret;
use broker_core::config::ExportSettings;
use ulid::Ulid;

use crate::job::{ExportFormat, ExportJob, InlineData, JobError, JobRecord, JobSource, JobStatus};

pub(crate) use redis_backend::RedisQueue;
pub(crate) use sqlite_backend::SqliteQueue;

/// Upper bound on one queue or status operation, so a dead Redis turns into a
/// prompt `queue_unavailable` instead of a hanging request.
pub(crate) const OP_TIMEOUT: Duration = Duration::from_secs(3);

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
    pub(crate) fn unavailable(error: impl std::fmt::Display) -> Self {
        QueueError::Unavailable(error.to_string())
    }
}

/// A validated export request.
#[derive(Debug, Clone)]
pub struct NewExport {
    pub tenant: String,
    pub format: ExportFormat,
    pub filename: String,
    pub title: Option<String>,
    pub source: NewSource,
    pub bom: bool,
    pub neutralize_formulas: bool,
    /// `Idempotency-Key`, with a fingerprint of the request it was first used for.
    pub idempotency: Option<Idempotency>,
}

#[derive(Debug, Clone)]
pub struct Idempotency {
    pub key: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone)]
pub enum NewSource {
    Inline(InlineData),
    Object { key: String },
}

#[derive(Debug)]
pub struct Submitted {
    pub record: JobRecord,
    /// The `Idempotency-Key` had been used already: this is the existing job.
    pub replayed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The `Idempotency-Key` was first used for a different request.
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyConflict,
}

#[derive(Debug)]
pub enum CancelOutcome {
    NotFound,
    Cancelled(Box<JobRecord>),
    /// Done, failed or already cancelled.
    NotCancellable(JobStatus),
}

/// What a worker may do with a delivered task.
#[derive(Debug, PartialEq, Eq)]
pub enum StartOutcome {
    /// Run it: this is attempt number `attempt` (1-based).
    Run { attempt: u32 },
    /// The job ended already (or its record expired): drop the task.
    Skip(Option<JobStatus>),
}

/// The status record a new job starts with.
pub(crate) struct NewRecord<'a> {
    pub job: &'a ExportJob,
    pub total: Option<u64>,
    pub input: Option<Vec<u8>>,
    pub idempotency: Option<(&'a str, String)>,
    pub ttl: Duration,
}

#[derive(Clone)]
pub(crate) enum Backend {
    Redis(RedisQueue),
    Sqlite(SqliteQueue),
}

/// The handle the API and the workers share.
#[derive(Clone)]
pub struct Exports {
    pub(crate) backend: Backend,
    pub(crate) settings: ExportSettings,
}

impl std::fmt::Debug for Exports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exports")
            .field("backend", &self.backend_name())
            .field("queue", &self.settings.queue)
            .finish()
    }
}

impl Exports {
    /// Redis: connects lazily, so the API starts (and answers 503 for exports)
    /// while Redis is down, and reconnects by itself when it returns.
    pub fn redis(url: &Secret, settings: &ExportSettings) -> Result<Self, QueueError> {
        Ok(Exports {
            backend: Backend::Redis(RedisQueue::new(url, settings)?),
            settings: settings.clone(),
        })
    }

    /// The embedded backend: creates or opens `settings.sqlite_path`.
    pub async fn sqlite(settings: &ExportSettings) -> Result<Self, QueueError> {
        Ok(Exports {
            backend: Backend::Sqlite(SqliteQueue::open(settings).await?),
            settings: settings.clone(),
        })
    }

    pub fn settings(&self) -> &ExportSettings {
        &self.settings
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Redis(_) => "redis",
            Backend::Sqlite(_) => "sqlite",
        }
    }

    /// Records and enqueues a job; with an `Idempotency-Key` already used by
    /// this tenant, returns that job instead.
    pub async fn submit(&self, request: NewExport) -> Result<Submitted, SubmitError> {
        let job_ulid = Ulid::generate();
        let (source, input, total) = match request.source {
            NewSource::Inline(data) => {
                let total = data.rows.len() as u64;
                let bytes = serde_json::to_vec(&data).map_err(|e| QueueError::Corrupt(e.to_string()))?;
                (JobSource::Inline, Some(bytes), Some(total))
            }
            NewSource::Object { key } => (JobSource::Object { key }, None, None),
        };
        let job = ExportJob {
            job_id: job_ulid.to_string(),
            tenant: request.tenant,
            format: request.format,
            filename: request.filename,
            title: request.title,
            source,
            bom: request.bom,
            neutralize_formulas: request.neutralize_formulas,
        };
        let idempotency = request
            .idempotency
            .as_ref()
            .map(|i| (i.key.as_str(), format!("{} {}", job.job_id, i.fingerprint)));
        let record = NewRecord {
            job: &job,
            total,
            input,
            idempotency,
            ttl: self.settings.status_ttl,
        };
        let existing = match &self.backend {
            Backend::Redis(redis) => redis.create(&record).await?,
            Backend::Sqlite(sqlite) => sqlite.create(&record).await?,
        };
        if let Some(existing) = existing {
            let (job_id, fingerprint) = existing.split_once(' ').unwrap_or((existing.as_str(), ""));
            if Some(fingerprint) != request.idempotency.as_ref().map(|i| i.fingerprint.as_str()) {
                return Err(SubmitError::IdempotencyConflict);
            }
            return match self.get(&job.tenant, job_id).await? {
                Some(record) => Ok(Submitted { record, replayed: true }),
                None => Err(QueueError::Corrupt(format!("idempotency key points at missing job {job_id}")).into()),
            };
        }
        // The record as created (queued): read before the task exists, so a
        // worker that picks the job up at once cannot change the reply.
        let record = self
            .get(&job.tenant, &job.job_id)
            .await?
            .ok_or_else(|| QueueError::Corrupt("a new job vanished".into()))?;
        if let Err(error) = self.push(&job, TaskId::from_ulid(job_ulid), None).await {
            // Best effort: without its task the record would stay queued forever.
            self.forget(
                &job.job_id,
                request
                    .idempotency
                    .as_ref()
                    .map(|i| (job.tenant.as_str(), i.key.as_str())),
            )
            .await;
            return Err(error.into());
        }
        Ok(Submitted {
            record,
            replayed: false,
        })
    }

    /// The job, if it exists and belongs to `tenant`.
    pub async fn get(&self, tenant: &str, job_id: &str) -> Result<Option<JobRecord>, QueueError> {
        if Ulid::from_string(job_id).is_err() {
            return Ok(None);
        }
        let record = match &self.backend {
            Backend::Redis(redis) => redis.get(job_id).await?,
            Backend::Sqlite(sqlite) => sqlite.get(job_id).await?,
        };
        Ok(record.filter(|r| r.tenant == tenant))
    }

    /// Cancels a queued or running job of `tenant`. A running job stops at its
    /// next progress check and aborts its multipart upload.
    pub async fn cancel(&self, tenant: &str, job_id: &str) -> Result<CancelOutcome, QueueError> {
        if Ulid::from_string(job_id).is_err() {
            return Ok(CancelOutcome::NotFound);
        }
        let before = match &self.backend {
            Backend::Redis(redis) => redis.cancel(job_id, tenant).await?,
            Backend::Sqlite(sqlite) => sqlite.cancel(job_id, tenant).await?,
        };
        match before {
            None => Ok(CancelOutcome::NotFound),
            Some(JobStatus::Queued | JobStatus::Running) => match self.get(tenant, job_id).await? {
                Some(record) => Ok(CancelOutcome::Cancelled(Box::new(record))),
                None => Ok(CancelOutcome::NotFound),
            },
            Some(status) => Ok(CancelOutcome::NotCancellable(status)),
        }
    }

    /// The queue answers (for `/readyz`).
    pub async fn ping(&self) -> Result<(), QueueError> {
        match &self.backend {
            Backend::Redis(redis) => redis.ping().await,
            Backend::Sqlite(sqlite) => sqlite.ping().await,
        }
    }

    /// Enqueues one attempt of `job`, now or after `delay`.
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
        let task = task.build();
        let push = async {
            match &self.backend {
                Backend::Redis(redis) => redis.storage().push_task(task).await.map_err(QueueError::unavailable),
                Backend::Sqlite(sqlite) => sqlite.storage().push_task(task).await.map_err(QueueError::unavailable),
            }
        };
        tokio::time::timeout(OP_TIMEOUT, push)
            .await
            .map_err(|_| QueueError::Unavailable("timed out".into()))?
    }

    async fn forget(&self, job_id: &str, idempotency: Option<(&str, &str)>) {
        let result = match &self.backend {
            Backend::Redis(redis) => redis.forget(job_id, idempotency).await,
            Backend::Sqlite(sqlite) => sqlite.forget(job_id, idempotency).await,
        };
        if let Err(error) = result {
            tracing::warn!(job_id, %error, "could not remove the record of a job that was not enqueued");
        }
    }

    pub(crate) async fn start_attempt(&self, job_id: &str) -> Result<StartOutcome, QueueError> {
        match &self.backend {
            Backend::Redis(redis) => redis.start_attempt(job_id).await,
            Backend::Sqlite(sqlite) => sqlite.start_attempt(job_id).await,
        }
    }

    /// Records progress of a running job; returns its current status (so a
    /// worker sees a cancel), or `None` if the record is gone.
    pub(crate) async fn progress(&self, job_id: &str, rows: u64) -> Result<Option<JobStatus>, QueueError> {
        match &self.backend {
            Backend::Redis(redis) => redis.progress(job_id, rows).await,
            Backend::Sqlite(sqlite) => sqlite.progress(job_id, rows).await,
        }
    }

    /// Marks a running job done; returns the status before (anything but
    /// `Running` means the job was cancelled meanwhile and stays as it was).
    pub(crate) async fn finish(
        &self,
        job_id: &str,
        object_key: &str,
        rows: u64,
    ) -> Result<Option<JobStatus>, QueueError> {
        match &self.backend {
            Backend::Redis(redis) => redis.finish(job_id, object_key, rows).await,
            Backend::Sqlite(sqlite) => sqlite.finish(job_id, object_key, rows).await,
        }
    }

    pub(crate) async fn fail(&self, job_id: &str, error: &JobError) -> Result<(), QueueError> {
        match &self.backend {
            Backend::Redis(redis) => redis.fail(job_id, error).await,
            Backend::Sqlite(sqlite) => sqlite.fail(job_id, error).await,
        }
    }

    /// Back to `queued` until `retry_at` (Unix seconds), keeping the error.
    pub(crate) async fn retry_later(&self, job_id: &str, error: &JobError, retry_at: u64) -> Result<(), QueueError> {
        match &self.backend {
            Backend::Redis(redis) => redis.retry_later(job_id, error, retry_at).await,
            Backend::Sqlite(sqlite) => sqlite.retry_later(job_id, error, retry_at).await,
        }
    }

    /// Back to `queued` without counting the attempt (the worker is shutting down).
    pub(crate) async fn requeue(&self, job_id: &str) -> Result<(), QueueError> {
        match &self.backend {
            Backend::Redis(redis) => redis.requeue(job_id).await,
            Backend::Sqlite(sqlite) => sqlite.requeue(job_id).await,
        }
    }

    /// Refreshes the heartbeat of worker `name` (used while it drains).
    pub(crate) async fn keep_alive(&self, name: &str) -> Result<(), QueueError> {
        match &self.backend {
            Backend::Redis(redis) => redis.keep_alive(name).await,
            Backend::Sqlite(sqlite) => sqlite.keep_alive(name).await,
        }
    }

    /// The inline rows of a job, while it has not ended.
    pub(crate) async fn inline_input(&self, job_id: &str) -> Result<Option<Vec<u8>>, QueueError> {
        match &self.backend {
            Backend::Redis(redis) => redis.input(job_id).await,
            Backend::Sqlite(sqlite) => sqlite.input(job_id).await,
        }
    }

    /// Drops finished apalis tasks and expired records (run periodically by workers).
    pub(crate) async fn housekeeping(&self) -> Result<usize, QueueError> {
        match &self.backend {
            Backend::Redis(redis) => redis.housekeeping().await,
            Backend::Sqlite(sqlite) => sqlite.housekeeping().await,
        }
    }
}

/// apalis-redis ignores this (it hard-codes 25); apalis-sqlite re-runs a task
/// that returned an error while `attempts < max_attempts`. Our own policy
/// (`EXPORT_MAX_ATTEMPTS`, exponential backoff) lives in the status record;
/// a plain error only ever means "interrupted, run again".
const APALIS_MAX_ATTEMPTS: usize = 25;

/// The delay before retry number `attempt` (1-based attempts already made):
/// `base × 2^(attempt-1)`, capped.
pub fn backoff(settings: &ExportSettings, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    settings.retry_base.saturating_mul(factor).min(settings.retry_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let settings = broker_core::Settings::from_lookup(|name| match name {
            "EXPORT_RETRY_BASE" => Some("2".into()),
            "EXPORT_RETRY_MAX" => Some("10".into()),
            "AUTH_MODE" => Some("none".into()),
            _ => None,
        })
        .expect("valid")
        .exports;
        let delays: Vec<u64> = (1..=5).map(|a| backoff(&settings, a).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 10, 10]);
    }
}
