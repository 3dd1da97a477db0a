//! `POST /exports`, `GET /exports/{id}`, `DELETE /exports/{id}` as plain
//! functions over the store and the export queue.
//!
//! The request body is read here rather than by actix's JSON extractor: inline
//! rows may be megabytes (`EXPORT_MAX_INLINE_BYTES`, 10 MiB by default), far
//! above the API's 64 KiB limit for every other route. They are never built:
//! the body is checked with [`RowShape`], which keeps counts only, and is
//! itself what the job stores (see [`broker_jobs::inline`]), so a request
//! costs its body and the copies that carry it to the queue, whatever its
//! shape.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use broker_core::disposition::attachment;
use broker_core::keys::NotExportSource;
use broker_core::metrics::{self, ExportStatus};
use broker_core::profile::EXPORTS_AREA;
use broker_core::store::Store;
use broker_core::{Area, ObjectKey};
use broker_jobs::inline::RowShape;
use broker_jobs::job::{ExportFormat, JobError, JobRecord, JobStatus, download_name};
use broker_jobs::{CancelOutcome, Idempotency, JobId, JobsClient, NewExport, NewSource, QueueError, SubmitError};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::auth::audit::Audited;
use crate::error::ApiError;
use crate::hex::hex;

const MAX_FILENAME_BYTES: usize = 255;
const MAX_TITLE_CHARS: usize = 200;
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// What the export routes share.
pub struct ExportService {
    pub exports: JobsClient,
}

impl ExportService {
    pub fn max_inline_bytes(&self) -> usize {
        self.exports.settings().max_inline_bytes
    }
}

/// Either `columns` and `rows`, or `source`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportRequest {
    #[schema(value_type = ExportFormat)]
    pub format: String,
    /// The name a browser saves (any Unicode, at most 255 bytes of UTF-8);
    /// the extension is added or kept.
    #[schema(min_length = 1)]
    pub filename: String,
    /// PDF: shown on every page and stored as the document title.
    #[serde(default)]
    #[schema(max_length = 200, nullable = false)]
    pub title: Option<String>,
    /// Inline data: the header row.
    #[serde(default)]
    #[schema(nullable = false, min_items = 1)]
    pub columns: Option<Vec<String>>,
    /// Inline rows, checked as they are parsed and not kept: one cell
    /// (string, number, boolean or null) per column.
    #[serde(default)]
    #[schema(value_type = Vec<Vec<Value>>, nullable = false)]
    pub rows: Option<RowShape>,
    /// The key of a verified export upload (CSV, JSON array of objects, NDJSON).
    #[serde(default)]
    #[schema(nullable = false)]
    pub source: Option<String>,
    /// CSV: start with a UTF-8 byte-order mark (for Excel).
    #[serde(default)]
    #[schema(default = false)]
    pub bom: bool,
    /// CSV: prefix cells starting with `=`, `+`, `-`, `@`, tab or CR with `'`. On by default.
    #[serde(default = "yes")]
    #[schema(default = true)]
    pub neutralize_formulas: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub job_id: JobId,
    /// `queued`, or the job's current status on an idempotent replay.
    #[schema(value_type = JobStatus)]
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Progress {
    /// Rows written so far (the header is not counted).
    pub rows: u64,
    /// Rows in total, when known (inline rows; any job once done).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub total: Option<u64>,
}

/// A job's status; `objectKey`, `url` and `expiresIn` once it is done.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub job_id: JobId,
    #[schema(value_type = JobStatus)]
    pub status: &'static str,
    #[schema(value_type = ExportFormat)]
    pub format: &'static str,
    pub filename: String,
    pub progress: Progress,
    /// Attempts started so far.
    pub attempts: u32,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds.
    pub updated_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub object_key: Option<String>,
    /// A freshly signed GET of the output.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub url: Option<String>,
    /// Seconds until `url` expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub expires_in: Option<u64>,
    /// The last failure: final for `failed`, the reason of the pending retry for `queued`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<JobError>,
    /// When a queued retry is due (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub retry_at: Option<u64>,
}

impl Audited for JobView {}

/// A submitted job (and whether it was an idempotent replay) is named by its id.
impl Audited for (JobRecord, bool) {
    fn created_key(&self) -> Option<String> {
        Some(self.0.job_id.to_string())
    }
}

impl From<QueueError> for ApiError {
    fn from(error: QueueError) -> Self {
        match error {
            QueueError::Unavailable(detail) => {
                tracing::warn!(%detail, "export queue unavailable");
                ApiError::QueueUnavailable
            }
            QueueError::Corrupt(detail) => {
                tracing::error!(%detail, "corrupt export record");
                ApiError::Internal
            }
        }
    }
}

/// Reads a JSON body of at most `limit` bytes (exports have their own bound),
/// into the one buffer the job then stores.
pub async fn read_json_body(
    request: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::InvalidJson(format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Checks the `Idempotency-Key` header value.
pub fn idempotency_key(raw: Option<&[u8]>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let valid = (1..=MAX_IDEMPOTENCY_KEY).contains(&raw.len()) && raw.iter().all(|b| b.is_ascii_graphic());
    if !valid {
        return Err(ApiError::InvalidRequest(format!(
            "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters without spaces"
        )));
    }
    Ok(Some(String::from_utf8_lossy(raw).into_owned()))
}

/// Parses the body read by the handler.
pub fn parse_request(body: &[u8]) -> Result<ExportRequest, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::InvalidRequest(e.to_string())
        } else {
            ApiError::InvalidJson(e.to_string())
        }
    })
}

fn check_filename(filename: &str) -> Result<(), ApiError> {
    if filename.trim().is_empty() || filename.len() > MAX_FILENAME_BYTES || filename.chars().any(char::is_control) {
        return Err(ApiError::InvalidFilename(format!(
            "filename must be 1 to {MAX_FILENAME_BYTES} bytes without control characters"
        )));
    }
    Ok(())
}

/// The source key, if it is a verified CSV or JSON export upload of the caller's tenant
/// (the rule is [`KeyLayout::export_source`](broker_core::KeyLayout::export_source)),
/// in a scope the caller may read, and exists. A source of another team or
/// user answers as a missing one. The output gets the source's scope.
async fn check_source(store: &Store, caller: &Caller, raw: &str) -> Result<String, ApiError> {
    let source = store.layout().export_source(&caller.tenant, raw).map_err(|e| match e {
        NotExportSource::InvalidKey(detail) => {
            ApiError::InvalidSource(format!("source is not a valid object key: {detail}"))
        }
        NotExportSource::NotTenantsUpload => ApiError::InvalidSource(
            "source must be a verified export upload of your tenant (complete the upload first)".into(),
        ),
        NotExportSource::NotDataset => {
            ApiError::InvalidSource("source must be a verified CSV or JSON export upload".into())
        }
    })?;
    if !caller.may_read(&source.scope) {
        return Err(ApiError::SourceNotFound);
    }
    match store.head(&source.key).await {
        Ok(_) => Ok(source.key.as_str().to_owned()),
        Err(broker_core::store::StoreError::NotFound) => Err(ApiError::SourceNotFound),
        Err(e) => Err(e.into()),
    }
}

/// Validates and enqueues. Returns the job and whether it already existed
/// (same `Idempotency-Key` and request).
pub async fn submit(
    service: &ExportService,
    store: &Store,
    caller: &Caller,
    body: Vec<u8>,
    idempotency_key: Option<String>,
) -> Result<(JobRecord, bool), ApiError> {
    let request = parse_request(&body)?;
    let format = ExportFormat::parse(&request.format).ok_or_else(|| ApiError::UnknownFormat(request.format.clone()))?;
    check_filename(&request.filename)?;
    if let Some(title) = &request.title
        && (title.chars().count() > MAX_TITLE_CHARS || title.chars().any(char::is_control))
    {
        return Err(ApiError::InvalidRequest(format!(
            "title must be at most {MAX_TITLE_CHARS} characters without control characters"
        )));
    }
    let idempotency = idempotency_key.map(|key| Idempotency {
        key,
        fingerprint: hex(&Sha256::digest(&body)),
    });
    let source = match (request.columns, request.rows, request.source) {
        (Some(columns), Some(shape), None) => {
            if columns.is_empty() {
                return Err(ApiError::InvalidRequest("columns must not be empty".into()));
            }
            let rows = shape.check(columns.len()).map_err(|ragged| ApiError::RaggedRows {
                row: usize::try_from(ragged.row).unwrap_or(usize::MAX),
                got: ragged.got,
                expected: ragged.expected,
            })?;
            NewSource::Inline { body, rows }
        }
        (None, None, Some(source)) => NewSource::Object {
            key: check_source(store, caller, &source).await?,
        },
        _ => {
            return Err(ApiError::InvalidRequest(
                "send either columns and rows, or source (the objectKey of a verified export upload)".into(),
            ));
        }
    };
    let request = NewExport {
        tenant: caller.tenant.clone(),
        format,
        filename: request.filename,
        title: request.title,
        source,
        bom: request.bom,
        neutralize_formulas: request.neutralize_formulas,
        idempotency,
    };
    match service.exports.submit(request).await {
        Ok(submitted) => {
            if !submitted.replayed {
                metrics::export(submitted.record.format.as_str(), ExportStatus::Queued);
            }
            Ok((submitted.record, submitted.replayed))
        }
        Err(SubmitError::IdempotencyConflict) => Err(ApiError::IdempotencyKeyReused),
        Err(SubmitError::TooManyQueued(limit)) => Err(ApiError::TooManyQueuedExports(limit)),
        Err(SubmitError::QueuedInputTooLarge(limit)) => Err(ApiError::QueuedExportsTooLarge(limit)),
        Err(SubmitError::Queue(e)) => Err(e.into()),
    }
}

/// The job's state; a done job gets a freshly signed download URL.
pub async fn view(store: &Store, record: JobRecord) -> Result<JobView, ApiError> {
    let (url, expires_in) = match (&record.object_key, record.status.as_str()) {
        (Some(key), "done") => {
            let key = broker_core::ObjectKey::parse(key).map_err(|_| ApiError::Internal)?;
            let name = download_name(&record.filename, record.format);
            let url = store
                .presign_get(&key, &attachment(&name), record.format.content_type())
                .await?;
            (Some(url), Some(store.presign_ttl().as_secs()))
        }
        _ => (None, None),
    };
    Ok(JobView {
        job_id: record.job_id,
        status: record.status.as_str(),
        format: record.format.as_str(),
        filename: download_name(&record.filename, record.format),
        progress: Progress {
            rows: record.rows,
            total: record.total,
        },
        attempts: record.attempts,
        created_at: record.created_at,
        updated_at: record.updated_at,
        object_key: if record.status.as_str() == "done" {
            record.object_key
        } else {
            None
        },
        url,
        expires_in,
        error: record.error,
        retry_at: record.retry_at,
    })
}

/// `/uploads/download` signs the caller's served keys; an export's key only
/// while its job is done with that output. A job that is cancelled (the
/// delete after a late upload may have failed), failed or still running has
/// no output to read: the key answers as if nothing were there.
pub async fn check_download(
    service: &ExportService,
    store: &Store,
    caller: &Caller,
    raw: &str,
) -> Result<(), ApiError> {
    // Keys that are not the caller's exports are left to the download's own checks.
    let Ok(key) = ObjectKey::parse(raw) else { return Ok(()) };
    match store.layout().classify(&key) {
        Ok(Area::Served {
            tenant,
            area: EXPORTS_AREA,
            ..
        }) if tenant == caller.tenant => {}
        _ => return Ok(()),
    }
    // `{prefix}{tenant}/{scope}/exports/{job id}/{file}`
    let job_id = key
        .as_str()
        .rsplit('/')
        .nth(1)
        .and_then(|id| JobId::parse(id).ok())
        .ok_or(ApiError::NotFound)?;
    match service.exports.get(&caller.tenant, job_id).await? {
        Some(record) if record.status == JobStatus::Done && record.object_key.as_deref() == Some(key.as_str()) => {
            Ok(())
        }
        _ => Err(ApiError::NotFound),
    }
}

/// A job id from the URL; anything that is not one names no job.
fn parse_job_id(raw: &str) -> Result<JobId, ApiError> {
    JobId::parse(raw).map_err(|_| ApiError::JobNotFound)
}

pub async fn get(service: &ExportService, store: &Store, caller: &Caller, job_id: &str) -> Result<JobView, ApiError> {
    let record = service
        .exports
        .get(&caller.tenant, parse_job_id(job_id)?)
        .await?
        .ok_or(ApiError::JobNotFound)?;
    // The output has its source's scope: a job whose output the caller may
    // not read is not theirs to see.
    if let Some(key) = &record.object_key
        && !ObjectKey::parse(key)
            .ok()
            .and_then(|key| store.layout().classify(&key).ok())
            .is_some_and(|area| matches!(area, Area::Served { scope, .. } if caller.may_read(&scope)))
    {
        return Err(ApiError::JobNotFound);
    }
    view(store, record).await
}

pub async fn cancel(
    service: &ExportService,
    store: &Store,
    caller: &Caller,
    job_id: &str,
) -> Result<JobView, ApiError> {
    match service.exports.cancel(&caller.tenant, parse_job_id(job_id)?).await? {
        CancelOutcome::Cancelled(record) => {
            metrics::export(record.format.as_str(), ExportStatus::Cancelled);
            view(store, *record).await
        }
        CancelOutcome::NotFound => Err(ApiError::JobNotFound),
        CancelOutcome::NotCancellable(status) => Err(ApiError::NotCancellable(status.as_str())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_cells_accept_scalars_only() {
        let request = parse_request(
            br#"{"format":"csv","filename":"a.csv","columns":["a","b","c","d"],"rows":[["x",1.5,true,null]]}"#,
        )
        .expect("valid");
        // Checked, counted and dropped: the worker reads the cells back from the body.
        assert_eq!(request.rows.expect("rows").check(4).ok(), Some(1));
        let nested = parse_request(br#"{"format":"csv","filename":"a.csv","columns":["a"],"rows":[[{"x":1}]]}"#);
        assert_eq!(nested.map(|_| ()).map_err(|e| e.code()), Err("invalid_request"));
        assert_eq!(
            parse_request(b"{").map(|_| ()).map_err(|e| e.code()),
            Err("invalid_json")
        );
    }

    #[test]
    fn idempotency_keys_are_bounded_printable_ascii() {
        assert_eq!(idempotency_key(None).ok(), Some(None));
        assert_eq!(idempotency_key(Some(b"order-42")).ok(), Some(Some("order-42".into())));
        for bad in [&b""[..], b"a b", b"\xc3\xa9", &[b'a'; 256]] {
            assert!(idempotency_key(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
