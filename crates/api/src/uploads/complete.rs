//! `POST /uploads/complete`: quarantine, then promotion.
//!
//! Browsers write only to staging. Completion proves the staged object is what
//! its profile allows, by content, cheapest check first: the object's own
//! signed metadata and size from the head of its GET, then the real type from
//! the first bytes of the stream (an 8-byte fake is refused before the rest is
//! read), then the deep check. Only then is the sanitised object written to
//! its final key, create-only, and the staging object deleted. (An image's
//! copy starts on its way while its decode runs, but its last byte waits for
//! the verdict: see `gated`.) A refused upload is deleted too, so nothing
//! unverified is ever served or left behind.
//!
//! The final key follows from the staging key alone, so completing twice, or
//! concurrently, lands on one object: the loser of the race finds the winner's
//! object and answers with the same result.

use broker_core::disposition::attachment;
use broker_core::keys::Area;
use broker_core::metrics::{self, CompleteOutcome};
use broker_core::record::ObjectRecord;
use broker_core::store::{BodyDigest, ByteStream, ObjectHead, PutOptions, Store, StoreError};
use broker_core::{ObjectKey, Profile, StagedUpload};
use broker_verifier::{Format, Limits, Rejection, SNIFF_LEN};
use std::path::Path;
use std::pin::pin;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt as _;
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::auth::Quotas;
use crate::auth::audit::Audited;
use crate::auth::quota::Charge;
use crate::error::ApiError;
use crate::hex::hex;
use crate::uploads::gated::gated;
use crate::uploads::verification::Verification;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteRequest {
    /// The staging key `POST /uploads/sign` returned.
    #[schema(
        max_length = 512,
        examples("staging/default/avatar/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11")
    )]
    pub object_key: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompleteResponse {
    /// The served key of the verified object.
    pub object_key: String,
    /// A presigned GET of the verified object.
    pub url: String,
    /// Seconds until the URL expires.
    pub expires_in: u64,
    pub content_type: String,
    /// The verified (sanitised) size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the verified bytes.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub sha256: String,
    /// The metadata the sanitiser removed: `exif`, `gps`, `xmp`, `iptc`,
    /// `comment`, `thumbnail`, `trailing_data`.
    pub removed: Vec<String>,
    /// The original filename, from the signed record.
    pub filename: String,
    /// The object's CDN URL, for a verified avatar when `CDN_BASE_URL` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdn_url: Option<String>,
}

impl Audited for CompleteResponse {}

/// Why a completion did not produce a new object.
enum Outcome {
    /// The upload is not what its profile allows; it is deleted.
    Refused(ApiError),
    /// Another request completed this upload first.
    AlreadyCompleted,
    Store(StoreError),
    /// The request failed for a reason that says nothing about the upload; it is kept.
    Failed(ApiError),
}

/// Who completes, and the quota their tenant's bytes are charged to.
struct Account<'a> {
    caller: &'a Caller,
    quotas: &'a Quotas,
}

/// The staged object being completed: its key and where it is promoted to,
/// and what its head said (the signed record among it).
#[derive(Clone, Copy)]
struct Staged<'a> {
    upload: &'a StagedUpload,
    key: &'a ObjectKey,
    final_key: &'a ObjectKey,
    head: &'a ObjectHead,
    record: &'a ObjectRecord,
}

impl From<Rejection> for Outcome {
    fn from(rejection: Rejection) -> Self {
        Outcome::Refused(ApiError::Rejected(rejection))
    }
}

impl From<StoreError> for Outcome {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::AlreadyExists => Outcome::AlreadyCompleted,
            // The staging object vanished mid-check: a concurrent completion won.
            StoreError::NotFound => Outcome::AlreadyCompleted,
            other => Outcome::Store(other),
        }
    }
}

pub async fn complete(
    store: &Store,
    verification: &Verification,
    quotas: &Quotas,
    caller: &Caller,
    request: &CompleteRequest,
) -> Result<CompleteResponse, ApiError> {
    let key = ObjectKey::parse(&request.object_key).map_err(|e| ApiError::InvalidKey(e.to_string()))?;
    let upload = match store.layout().classify(&key) {
        Ok(Area::Staging(upload)) if upload.tenant == caller.tenant && caller.may_read(&upload.scope) => upload,
        // Another tenant's, team's or user's upload: like one never made.
        Ok(Area::Staging(_)) => return Err(ApiError::NotVisible),
        _ => return Err(ApiError::ForbiddenKey("completed")),
    };
    let started = Instant::now();
    let result = complete_staged(store, verification, quotas, caller, &key, &upload).await;
    let outcome = match &result {
        Ok((_, outcome)) => *outcome,
        Err(ApiError::ForbiddenKey(_) | ApiError::NotVisible) => CompleteOutcome::Denied,
        Err(
            ApiError::Rejected(_)
            | ApiError::ObjectTooLarge { .. }
            | ApiError::ChecksumMismatch { .. }
            | ApiError::NotSignedForProfile(_)
            | ApiError::QuotaExceeded { .. },
        ) => CompleteOutcome::Refused,
        Err(_) => CompleteOutcome::Failed,
    };
    metrics::upload_completed(upload.profile.name.as_str(), outcome, started.elapsed());
    crate::webhooks::completion(&verification.webhooks, caller, &upload, &key, &result, outcome).await;
    result.map(|(response, _)| response)
}

/// Completes the caller's staged `upload` at `key`; says how it ended.
async fn complete_staged(
    store: &Store,
    verification: &Verification,
    quotas: &Quotas,
    caller: &Caller,
    key: &ObjectKey,
    upload: &StagedUpload,
) -> Result<(CompleteResponse, CompleteOutcome), ApiError> {
    let final_key = store.layout().served_key(upload);

    // One completion of this upload at a time: a concurrent one waits here,
    // then answers from the served object below.
    let _one = verification.uploads.lock(key.as_str()).await;
    let slot = verification
        .slots
        .acquire(&caller.tenant)
        .await
        .map_err(|_| ApiError::Internal)?;
    // At once: the staged object (one GET: its head, and a body read only
    // once the cheap checks pass) and the served key's HEAD.
    // (Boxed, as the write below: the SDK's futures are large, and actix's
    // worker threads have small stacks.)
    let (staged, served) = tokio::join!(Box::pin(store.open(key)), Box::pin(store.head(&final_key)));
    let (head, body) = match staged {
        Ok(opened) => opened,
        // Already completed (or never uploaded): answer from the final object.
        Err(StoreError::NotFound) => return earlier(store, caller, &final_key).await,
        Err(e) => return Err(e.into()),
    };
    // Only the principal that signed the upload may complete it. A peer of the
    // same tenant is refused before any check that could delete the upload.
    // (An object with no signer at all was not written under a policy; the
    // metadata check below refuses it.)
    let record = ObjectRecord::from_metadata(&head.metadata);
    if record.subject.is_some() && !record.signed_by(&caller.subject) {
        return Err(ApiError::NotVisible);
    }
    // Already completed (a retried or replayed complete): answer from the
    // served object without verifying again. This is also the only guard on
    // stores without conditional writes (Garage ignores `If-None-Match`), where
    // the create-only PUT below cannot refuse a second writer.
    match served {
        Ok(_) => {
            drop(body);
            store.delete(key).await?;
            return earlier(store, caller, &final_key).await;
        }
        Err(StoreError::NotFound) => {}
        Err(e) => return Err(e.into()),
    }

    let outcome = {
        let _slot = slot;
        let account = Account { caller, quotas };
        let staged = Staged {
            upload,
            key,
            final_key: &final_key,
            head: &head,
            record: &record,
        };
        Box::pin(verify_and_promote(store, verification, &account, staged, body)).await
    };
    match outcome {
        Ok(response) => Ok((response, CompleteOutcome::Verified)),
        Err(Outcome::AlreadyCompleted) => {
            store.delete(key).await?;
            earlier(store, caller, &final_key).await
        }
        Err(Outcome::Store(e)) => Err(e.into()),
        Err(Outcome::Failed(error)) => Err(error),
        Err(Outcome::Refused(error)) => {
            store.delete(key).await?;
            metrics::verification_rejected(error.code());
            tracing::info!(object_key = %key, code = error.code(), "upload refused and deleted");
            Err(error)
        }
    }
}

async fn verify_and_promote(
    store: &Store,
    verification: &Verification,
    account: &Account<'_>,
    staged: Staged<'_>,
    body: ByteStream,
) -> Result<CompleteResponse, Outcome> {
    let Staged {
        upload,
        key,
        final_key,
        head,
        record,
    } = staged;
    // 1. The object's own record of why it was signed (pinned by the policy).
    // By `Profile::find`, so an upload signed under a profile's former name completes.
    if record.profile.as_deref().and_then(Profile::find) != Some(upload.profile)
        || record.tenant.as_deref() != Some(upload.tenant.as_str())
        || record.subject.is_none()
    {
        return Err(Outcome::Refused(ApiError::NotSignedForProfile(
            "the object was not signed for this profile and tenant",
        )));
    }
    if head.content_type.as_deref() != Some(upload.content_type.mime) {
        return Err(Outcome::Refused(ApiError::NotSignedForProfile(
            "the object's content type is not the one it was signed for",
        )));
    }
    let filename = record.filename.clone().unwrap_or_else(|| "upload".into());
    // 2. Size, from the head: nothing is read yet.
    let max = store.uploads().max_bytes(upload.profile);
    if head.size > max {
        return Err(Outcome::Refused(ApiError::ObjectTooLarge { size: head.size, max }));
    }
    let format = Format::from_mime(upload.content_type.mime).ok_or(Outcome::Refused(ApiError::NotSignedForProfile(
        "the signed type has no verifier",
    )))?;

    // 3. The real type from the first bytes, then 4. the deep check. Only
    // the version the head describes is read, and it alone is promoted below.
    let etag = head.etag.as_deref().ok_or(Outcome::Store(StoreError::Unavailable(
        "the store sent no ETag for the staged object".into(),
    )))?;
    let mut body = Body {
        stream: body,
        read: 0,
        max,
    };
    let sniffed = body.read_at_least(SNIFF_LEN).await?;
    broker_verifier::check_type(format, &sniffed)?;
    let disposition = attachment(&filename);
    // The served object carries the record on (not the tenant: its key says
    // it), plus what verification found.
    let served = |sha256: &str, removed: &[String]| ObjectRecord {
        profile: Some(upload.profile.name.as_str().to_owned()),
        tenant: None,
        filename: Some(filename.clone()),
        subject: Some(account.caller.subject.clone()),
        sha256: Some(sha256.to_owned()),
        removed: removed.to_vec(),
        completion: Some(uuid::Uuid::new_v4().simple().to_string()),
    };
    let options = |served: &ObjectRecord| PutOptions {
        content_type: format.mime(),
        content_disposition: &disposition,
        metadata: served
            .to_metadata()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        create_only: true,
    };

    let (size, sha256, removed) = if format.is_image() {
        let mut bytes = sniffed;
        bytes.reserve(usize::try_from(head.size).unwrap_or(0).saturating_sub(bytes.len()));
        body.read_all_into(&mut bytes).await?;
        let (limits, budget) = (verification.limits, verification.budget);
        let declared = record.sha256.clone();
        // Off the async runtime's threads: the declared digest of the stored
        // bytes, the decode, and beside it (see `verify_image_with`) the strip
        // and the hash of what will be served, handed over here at once.
        let (stripped_there, stripped_here) = tokio::sync::oneshot::channel();
        let verifying = tokio::task::spawn_blocking(move || {
            if let Some(declared) = &declared {
                check_declared(declared, &hex(&Sha256::digest(&bytes)))?;
            }
            budget.check(format, &bytes)?;
            broker_verifier::verify_image_with(format, &bytes, &limits, |stripped| {
                let sha256 = Sha256::digest(&stripped.bytes);
                // Gone only if this completion is: nothing to write then.
                let _ = stripped_there.send((stripped, sha256));
            })?;
            Ok::<_, Outcome>(())
        });
        let verdict = async { verifying.await.map_err(|_| verifier_failed())? };
        let Ok((stripped, digest)) = stripped_here.await else {
            // No copy to write: a check before the strip, or the strip, refused the file.
            verdict.await?;
            return Err(verifier_failed());
        };
        let removed: Vec<String> = stripped.removed.iter().map(|r| r.as_str().to_owned()).collect();
        let size = stripped.bytes.len() as u64;
        let sha256 = hex(&digest);
        let served = served(&sha256, &removed);
        // The copy is written while the decode still runs, but its last byte
        // waits for the verdict and the quota (see `gated`).
        let (bytes, gate) = gated(bytes::Bytes::from(stripped.bytes));
        let decide = async {
            verdict.await?;
            let charge = charge_quota(store, account, upload, size).await?;
            gate.open();
            Ok::<_, Outcome>(charge)
        };
        let (charge, written) = {
            let put = store.put_checked(final_key, bytes, size, BodyDigest::Sha256(&sha256), options(&served));
            let mut put = Box::pin(put);
            let mut decide = pin!(decide);
            tokio::select! {
                // The verdict: refused, the write is dropped short of its
                // last byte (`?`); accepted, the gate is open and it finishes.
                decided = &mut decide => (decided?, put.await),
                // Only a failure ends the write before the gate opens.
                written = &mut put => (decide.await?, written),
            }
        };
        landed(store, account, upload, final_key, &served, charge, written).await?;
        (size, sha256, removed)
    } else {
        let limits = verification.limits;
        let (size, sha256) = if broker_verifier::checks_in_one_pass(format) {
            // CSV and JSON: checked as the bytes stream in, hashed on the way.
            body.check_in_one_pass(sniffed, move |reader| {
                broker_verifier::check_document_stream(format, reader, &limits)
            })
            .await?
        } else {
            // PDF and ZIP need to seek: the one streamed read is hashed as
            // it is spooled to a temporary file, which the check reads and
            // which is deleted when it is dropped here.
            let spooled = body.spool(sniffed, verification.spool_dir.as_deref()).await?;
            // An archive may expand to as much as the profile lets one upload.
            let limits = Limits {
                zip_max_uncompressed: limits.zip_max_uncompressed.max(max),
                ..limits
            };
            let file = spooled.file.reopen().map_err(spool_error)?;
            tokio::task::spawn_blocking(move || broker_verifier::check_document(format, file, &limits))
                .await
                .map_err(|_| verifier_failed())??;
            (spooled.size, spooled.sha256)
        };
        if let Some(declared) = &record.sha256 {
            check_declared(declared, &sha256)?;
        }
        let served = served(&sha256, &[]);
        let charge = charge_quota(store, account, upload, size).await?;
        // Promoted by a copy inside the store of the very version that was
        // read (`If-Match` its ETag), never through this process: a replayed
        // form that changed staging meanwhile makes the copy fail.
        let written = store.copy(key, etag, final_key, options(&served)).await;
        landed(store, account, upload, final_key, &served, charge, written).await?;
        (size, sha256, Vec::new())
    };
    store.delete(key).await?;
    tracing::info!(object_key = %final_key, size, removed = %removed.join(","), "upload verified");

    let url = store
        .presign_get(final_key, &disposition, format.mime())
        .await
        .map_err(Outcome::Store)?;
    Ok(CompleteResponse {
        object_key: final_key.to_string(),
        url,
        expires_in: store.presign_ttl().as_secs(),
        content_type: format.mime().to_owned(),
        size,
        sha256,
        removed,
        filename,
        cdn_url: store.cdn_url(final_key),
    })
}

/// Charges the tenant's quota with the real (sanitised) `size` before the
/// object appears; an upload that does not fit is refused (and deleted).
async fn charge_quota(
    store: &Store,
    account: &Account<'_>,
    upload: &StagedUpload,
    size: u64,
) -> Result<Charge, Outcome> {
    account
        .quotas
        .charge(store, &upload.tenant, size)
        .await
        .map_err(|e| match e {
            ApiError::QuotaExceeded { .. } => Outcome::Refused(e),
            other => Outcome::Failed(other),
        })
}

/// What became of the write of `served` at `final_key`; gives the `charge`
/// back unless it landed.
async fn landed(
    store: &Store,
    account: &Account<'_>,
    upload: &StagedUpload,
    final_key: &ObjectKey,
    served: &ObjectRecord,
    charge: Charge,
    written: Result<(), StoreError>,
) -> Result<(), Outcome> {
    let Err(e) = written else {
        return Ok(());
    };
    // A create-only write the store refuses because the object exists may
    // be this very write, retried by the SDK after it landed and its
    // answer was lost: then the object is ours and stays charged.
    if matches!(e, StoreError::AlreadyExists) && wrote_it(store, final_key, served).await {
        return Ok(());
    }
    account.quotas.refund(store, &upload.tenant, charge).await;
    Err(e.into())
}

/// Refuses stored bytes whose SHA-256 is not the one signed with the upload.
fn check_declared(declared: &str, actual: &str) -> Result<(), Outcome> {
    if declared == actual {
        return Ok(());
    }
    Err(Outcome::Refused(ApiError::ChecksumMismatch {
        declared: declared.to_owned(),
        actual: actual.to_owned(),
    }))
}

/// Whether the object at `final_key` is the one `served` describes, written
/// by this completion (its nonce), rather than by a concurrent one.
async fn wrote_it(store: &Store, final_key: &ObjectKey, served: &ObjectRecord) -> bool {
    match store.head(final_key).await {
        Ok(head) => {
            served.completion.is_some() && ObjectRecord::from_metadata(&head.metadata).completion == served.completion
        }
        Err(_) => false,
    }
}

/// [`completed`], as the outcome of a completion that found it done.
async fn earlier(
    store: &Store,
    caller: &Caller,
    final_key: &ObjectKey,
) -> Result<(CompleteResponse, CompleteOutcome), ApiError> {
    completed(store, caller, final_key)
        .await
        .map(|response| (response, CompleteOutcome::AlreadyCompleted))
}

/// The result of an earlier completion, rebuilt from the final object (for its signer only).
async fn completed(store: &Store, caller: &Caller, final_key: &ObjectKey) -> Result<CompleteResponse, ApiError> {
    let head = store.head(final_key).await?;
    let record = ObjectRecord::from_metadata(&head.metadata);
    if !record.signed_by(&caller.subject) {
        return Err(ApiError::NotVisible);
    }
    let filename = record.filename.unwrap_or_else(|| "upload".into());
    let content_type = head.content_type.unwrap_or_else(|| "application/octet-stream".into());
    let disposition = attachment(&filename);
    let url = store.presign_get(final_key, &disposition, &content_type).await?;
    Ok(CompleteResponse {
        object_key: final_key.to_string(),
        url,
        expires_in: store.presign_ttl().as_secs(),
        content_type,
        size: head.size,
        sha256: record.sha256.unwrap_or_default(),
        removed: record.removed,
        filename,
        cdn_url: store.cdn_url(final_key),
    })
}

/// The staged object's body, read incrementally and never past the profile's maximum.
struct Body {
    stream: ByteStream,
    read: u64,
    max: u64,
}

struct Spooled {
    file: tempfile::NamedTempFile,
    size: u64,
    sha256: String,
}

impl Body {
    async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, Outcome> {
        let chunk = self
            .stream
            .try_next()
            .await
            .map_err(|e| Outcome::Store(StoreError::Unavailable(format!("reading the object failed: {e}"))))?;
        if let Some(chunk) = &chunk {
            self.read += chunk.len() as u64;
            if self.read > self.max {
                return Err(Outcome::Refused(ApiError::ObjectTooLarge {
                    size: self.read,
                    max: self.max,
                }));
            }
        }
        Ok(chunk)
    }

    async fn read_at_least(&mut self, wanted: usize) -> Result<Vec<u8>, Outcome> {
        let mut bytes = Vec::with_capacity(wanted);
        while bytes.len() < wanted {
            match self.next_chunk().await? {
                Some(chunk) => bytes.extend_from_slice(&chunk),
                None => break,
            }
        }
        Ok(bytes)
    }

    async fn read_all_into(&mut self, bytes: &mut Vec<u8>) -> Result<(), Outcome> {
        while let Some(chunk) = self.next_chunk().await? {
            bytes.extend_from_slice(&chunk);
        }
        Ok(())
    }

    /// Hands the rest, after `first`, to `check` on a blocking thread as it
    /// streams in (a few chunks in flight), hashing it on the way: one pass,
    /// memory bounded by the chunks. Returns the size and SHA-256.
    async fn check_in_one_pass(
        mut self,
        first: Vec<u8>,
        check: impl FnOnce(ChunkReader) -> Result<(), Rejection> + Send + 'static,
    ) -> Result<(u64, String), Outcome> {
        let (chunks, receiver) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
        let checker = tokio::task::spawn_blocking(move || {
            check(ChunkReader {
                receiver,
                current: bytes::Bytes::new(),
            })
        });
        let mut hasher = Sha256::new();
        hasher.update(&first);
        let mut size = first.len() as u64;
        let mut next = Some(bytes::Bytes::from(first));
        let mut stopped_early = false;
        let read = loop {
            if let Some(chunk) = next.take()
                && chunks.send(chunk).await.is_err()
            {
                stopped_early = true;
                break Ok(());
            }
            match self.next_chunk().await {
                Ok(Some(chunk)) => {
                    hasher.update(&chunk);
                    size += chunk.len() as u64;
                    next = Some(chunk);
                }
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        // The end of the stream (or of the read) is the end of the file.
        drop(chunks);
        let checked = checker.await.map_err(|_| verifier_failed())?;
        read?;
        checked?;
        // A check that stops reading refuses the file; one that passed
        // without reading it all would leave the hash short.
        if stopped_early {
            return Err(verifier_failed());
        }
        Ok((size, hex(&hasher.finalize())))
    }

    /// Copies the rest to a temp file (in `dir`, else the system's), hashing
    /// as it goes: bounded memory for documents of any allowed size.
    async fn spool(mut self, first: Vec<u8>, dir: Option<&Path>) -> Result<Spooled, Outcome> {
        let file = match dir {
            Some(dir) => tempfile::NamedTempFile::new_in(dir),
            None => tempfile::NamedTempFile::new(),
        }
        .map_err(spool_error)?;
        let mut writer = tokio::fs::File::from_std(file.reopen().map_err(spool_error)?);
        let mut hasher = Sha256::new();
        let mut size = first.len() as u64;
        hasher.update(&first);
        writer.write_all(&first).await.map_err(spool_error)?;
        while let Some(chunk) = self.next_chunk().await? {
            hasher.update(&chunk);
            size += chunk.len() as u64;
            writer.write_all(&chunk).await.map_err(spool_error)?;
        }
        writer.flush().await.map_err(spool_error)?;
        Ok(Spooled {
            file,
            size,
            sha256: hex(&hasher.finalize()),
        })
    }
}

/// A blocking reader of the chunks [`Body::check_in_one_pass`] sends.
struct ChunkReader {
    receiver: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    current: bytes::Bytes,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.receiver.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

fn verifier_failed() -> Outcome {
    Outcome::Store(StoreError::Unavailable("the verifier task failed".into()))
}

fn spool_error(error: impl std::fmt::Display) -> Outcome {
    Outcome::Store(StoreError::Unavailable(format!(
        "spooling the object to disk failed: {error}"
    )))
}

#[cfg(test)]
mod tests {
    use broker_core::content_type::CONTENT_TYPES;
    use broker_core::profile::PROFILES;
    use broker_verifier::Format;

    /// Completion hands the verifier the format of the signed type: core's
    /// table and the verifier's formats must name the same types, with the
    /// same MIME types and extensions.
    #[test]
    fn the_content_type_table_and_the_verifier_formats_agree() {
        for content_type in CONTENT_TYPES {
            let format = Format::from_mime(content_type.mime)
                .unwrap_or_else(|| panic!("{} has no verifier format", content_type.mime));
            assert_eq!(
                (format.mime(), format.extension()),
                (content_type.mime, content_type.extension)
            );
        }
        for format in Format::ALL {
            assert!(
                CONTENT_TYPES.iter().any(|t| t.mime == format.mime()),
                "{} is not in core's table",
                format.mime()
            );
        }
        for profile in PROFILES {
            for content_type in profile.content_types {
                assert!(CONTENT_TYPES.contains(content_type), "{}", content_type.mime);
            }
        }
    }
}
