use serde_json::Value;

use broker_testkit::{Redis, error_code, free_port, spawn_app, spawn_app_with, spawn_app_with_store_down};

#[tokio::test]
async fn healthz_and_readyz_answer_json() {
    let app = spawn_app().await;
    let health: Value = app.get("/healthz").await.json().await.expect("json");
    assert_eq!(health["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(ready["checks"]["store"], "ok");
    assert!(
        ready["checks"].get("redis").is_none(),
        "redis is only checked when configured"
    );
}

#[tokio::test]
async fn readyz_checks_redis_when_configured() {
    let redis = Redis::start();
    let app = spawn_app_with(&[("REDIS_URL", redis.url().as_str())]).await;
    let ready: Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(ready["checks"]["redis"], "ok", "{ready}");
    drop(redis);

    let down = format!("redis://127.0.0.1:{}", free_port());
    let app = spawn_app_with(&[("REDIS_URL", down.as_str())]).await;
    let response = app.get("/readyz").await;
    assert_eq!(error_code(response).await, (503, "not_ready".into()));
}

#[tokio::test]
async fn readyz_names_failing_checks_and_logs_why() {
    let (app, closed) = spawn_app_with_store_down().await;
    let port = closed.rsplit_once(':').expect("a port").1;
    let body: Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_ready");
    assert_eq!(
        body["error"]["message"], "the broker is not ready: store unavailable",
        "the check's name, not the store's error: {body}"
    );
    assert!(!body.to_string().contains(port), "{body}");
    assert!(
        broker_testkit::captured_logs()
            .lines()
            .any(|l| l.contains("readiness check failed") && l.contains("check=\"store\"")),
        "the reason is logged"
    );
}

#[tokio::test]
async fn readyz_answers_from_recent_checks() {
    let redis = Redis::start();
    let app = spawn_app_with(&[("REDIS_URL", redis.url().as_str())]).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    drop(redis);
    assert_eq!(
        app.get("/readyz").await.status(),
        200,
        "the checks of the last seconds answer: no store HEAD or Redis ping per call"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let body: Value = app.get("/readyz").await.json().await.expect("json");
    assert_eq!(
        body["error"]["message"], "the broker is not ready: redis unavailable",
        "{body}"
    );
}
