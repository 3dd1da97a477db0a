//! `upload-broker cleanup`: deletes staging objects older than the presign
//! TTL plus `CLEANUP_GRACE`, and aborts abandoned multipart uploads (expired
//! sessions, and any upload under staging older than a session may live plus
//! `CLEANUP_GRACE`), for stores without lifecycle rules.

use std::time::{Duration, SystemTime};

use broker_api::uploads::multipart::SessionRegistry;
use broker_api::uploads::multipart::sessions::{SESSION_LIFETIME, unix_secs};
use broker_core::cleanup::{CleanupReport, abort_stale_multipart, remove_stale_staging};
use broker_core::metrics::{self, MultipartEvent};
use broker_core::store::Store;
use broker_core::{ObjectKey, Settings};

use crate::store::{Embedded, connect};

pub async fn run(settings: Settings) -> Result<CleanupReport, String> {
    let now = SystemTime::now();
    let cutoff = now - settings.store.presign_ttl - settings.store.cleanup_grace;
    let sessions = crate::sessions::open(&settings).await.map_err(|e| e.to_string())?;
    let connected = connect(&settings, Embedded::Start).await.map_err(|e| e.to_string())?;
    let report = async {
        let mut report = remove_stale_staging(&connected.store, cutoff)
            .await
            .map_err(|e| e.to_string())?;
        report.aborted = abort_abandoned(&connected.store, &*sessions, now, settings.store.cleanup_grace).await?;
        Ok::<_, String>(report)
    }
    .await;
    if let Some(devstore) = connected.devstore {
        devstore.shutdown().await;
    }
    let report = report?;
    tracing::info!(
        deleted = report.deleted,
        kept = report.kept,
        aborted = report.aborted,
        "staging cleanup finished"
    );
    Ok(report)
}

/// Aborts the multipart uploads of sessions expired by `now` (and forgets
/// them), then any upload under staging started before `now` minus a
/// session's lifetime and `grace` (one the registry never knew, or lost);
/// returns how many it aborted.
pub async fn abort_abandoned(
    store: &Store,
    sessions: &dyn SessionRegistry,
    now: SystemTime,
    grace: Duration,
) -> Result<usize, String> {
    let mut aborted = 0;
    for session in sessions.expired(unix_secs(now)).await.map_err(|e| e.to_string())? {
        if let Ok(key) = ObjectKey::parse(&session.key) {
            store
                .abort_multipart(&key, &session.upload_id)
                .await
                .map_err(|e| e.to_string())?;
            aborted += 1;
            metrics::multipart(MultipartEvent::Expired);
        }
        sessions.remove(&session.upload_id).await.map_err(|e| e.to_string())?;
    }
    let cutoff = now - SESSION_LIFETIME - grace;
    aborted += abort_stale_multipart(store, cutoff).await.map_err(|e| e.to_string())?;
    Ok(aborted)
}
