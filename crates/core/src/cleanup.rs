//! Removing abandoned staging objects and multipart uploads.
//!
//! A signed upload that is never completed leaves its object in staging, and
//! a multipart upload never completed leaves its parts. On S3 a lifecycle
//! rule on the staging prefix expires both (deploy/s3-lifecycle.json); stores
//! without lifecycle rules, the embedded one included, run this instead
//! (`upload-broker cleanup`), deleting staging objects older than TTL + grace
//! and aborting multipart uploads started before a cutoff.

use std::time::SystemTime;

use crate::keys::ObjectKey;
use crate::store::{Store, StoreError};

/// What one cleanup pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub deleted: usize,
    pub kept: usize,
    /// Multipart uploads aborted.
    pub aborted: usize,
}

/// Deletes every staging object last modified before `cutoff`.
pub async fn remove_stale_staging(store: &Store, cutoff: SystemTime) -> Result<CleanupReport, StoreError> {
    let mut report = CleanupReport::default();
    for object in store.list(&store.layout().staging_prefix()).await? {
        let stale = object.last_modified.is_some_and(|modified| modified < cutoff);
        match ObjectKey::parse(&object.key) {
            Ok(key) if stale => {
                store.delete(&key).await?;
                report.deleted += 1;
            }
            _ => report.kept += 1,
        }
    }
    Ok(report)
}

/// Aborts every multipart upload under staging started before `cutoff`;
/// returns how many.
pub async fn abort_stale_multipart(store: &Store, cutoff: SystemTime) -> Result<usize, StoreError> {
    let mut aborted = 0;
    for upload in store.list_multipart_uploads(&store.layout().staging_prefix()).await? {
        let stale = upload.initiated.is_some_and(|initiated| initiated < cutoff);
        if let (true, Ok(key)) = (stale, ObjectKey::parse(&upload.key)) {
            store.abort_multipart(&key, &upload.upload_id).await?;
            aborted += 1;
        }
    }
    Ok(aborted)
}
