use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The process is up and serving HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The dependencies answer: the store's bucket, and Redis when configured.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
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

    if let Some(client) = &state.redis {
        let redis = match tokio::time::timeout(CHECK_TIMEOUT, ping_redis(client)).await {
            Ok(Ok(())) => "ok".to_owned(),
            Ok(Err(e)) => format!("unavailable: {}", e.kind_description()),
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

async fn ping_redis(client: &redis::Client) -> redis::RedisResult<()> {
    let mut connection = client.get_multiplexed_async_connection().await?;
    redis::cmd("PING")
        .query_async::<String>(&mut connection)
        .await
        .map(drop)
}

trait KindDescription {
    fn kind_description(&self) -> String;
}

impl KindDescription for redis::RedisError {
    /// The error's category and detail; RedisError's Display never includes the URL.
    fn kind_description(&self) -> String {
        format!("{:?}: {}", self.kind(), self.detail().unwrap_or("no detail"))
    }
}
