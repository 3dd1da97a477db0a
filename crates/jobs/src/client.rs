//! The API's handle on the queue: submit a job, read it, cancel it, ping the
//! queue. It has no way to start, advance or end an attempt: those belong to
//! [`JobsLifecycle`](crate::JobsLifecycle), which only workers are given, so
//! the HTTP crate cannot move a job except by creating or cancelling it.

use apalis::prelude::TaskId;
use broker_core::TenantId;
use broker_core::config::ExportSettings;
use tracing::warn;

use crate::JobId;
use crate::job::{ExportFormat, ExportJob, InlineData, JobRecord, JobSource, JobStatus};
use crate::queue::{BackendKind, JobQueue, NewRecord, QueueError};

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

/// The API's handle on the queue (see the module docs).
#[derive(Debug, Clone)]
pub struct JobsClient {
    queue: JobQueue,
}

impl JobsClient {
    pub(crate) fn new(queue: JobQueue) -> Self {
        JobsClient { queue }
    }

    pub fn settings(&self) -> &ExportSettings {
        self.queue.settings()
    }

    pub fn kind(&self) -> BackendKind {
        self.queue.kind()
    }

    /// Records and enqueues a job; with an `Idempotency-Key` already used by
    /// this tenant, returns that job instead.
    pub async fn submit(&self, request: NewExport) -> Result<Submitted, SubmitError> {
        let job_id = JobId::generate();
        let (source, input, total) = match request.source {
            NewSource::Inline(data) => {
                let total = data.rows.len() as u64;
                let bytes = serde_json::to_vec(&data).map_err(|e| QueueError::Corrupt(e.to_string()))?;
                (JobSource::Inline, Some(bytes), Some(total))
            }
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
        };
        let backend = self.queue.backend();
        if let Some(existing) = backend.create(&record).await? {
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
}
