//! Multipart uploads, bound to the principal that started them: create, sign
//! parts, list parts (resume), complete, abort. Plain functions over the store
//! and the [`SessionRegistry`]; the broker's routes (`/uploads/multipart…`)
//! and the Companion-compatible ones (`/s3/multipart…`) both call them.
//!
//! * Create: the server makes the staging key (as `/uploads/sign` does),
//!   starts the store's multipart upload with the signed object record (and
//!   SSE), and records the session.
//! * Every later call finds the session by upload id and answers 404
//!   `upload_not_found` unless the caller is its tenant *and* subject and it
//!   has not expired: another principal cannot learn that it exists.
//! * Part URLs are presigned UploadParts (`S3_PRESIGN_TTL`) whose signature
//!   covers the key, the upload id and the part number, and the part's exact
//!   length when the declared size makes it known: every part but the last
//!   has `partSize` bytes. An upload created with `checksumAlgorithm:
//!   "SHA256"` has each part's SHA-256 signed in too (`x-amz-checksum-sha256`),
//!   so the store refuses other bytes.
//! * Complete checks the parts the store holds against that layout, calls
//!   CompleteMultipartUpload (with the parts' checksums), then verifies and
//!   promotes the staged object through `POST /uploads/complete`'s own function.

pub mod sessions;

use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use std::time::SystemTime;

use broker_core::ObjectKey;
use broker_core::config::{UploadMode, UploadSettings};
use broker_core::metrics::MultipartEvent;
use broker_core::store::{PutOptions, Store, StoreError, UploadedPart};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::audit::Audited;
use crate::auth::{Caller, Quotas};
use crate::error::ApiError;
use crate::uploads::complete::{CompleteRequest, CompleteResponse};
use crate::uploads::sign::{SignRequest, UploadPlan};
use crate::uploads::verification::Verification;
pub use sessions::{MultipartSession, RegistryError, SessionRegistry};
use sessions::{SESSION_LIFETIME, unix_secs};

/// The most part numbers one sign call may ask for.
pub const MAX_PARTS_PER_CALL: usize = 100;
/// The most parts of one upload (S3's limit).
pub const MAX_PARTS: u64 = 10_000;
/// The part size of uploads started through the Companion routes: what
/// `@uppy/aws-s3` cuts a file into by default (5 MiB, for files under 48 GiB).
pub const COMPANION_PART_SIZE: u64 = 5 * 1024 * 1024;

/// What every multipart call needs besides the store.
pub struct Multipart {
    pub sessions: Arc<dyn SessionRegistry>,
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        tracing::warn!(%error, "multipart sessions unavailable");
        ApiError::SessionsUnavailable
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateMultipartRequest {
    /// The upload profile (`kind` is accepted too).
    #[serde(alias = "kind")]
    pub profile: String,
    /// The file's name (as for `/uploads/sign`).
    #[schema(examples("report.pdf"))]
    pub filename: String,
    /// One of the profile's types.
    #[serde(alias = "content_type")]
    #[schema(examples("application/pdf"))]
    pub content_type: String,
    /// The exact size in bytes: it fixes the part count.
    #[schema(minimum = 1)]
    pub size: u64,
    /// The SHA-256 of the whole file, 64 hex digits, as for `/uploads/sign`:
    /// completion refuses stored bytes with another digest.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: Option<String>,
    /// Who may read the verified object, as for `/uploads/sign`.
    #[serde(default)]
    #[schema(examples("user", "team:design", "tenant"), nullable = false)]
    pub scope: Option<String>,
    /// `SHA256`: every part is signed with its own SHA-256 (see
    /// `checksumSha256` when signing parts) and the store refuses a part
    /// whose bytes have another.
    #[serde(default)]
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
}

/// The per-part checksum a multipart upload may require.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum ChecksumAlgorithm {
    #[serde(rename = "SHA256")]
    Sha256,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateMultipartResponse {
    /// The store's multipart upload id: the handle of every later call.
    pub upload_id: String,
    /// The staging key; after completion, `POST /uploads/complete` takes it too.
    pub key: String,
    /// Every part but the last has exactly this many bytes.
    pub part_size: u64,
    /// Parts are numbered `1..=partCount`.
    pub part_count: u64,
    /// `SHA256` when every part must be signed with its SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// Seconds until the session expires (part URLs live `S3_PRESIGN_TTL`).
    pub expires_in: u64,
}

impl Audited for CreateMultipartResponse {
    fn created_key(&self) -> Option<String> {
        Some(self.key.clone())
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignPartsRequest {
    /// At most 100 part numbers, each in `1..=partCount`.
    #[schema(examples(json!([1, 2, 3])))]
    pub part_numbers: Vec<u32>,
    /// Each part's SHA-256, base64 (44 characters), by part number: required
    /// for every part of an upload created with `checksumAlgorithm: "SHA256"`,
    /// refused for any other. The URL is signed with it, so the store refuses
    /// a part whose bytes have another.
    #[serde(default)]
    #[schema(example = json!({"1": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}))]
    pub checksum_sha256: BTreeMap<u32, String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedPart {
    pub part_number: u32,
    /// A presigned UploadPart: PUT the part's bytes here.
    pub url: String,
    #[schema(schema_with = put_schema)]
    pub method: &'static str,
    /// Headers to send with the PUT, as they are (`x-amz-checksum-sha256`
    /// when the part was signed with one); the browser sets `Content-Length`,
    /// which the URL pins when the part's size is known.
    pub headers: BTreeMap<String, String>,
}

fn put_schema() -> utoipa::openapi::schema::ObjectBuilder {
    crate::openapi::string_enum(&["PUT"])
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignPartsResponse {
    pub parts: Vec<SignedPart>,
    /// Seconds until the URLs expire.
    pub expires_in: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListedPart {
    pub part_number: u32,
    /// The store's ETag of the part, to send back at completion.
    pub etag: String,
    pub size: u64,
    /// The part's SHA-256 (base64), when it was signed with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_sha256: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MultipartStatus {
    pub upload_id: String,
    pub key: String,
    pub part_size: u64,
    pub part_count: u64,
    /// `SHA256` when every part must be signed with its SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// The parts the store holds, by part number.
    pub parts: Vec<ListedPart>,
    /// Seconds until the session expires.
    pub expires_in: u64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletedPart {
    pub part_number: u32,
    /// The ETag the store answered the part's PUT with (quotes optional).
    pub etag: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteMultipartRequest {
    /// Every part, in ascending order.
    pub parts: Vec<CompletedPart>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbortResponse {
    pub aborted: bool,
    /// Nothing expires: 0.
    pub expires_in: u64,
}

/// The session as a caller may use it, with its parsed key.
pub struct Owned {
    pub session: MultipartSession,
    pub key: ObjectKey,
}

impl Owned {
    /// How many parts the upload has: from the declared size, else at most
    /// what the profile's maximum allows.
    pub fn part_count(&self, max_bytes: u64) -> u64 {
        part_count(self.session.size.unwrap_or(max_bytes), self.session.part_size)
    }

    fn checksum_algorithm(&self) -> Option<ChecksumAlgorithm> {
        self.session.part_sha256.then_some(ChecksumAlgorithm::Sha256)
    }

    fn expires_in(&self) -> u64 {
        self.session.expires_at.saturating_sub(unix_secs(SystemTime::now()))
    }
}

/// Parts of `part_size` bytes (the last one smaller) that make `size` bytes.
pub fn part_count(size: u64, part_size: u64) -> u64 {
    size.div_ceil(part_size.max(1))
}

/// The exact size of part `number` of an upload of `size` bytes, when known.
fn part_length(size: Option<u64>, part_size: u64, number: u32) -> Option<u64> {
    let count = part_count(size?, part_size);
    let number = u64::from(number);
    Some(if number < count {
        part_size
    } else {
        size? - (count - 1) * part_size
    })
}

/// Starts a multipart upload of a checked `plan` (the route checks rate
/// limits and quotas first) with parts of `part_size` bytes
/// (`MULTIPART_PART_SIZE`, or Companion's), each signed with its SHA-256
/// when `checksum` says so.
pub async fn create(
    store: &Store,
    multipart: &Multipart,
    caller: &Caller,
    plan: &UploadPlan,
    part_size: u64,
    checksum: Option<ChecksumAlgorithm>,
) -> Result<CreateMultipartResponse, ApiError> {
    let count = part_count(plan.size.unwrap_or(store.uploads().max_bytes(plan.profile)), part_size);
    if count > MAX_PARTS {
        return Err(ApiError::TooManyParts(format!(
            "{count} parts of {part_size} bytes; an upload has at most {MAX_PARTS}"
        )));
    }
    let (key, record) = plan.staged(store, caller)?;
    let options = PutOptions {
        content_type: plan.content_type.mime,
        content_disposition: "",
        metadata: record
            .to_metadata()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        create_only: false,
    };
    let part_sha256 = checksum == Some(ChecksumAlgorithm::Sha256);
    let upload_id = store.create_multipart(&key, options, part_sha256).await?;
    let session = MultipartSession {
        upload_id: upload_id.clone(),
        key: key.to_string(),
        tenant: caller.tenant.as_str().to_owned(),
        subject: caller.subject.clone(),
        profile: plan.profile.name.as_str().to_owned(),
        size: plan.size,
        part_size,
        part_sha256,
        expires_at: unix_secs(SystemTime::now() + SESSION_LIFETIME),
    };
    if let Err(error) = multipart.sessions.insert(&session).await {
        // Nobody could ever use or complete it: do not leave it in the store.
        let _ = store.abort_multipart(&key, &upload_id).await;
        return Err(error.into());
    }
    broker_core::metrics::multipart(MultipartEvent::Created);
    Ok(CreateMultipartResponse {
        upload_id,
        key: key.to_string(),
        part_size,
        part_count: count,
        checksum_algorithm: checksum,
        expires_in: SESSION_LIFETIME.as_secs(),
    })
}

/// The caller's session of `upload_id`, or 404 `upload_not_found` (also for
/// another principal's, an expired one, or when `key` is given and is not
/// the upload's).
pub async fn owned(
    multipart: &Multipart,
    caller: &Caller,
    upload_id: &str,
    key: Option<&str>,
) -> Result<Owned, ApiError> {
    let session = multipart
        .sessions
        .get(upload_id)
        .await?
        .filter(|s| s.belongs_to(&caller.tenant, &caller.subject, unix_secs(SystemTime::now())))
        .filter(|s| key.is_none_or(|key| s.key == key))
        .ok_or(ApiError::UploadNotFound)?;
    let key = ObjectKey::parse(&session.key).map_err(|_| ApiError::UploadNotFound)?;
    Ok(Owned { session, key })
}

/// The profile maximum of a session.
fn max_bytes(store: &Store, owned: &Owned) -> u64 {
    broker_core::Profile::find(&owned.session.profile).map_or(0, |p| store.uploads().max_bytes(p))
}

/// The part's SHA-256 as the upload requires it: given (as 32 bytes in
/// base64) exactly when the upload was created with `checksumAlgorithm`.
fn part_checksum<'a>(
    owned: &Owned,
    number: u32,
    checksums: &'a BTreeMap<u32, String>,
) -> Result<Option<&'a str>, ApiError> {
    let given = checksums.get(&number).map(String::as_str);
    match (owned.session.part_sha256, given) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(ApiError::InvalidPartChecksum(
            "this upload was created without checksumAlgorithm: sign its parts without checksumSha256".into(),
        )),
        (true, None) => Err(ApiError::InvalidPartChecksum(format!(
            "this upload was created with checksumAlgorithm SHA256: send part {number}'s in checksumSha256"
        ))),
        (true, Some(sha256)) => {
            let decoded = base64::engine::general_purpose::STANDARD.decode(sha256);
            if decoded.is_ok_and(|bytes| bytes.len() == 32) {
                Ok(Some(sha256))
            } else {
                Err(ApiError::InvalidPartChecksum(format!(
                    "part {number}'s checksumSha256 must be its SHA-256 in base64 (44 characters)"
                )))
            }
        }
    }
}

/// Presigned UploadPart URLs for `part_numbers` of the caller's upload,
/// each signed with its checksum from `checksums` when the upload has them.
pub async fn sign_parts(
    store: &Store,
    owned: &Owned,
    part_numbers: &[u32],
    checksums: &BTreeMap<u32, String>,
) -> Result<SignPartsResponse, ApiError> {
    if part_numbers.is_empty() {
        return Err(ApiError::InvalidPartNumber("send at least one part number".into()));
    }
    if part_numbers.len() > MAX_PARTS_PER_CALL {
        return Err(ApiError::TooManyParts(format!(
            "{} part numbers in one call; at most {MAX_PARTS_PER_CALL}",
            part_numbers.len()
        )));
    }
    let count = owned.part_count(max_bytes(store, owned));
    let mut parts = Vec::with_capacity(part_numbers.len());
    for &number in part_numbers {
        if number == 0 || u64::from(number) > count {
            return Err(ApiError::InvalidPartNumber(format!(
                "part {number} is outside 1..={count}"
            )));
        }
        let length = part_length(owned.session.size, owned.session.part_size, number);
        let checksum = part_checksum(owned, number, checksums)?;
        let signed = store
            .presign_part(&owned.key, &owned.session.upload_id, number, length, checksum)
            .await?;
        parts.push(SignedPart {
            part_number: number,
            url: signed.url,
            method: "PUT",
            headers: signed.headers,
        });
    }
    Ok(SignPartsResponse {
        parts,
        expires_in: store.presign_ttl().as_secs(),
    })
}

/// The parts the store holds for the caller's upload (resume after a reload).
pub async fn status(store: &Store, owned: &Owned) -> Result<MultipartStatus, ApiError> {
    let parts = listed_parts(store, owned).await?;
    Ok(MultipartStatus {
        upload_id: owned.session.upload_id.clone(),
        key: owned.session.key.clone(),
        part_size: owned.session.part_size,
        part_count: owned.part_count(max_bytes(store, owned)),
        checksum_algorithm: owned.checksum_algorithm(),
        parts: parts
            .into_iter()
            .map(|part| ListedPart {
                part_number: part.number,
                etag: part.etag,
                size: part.size,
                checksum_sha256: part.checksum_sha256,
            })
            .collect(),
        expires_in: owned.expires_in(),
    })
}

/// The store's parts; a vanished upload is `upload_not_found`.
async fn listed_parts(store: &Store, owned: &Owned) -> Result<Vec<UploadedPart>, ApiError> {
    match store.list_parts(&owned.key, &owned.session.upload_id).await {
        Ok(parts) => Ok(parts),
        Err(StoreError::NotFound) => Err(ApiError::UploadNotFound),
        Err(StoreError::Refused { code, .. }) if code == "NoSuchUpload" => Err(ApiError::UploadNotFound),
        Err(e) => Err(e.into()),
    }
}

/// Checks `parts` against what the store holds and the session's layout,
/// then makes the staged object appear (CompleteMultipartUpload). The
/// session ends: the upload no longer exists in the store.
pub async fn assemble(
    store: &Store,
    multipart: &Multipart,
    owned: &Owned,
    parts: &[(u32, String)],
) -> Result<(), ApiError> {
    let listed = listed_parts(store, owned).await?;
    check_parts(owned, max_bytes(store, owned), parts, &listed)?;
    // The parts as the store holds them (with their checksums), in order.
    let parts: Vec<UploadedPart> = parts
        .iter()
        .filter_map(|(number, _)| listed.iter().find(|p| p.number == *number).cloned())
        .collect();
    store
        .complete_listed_multipart(&owned.key, &owned.session.upload_id, &parts)
        .await?;
    multipart.sessions.remove(&owned.session.upload_id).await?;
    broker_core::metrics::multipart(MultipartEvent::Assembled);
    Ok(())
}

/// The ETag without its quotes.
fn bare(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

/// The parts a client completes with: ascending, each one the store holds
/// with that ETag, every one but the last exactly `partSize` bytes, all of
/// them the declared size (or at most the profile's maximum).
fn check_parts(
    owned: &Owned,
    max_bytes: u64,
    parts: &[(u32, String)],
    listed: &[UploadedPart],
) -> Result<(), ApiError> {
    let invalid = |message: String| Err(ApiError::InvalidParts(message));
    let count = owned.part_count(max_bytes);
    if parts.is_empty() {
        return invalid("send every part, in ascending order".into());
    }
    if let Some((number, _)) = parts.iter().find(|(n, _)| *n == 0 || u64::from(*n) > count) {
        return Err(ApiError::InvalidPartNumber(format!(
            "part {number} is outside 1..={count}"
        )));
    }
    let mut total = 0u64;
    for (index, (number, etag)) in parts.iter().enumerate() {
        if u64::from(*number) != index as u64 + 1 {
            return invalid(format!(
                "part {number} is out of order: parts are numbered 1, 2, 3… without gaps"
            ));
        }
        let Some(stored) = listed.iter().find(|p| p.number == *number) else {
            return invalid(format!("part {number} was not uploaded"));
        };
        if bare(&stored.etag) != bare(etag) {
            return invalid(format!("part {number}'s ETag is not the stored part's"));
        }
        let last = index + 1 == parts.len();
        if (!last && stored.size != owned.session.part_size) || stored.size > owned.session.part_size {
            return invalid(format!(
                "part {number} has {} bytes; every part but the last has exactly {}",
                stored.size, owned.session.part_size
            ));
        }
        total += stored.size;
    }
    match owned.session.size {
        Some(size) if total != size => invalid(format!("the parts make {total} bytes, not the declared {size}")),
        None if total > max_bytes => Err(ApiError::TooLarge {
            size: total,
            max: max_bytes,
        }),
        _ => Ok(()),
    }
}

/// CompleteMultipartUpload, then `/uploads/complete`'s verification and promotion.
pub async fn complete(
    store: &Store,
    multipart: &Multipart,
    verification: &Verification,
    quotas: &Quotas,
    caller: &Caller,
    owned: &Owned,
    parts: &[(u32, String)],
) -> Result<CompleteResponse, ApiError> {
    assemble(store, multipart, owned, parts).await?;
    let request = CompleteRequest {
        object_key: owned.session.key.clone(),
    };
    crate::uploads::complete::complete(store, verification, quotas, caller, &request).await
}

/// Discards the caller's upload and its parts; the session ends.
pub async fn abort(store: &Store, multipart: &Multipart, owned: &Owned) -> Result<AbortResponse, ApiError> {
    store.abort_multipart(&owned.key, &owned.session.upload_id).await?;
    multipart.sessions.remove(&owned.session.upload_id).await?;
    broker_core::metrics::multipart(MultipartEvent::Aborted);
    Ok(AbortResponse {
        aborted: true,
        expires_in: 0,
    })
}

/// The checked plan of a multipart upload: what `/uploads/sign` checks, but
/// for the multipart threshold, which only single uploads stay under.
pub fn plan(request: &SignRequest, uploads: &UploadSettings) -> Result<UploadPlan, ApiError> {
    let mut parts = uploads.clone();
    parts.multipart_threshold = u64::MAX;
    request.plan(UploadMode::Post, &parts)
}

impl CreateMultipartRequest {
    /// The same request in `/uploads/sign`'s terms.
    pub fn sign_request(&self) -> SignRequest {
        SignRequest {
            kind: self.profile.clone(),
            filename: self.filename.clone(),
            content_type: self.content_type.clone(),
            size: Some(self.size),
            sha256: self.sha256.clone(),
            scope: self.scope.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn owned(size: Option<u64>, part_size: u64) -> Owned {
        Owned {
            session: MultipartSession {
                upload_id: "u".into(),
                key: "staging/acme/file/x.csv".into(),
                tenant: "acme".into(),
                subject: "alice".into(),
                profile: "file".into(),
                size,
                part_size,
                part_sha256: false,
                expires_at: u64::MAX,
            },
            key: ObjectKey::parse("staging/acme/file/x.csv").expect("key"),
        }
    }

    fn stored(sizes: &[u64]) -> Vec<UploadedPart> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &size)| UploadedPart {
                number: i as u32 + 1,
                etag: format!("\"e{}\"", i + 1),
                size,
                checksum_sha256: None,
            })
            .collect()
    }

    fn given(n: u32) -> Vec<(u32, String)> {
        (1..=n).map(|i| (i, format!("e{i}"))).collect()
    }

    #[test]
    fn parts_have_the_part_size_but_the_last() {
        assert_eq!(part_count(16 * MIB, 5 * MIB), 4);
        assert_eq!(part_count(15 * MIB, 5 * MIB), 3);
        assert_eq!(part_length(Some(16 * MIB), 5 * MIB, 3), Some(5 * MIB));
        assert_eq!(part_length(Some(16 * MIB), 5 * MIB, 4), Some(MIB));
        assert_eq!(part_length(Some(15 * MIB), 5 * MIB, 3), Some(5 * MIB));
        assert_eq!(part_length(None, 5 * MIB, 1), None);
    }

    #[test]
    fn a_part_checksum_is_required_exactly_when_the_upload_has_them() {
        let sha256 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        let given = BTreeMap::from([(1, sha256.to_owned()), (2, "c2hvcnQ=".to_owned())]);
        let mut session = owned(Some(11 * MIB), 5 * MIB);
        let code = |session: &Owned, number| part_checksum(session, number, &given).map_err(|e| e.code());
        assert_eq!(code(&session, 3), Ok(None));
        assert_eq!(code(&session, 1), Err("invalid_checksum"), "not wanted");
        session.session.part_sha256 = true;
        assert_eq!(code(&session, 1), Ok(Some(sha256)));
        assert_eq!(code(&session, 2), Err("invalid_checksum"), "not 32 bytes");
        assert_eq!(code(&session, 3), Err("invalid_checksum"), "missing");
    }

    #[test]
    fn completion_checks_the_stored_parts_against_the_layout() {
        let size = 11 * MIB;
        let session = owned(Some(size), 5 * MIB);
        let code = |parts: &[(u32, String)], listed: &[UploadedPart]| {
            check_parts(&session, 25 * MIB, parts, listed).map_or_else(|e| e.code(), |()| "ok")
        };
        let good = stored(&[5 * MIB, 5 * MIB, MIB]);
        assert_eq!(code(&given(3), &good), "ok");
        assert_eq!(code(&given(2), &good), "invalid_parts", "short of the declared size");
        assert_eq!(code(&[], &good), "invalid_parts");
        assert_eq!(code(&given(4), &good), "invalid_part_number");
        let swapped = vec![(2, "e2".to_owned()), (1, "e1".to_owned()), (3, "e3".to_owned())];
        assert_eq!(code(&swapped, &good), "invalid_parts");
        let wrong_etag = vec![(1, "e1".to_owned()), (2, "nope".to_owned()), (3, "e3".to_owned())];
        assert_eq!(code(&wrong_etag, &good), "invalid_parts");
        assert_eq!(
            code(&given(3), &stored(&[5 * MIB, MIB, 5 * MIB])),
            "invalid_parts",
            "a short middle part"
        );
        assert_eq!(
            code(&given(3), &stored(&[5 * MIB, 5 * MIB])),
            "invalid_parts",
            "part 3 missing"
        );

        let unknown_size = owned(None, 5 * MIB);
        let listed = stored(&[5 * MIB, 5 * MIB, 5 * MIB, 5 * MIB, 5 * MIB, 5 * MIB]);
        assert_eq!(
            check_parts(&unknown_size, 25 * MIB, &given(6), &listed).map_or_else(|e| e.code(), |()| "ok"),
            "invalid_part_number",
            "30 MiB is more parts than a 25 MiB profile has"
        );
        assert!(check_parts(&unknown_size, 25 * MIB, &given(5), &listed).is_ok());
    }
}
