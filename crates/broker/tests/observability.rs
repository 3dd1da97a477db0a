//! What operators see: Prometheus metrics on `METRICS_BIND_ADDR`, JSON logs
//! (`LOG_FORMAT=json`) and the `x-request-id` of every response.
//!
//! Metrics have one recorder per process, so they are tested in this binary
//! of their own, where only [`metrics_count_uploads_downloads_exports_and_refusals`]
//! signs, completes, downloads, is refused or rate limited, and only it
//! exports CSV (the worker-process test exports PDF, counted in its worker):
//! its counts are exact.

use std::time::{Duration, Instant};

use broker_testkit::{
    LONG, Stack, TestApp, captured_json_logs, captured_logs, free_port, post_form, principal, spawn_app_with,
};
use broker_verifier::corpus;
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_upload-broker");

async fn scrape(url: &str) -> String {
    let response = reqwest::get(url).await.expect("the metrics server answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().expect("ascii").to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.expect("text")
}

/// Scrapes until `ready` holds (what another task counts may come later
/// than the answer a test waited for), then returns the text.
async fn scrape_until(url: &str, ready: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = scrape(url).await;
        if ready(&text) {
            return text;
        }
        assert!(started.elapsed() < LONG, "never ready:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A counter's name (without the prefix), labels and expected value.
type Counted<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

/// Scrapes until a `format` export is counted as done, then returns the text.
async fn scrape_once_exported(url: &str, format: &str) -> String {
    let done = [("format", format), ("status", "done")];
    scrape_until(url, |text| sample(text, "upload_broker_exports_total", &done).is_some()).await
}

/// The value of the sample `name{labels}` (labels in any order), if present.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, series_labels) = match series.split_once('{') {
            Some((n, rest)) => (n, rest.strip_suffix('}')?),
            None => (series, ""),
        };
        let mut found: Vec<&str> = series_labels.split(',').filter(|l| !l.is_empty()).collect();
        let mut wanted: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
        found.sort_unstable();
        wanted.sort_unstable();
        (series_name == name && found == wanted).then(|| value.parse().expect("a number"))
    })
}

fn assert_sample(text: &str, name: &str, labels: &[(&str, &str)], expected: f64) {
    assert_eq!(
        sample(text, name, labels),
        Some(expected),
        "{name}{labels:?} in:\n{text}"
    );
}

#[tokio::test]
async fn metrics_count_uploads_downloads_exports_and_refusals() {
    // A small signing bucket (3, refilled every 100 s), so a fourth sign is refused.
    let app = spawn_app_with(&[("RATE_LIMIT_BURST", "3"), ("RATE_LIMIT_RATE", "0.01")]).await;
    let metrics_url = app.metrics_url.clone().expect("metrics are on by default");
    let user = app.as_user("metrics-tenant", "metrics-user");

    // One sign and complete, then a download.
    let signed = user.sign("avatar", "me.jpg", "image/jpeg").await;
    let stored = post_form(&signed.url, &signed.fields, corpus::jpeg_with_metadata(), "image/jpeg").await;
    assert!(stored.status().is_success());
    let done = user.complete(&signed.object_key).await;
    assert_eq!(done.status(), 200);
    let done: Value = done.json().await.expect("json");
    assert_eq!(
        user.download(done["objectKey"].as_str().expect("key")).await.status(),
        200
    );

    // One refused upload: a PNG signed as a JPEG.
    let fake = user.sign("avatar", "fake.jpg", "image/jpeg").await;
    let stored = post_form(&fake.url, &fake.fields, corpus::png(16, 16, 8), "image/jpeg").await;
    assert!(stored.status().is_success());
    assert_eq!(user.complete(&fake.object_key).await.status(), 422);

    // One request without a credential, and one over the signing rate.
    assert_eq!(app.with_token(None).complete(&fake.object_key).await.status(), 401);
    let flooder = app.as_user("metrics-tenant", "flooder");
    for _ in 0..3 {
        flooder.sign("export", "a.csv", "text/csv").await;
    }
    let refused = flooder
        .post_json(
            "/uploads/sign",
            &json!({"kind": "export", "filename": "a.csv", "content_type": "text/csv"}),
        )
        .await;
    assert_eq!(refused.status(), 429);

    // One CSV export, run by the in-process worker.
    let job_id = app
        .submit(&json!({"format": "csv", "filename": "m.csv", "columns": ["a"], "rows": [["1"]]}))
        .await;
    let job = app.wait_for(&job_id, &["done", "failed"], LONG).await;
    assert_eq!(job["status"], "done", "{job}");

    // The worker counts the job once its record says done: the API may see it first.
    let text = scrape_once_exported(&metrics_url, "csv").await;
    let m = |name: &str| format!("upload_broker_{name}");
    let counted: [Counted; 11] = [
        ("uploads_signed_total", &[("profile", "avatar"), ("mode", "post")], 2.0),
        // `export` is a former name of the `file` profile: labels carry the canonical name.
        ("uploads_signed_total", &[("profile", "file"), ("mode", "post")], 3.0),
        (
            "uploads_completed_total",
            &[("profile", "avatar"), ("outcome", "verified")],
            1.0,
        ),
        (
            "uploads_completed_total",
            &[("profile", "avatar"), ("outcome", "refused")],
            1.0,
        ),
        ("verification_rejections_total", &[("reason", "type_mismatch")], 1.0),
        ("downloads_signed_total", &[], 1.0),
        ("auth_failures_total", &[("reason", "missing_credentials")], 1.0),
        ("rate_limited_total", &[("route", "sign")], 1.0),
        ("exports_total", &[("format", "csv"), ("status", "queued")], 1.0),
        ("exports_total", &[("format", "csv"), ("status", "done")], 1.0),
        ("export_duration_seconds_count", &[("format", "csv")], 1.0),
    ];
    for (name, labels, expected) in counted {
        assert_sample(&text, &m(name), labels, expected);
    }
    // The queue depth is read at each scrape (its value is tested with Redis below).
    assert!(sample(&text, &m("export_queue_depth"), &[]).is_some(), "{text}");

    // The completion latency is a histogram: buckets, a count and a sum.
    assert_sample(&text, &m("complete_duration_seconds_count"), &[], 2.0);
    assert_sample(&text, &m("complete_duration_seconds_bucket"), &[("le", "+Inf")], 2.0);
    assert!(
        sample(&text, &m("complete_duration_seconds_bucket"), &[("le", "60")]) == Some(2.0),
        "both completions took less than a minute:\n{text}"
    );
    assert!(sample(&text, &m("complete_duration_seconds_sum"), &[]).is_some_and(|s| s > 0.0));
    assert!(
        text.contains("# TYPE upload_broker_complete_duration_seconds histogram"),
        "{text}"
    );

    // The store calls behind them, by operation and outcome.
    for op in ["head_object", "get_object", "put_object", "delete_object"] {
        assert!(
            sample(&text, &m("store_requests_total"), &[("op", op), ("outcome", "ok")]).is_some_and(|n| n >= 1.0),
            "{op}:\n{text}"
        );
    }
    // Each completion first looks for an earlier one: HEAD finds nothing.
    assert!(
        sample(
            &text,
            &m("store_requests_total"),
            &[("op", "head_object"), ("outcome", "not_found")]
        )
        .is_some()
    );

    // Labels are bounded codes: no tenant, subject or key reaches a scrape.
    for private in ["metrics-tenant", "metrics-user", "flooder", signed.object_key.as_str()] {
        assert!(!text.contains(private), "{private} appears in the metrics");
    }
    assert!(
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .all(|l| l.starts_with("upload_broker_")),
        "every metric is prefixed:\n{text}"
    );
}

#[tokio::test]
async fn metrics_are_off_when_the_address_is_empty() {
    // Hold the default port: an app that fell back to it could not start.
    let _default_port = std::net::TcpListener::bind(broker_core::config::DEFAULT_METRICS_BIND);
    let app = spawn_app_with(&[("METRICS_BIND_ADDR", "")]).await;
    assert_eq!(app.metrics_url, None);
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), 200);
}

async fn get_with_id(app: &TestApp, path: &str, id: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(format!("{}{path}", app.address));
    if let Some(id) = id {
        request = request.header("x-request-id", id);
    }
    request.send().await.expect("sent")
}

fn response_id(response: &reqwest::Response) -> String {
    response.headers()["x-request-id"].to_str().expect("ascii").to_owned()
}

#[tokio::test]
async fn every_response_carries_a_request_id_kept_from_the_caller_only_when_well_formed() {
    let app = spawn_app_with(&[("ALLOWED_ORIGINS", "https://app.example")]).await;
    // (No route that authenticates: only the metrics test counts auth failures.)
    for path in ["/healthz", "/no-such-route", "/exports"] {
        let kept = get_with_id(&app, path, Some("trace-0123.abc_def:1")).await;
        assert_eq!(response_id(&kept), "trace-0123.abc_def:1", "{path}");

        let long = "a".repeat(200);
        for bad in ["two words", "quote\"d", "semi;colon", long.as_str()] {
            let replaced = get_with_id(&app, path, Some(bad)).await;
            let id = response_id(&replaced);
            assert_ne!(id, bad, "{path}");
            assert_eq!(id.len(), 36, "a generated UUID: {id}");
        }
        let first = response_id(&get_with_id(&app, path, None).await);
        let second = response_id(&get_with_id(&app, path, None).await);
        assert_ne!(first, second, "a new id per request");
    }
    // Browsers may read it.
    let get = app
        .http
        .get(format!("{}/healthz", app.address))
        .header("origin", "https://app.example")
        .send()
        .await
        .expect("sent");
    let exposed = get.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(exposed.contains("x-request-id"), "{exposed}");
}

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_the_request_context_and_no_query() {
    let app = spawn_app_with(&[]).await;
    let user = app.as_user("json-tenant", "json-user");
    let request_id = "json-log-test-0001";
    let missing_job = "01JD0000000000000000000000";
    let response = user
        .authorize(
            app.http
                .get(format!(
                    "{}/exports/{missing_job}?token=query-secret-value",
                    app.address
                ))
                .header("x-request-id", request_id),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 404);

    let logs = captured_json_logs();
    let lines: Vec<Value> = logs
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")))
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        for field in ["timestamp", "level", "target", "message"] {
            assert!(line[field].is_string(), "{field} missing: {line}");
        }
    }
    let ours: Vec<&Value> = lines.iter().filter(|l| l["request_id"] == request_id).collect();
    let request_line = ours
        .iter()
        .find(|l| l["message"] == "request")
        .unwrap_or_else(|| panic!("no request line for {request_id}: {ours:#?}"));
    assert_eq!(request_line["route"], "/exports/{jobId}", "{request_line}");
    assert_eq!(request_line["method"], "GET");
    assert_eq!(request_line["tenant"], "json-tenant");
    assert_eq!(request_line["subject"], principal("json-user"));
    assert_eq!(request_line["status"], 404);
    assert_eq!(request_line["path"], format!("/exports/{missing_job}"));
    assert_eq!(request_line["level"], "INFO");
    let audit = ours
        .iter()
        .find(|l| l["target"] == "audit")
        .unwrap_or_else(|| panic!("the audit line carries the request id: {ours:#?}"));
    assert_eq!(audit["action"], "export_status");
    assert_eq!(audit["outcome"], "refused");

    for logs in [logs, captured_logs()] {
        assert!(!logs.contains("query-secret-value"), "a query string reached the logs");
    }
}

/// `upload-broker worker` as a real process: `LOG_FORMAT=json` from its
/// environment, and its own `/metrics` with the exports it ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_process_logs_json_and_serves_its_own_metrics() {
    let mut stack = Stack::start(BINARY.as_ref()).await;
    // Queued before any worker runs: the depth the API's scrape reads from Redis.
    let job_id = stack
        .submit(&json!({"format": "pdf", "filename": "w.pdf", "columns": ["a"], "rows": [["1"]]}))
        .await;
    let api_metrics = stack.app.metrics_url.clone().expect("metrics on");
    // (Retried: the gauge is process-wide, and another app's scrape may set it in between.)
    scrape_until(&api_metrics, |text| {
        sample(text, "upload_broker_export_queue_depth", &[]) == Some(1.0)
    })
    .await;

    let port = free_port().to_string();
    let address = format!("127.0.0.1:{port}");
    let worker = stack.start_worker(&[("METRICS_BIND_ADDR", address.as_str()), ("LOG_FORMAT", "json")]);
    let job = stack
        .wait_until(&job_id, "done", |j| j["status"] == "done" || j["status"] == "failed")
        .await;
    assert_eq!(job["status"], "done", "{job}");

    let text = scrape_once_exported(&format!("http://{address}/metrics"), "pdf").await;
    assert_sample(
        &text,
        "upload_broker_exports_total",
        &[("format", "pdf"), ("status", "done")],
        1.0,
    );
    assert_sample(
        &text,
        "upload_broker_export_duration_seconds_count",
        &[("format", "pdf")],
        1.0,
    );
    assert!(
        sample(
            &text,
            "upload_broker_store_requests_total",
            &[("op", "complete_multipart_upload"), ("outcome", "ok")]
        ) == Some(1.0),
        "{text}"
    );
    assert!(
        sample(&text, "upload_broker_export_queue_depth", &[]).is_some(),
        "{text}"
    );

    // Its log, so far, is JSON through and through (the done line may
    // follow the record the API answered from).
    let started = Instant::now();
    let log = loop {
        let log = stack.worker_log(worker);
        if log.contains("export done") {
            break log;
        }
        assert!(started.elapsed() < LONG, "no done line in:\n{log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for line in log.lines() {
        let line: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(line["timestamp"].is_string() && line["level"].is_string(), "{line}");
    }
    let done = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "export done")
        .expect("the done line");
    assert_eq!(
        done["job_id"],
        job_id.as_str(),
        "the export span's fields are on the line: {done}"
    );
}
