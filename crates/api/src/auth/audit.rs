//! The audit trail: one line per sign, complete, download, list, delete, export and
//! operators' call (storage info and usage), on the
//! tracing target `audit`, with the tenant, the subject, the object key (or
//! job id), the outcome and a stable reason:
//!
//! ```text
//! INFO audit: audit action="complete" tenant="acme" subject="jwt:https://id.example/#alice" key="staging/acme/avatar/….jpg" outcome="ok" reason="ok"
//! ```
//!
//! It never carries a credential, a token, a signature or a presigned URL:
//! only these fields are ever written, and none of them can hold one (keys are
//! `[A-Za-z0-9._-/]`, reasons are error codes).

use broker_core::ObjectKey;

use super::Caller;
use crate::error::ApiError;

pub const TARGET: &str = "audit";

/// What happened, in one word.
pub fn outcome(error: Option<&ApiError>) -> &'static str {
    use actix_web::ResponseError as _;
    match error {
        None => "ok",
        // Answered `not_found` so the caller learns nothing, but it was a denial.
        Some(ApiError::NotVisible) => "denied",
        Some(e) if matches!(e.status_code().as_u16(), 401 | 403 | 429) => "denied",
        Some(e) if e.status_code().is_client_error() => "refused",
        Some(_) => "error",
    }
}

/// What the successful result of an audited action adds to its line: the key
/// it created (sign: the staging key; export: the job id). Results of actions
/// on a requested key or job add nothing: the line names the requested one.
pub trait Audited {
    fn created_key(&self) -> Option<String> {
        None
    }
}

/// Runs an audited action and leaves its one audit line, whatever the
/// outcome: every handler of an audited route wraps its work in this, so no
/// route can forget its line or write two.
pub async fn audited<T: Audited>(
    action: &str,
    caller: &Caller,
    requested: Option<&str>,
    work: impl Future<Output = Result<T, ApiError>>,
) -> Result<T, ApiError> {
    let result = work.await;
    let created = result.as_ref().ok().and_then(Audited::created_key);
    record(action, caller, requested.or(created.as_deref()), result.as_ref().err());
    result
}

/// One audit line for an authenticated request.
fn record(action: &str, caller: &Caller, key: Option<&str>, error: Option<&ApiError>) {
    write(
        action,
        caller.tenant.as_str(),
        &caller.subject,
        key,
        outcome(error),
        error.map_or("ok", ApiError::code),
    );
}

/// One audit line for an identified caller refused before the handler ran.
pub fn refused(action: &str, caller: &Caller, error: &ApiError) {
    record(action, caller, None, Some(error));
}

/// One audit line for a request refused before anyone was identified.
pub fn unauthenticated(action: &str, reason: &str) {
    write(action, "-", "-", None, "denied", reason);
}

fn write(action: &str, tenant: &str, subject: &str, key: Option<&str>, outcome: &str, reason: &str) {
    let key = key.map_or("-", loggable_key);
    tracing::info!(target: TARGET, action, tenant, subject, key, outcome, reason, "audit");
}

/// A requested object key (or job id) as it may appear in a log line: itself
/// when it is a well-formed key (`[A-Za-z0-9._-/]`, nothing that could break
/// a line or a field), `-` otherwise.
pub fn loggable_key(raw: &str) -> &str {
    if ObjectKey::parse(raw).is_ok() { raw } else { "-" }
}

/// The audited action a path belongs to (for refusals before routing to a handler).
pub fn action_for_path(path: &str) -> &str {
    match path {
        "/uploads/sign" => "sign",
        "/uploads/complete" => "complete",
        "/uploads/download" => "download",
        "/storage/info" => "storage_info",
        "/storage/usage" => "storage_usage",
        "/usage" => "usage",
        "/objects" => "list",
        "/objects/delete" => "delete",
        p if p == "/exports" || p.starts_with("/exports/") => "export",
        "/s3/params" => "sign",
        p if p.starts_with("/uploads/multipart") || p.starts_with("/s3/multipart") => "multipart",
        other => other,
    }
}
