//! `/healthz` and `/readyz`, which answer anyone: they say which checks pass,
//! never why one fails (a store's error names endpoints, buckets and
//! credentials' owners), and the reason goes to the log instead. The checks'
//! result is kept for [`READY_TTL`], so a load balancer polling every
//! instance, or anyone hammering the unauthenticated route, costs at most one
//! store HEAD (and one Redis round trip) per instance per period.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, SystemTime};

use actix_web::{HttpResponse, web};
use broker_jobs::BackendKind;
use serde::Serialize;
use utoipa::ToSchema;

use crate::cache::{Computed, TtlCell};
use crate::error::{ApiError, ErrorBody};
use crate::exports::ExportService;
use crate::openapi::string_enum;
use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
const STORE_CHECK: &str = "store";
/// How long one round of checks answers `/readyz` (and `/storage/info`).
pub const READY_TTL: Duration = Duration::from_secs(3);

/// `GET /healthz`: `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    #[schema(schema_with = ok_schema)]
    status: &'static str,
}

/// `GET /readyz`: `{"status": "ready", "checks": {"store": "ok", "redis": "ok"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    #[schema(schema_with = ready_schema)]
    status: &'static str,
    /// Each check that ran (`store`; `redis` when the export queue runs on Redis).
    checks: BTreeMap<&'static str, &'static str>,
}

fn ok_schema() -> utoipa::openapi::schema::ObjectBuilder {
    string_enum(&["ok"])
}

fn ready_schema() -> utoipa::openapi::schema::ObjectBuilder {
    string_enum(&["ready"])
}

/// Liveness
///
/// The process is up and serving HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    responses((status = 200, description = "The process is up", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness (store, and Redis when configured)
///
/// The dependencies answer: the store's bucket, and Redis when the export
/// queue runs on it (`REDIS_URL`), pinged through the queue's own connection.
/// The embedded SQLite queue is a file of this process, not a dependency.
/// The reply says which checks pass, never why one fails (the reason is
/// logged); results are reused for 3 seconds.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = Ready),
        (status = 503, description = "`not_ready`: the message names the failing checks only", body = ErrorBody),
    )
)]
pub async fn readyz(
    state: web::Data<AppState>,
    exports: web::Data<ExportService>,
    readiness: web::Data<Readiness>,
) -> Result<HttpResponse, ApiError> {
    let checks = readiness.checks(|| run_checks(&state, &exports)).await.value;
    let failing: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.name).collect();
    if !failing.is_empty() {
        return Err(ApiError::NotReady(failing));
    }
    Ok(HttpResponse::Ok().json(Ready {
        status: "ready",
        checks: checks.iter().map(|c| (c.name, "ok")).collect(),
    }))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/healthz").route(web::get().to(healthz)))
        .service(super::resource("/readyz").route(web::get().to(readyz)));
}

/// One check's name and whether it passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    name: &'static str,
    ok: bool,
}

async fn run_checks(state: &AppState, exports: &ExportService) -> Vec<Check> {
    let store = match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".to_owned()),
    };
    let mut checks = vec![judge(STORE_CHECK, store)];
    if exports.exports.kind() == BackendKind::Redis {
        let redis = match tokio::time::timeout(CHECK_TIMEOUT, exports.exports.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        };
        checks.push(judge("redis", redis));
    }
    checks
}

/// The check's state for the reply; its detail for the log only.
fn judge(name: &'static str, result: Result<(), String>) -> Check {
    if let Err(detail) = &result {
        tracing::warn!(check = name, %detail, "readiness check failed");
    }
    Check {
        name,
        ok: result.is_ok(),
    }
}

/// The last round of checks and when it ran; one round at a time.
#[derive(Default)]
pub struct Readiness {
    round: TtlCell<Vec<Check>>,
}

impl Readiness {
    /// The checks of the last [`READY_TTL`], or of a new round of `run`.
    async fn checks<F: Future<Output = Vec<Check>>>(&self, run: impl FnOnce() -> F) -> Computed<Vec<Check>> {
        let round = self.round.get(READY_TTL, || async { Ok::<_, Infallible>(run().await) });
        match round.await {
            Ok(round) => round,
            Err(never) => match never {},
        }
    }
}

/// How often a round of checks runs in the background, so `/storage/info`
/// reports a recent one even when nothing polls `/readyz`.
pub const HEALTH_REFRESH: Duration = Duration::from_secs(30);

/// Runs a round of checks every [`HEALTH_REFRESH`] (or reuses one `/readyz`
/// just ran), until the task is dropped.
pub async fn refresh_health(
    state: web::Data<AppState>,
    exports: web::Data<ExportService>,
    readiness: web::Data<Readiness>,
) {
    loop {
        readiness.checks(|| run_checks(&state, &exports)).await;
        tokio::time::sleep(HEALTH_REFRESH).await;
    }
}

/// The store's health for `/storage/info`: whether the store check of the
/// last readiness round passed, and when that round ran. The rounds are the
/// ones `/readyz` and [`refresh_health`] run, so `/storage/info` costs no
/// store call of its own (it runs one round only before the first).
pub async fn store_health(state: &AppState, exports: &ExportService, readiness: &Readiness) -> (bool, SystemTime) {
    let round = match readiness.round.last().await {
        Some(round) => round,
        None => readiness.checks(|| run_checks(state, exports)).await,
    };
    let healthy = round.value.iter().any(|c| c.name == STORE_CHECK && c.ok);
    (healthy, round.at)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn one_round_of_checks_answers_for_a_while() {
        let readiness = Readiness::default();
        let rounds = AtomicUsize::new(0);
        let run = || async {
            rounds.fetch_add(1, Ordering::SeqCst);
            vec![judge("store", Err("the store is unavailable: 10.0.0.7 refused".into()))]
        };
        let (a, b) = tokio::join!(readiness.checks(run), readiness.checks(run));
        assert_eq!(a, b);
        assert_eq!(readiness.checks(run).await, a);
        let a = a.value;
        assert_eq!(
            rounds.load(Ordering::SeqCst),
            1,
            "concurrent and later calls share one round"
        );
        assert_eq!(
            a,
            [Check {
                name: "store",
                ok: false
            }]
        );
    }
}
