//! How an attempt fails, and which failures are worth another attempt.
//!
//! Every error an attempt can meet (a writer's, the store's, the queue's, a
//! malformed source) is sorted here, once, into permanent (bad input: the job
//! fails at once) or transient (a dependency failed: retry with backoff), each
//! with the stable code `GET /exports/{id}` reports. [`crate::retry`] decides
//! what follows from the class; the pipeline and the attempt only produce it.

use std::fmt;

use broker_core::store::StoreError;
use broker_jobs::QueueError;
use broker_jobs::job::JobError;

use crate::WriteError;
use crate::pipeline::StopReason;

/// How an attempt ended, when it did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Bad input: retrying cannot help (the job fails at once).
    Permanent(JobError),
    /// The store or the queue failed: worth another attempt.
    Transient(JobError),
    Stopped(StopReason),
}

impl Failure {
    pub fn permanent(code: &str, message: impl fmt::Display) -> Self {
        Failure::Permanent(JobError {
            code: code.into(),
            message: message.to_string(),
        })
    }

    pub fn transient(code: &str, message: impl fmt::Display) -> Self {
        Failure::Transient(JobError {
            code: code.into(),
            message: message.to_string(),
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Permanent(e) | Failure::Transient(e) => write!(f, "{}: {}", e.code, e.message),
            Failure::Stopped(reason) => write!(f, "stopped: {reason:?}"),
        }
    }
}

impl From<WriteError> for Failure {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::RowLength { expected, got, row } => Failure::permanent(
                "ragged_rows",
                format!("row {row} has {got} fields, expected {expected}"),
            ),
            WriteError::NoColumns => Failure::permanent("empty_source", "the data has no columns"),
            e @ WriteError::TooManyColumns { .. } => Failure::permanent("too_many_columns", e),
            WriteError::Io(e) => Failure::transient("upload_failed", e),
            WriteError::Pdf(e) => Failure::permanent("pdf_failed", e),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => Failure::transient("store_unavailable", detail),
            StoreError::NotFound => Failure::transient("store_unavailable", "the bucket or upload is missing"),
            other => Failure::transient("store_refused", other),
        }
    }
}

impl From<QueueError> for Failure {
    fn from(error: QueueError) -> Self {
        Failure::transient("queue_unavailable", error)
    }
}
