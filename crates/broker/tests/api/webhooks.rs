//! Signed completion webhooks against a real HTTP receiver on a loopback
//! port: delivered and signed, retried past a receiver that is down, kept as
//! a dead letter and replayed, refused for private addresses, never
//! redirected; on the SQLite queue (the all-in-one `serve`) and on Redis
//! with a separate worker; completions on the store of the test run.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use broker_testkit::{JWT_SECRET, Redis, TestApp, claims, hs256, spawn_app_with};
use broker_verifier::corpus;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const SECRET: &str = "whsec-test-0123456789abcdef";
/// How long a test waits for a delivery (retries are 1 s, then 2 s).
const WAIT: Duration = Duration::from_secs(30);

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: http::HeaderMap,
    body: Bytes,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Checks the signature as a receiver would (docs/webhooks.md): HMAC-SHA256
    /// over `"{Webhook-Timestamp}.{body}"`, base64, and a fresh timestamp.
    fn assert_signed_with(&self, secret: &str) {
        let timestamp = self.header("webhook-timestamp");
        let sent: i64 = timestamp.parse().expect("a Unix timestamp");
        assert!((broker_testkit::now() - sent).abs() < 300, "a fresh timestamp");
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
        let mut message = format!("{timestamp}.").into_bytes();
        message.extend_from_slice(&self.body);
        let expected = base64::engine::general_purpose::STANDARD.encode(aws_lc_rs::hmac::sign(&key, &message));
        assert_eq!(self.header("webhook-signature"), format!("v1={expected}"));
    }
}

/// A scripted answer: a status and, for a redirect, its `Location`.
type Answer = (u16, Option<String>);

/// A webhook receiver: answers each request with the next scripted status
/// (then `200`), and keeps every request.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    always: Arc<Mutex<u16>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let receiver = Receiver {
            addr: listener.local_addr().expect("addr"),
            received: Arc::default(),
            script: Arc::default(),
            always: Arc::new(Mutex::new(200)),
        };
        let this = receiver.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let this = this.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: http::Request<hyper::body::Incoming>| {
                        let this = this.clone();
                        async move { Ok::<_, Infallible>(this.answer(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        receiver
    }

    async fn answer(&self, request: http::Request<hyper::body::Incoming>) -> http::Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        self.received.lock().unwrap().push(Received {
            headers: parts.headers,
            body,
        });
        let scripted = self.script.lock().unwrap().pop_front();
        let (status, location) = scripted.unwrap_or_else(|| (*self.always.lock().unwrap(), None));
        let mut response = http::Response::builder().status(status);
        if let Some(location) = location {
            response = response.header("location", location);
        }
        response.body(Full::new(Bytes::new())).expect("response")
    }

    fn url(&self) -> String {
        format!("http://{}/hooks/broker", self.addr)
    }

    /// The next `n` requests get `status`.
    fn fail_next(&self, n: usize, status: u16) {
        self.script.lock().unwrap().extend((0..n).map(|_| (status, None)));
    }

    fn answer_always(&self, status: u16) {
        *self.always.lock().unwrap() = status;
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived; returns them.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                started.elapsed() < WAIT,
                "{} of {n} webhook requests after {WAIT:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the first request, asserts that it is signed with [`SECRET`]
    /// and an event of type `event_type`; returns its payload.
    async fn first_event(&self, event_type: &str) -> Value {
        let received = self.wait_for(1).await;
        received[0].assert_signed_with(SECRET);
        let payload = received[0].json();
        assert_eq!(payload["type"], event_type);
        payload
    }
}

/// The webhook variables for `url`: short retries, loopback allowed.
fn webhook_vars(url: &str, max_attempts: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("WEBHOOK_URL", url.to_owned()),
        ("WEBHOOK_SECRET", SECRET.to_owned()),
        ("WEBHOOK_ALLOW_PRIVATE", "true".to_owned()),
        ("WEBHOOK_MAX_ATTEMPTS", max_attempts.to_owned()),
        ("WEBHOOK_RETRY_BASE", "1".to_owned()),
        ("WEBHOOK_RETRY_MAX", "2".to_owned()),
        ("WEBHOOK_TIMEOUT", "5".to_owned()),
    ]
}

/// An app sending webhooks to `url` ([`webhook_vars`]), with the `extra`
/// variables, which replace the defaults of the same name.
async fn app_for(url: &str, max_attempts: &'static str, extra: &[(&'static str, &str)]) -> TestApp {
    let mut vars = webhook_vars(url, max_attempts);
    vars.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    vars.extend(extra.iter().map(|(k, v)| (*k, (*v).to_owned())));
    spawn_with(&vars).await
}

async fn spawn_with(vars: &[(&'static str, String)]) -> TestApp {
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with(&vars).await
}

/// Uploads and completes an avatar as the default user; returns the completion's body.
async fn complete_avatar(app: &TestApp) -> Value {
    let staging = app
        .upload("avatar", "me.png", "image/png", corpus::png(32, 32, 9))
        .await;
    let response = app.complete(&staging).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn dead_letters(app: &TestApp, token: Option<&str>) -> Vec<Value> {
    let request = app.http.get(format!("{}/webhooks/deliveries?status=dead", app.address));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => app.authorize(request),
    };
    let response = request.send().await.expect("the API answers");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    body["deliveries"].as_array().expect("deliveries").clone()
}

/// Waits until the dead letters hold `id`; returns it.
async fn wait_for_dead_letter(app: &TestApp, id: &str) -> Value {
    let started = Instant::now();
    loop {
        if let Some(found) = dead_letters(app, None).await.into_iter().find(|d| d["id"] == id) {
            return found;
        }
        assert!(started.elapsed() < WAIT, "{id} never became a dead letter");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the dead letters hold one delivery; returns it.
async fn wait_for_any_dead_letter(app: &TestApp) -> Value {
    let started = Instant::now();
    loop {
        if let Some(found) = dead_letters(app, None).await.into_iter().next() {
            return found;
        }
        assert!(started.elapsed() < WAIT, "no dead letter after {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn replay(app: &TestApp, id: &str, token: Option<&str>) -> reqwest::Response {
    let request = app
        .http
        .post(format!("{}/webhooks/deliveries/{id}/replay", app.address));
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => app.authorize(request),
    };
    request.send().await.expect("the API answers")
}

/// Asserts the payload of an `upload.completed` for the completion `done`.
fn assert_completed(received: &Received, done: &Value) {
    received.assert_signed_with(SECRET);
    assert_eq!(received.header("content-type"), "application/json");
    let payload = received.json();
    assert_eq!(received.header("webhook-id"), payload["id"]);
    assert_eq!(payload["type"], "upload.completed");
    assert_eq!(payload["tenant"], "default");
    assert_eq!(payload["objectKey"], done["objectKey"]);
    let details = &payload["details"];
    assert_eq!(details["profile"], "avatar");
    assert_eq!(details["contentType"], "image/png");
    assert_eq!(details["size"], done["size"]);
    assert_eq!(details["sha256"], done["sha256"]);
    assert!(payload["timestamp"].as_u64().is_some());
    let text = String::from_utf8_lossy(&received.body);
    assert!(
        !text.contains("X-Amz-") && !text.contains("http"),
        "no URL, signed or not, in the payload: {text}"
    );
}

#[tokio::test]
async fn a_completed_upload_reaches_the_receiver_signed() {
    let receiver = Receiver::start().await;
    let app = app_for(&receiver.url(), "3", &[]).await;
    let done = complete_avatar(&app).await;
    let received = receiver.wait_for(1).await;
    assert_completed(&received[0], &done);

    // A repeated completion answers from the served object: no second event.
    let again = app.complete(done["objectKey"].as_str().expect("key")).await;
    assert_ne!(again.status(), 500);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 1, "one event per completed upload");
}

#[tokio::test]
async fn a_multipart_upload_sends_upload_completed_when_its_completion_verifies_it() {
    use crate::multipart::{parts_body, started, upload_parts};
    let receiver = Receiver::start().await;
    let app = app_for(&receiver.url(), "3", &[("MULTIPART_PART_SIZE", "5242880")]).await;
    let session = app.session();
    let (data, _, upload_id) = started(&session, 2).await;
    let etags = upload_parts(&session, &upload_id, &data, 1..=2).await;
    let response = session
        .post_json(&format!("/uploads/multipart/{upload_id}/complete"), &parts_body(&etags))
        .await;
    assert_eq!(response.status(), 200);
    let done: Value = response.json().await.expect("json");
    let payload = receiver.first_event("upload.completed").await;
    assert_eq!(payload["objectKey"], done["objectKey"]);
    assert_eq!(payload["details"]["profile"], "document");
    assert_eq!(payload["details"]["size"], data.len());
    assert_eq!(payload["details"]["sha256"], done["sha256"]);
}

#[tokio::test]
async fn a_receiver_down_for_the_first_two_attempts_gets_it_on_the_third() {
    let receiver = Receiver::start().await;
    receiver.fail_next(2, 503);
    let app = app_for(&receiver.url(), "5", &[]).await;
    let done = complete_avatar(&app).await;
    let received = receiver.wait_for(3).await;
    let id = received[0].header("webhook-id");
    assert!(
        received.iter().all(|r| r.header("webhook-id") == id),
        "one event, three attempts"
    );
    assert_eq!(received[0].body, received[2].body, "the same body every time");
    assert_completed(&received[2], &done);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received().len(), 3, "delivered: no fourth attempt");
    assert!(dead_letters(&app, None).await.is_empty());
}

#[tokio::test]
async fn a_delivery_that_always_fails_becomes_a_dead_letter_and_is_replayed() {
    let receiver = Receiver::start().await;
    receiver.answer_always(500);
    let app = app_for(&receiver.url(), "2", &[]).await;
    let done = complete_avatar(&app).await;
    let received = receiver.wait_for(2).await;
    let id = received[0].header("webhook-id").to_owned();
    let dead = wait_for_dead_letter(&app, &id).await;
    assert_eq!(dead["status"], "dead");
    assert_eq!(dead["attempts"], 2);
    assert_eq!(dead["type"], "upload.completed");
    assert!(dead["lastError"].as_str().expect("lastError").contains("500"), "{dead}");
    assert_eq!(dead["payload"]["objectKey"], done["objectKey"]);

    // Another tenant neither sees nor replays it.
    let other = broker_testkit::token("other-tenant", "user-9");
    assert!(dead_letters(&app, Some(&other)).await.is_empty());
    assert_eq!(replay(&app, &id, Some(&other)).await.status(), 404);
    assert_eq!(replay(&app, "not-a-delivery-id", None).await.status(), 404);
    let bad_status = app
        .authorize(
            app.http
                .get(format!("{}/webhooks/deliveries?status=pending", app.address)),
        )
        .send()
        .await
        .expect("answers");
    assert_eq!(bad_status.status(), 400);

    receiver.answer_always(204);
    let replayed = replay(&app, &id, None).await;
    assert_eq!(replayed.status(), 202);
    let body: Value = replayed.json().await.expect("json");
    assert_eq!(body, json!({"id": id, "status": "pending"}));
    let received = receiver.wait_for(3).await;
    assert_eq!(received[2].header("webhook-id"), id);
    assert_completed(&received[2], &done);
    let started = Instant::now();
    while !dead_letters(&app, None).await.is_empty() {
        assert!(started.elapsed() < WAIT, "the replayed delivery left the dead letters");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(replay(&app, &id, None).await.status(), 409, "delivered: not replayable");
}

#[tokio::test]
async fn an_admin_sees_and_replays_every_tenants_dead_letters() {
    let receiver = Receiver::start().await;
    receiver.answer_always(500);
    let admins = [("AUTH_ADMIN_CLAIM", "role"), ("AUTH_ADMIN_VALUE", "admin")];
    let app = app_for(&receiver.url(), "1", &admins).await;
    complete_avatar(&app).await;
    let dead = wait_for_any_dead_letter(&app).await;
    let mut admin = claims("ops", "root");
    admin["role"] = json!("admin");
    let admin = hs256(JWT_SECRET.as_bytes(), &admin);
    let seen = dead_letters(&app, Some(&admin)).await;
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["tenant"], "default");
    receiver.answer_always(200);
    let id = dead["id"].as_str().expect("id");
    assert_eq!(replay(&app, id, Some(&admin)).await.status(), 202);
    receiver.wait_for(2).await;
}

#[tokio::test]
async fn a_refused_upload_sends_upload_rejected() {
    let receiver = Receiver::start().await;
    let app = app_for(&receiver.url(), "3", &[]).await;
    let staging = app
        .upload("avatar", "fake.png", "image/png", b"this is not a png at all".to_vec())
        .await;
    let response = app.complete(&staging).await;
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.expect("json");
    let payload = receiver.first_event("upload.rejected").await;
    assert_eq!(payload["objectKey"], staging);
    assert_eq!(payload["details"]["code"], error["error"]["code"]);
    assert_eq!(payload["details"]["profile"], "avatar");
}

#[tokio::test]
async fn a_finished_export_sends_export_done() {
    let receiver = Receiver::start().await;
    let app = app_for(&receiver.url(), "3", &[]).await;
    let job_id = app
        .submit(&json!({"format": "csv", "filename": "r.csv", "columns": ["a"], "rows": [[1], [2]]}))
        .await;
    let job = app.wait_for(&job_id, &["done"], WAIT).await;
    let payload = receiver.first_event("export.done").await;
    assert_eq!(payload["details"]["jobId"], job_id);
    assert_eq!(payload["details"]["rows"], 2);
    assert!(
        payload["objectKey"].as_str().expect("objectKey").contains(&job_id),
        "{payload} / {job}"
    );
}

#[tokio::test]
async fn only_the_configured_events_are_sent() {
    let receiver = Receiver::start().await;
    let app = app_for(&receiver.url(), "3", &[("WEBHOOK_EVENTS", "upload.rejected")]).await;
    complete_avatar(&app).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(receiver.received().is_empty(), "upload.completed is not configured");
}

#[tokio::test]
async fn a_private_address_is_refused_by_default_and_nothing_reaches_it() {
    let receiver = Receiver::start().await;
    let vars: Vec<(&'static str, String)> = webhook_vars(&receiver.url(), "3")
        .into_iter()
        .filter(|(k, _)| *k != "WEBHOOK_ALLOW_PRIVATE")
        .collect();
    let app = spawn_with(&vars).await;
    complete_avatar(&app).await;
    let dead = wait_for_any_dead_letter(&app).await;
    let reason = dead["lastError"].as_str().expect("lastError");
    assert!(reason.contains("not a public address"), "{reason}");
    assert_eq!(dead["attempts"], 1, "refused at once, never retried");
    assert!(!reason.contains("/hooks/broker"), "the reason names no URL: {reason}");
    assert!(receiver.received().is_empty(), "no request reached the receiver");
}

#[tokio::test]
async fn a_redirect_is_not_followed() {
    let target = Receiver::start().await;
    let redirecting = Receiver::start().await;
    redirecting.answer_always(200);
    redirecting.script.lock().unwrap().push_back((307, Some(target.url())));
    let app = app_for(&redirecting.url(), "1", &[]).await;
    complete_avatar(&app).await;
    let dead = wait_for_any_dead_letter(&app).await;
    let reason = dead["lastError"].as_str().expect("lastError");
    assert!(
        reason.contains("307") && reason.contains("redirects are not followed"),
        "{reason}"
    );
    assert_eq!(redirecting.received().len(), 1);
    assert!(target.received().is_empty(), "the redirect's target got nothing");
}

#[tokio::test]
async fn a_retry_queued_before_a_restart_is_delivered_after_it() {
    let receiver = Receiver::start().await;
    receiver.fail_next(1, 503);
    // The retry is due after the restart.
    let retry = [("WEBHOOK_RETRY_BASE", "3"), ("WEBHOOK_RETRY_MAX", "3")];
    let app = app_for(&receiver.url(), "5", &retry).await;
    let done = complete_avatar(&app).await;
    receiver.wait_for(1).await;
    let app = app.restart().await;
    let received = receiver.wait_for(2).await;
    assert_completed(&received[1], &done);
    drop(app);
}

#[tokio::test]
async fn on_redis_a_delivery_queued_with_no_worker_running_is_delivered_by_a_worker_later() {
    let redis = Redis::start();
    let receiver = Receiver::start().await;
    receiver.fail_next(2, 502);
    let app = app_for(&receiver.url(), "5", &[("REDIS_URL", &redis.url())]).await;
    let done = complete_avatar(&app).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.received().is_empty(), "no worker yet: queued in Redis");
    let _worker = app.start_worker();
    let received = receiver.wait_for(3).await;
    assert_completed(&received[2], &done);
    assert!(dead_letters(&app, None).await.is_empty());
}

#[tokio::test]
async fn on_redis_dead_letters_are_listed_per_tenant_and_replayed() {
    let redis = Redis::start();
    let receiver = Receiver::start().await;
    receiver.answer_always(500);
    let app = app_for(&receiver.url(), "2", &[("REDIS_URL", &redis.url())]).await;
    let _worker = app.start_worker();
    let done = complete_avatar(&app).await;
    let dead = wait_for_any_dead_letter(&app).await;
    assert_eq!(dead["attempts"], 2);
    let other = broker_testkit::token("other-tenant", "user-9");
    assert!(dead_letters(&app, Some(&other)).await.is_empty());
    let id = dead["id"].as_str().expect("id");
    assert_eq!(replay(&app, id, Some(&other)).await.status(), 404);
    receiver.answer_always(200);
    assert_eq!(replay(&app, id, None).await.status(), 202);
    let received = receiver.wait_for(3).await;
    assert_completed(&received[2], &done);
    let started = Instant::now();
    while !dead_letters(&app, None).await.is_empty() {
        assert!(started.elapsed() < WAIT, "the replayed delivery left the dead letters");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
