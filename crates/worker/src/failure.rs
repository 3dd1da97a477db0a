//! How an attempt fails, and which failures are worth another attempt.
//!
//! Every error an attempt can meet (a writer's, the store's, the queue's, a
//! malformed source) is sorted here, once, into permanent (bad input: the job
//! fails at once) or transient (a dependency failed: retry with backoff), each
//! with the stable code `GET /exports/{id}` reports. [`crate::retry`] decides
//! what follows from the class; the pipeline and the attempt only produce it.
//!
//! The tenant reads the job's error, so what it says is chosen here too: a
//! problem with the tenant's own data is explained (row 12 has 3 fields), but
//! a [`Fault`] of the broker's infrastructure shows only its code and a fixed
//! message, and its detail (endpoints, S3 error texts) goes to the log, in the
//! attempt's span. A queue that cannot be reached is not the job's failure at
//! all: the attempt is interrupted and runs again uncounted.

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

/// What broke, when it was the broker's infrastructure rather than the job's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The store could not be reached, or a read from it broke off.
    StoreUnavailable,
    /// The store answered a request of the broker with an error.
    StoreRefused,
    /// Handing the output to the upload failed.
    UploadFailed,
    /// The PDF library failed.
    PdfFailed,
    /// A bug: a task panicked or a state that cannot happen.
    Internal,
}

impl Fault {
    pub fn code(self) -> &'static str {
        match self {
            Fault::StoreUnavailable => "store_unavailable",
            Fault::StoreRefused => "store_refused",
            Fault::UploadFailed => "upload_failed",
            Fault::PdfFailed => "pdf_failed",
            Fault::Internal => "internal",
        }
    }

    /// All a tenant is told.
    pub fn message(self) -> &'static str {
        match self {
            Fault::StoreUnavailable => "the store could not be reached",
            Fault::StoreRefused => "the store refused a request of the broker",
            Fault::UploadFailed => "the output could not be written to the store",
            Fault::PdfFailed => "the PDF could not be assembled",
            Fault::Internal => "an internal error occurred",
        }
    }

    fn is_transient(self) -> bool {
        matches!(
            self,
            Fault::StoreUnavailable | Fault::StoreRefused | Fault::UploadFailed
        )
    }
}

impl Failure {
    /// A failure of the broker's infrastructure: `detail` is logged, the job
    /// only shows the fault's code and message.
    pub fn fault(fault: Fault, detail: impl fmt::Display) -> Self {
        tracing::warn!(code = fault.code(), %detail, "export attempt failed");
        let error = JobError {
            code: fault.code().into(),
            message: fault.message().into(),
        };
        if fault.is_transient() {
            Failure::Transient(error)
        } else {
            Failure::Permanent(error)
        }
    }

    pub fn permanent(code: &str, message: impl fmt::Display) -> Self {
        Failure::Permanent(JobError {
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
            e @ WriteError::TooManyPages { .. } => Failure::permanent("too_many_pages", e),
            WriteError::Io(e) => Failure::fault(Fault::UploadFailed, e),
            WriteError::Pdf(e) => Failure::fault(Fault::PdfFailed, e),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(detail) => Failure::fault(Fault::StoreUnavailable, detail),
            StoreError::NotFound => Failure::fault(Fault::StoreUnavailable, "the bucket or upload is missing"),
            other => Failure::fault(Fault::StoreRefused, other),
        }
    }
}

/// The queue is unreachable (Redis restarting, say): not the job's failure.
/// The attempt stops and runs again, uncounted.
impl From<QueueError> for Failure {
    fn from(error: QueueError) -> Self {
        tracing::warn!(%error, "the queue is unreachable; the export attempt is interrupted");
        Failure::Stopped(StopReason::Interrupted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infrastructure_details_stay_out_of_the_job_error() {
        let failure = Failure::from(StoreError::Unavailable(
            "dispatch failure: connection refused (10.0.3.7:9000)".into(),
        ));
        assert_eq!(
            failure,
            Failure::Transient(JobError {
                code: "store_unavailable".into(),
                message: "the store could not be reached".into(),
            })
        );
        let refused = Failure::from(StoreError::Refused {
            code: "AccessDenied".into(),
            message: "arn:aws:iam::123456789012:user/broker is not authorized".into(),
        });
        assert!(!refused.to_string().contains("arn:"), "{refused}");
        let Failure::Permanent(error) = Failure::from(WriteError::Pdf("krilla: font table glyf".into())) else {
            panic!("a PDF failure is permanent");
        };
        assert_eq!(error.message, "the PDF could not be assembled");
        // The tenant's own data is explained.
        let ragged = Failure::from(WriteError::RowLength {
            expected: 3,
            got: 2,
            row: 12,
        });
        assert!(ragged.to_string().contains("row 12 has 2 fields"), "{ragged}");
    }

    #[test]
    fn a_queue_outage_interrupts_the_attempt() {
        assert_eq!(
            Failure::from(QueueError::Unavailable("connection refused".into())),
            Failure::Stopped(StopReason::Interrupted)
        );
    }
}
