//! Every Prometheus metric of the broker, named once (see docs/operations.md).
//!
//! Instrumentation sites call one typed function each; this module alone
//! knows the names, the labels and the units. It records through the
//! [`metrics`] facade: without a recorder (`METRICS_BIND_ADDR` empty) every
//! call is a no-op, and the composition root installs the Prometheus one.
//!
//! Labels are bounded enums only (profile names, modes, stable error codes,
//! operations): never a tenant, a subject, a key or anything a caller sent,
//! so a scrape cannot leak who uses the broker or grow without bound.

use std::time::Duration;

use metrics::{counter, gauge, histogram};

use crate::config::UploadMode;

/// The names, for the exporter's bucket settings and for tests.
pub mod name {
    pub const UPLOADS_SIGNED: &str = "upload_broker_uploads_signed_total";
    pub const UPLOADS_COMPLETED: &str = "upload_broker_uploads_completed_total";
    pub const VERIFICATION_REJECTIONS: &str = "upload_broker_verification_rejections_total";
    pub const COMPLETE_DURATION: &str = "upload_broker_complete_duration_seconds";
    pub const DOWNLOADS_SIGNED: &str = "upload_broker_downloads_signed_total";
    pub const EXPORTS: &str = "upload_broker_exports_total";
    pub const EXPORT_DURATION: &str = "upload_broker_export_duration_seconds";
    pub const EXPORT_QUEUE_DEPTH: &str = "upload_broker_export_queue_depth";
    pub const STORE_REQUESTS: &str = "upload_broker_store_requests_total";
    pub const RATE_LIMITED: &str = "upload_broker_rate_limited_total";
    pub const AUTH_FAILURES: &str = "upload_broker_auth_failures_total";
    pub const MULTIPART_UPLOADS: &str = "upload_broker_multipart_uploads_total";
    pub const WEBHOOK_ENQUEUE_FAILURES: &str = "upload_broker_webhook_enqueue_failures_total";
    pub const WEBHOOK_ATTEMPTS: &str = "upload_broker_webhook_attempts_total";
}

/// Histogram buckets (seconds): a completion reads, checks and rewrites one
/// object (milliseconds to tens of seconds); an export writes up to millions
/// of rows (seconds to many minutes).
pub const COMPLETE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];
pub const EXPORT_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

/// A step of a multipart upload's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MultipartEvent {
    /// Started (CreateMultipartUpload, session recorded).
    Created,
    /// Its parts were assembled (CompleteMultipartUpload); verification follows.
    Assembled,
    /// Aborted by its principal.
    Aborted,
    /// Aborted by `cleanup`: expired or abandoned.
    Expired,
}

impl MultipartEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            MultipartEvent::Created => "created",
            MultipartEvent::Assembled => "assembled",
            MultipartEvent::Aborted => "aborted",
            MultipartEvent::Expired => "expired",
        }
    }
}

/// How a completion ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompleteOutcome {
    /// Verified and promoted to its served key.
    Verified,
    /// Answered from an earlier completion of the same upload.
    AlreadyCompleted,
    /// Refused (the content, its size or its record) and deleted.
    Refused,
    /// Not the caller's to complete.
    Denied,
    /// Failed for a reason that says nothing about the upload (store, quota service).
    Failed,
}

impl CompleteOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CompleteOutcome::Verified => "verified",
            CompleteOutcome::AlreadyCompleted => "already_completed",
            CompleteOutcome::Refused => "refused",
            CompleteOutcome::Denied => "denied",
            CompleteOutcome::Failed => "failed",
        }
    }
}

/// What happened to an export job: `queued` when accepted, then how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportStatus {
    Queued,
    Done,
    Failed,
    Cancelled,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Queued => "queued",
            ExportStatus::Done => "done",
            ExportStatus::Failed => "failed",
            ExportStatus::Cancelled => "cancelled",
        }
    }
}

/// An upload was signed for `profile` in `mode`.
pub fn upload_signed(profile: &'static str, mode: UploadMode) {
    counter!(name::UPLOADS_SIGNED, "profile" => profile, "mode" => mode.as_str()).increment(1);
}

/// A completion of a `profile` upload ended with `outcome` after `elapsed`.
pub fn upload_completed(profile: &'static str, outcome: CompleteOutcome, elapsed: Duration) {
    counter!(name::UPLOADS_COMPLETED, "profile" => profile, "outcome" => outcome.as_str()).increment(1);
    histogram!(name::COMPLETE_DURATION).record(elapsed.as_secs_f64());
}

/// An upload was refused at completion; `reason` is the error code the caller got.
pub fn verification_rejected(reason: &'static str) {
    counter!(name::VERIFICATION_REJECTIONS, "reason" => reason).increment(1);
}

/// A download URL was signed.
pub fn download_signed() {
    counter!(name::DOWNLOADS_SIGNED).increment(1);
}

/// An export of `format` (`csv`, `pdf`) reached `status`.
pub fn export(format: &'static str, status: ExportStatus) {
    counter!(name::EXPORTS, "format" => format, "status" => status.as_str()).increment(1);
}

/// A successful export attempt of `format` took `elapsed`.
pub fn export_duration(format: &'static str, elapsed: Duration) {
    histogram!(name::EXPORT_DURATION, "format" => format).record(elapsed.as_secs_f64());
}

/// Export tasks waiting for a worker, as the queue reports them.
pub fn export_queue_depth(depth: u64) {
    gauge!(name::EXPORT_QUEUE_DEPTH).set(depth as f64);
}

/// One call to the store: `op` is the S3 operation, `outcome` how it ended.
pub fn store_request(op: &'static str, outcome: &'static str) {
    counter!(name::STORE_REQUESTS, "op" => op, "outcome" => outcome).increment(1);
}

/// A multipart upload reached `event`.
pub fn multipart(event: MultipartEvent) {
    counter!(name::MULTIPART_UPLOADS, "event" => event.as_str()).increment(1);
}

/// A request to `route` (the rate-limited action: sign, complete, export, sign_parts) was answered 429.
pub fn rate_limited(route: &'static str) {
    counter!(name::RATE_LIMITED, "route" => route).increment(1);
}

/// A request could not be authenticated; `reason` is the stable audit reason.
pub fn auth_failure(reason: &'static str) {
    counter!(name::AUTH_FAILURES, "reason" => reason).increment(1);
}

/// A webhook `event` could not be queued (the queue was down): it is lost,
/// the request that caused it still succeeded.
pub fn webhook_enqueue_failed(event: &'static str) {
    counter!(name::WEBHOOK_ENQUEUE_FAILURES, "event" => event).increment(1);
}

/// One delivery attempt of a webhook `event` ended with `outcome`
/// (`delivered`, `retry`, `dead`).
pub fn webhook_attempt(event: &'static str, outcome: &'static str) {
    counter!(name::WEBHOOK_ATTEMPTS, "event" => event, "outcome" => outcome).increment(1);
}

/// The HELP text of every metric, for the exporter (call once, after
/// installing the recorder).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(name::UPLOADS_SIGNED, "Uploads signed, by profile and upload mode.");
    describe_counter!(
        name::UPLOADS_COMPLETED,
        "Completions of staged uploads, by profile and outcome (verified, already_completed, refused, denied, failed)."
    );
    describe_counter!(
        name::VERIFICATION_REJECTIONS,
        "Uploads refused and deleted at completion, by the error code the caller got."
    );
    describe_histogram!(
        name::COMPLETE_DURATION,
        Unit::Seconds,
        "Time to complete a staged upload, from the first HEAD to the answer."
    );
    describe_counter!(name::DOWNLOADS_SIGNED, "Download URLs signed.");
    describe_counter!(
        name::EXPORTS,
        "Export jobs by format and status: queued when accepted, then done, failed or cancelled."
    );
    describe_histogram!(
        name::EXPORT_DURATION,
        Unit::Seconds,
        "Duration of the export attempts that finished a job, by format."
    );
    describe_gauge!(
        name::EXPORT_QUEUE_DEPTH,
        "Export jobs waiting for a worker (queued or scheduled for a retry), read at scrape time."
    );
    describe_counter!(
        name::STORE_REQUESTS,
        "Calls to the object store, by S3 operation and outcome."
    );
    describe_counter!(
        name::RATE_LIMITED,
        "Requests answered 429 by the rate limiter, by route."
    );
    describe_counter!(
        name::AUTH_FAILURES,
        "Requests that could not be authenticated, by reason."
    );
    describe_counter!(
        name::MULTIPART_UPLOADS,
        "Multipart uploads by event: created, assembled (then verified like any upload), aborted, expired (cleanup)."
    );
    describe_counter!(
        name::WEBHOOK_ENQUEUE_FAILURES,
        "Webhook events that could not be queued (the queue was unavailable), by event."
    );
    describe_counter!(
        name::WEBHOOK_ATTEMPTS,
        "Webhook delivery attempts by event and outcome: delivered, retry (scheduled again), dead (a dead letter)."
    );
}
