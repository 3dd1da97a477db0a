use serde_json::Value;

use broker_testkit::{Redis, error_code, free_port, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_and_readyz_answer_json() {
    let app = spawn_app().await;
    let health: Value = app
        .http
        .get(format!("{}/healthz", app.address))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok");
    let ready = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("sent");
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
    let ready: Value = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(ready["checks"]["redis"], "ok", "{ready}");
    drop(redis);

    let down = format!("redis://127.0.0.1:{}", free_port());
    let app = spawn_app_with(&[("REDIS_URL", down.as_str())]).await;
    let response = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(response).await, (503, "not_ready".into()));
}

async fn readyz(app: &broker_testkit::TestApp) -> reqwest::Response {
    app.http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("sent")
}

#[tokio::test]
async fn readyz_names_failing_checks_and_logs_why() {
    let port = free_port();
    let closed = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(&[
        ("S3_ENABLED", "true"),
        ("S3_REGION", "us-east-1"),
        ("S3_BUCKET", "uploads"),
        ("S3_ENDPOINT", closed.as_str()),
        ("S3_FORCE_PATH_STYLE", "true"),
    ])
    .await;
    let body: Value = readyz(&app).await.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_ready");
    assert_eq!(
        body["error"]["message"], "the broker is not ready: store unavailable",
        "the check's name, not the store's error: {body}"
    );
    assert!(!body.to_string().contains(&port.to_string()), "{body}");
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
    assert_eq!(readyz(&app).await.status(), 200);
    drop(redis);
    assert_eq!(
        readyz(&app).await.status(),
        200,
        "the checks of the last seconds answer: no store HEAD or Redis ping per call"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let body: Value = readyz(&app).await.json().await.expect("json");
    assert_eq!(
        body["error"]["message"], "the broker is not ready: redis unavailable",
        "{body}"
    );
}
