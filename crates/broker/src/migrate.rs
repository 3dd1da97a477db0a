//! `upload-broker migrate`: moves a development or single-host deployment's
//! objects from the embedded store (`DATA_DIR`) into the S3 bucket configured
//! with `S3_ENABLED=true`.
//!
//! The embedded store is started over `DATA_DIR` on a loopback port, so its
//! objects are read back through s3s-fs itself, with their content type,
//! disposition and `x-amz-meta-*` record, whatever its on-disk layout. Every
//! object keeps its key and its whole record ([`ObjectRecord`]) and gains one
//! field, [`CHECKSUM_FIELD`]: the SHA-256 of its body. That makes a run
//! idempotent and resumable: an object already in the bucket with the same
//! size and checksum is skipped, anything else is copied again.
//!
//! Each object streams from the source to the target in one PUT with its
//! length and `Content-MD5`, so memory stays bounded (a few chunks per object,
//! [`CONCURRENCY`] objects at once) and the store itself refuses a body that
//! differs from what was hashed (`BadDigest`). A HEAD then verifies size,
//! checksum and record. The body is read twice: once to hash it, once to send it.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use broker_core::config::StoreBackend;
use broker_core::record::ObjectRecord;
use broker_core::store::{BodyDigest, ObjectHead, PutOptions, Store, StoreError};
use broker_core::{ObjectKey, Settings};
use futures_util::StreamExt as _;
use md5::Digest as _;
use serde::Serialize;

use crate::store::{Embedded, connect};

/// The bucket the embedded store keeps its objects in unless `S3_BUCKET` said otherwise.
pub const DEFAULT_SOURCE_BUCKET: &str = "uploads";
/// `x-amz-meta-content-sha256`: the SHA-256 (hex) of the body, set on every copy.
pub const CHECKSUM_FIELD: &str = "content-sha256";
/// Objects copied at once.
pub const CONCURRENCY: usize = 4;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// List what would be copied; write nothing.
    pub dry_run: bool,
    /// The embedded store's bucket (a directory of `DATA_DIR`).
    pub source_bucket: String,
}

impl Options {
    /// `[--dry-run] [--source-bucket NAME]`.
    pub fn parse(flags: &[&str]) -> Result<Self, String> {
        let mut options = Options {
            dry_run: false,
            source_bucket: DEFAULT_SOURCE_BUCKET.to_owned(),
        };
        let mut flags = flags.iter();
        while let Some(flag) = flags.next() {
            match *flag {
                "--dry-run" => options.dry_run = true,
                "--source-bucket" => {
                    options.source_bucket = flags
                        .next()
                        .map(|b| (*b).to_owned())
                        .ok_or("--source-bucket needs a bucket name")?;
                }
                other => return Err(format!("migrate: unknown option {other:?}")),
            }
        }
        Ok(options)
    }
}

/// A number of objects and their bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    pub objects: u64,
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, bytes: u64) {
        self.objects += 1;
        self.bytes += bytes;
    }
}

/// What a run did (or, in a dry run, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Copied and verified; in a dry run, what would be copied.
    pub copied: Tally,
    /// Already in the bucket with the same size and checksum.
    pub skipped: Tally,
    /// Keys that could not be copied, and why.
    pub failed: Vec<(String, String)>,
}

impl Report {
    pub fn summary(&self, dry_run: bool) -> String {
        let verb = if dry_run { "would copy" } else { "copied" };
        format!(
            "{verb} {} objects ({} bytes), skipped {} ({} bytes, already there), failed {}",
            self.copied.objects,
            self.copied.bytes,
            self.skipped.objects,
            self.skipped.bytes,
            self.failed.len()
        )
    }
}

/// What happened to one object.
enum Outcome {
    Copied(u64),
    Skipped(u64),
    Failed(String),
}

/// Copies (or lists, with `dry_run`) every object of the embedded store's
/// bucket into the configured one; `progress` gets one line per object.
pub async fn run(settings: &Settings, options: &Options, mut progress: impl FnMut(String)) -> Result<Report, String> {
    if matches!(settings.store.backend, StoreBackend::Embedded { .. }) {
        return Err(
            "migrate copies DATA_DIR into the S3 bucket configured with S3_ENABLED=true \
                    (and S3_ENDPOINT, S3_REGION, S3_BUCKET); S3_ENABLED is not set"
                .into(),
        );
    }
    let source_dir = settings.data_dir.join(&options.source_bucket);
    if !source_dir.is_dir() {
        return Err(format!(
            "{} is not a bucket of the embedded store (no directory {}); name it with --source-bucket",
            options.source_bucket,
            source_dir.display()
        ));
    }
    let target = connect(settings, Embedded::Reach).await.map_err(|e| e.to_string())?;
    target
        .store
        .ping()
        .await
        .map_err(|e| format!("the target bucket {}: {e}", settings.store.bucket))?;

    let mut source_settings = settings.clone();
    source_settings.store.backend = StoreBackend::Embedded {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        data_dir: settings.data_dir.clone(),
    };
    source_settings.store.bucket = options.source_bucket.clone();
    source_settings.store.credentials = None;
    source_settings.store.encryption = None;
    let source = connect(&source_settings, Embedded::Start)
        .await
        .map_err(|e| e.to_string())?;
    let report = copy_all(&source.store, &target.store, options.dry_run, &mut progress).await;
    if let Some(devstore) = source.devstore {
        devstore.shutdown().await;
    }
    report
}

async fn copy_all(
    source: &Store,
    target: &Store,
    dry_run: bool,
    progress: &mut impl FnMut(String),
) -> Result<Report, String> {
    let mut report = Report::default();
    let mut pages = source
        .client()
        .list_objects_v2()
        .bucket(source.bucket())
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| format!("listing the embedded store: {}", broker_core::store::classify(e)))?;
        let keys: Vec<String> = page
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        let mut outcomes = futures_util::stream::iter(keys)
            .map(|key| async move {
                let outcome = copy_one(source, target, &key, dry_run).await;
                (key, outcome)
            })
            .buffer_unordered(CONCURRENCY);
        while let Some((key, outcome)) = outcomes.next().await {
            // Keys are printed escaped: a foreign object's key may hold anything.
            let shown = key.escape_debug();
            match outcome {
                Outcome::Copied(bytes) => {
                    report.copied.add(bytes);
                    progress(format!(
                        "{:<10} {bytes:>12}  {shown}",
                        if dry_run { "would copy" } else { "copied" }
                    ));
                }
                Outcome::Skipped(bytes) => {
                    report.skipped.add(bytes);
                    progress(format!("{:<10} {bytes:>12}  {shown}", "skipped"));
                }
                Outcome::Failed(reason) => {
                    progress(format!("{:<10} {:>12}  {shown}: {reason}", "FAILED", ""));
                    report.failed.push((key, reason));
                }
            }
        }
    }
    Ok(report)
}

async fn copy_one(source: &Store, target: &Store, raw_key: &str, dry_run: bool) -> Outcome {
    let key = match ObjectKey::parse(raw_key) {
        Ok(key) => key,
        Err(e) => return Outcome::Failed(format!("not a key the broker writes: {e}")),
    };
    match copy_object(source, target, &key, dry_run).await {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(e),
    }
}

async fn copy_object(source: &Store, target: &Store, key: &ObjectKey, dry_run: bool) -> Result<Outcome, String> {
    let head = source
        .head(key)
        .await
        .map_err(|e| format!("HEAD in the embedded store: {e}"))?;
    let existing = match target.head(key).await {
        Ok(existing) => Some(existing),
        Err(StoreError::NotFound) => None,
        Err(e) => return Err(format!("HEAD in the target: {e}")),
    };
    let maybe_there = existing.as_ref().is_some_and(|e| e.size == head.size);
    if dry_run && !maybe_there {
        return Ok(Outcome::Copied(head.size));
    }
    let digest = digest(source, key, head.size).await?;
    if existing.is_some_and(|e| e.size == head.size && e.metadata.get(CHECKSUM_FIELD) == Some(&digest.sha256)) {
        return Ok(Outcome::Skipped(head.size));
    }
    if dry_run {
        return Ok(Outcome::Copied(head.size));
    }

    let mut metadata = head.metadata.clone();
    metadata.insert(CHECKSUM_FIELD.to_owned(), digest.sha256.clone());
    let body = source
        .get(key)
        .await
        .map_err(|e| format!("GET in the embedded store: {e}"))?;
    let options = PutOptions {
        content_type: head.content_type.as_deref().unwrap_or("application/octet-stream"),
        content_disposition: head.content_disposition.as_deref().unwrap_or(""),
        metadata,
        create_only: false,
    };
    target
        .put_checked(key, body, head.size, BodyDigest::Md5(&digest.md5_base64), options)
        .await
        .map_err(|e| format!("PUT: {e}"))?;
    let copy = target.head(key).await.map_err(|e| format!("HEAD after PUT: {e}"))?;
    verify(&head, &copy, &digest.sha256)?;
    Ok(Outcome::Copied(head.size))
}

/// The copy is the original: size, checksum, content type and record.
fn verify(original: &ObjectHead, copy: &ObjectHead, sha256: &str) -> Result<(), String> {
    if copy.size != original.size {
        return Err(format!("the copy has {} bytes, not {}", copy.size, original.size));
    }
    if copy.metadata.get(CHECKSUM_FIELD).map(String::as_str) != Some(sha256) {
        return Err("the copy does not carry the checksum it was written with".into());
    }
    if copy.content_type != original.content_type && original.content_type.is_some() {
        return Err(format!(
            "the copy's content type is {:?}, not {:?}",
            copy.content_type, original.content_type
        ));
    }
    if record(&copy.metadata) != record(&original.metadata) {
        return Err("the copy's metadata record differs".into());
    }
    Ok(())
}

fn record(metadata: &HashMap<String, String>) -> ObjectRecord {
    ObjectRecord::from_metadata(metadata)
}

struct Digest {
    sha256: String,
    md5_base64: String,
}

/// Hashes the object as it streams by, chunk by chunk.
async fn digest(source: &Store, key: &ObjectKey, size: u64) -> Result<Digest, String> {
    use sha2::Digest as _;
    let mut body = source
        .get(key)
        .await
        .map_err(|e| format!("GET in the embedded store: {e}"))?;
    let (mut sha256, mut md5) = (sha2::Sha256::new(), md5::Md5::new());
    let mut read = 0u64;
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| format!("reading from the embedded store: {e}"))?
    {
        sha2::Digest::update(&mut sha256, &chunk);
        md5.update(&chunk);
        read += chunk.len() as u64;
    }
    if read != size {
        return Err(format!("read {read} bytes, the listing said {size}"));
    }
    Ok(Digest {
        sha256: sha256.finalize().iter().fold(String::with_capacity(64), |mut hex, b| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
            hex
        }),
        md5_base64: BASE64.encode(md5.finalize()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse() {
        assert_eq!(
            Options::parse(&[]),
            Ok(Options {
                dry_run: false,
                source_bucket: "uploads".into()
            })
        );
        assert_eq!(
            Options::parse(&["--source-bucket", "old", "--dry-run"]),
            Ok(Options {
                dry_run: true,
                source_bucket: "old".into()
            })
        );
        assert!(Options::parse(&["--source-bucket"]).is_err());
        assert!(Options::parse(&["--force"]).is_err());
    }

    #[test]
    fn a_copy_is_verified_against_its_original() {
        let mut metadata = HashMap::from([("tenant".to_owned(), "acme".to_owned())]);
        let original = ObjectHead {
            size: 3,
            content_type: Some("text/csv".into()),
            content_disposition: None,
            server_side_encryption: None,
            metadata: metadata.clone(),
            etag: None,
        };
        metadata.insert(CHECKSUM_FIELD.into(), "abc".into());
        let copy = ObjectHead {
            metadata: metadata.clone(),
            ..original.clone()
        };
        assert_eq!(verify(&original, &copy, "abc"), Ok(()));
        assert!(verify(&original, &copy, "abd").is_err());
        let shorter = ObjectHead {
            size: 2,
            ..copy.clone()
        };
        assert!(verify(&original, &shorter, "abc").is_err());
        let mut other_tenant = copy.clone();
        other_tenant.metadata.insert("tenant".into(), "evil".into());
        assert!(verify(&original, &other_tenant, "abc").unwrap_err().contains("record"));
    }
}
