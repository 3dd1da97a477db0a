//! Removing abandoned staging objects.
//!
//! A signed upload that is never completed leaves its object in staging. On S3
//! a lifecycle rule on the staging prefix expires them (deploy/s3-lifecycle.json);
//! stores without lifecycle rules, the embedded one included, run this instead
//! (`upload-broker cleanup`), deleting staging objects older than TTL + grace.

use std::time::SystemTime;

use crate::keys::ObjectKey;
use crate::store::{Store, StoreError};

/// What one cleanup pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CleanupReport {
    pub deleted: usize,
    pub kept: usize,
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
