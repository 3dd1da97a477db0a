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
