//! `upload-broker cleanup`: deletes staging objects older than the presign
//! TTL plus `CLEANUP_GRACE`, for stores without lifecycle rules.

use broker_core::Settings;
use broker_core::cleanup::{CleanupReport, remove_stale_staging};

use crate::store::{Embedded, connect};

pub async fn run(settings: Settings) -> Result<CleanupReport, String> {
    let cutoff = std::time::SystemTime::now() - settings.store.presign_ttl - settings.store.cleanup_grace;
    let connected = connect(&settings, Embedded::Start).await.map_err(|e| e.to_string())?;
    let report = remove_stale_staging(&connected.store, cutoff)
        .await
        .map_err(|e| e.to_string());
    if let Some(devstore) = connected.devstore {
        devstore.shutdown().await;
    }
    let report = report?;
    tracing::info!(deleted = report.deleted, kept = report.kept, "staging cleanup finished");
    Ok(report)
}
