use std::time::Duration;

use actix_web::{HttpResponse, web};
use broker_jobs::{BackendKind, QueueError};
use serde_json::json;

use crate::error::ApiError;
use crate::exports::ExportService;
use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The dependencies answer: the store's bucket, and Redis when the export
/// queue runs on it (`REDIS_URL`), pinged through the queue's own connection.
/// The embedded SQLite queue is a file of this process, not a dependency.
pub async fn readyz(state: web::Data<AppState>, exports: web::Data<ExportService>) -> Result<HttpResponse, ApiError> {
    let mut checks = serde_json::Map::new();
    let mut failures = Vec::new();

    let store = match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => format!("unavailable: {e}"),
        Err(_) => "unavailable: timed out".to_owned(),
    };
    if store != "ok" {
        failures.push(format!("store {store}"));
    }
    checks.insert("store".into(), store.into());

    if exports.exports.kind() == BackendKind::Redis {
        let redis = match tokio::time::timeout(CHECK_TIMEOUT, exports.exports.ping()).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(QueueError::Unavailable(detail))) => format!("unavailable: {detail}"),
            Ok(Err(e)) => format!("unavailable: {e}"),
            Err(_) => "unavailable: timed out".to_owned(),
        };
        if redis != "ok" {
            failures.push(format!("redis {redis}"));
        }
        checks.insert("redis".into(), redis.into());
    }

    if failures.is_empty() {
        Ok(HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks })))
    } else {
        Err(ApiError::NotReady(failures.join("; ")))
    }
}
