//! The API's handle on the queue: submit a job, read it, cancel it, ping the
//! queue. It has no way to start, advance or end an attempt: those belong to
//! [`JobsLifecycle`](crate::JobsLifecycle), which only workers are given, so
//! the HTTP crate cannot move a job except by creating or cancelling it.

use apalis::prelude::TaskId;
use broker_core::TenantId;
use broker_core::config::ExportSettings;
use tracing::warn;

use crate::JobId;
use crate::job::{ExportFormat, ExportJob, JobRecord, JobSource, JobStatus};
use crate::queue::{BackendKind, Created, JobQueue, NewRecord, QueueError, QueuedLimits};

/// A validated export request.
#[derive(Debug, Clone)]
pub struct NewExport {
    pub tenant: TenantId,
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
    /// The request body, whose rows were checked with
    /// [`RowShape`](crate::inline::RowShape), and how many rows it holds.
    Inline {
        body: Vec<u8>,
        rows: u64,
    },
    Object {
        key: String,
    },
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
    /// The tenant has `EXPORT_MAX_QUEUED_JOBS` jobs queued or running.
    #[error("the tenant already has {0} exports queued or running")]
    TooManyQueued(u64),
    /// The job's inline rows would take the tenant's stored input past `EXPORT_MAX_QUEUED_BYTES`.
    #[error("the tenant's queued exports would hold more than {0} bytes of inline rows")]
    QueuedInputTooLarge(u64),
}

#[derive(Debug)]
pub enum CancelOutcome {
    NotFound,
    Cancelled(Box<JobRecord>),
    /// Done, failed or already cancelled.
    NotCancellable(JobStatus),
}

/// The API's handle on the queue (see the module docs).
#[derive(Debug, Clone)]
pub struct JobsClient {
    queue: JobQueue,
}

impl JobsClient {
    pub(crate) fn new(queue: JobQueue) -> Self {
        JobsClient { queue }
    }

    /// The webhook handle over the same queue (emit, dead letters, replay).
    pub fn webhooks(&self, settings: &broker_core::config::WebhookSettings) -> crate::Webhooks {
        self.queue.webhooks(settings)
    }

    pub fn settings(&self) -> &ExportSettings {
        self.queue.settings()
    }

    pub fn kind(&self) -> BackendKind {
        self.queue.kind()
    }

    /// Records and enqueues a job; with an `Idempotency-Key` already used by
    /// this tenant, returns that job instead. Refused when the tenant has
    /// `EXPORT_MAX_QUEUED_JOBS` jobs queued or running, or when the job's
    /// inline rows would take what they hold past `EXPORT_MAX_QUEUED_BYTES`:
    /// one tenant cannot fill Redis (or the SQLite file) for everyone.
    pub async fn submit(&self, request: NewExport) -> Result<Submitted, SubmitError> {
        let job_id = JobId::generate();
        let (source, input, total) = match request.source {
            NewSource::Inline { body, rows } => (JobSource::Inline, Some(body), Some(rows)),
            NewSource::Object { key } => (JobSource::Object { key }, None, None),
        };
        let job = ExportJob {
            job_id,
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
            .map(|i| (i.key.as_str(), format!("{job_id} {}", i.fingerprint)));
        let record = NewRecord {
            job: &job,
            total,
            input,
            idempotency,
            ttl: self.settings().status_ttl,
            limits: QueuedLimits {
                jobs: self.settings().max_queued_jobs,
                bytes: self.settings().max_queued_bytes,
            },
        };
        let backend = self.queue.backend();
        let existing = match backend.create(&record).await? {
            Created::New => None,
            Created::Existing(existing) => Some(existing),
            Created::TooManyJobs => return Err(SubmitError::TooManyQueued(record.limits.jobs)),
            Created::TooManyBytes => return Err(SubmitError::QueuedInputTooLarge(record.limits.bytes)),
        };
        if let Some(existing) = existing {
            let (existing_id, fingerprint) = existing.split_once(' ').unwrap_or((existing.as_str(), ""));
            if Some(fingerprint) != request.idempotency.as_ref().map(|i| i.fingerprint.as_str()) {
                return Err(SubmitError::IdempotencyConflict);
            }
            let missing = || QueueError::Corrupt(format!("idempotency key points at missing job {existing_id}"));
            let existing_id = JobId::parse(existing_id).map_err(|_| missing())?;
            return match self.get(&job.tenant, existing_id).await? {
                Some(record) => Ok(Submitted { record, replayed: true }),
                None => Err(missing().into()),
            };
        }
        // The record as created (queued): read before the task exists, so a
        // worker that picks the job up at once cannot change the reply.
        let record = self
            .get(&job.tenant, job_id)
            .await?
            .ok_or_else(|| QueueError::Corrupt("a new job vanished".into()))?;
        // The first task is named after the job.
        let task_id = TaskId::from_ulid(job_id.ulid());
        if let Err(error) = self.queue.push(&job, task_id, None).await {
            // Best effort: without its task the record would stay queued forever.
            let idempotency = request.idempotency.as_ref().map(|i| (&job.tenant, i.key.as_str()));
            if let Err(error) = backend.forget(job_id, idempotency).await {
                warn!(%job_id, %error, "could not remove the record of a job that was not enqueued");
            }
            return Err(error.into());
        }
        Ok(Submitted {
            record,
            replayed: false,
        })
    }

    /// The job, if it exists and belongs to `tenant`.
    pub async fn get(&self, tenant: &TenantId, job_id: JobId) -> Result<Option<JobRecord>, QueueError> {
        let record = self.queue.backend().get(job_id).await?;
        Ok(record.filter(|r| &r.tenant == tenant))
    }

    /// Cancels a queued or running job of `tenant`. A running job stops at its
    /// next progress check and aborts its multipart upload.
    pub async fn cancel(&self, tenant: &TenantId, job_id: JobId) -> Result<CancelOutcome, QueueError> {
        match self.queue.backend().cancel(job_id, tenant).await? {
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
        self.queue.backend().ping().await
    }

    /// Jobs waiting for a worker (the `export_queue_depth` gauge).
    pub async fn depth(&self) -> Result<u64, QueueError> {
        self.queue.backend().depth().await
    }
}
