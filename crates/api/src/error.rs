//! One error type for the HTTP boundary, mapped to status codes in one place.
//!
//! Every 4xx/5xx reply is `{"error": {"code", "message"}}` with a stable code,
//! including the ones actix produces itself (bad JSON, oversized bodies,
//! unknown routes), so clients can switch on `code` and never parse HTML.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use broker_core::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// The body of every 4xx/5xx reply: `{"error": {"code", "message"}}`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// An error with a stable code.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, for programs: see docs/api.md for each operation's codes.
    #[schema(examples("unknown_kind", "too_large", "forbidden_key"))]
    pub code: &'static str,
    /// For people; never repeats a credential.
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the request body is not valid JSON: {0}")]
    InvalidJson(String),
    #[error("the request is missing a field or has one of the wrong type: {0}")]
    InvalidRequest(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("unknown upload kind {0:?}; expected one of: {1}")]
    UnknownKind(String, String),
    #[error("content type {0:?} is not allowed for this kind; allowed: {1}")]
    UnsupportedType(String, String),
    #[error("{0}")]
    ExtensionMismatch(String),
    #[error("{0}")]
    InvalidFilename(String),
    #[error("the file is {size} bytes; this kind allows at most {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("the declared size must be at least 1 byte")]
    EmptyFile,
    #[error("the file is {size} bytes; above {threshold} bytes, upload it in parts (POST /uploads/multipart)")]
    MultipartRequired { size: u64, threshold: u64 },
    #[error("{0}")]
    InvalidChecksum(broker_core::record::InvalidDigest),
    /// A multipart part's `checksumSha256` is missing, malformed or not wanted.
    #[error("{0}")]
    InvalidPartChecksum(String),
    #[error("the stored bytes have SHA-256 {actual}, not the {declared} declared when the upload was signed")]
    ChecksumMismatch { declared: String, actual: String },
    #[error("this store takes presigned PUT uploads, which pin the exact size: send `size` in bytes")]
    SizeRequired,
    #[error("the uploaded object is {size} bytes; this kind allows at most {max} bytes")]
    ObjectTooLarge { size: u64, max: u64 },
    #[error("{0}")]
    NotSignedForProfile(&'static str),
    /// The verifier refused the content.
    #[error("{0}")]
    Rejected(broker_verifier::Rejection),
    #[error("the object key is malformed: {0}")]
    InvalidKey(String),
    #[error("this key cannot be {0} by the caller")]
    ForbiddenKey(&'static str),
    #[error("{0}")]
    InvalidScope(broker_core::keys::InvalidScope),
    #[error("the caller is not a member of this team")]
    ForbiddenScope,
    /// A served or staging key of another tenant, team or user: answered
    /// exactly like a missing object (`not_found`), so nothing tells whether
    /// it exists.
    #[error("the object does not exist")]
    NotVisible,
    #[error("this route is for administrators (ADMIN_API_KEYS or the admin claim of a token)")]
    AdminRequired,
    #[error("the object does not exist")]
    NotFound,
    #[error("no such route")]
    RouteNotFound,
    #[error("the method is not allowed on this route")]
    MethodNotAllowed,
    #[error("the store is unavailable; try again shortly")]
    StoreUnavailable,
    /// The failing readiness checks, by name only.
    #[error("the broker is not ready: {} unavailable", .0.join(", "))]
    NotReady(Vec<&'static str>),
    #[error("an internal error occurred")]
    Internal,
    /// Missing, malformed, expired or otherwise invalid credentials (never echoed).
    #[error("{0}")]
    Unauthenticated(String),
    #[error("too many requests; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("the tenant's storage quota of {quota} bytes would be exceeded ({used} bytes used, {size} more)")]
    QuotaExceeded { quota: u64, used: u64, size: u64 },
    #[error("the storage quota cannot be checked right now; try again shortly")]
    QuotaUnavailable,
    #[error("unknown export format {0:?}; expected csv or pdf")]
    UnknownFormat(String),
    #[error("row {row} has {got} cells, expected {expected} (one per column)")]
    RaggedRows { row: usize, got: usize, expected: usize },
    #[error("{0}")]
    InvalidSource(String),
    #[error("the source object does not exist")]
    SourceNotFound,
    #[error("no export job with this id")]
    JobNotFound,
    #[error("no webhook delivery with this id")]
    DeliveryNotFound,
    #[error("the delivery is {0}, not dead: only dead letters are replayed")]
    NotReplayable(&'static str),
    #[error("no multipart upload of the caller with this id")]
    UploadNotFound,
    #[error("{0}")]
    InvalidPartNumber(String),
    #[error("{0}")]
    TooManyParts(String),
    #[error("{0}")]
    InvalidParts(String),
    #[error("the multipart upload sessions cannot be read right now; try again shortly")]
    SessionsUnavailable,
    #[error("the job is {0} and can no longer be cancelled")]
    NotCancellable(&'static str),
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error("the export queue is unavailable; try again shortly")]
    QueueUnavailable,
    #[error("the tenant already has {0} exports queued or running; try again when some have finished")]
    TooManyQueuedExports(u64),
    #[error(
        "the tenant's queued exports would hold more than {0} bytes of inline rows; try again when some have finished"
    )]
    QueuedExportsTooLarge(u64),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::UnknownKind(..) => "unknown_kind",
            ApiError::UnsupportedType(..) => "unsupported_type",
            ApiError::ExtensionMismatch(_) => "extension_mismatch",
            ApiError::InvalidFilename(_) => "invalid_filename",
            ApiError::TooLarge { .. } | ApiError::ObjectTooLarge { .. } => "too_large",
            ApiError::NotSignedForProfile(_) => "not_signed_for_profile",
            ApiError::Rejected(rejection) => rejection.code(),
            ApiError::EmptyFile => "empty_file",
            ApiError::MultipartRequired { .. } => "multipart_required",
            ApiError::InvalidChecksum(_) | ApiError::InvalidPartChecksum(_) => "invalid_checksum",
            ApiError::ChecksumMismatch { .. } => "checksum_mismatch",
            ApiError::SizeRequired => "size_required",
            ApiError::InvalidKey(_) => "invalid_key",
            ApiError::ForbiddenKey(_) => "forbidden_key",
            ApiError::InvalidScope(_) => "invalid_scope",
            ApiError::ForbiddenScope => "forbidden_scope",
            ApiError::NotVisible => "not_found",
            ApiError::AdminRequired => "admin_required",
            ApiError::NotFound | ApiError::RouteNotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::StoreUnavailable => "store_unavailable",
            ApiError::NotReady(_) => "not_ready",
            ApiError::Internal => "internal_error",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::QuotaExceeded { .. } => "quota_exceeded",
            ApiError::QuotaUnavailable => "quota_unavailable",
            ApiError::UnknownFormat(_) => "unknown_format",
            ApiError::RaggedRows { .. } => "ragged_rows",
            ApiError::InvalidSource(_) => "invalid_source",
            ApiError::SourceNotFound => "source_not_found",
            ApiError::JobNotFound => "job_not_found",
            ApiError::DeliveryNotFound => "delivery_not_found",
            ApiError::NotReplayable(_) => "not_replayable",
            ApiError::UploadNotFound => "upload_not_found",
            ApiError::InvalidPartNumber(_) => "invalid_part_number",
            ApiError::TooManyParts(_) => "too_many_parts",
            ApiError::InvalidParts(_) => "invalid_parts",
            ApiError::SessionsUnavailable => "sessions_unavailable",
            ApiError::NotCancellable(_) => "not_cancellable",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::QueueUnavailable => "queue_unavailable",
            ApiError::TooManyQueuedExports(_) => "too_many_queued_exports",
            ApiError::QueuedExportsTooLarge(_) => "queued_exports_too_large",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidJson(_)
            | ApiError::InvalidRequest(_)
            | ApiError::UnknownKind(..)
            | ApiError::UnsupportedType(..)
            | ApiError::ExtensionMismatch(_)
            | ApiError::InvalidFilename(_)
            | ApiError::TooLarge { .. }
            | ApiError::EmptyFile
            | ApiError::MultipartRequired { .. }
            | ApiError::InvalidChecksum(_)
            | ApiError::InvalidPartChecksum(_)
            | ApiError::SizeRequired
            | ApiError::InvalidKey(_)
            | ApiError::InvalidScope(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            // The request was fine; the uploaded object is not acceptable.
            ApiError::ObjectTooLarge { .. }
            | ApiError::NotSignedForProfile(_)
            | ApiError::ChecksumMismatch { .. }
            | ApiError::Rejected(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::ForbiddenKey(_) | ApiError::ForbiddenScope | ApiError::AdminRequired => StatusCode::FORBIDDEN,
            ApiError::NotFound | ApiError::NotVisible | ApiError::RouteNotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::StoreUnavailable | ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::QuotaExceeded { .. } => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::QuotaUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::UnknownFormat(_) | ApiError::RaggedRows { .. } | ApiError::InvalidSource(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::SourceNotFound | ApiError::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::JobNotFound | ApiError::UploadNotFound => StatusCode::NOT_FOUND,
            ApiError::DeliveryNotFound => StatusCode::NOT_FOUND,
            ApiError::NotReplayable(_) => StatusCode::CONFLICT,
            ApiError::InvalidPartNumber(_) | ApiError::TooManyParts(_) | ApiError::InvalidParts(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::SessionsUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NotCancellable(_) => StatusCode::CONFLICT,
            ApiError::QueueUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyQueuedExports(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::QueuedExportsTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthenticated(_) => {
                response.insert_header((actix_web::http::header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::RateLimited { retry_after } => {
                response.insert_header((actix_web::http::header::RETRY_AFTER, retry_after.to_string()));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::AlreadyExists => {
                tracing::error!("a create-only write found an object the broker did not expect");
                ApiError::Internal
            }
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable");
                ApiError::StoreUnavailable
            }
            StoreError::Refused { code, message } => {
                tracing::error!(%code, %message, "store refused a request the broker made");
                ApiError::Internal
            }
        }
    }
}

/// actix's query-string extractor errors, in our shape. The message names
/// the field and what is wrong with it, never the value sent.
pub fn query_error(error: actix_web::error::QueryPayloadError) -> ApiError {
    ApiError::InvalidRequest(match error {
        actix_web::error::QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    })
}

/// actix's JSON extractor errors, in our shape.
pub fn json_error(error: actix_web::error::JsonPayloadError, limit: usize) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match error {
        E::OverflowKnownLength { .. } | E::Overflow { .. } => ApiError::PayloadTooLarge(limit),
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Deserialize(e) if e.is_data() => ApiError::InvalidRequest(e.to_string()),
        E::Deserialize(e) => ApiError::InvalidJson(e.to_string()),
        other => ApiError::InvalidJson(other.to_string()),
    }
}
