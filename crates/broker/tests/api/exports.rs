//! Exports through the HTTP API: the all-in-one app (SQLite queue, in-process
//! worker) for the full flow, and the Redis backend against a real
//! redis-server with an in-process worker. Files are parsed back: CSV with the
//! csv crate, PDF with `qpdf --check` and `pdftotext`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use broker_testkit::{Redis, TestApp, csv_rows, error_code, free_port, pdf_tool, spawn_app, spawn_app_with};

/// An app whose jobs go through a redis-server of its own (returned: it
/// stops when dropped), with `vars` set as well.
async fn app_with_redis(vars: &[(&str, &str)]) -> (Redis, TestApp) {
    let redis = Redis::start();
    let url = redis.url();
    let mut all = vec![("REDIS_URL", url.as_str())];
    all.extend_from_slice(vars);
    let app = spawn_app_with(&all).await;
    (redis, app)
}

/// The smallest export: one CSV cell.
fn one_row_csv() -> Value {
    json!({"format": "csv", "filename": "a.csv", "columns": ["a"], "rows": [["1"]]})
}

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn csv_export_end_to_end_with_formula_neutralisation() {
    let app = spawn_app().await;
    let job_id = app
        .submit(&json!({
            "format": "csv",
            "filename": "Q3 résumé.csv",
            "columns": ["name", "formula", "amount", "flag", "empty"],
            "rows": [
                ["Zoë, \"the\" boss", "=1+1", 12.5, true, null],
                ["plain", "@SUM(A1)", -5, false, ""],
                ["multi\nline", "+cmd|' /C calc'!A0", 0, true, "x"]
            ]
        }))
        .await;
    let job = app.wait_for(&job_id, &["done", "failed"], LONG).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["progress"], json!({"rows": 3, "total": 3}));
    assert_eq!(job["filename"], "Q3 résumé.csv");
    let key = job["objectKey"].as_str().expect("objectKey");
    // Inline rows are the tenant's: the output is `tenant`-scoped (docs/objects.md).
    assert_eq!(key, format!("default/shared/exports/{job_id}/Q3_r_sum_.csv"));
    assert!(job["expiresIn"].as_u64().is_some_and(|s| s > 0));

    let (headers, bytes) = app.fetch_output(&job).await;
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    let disposition = headers["content-disposition"].to_str().expect("ascii");
    assert!(
        disposition.starts_with("attachment;") && disposition.contains("UTF-8''Q3%20r%C3%A9sum%C3%A9.csv"),
        "{disposition}"
    );
    assert_eq!(
        csv_rows(&bytes),
        [
            vec!["name", "formula", "amount", "flag", "empty"],
            vec!["Zoë, \"the\" boss", "'=1+1", "12.5", "true", ""],
            vec!["plain", "'@SUM(A1)", "'-5", "false", ""],
            vec!["multi\nline", "'+cmd|' /C calc'!A0", "0", "true", "x"],
        ]
    );

    // The URL is signed afresh on every call; /uploads/download signs it too.
    let again: Value = app.job(&job_id).await.json().await.expect("json");
    assert_eq!(again["objectKey"], job["objectKey"]);
    assert_eq!(app.download(key).await.status(), 200);
}

#[tokio::test]
async fn csv_options_bom_and_formulas_off() {
    let app = spawn_app().await;
    let job_id = app
        .submit(&json!({"format": "csv", "filename": "raw", "columns": ["n"], "rows": [["-5"]], "bom": true, "neutralizeFormulas": false}))
        .await;
    let job = app.wait_for(&job_id, &["done", "failed"], LONG).await;
    assert_eq!(job["filename"], "raw.csv");
    let (_, bytes) = app.fetch_output(&job).await;
    assert_eq!(bytes, b"\xEF\xBB\xBFn\r\n-5\r\n");
}

#[tokio::test]
async fn pdf_export_end_to_end_is_valid_and_readable() {
    let app = spawn_app().await;
    let rows: Vec<Value> = (1..=300)
        .map(|n| json!([format!("row {n}"), format!("Café n°{n}"), n * 7]))
        .collect();
    let job_id = app
        .submit(&json!({"format": "pdf", "filename": "report", "title": "Quarterly report", "columns": ["id", "label", "value"], "rows": rows}))
        .await;
    let job = app.wait_for(&job_id, &["done", "failed"], LONG).await;
    assert_eq!(job["status"], "done", "{job}");
    assert_eq!(job["filename"], "report.pdf");
    let (headers, pdf) = app.fetch_output(&job).await;
    assert_eq!(headers["content-type"], "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    pdf_tool("qpdf", &["--check", "{}"], &pdf);
    let text = pdf_tool("pdftotext", &["-layout", "{}", "-"], &pdf);
    for needle in ["Quarterly report", "label", "row 1 ", "Café n°150", "row 300", "2100"] {
        assert!(text.contains(needle), "{needle:?} missing from the PDF text");
    }
}

#[tokio::test]
async fn verified_uploads_are_converted_from_the_store() {
    let app = spawn_app().await;
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "json",
            r#"[{"city": "Zürich", "n": 1, "note": "=HYPERLINK(1)"}, {"n": 2, "city": "Oslo"}]"#.as_bytes(),
            "application/json",
        ),
        (
            "json",
            b"{\"city\":\"Z\xc3\xbcrich\",\"n\":1,\"note\":\"=HYPERLINK(1)\"}\n{\"n\":2,\"city\":\"Oslo\"}\n",
            "application/json",
        ),
        (
            "csv",
            b"city,n,note\nZ\xc3\xbcrich,1,=HYPERLINK(1)\nOslo,2,\n",
            "text/csv",
        ),
    ];
    for (index, (extension, data, content_type)) in cases.into_iter().enumerate() {
        let key = format!("default/uploads/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c1{index}.{extension}");
        app.put_object(&key, data, content_type, &format!("data.{extension}"))
            .await;
        let job_id = app
            .submit(&json!({"format": "csv", "filename": "cities.csv", "source": key}))
            .await;
        let job = app.wait_for(&job_id, &["done", "failed"], LONG).await;
        assert_eq!(job["status"], "done", "{extension} case {index}: {job}");
        assert_eq!(job["progress"], json!({"rows": 2, "total": 2}));
        let (_, bytes) = app.fetch_output(&job).await;
        assert_eq!(
            csv_rows(&bytes),
            [
                vec!["city", "n", "note"],
                vec!["Zürich", "1", "'=HYPERLINK(1)"],
                vec!["Oslo", "2", ""]
            ],
            "case {index}"
        );
    }
}

#[tokio::test]
async fn an_unparsable_source_fails_at_once_with_a_reason() {
    let app = spawn_app().await;
    let key = "default/uploads/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.csv";
    app.put_object(key, b"a,b\n1,2\n3\n", "text/csv", "bad.csv").await;
    let job_id = app
        .submit(&json!({"format": "csv", "filename": "x.csv", "source": key}))
        .await;
    let job = app.wait_for(&job_id, &["done", "failed"], LONG).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["attempts"], 1, "permanent errors are not retried");
    assert_eq!(job["error"]["code"], "ragged_rows");
    assert!(job.get("url").is_none());
    assert!(
        app.keys_under(&format!("default/exports/{job_id}/")).await.is_empty(),
        "no partial object"
    );
}

#[tokio::test]
async fn bad_requests_get_json_errors() {
    let app = spawn_app_with(&[("EXPORT_MAX_INLINE_BYTES", "2000")]).await;
    let inline =
        |format: &str| json!({"format": format, "filename": "a.csv", "columns": ["a", "b"], "rows": [["1", "2"]]});
    let source = |key: &str| json!({"format": "csv", "filename": "a.csv", "source": key});
    let cases: Vec<(Value, u16, &str)> = vec![
        (inline("xlsx"), 400, "unknown_format"),
        (
            json!({"format": "csv", "filename": "a.csv", "columns": ["a", "b"], "rows": [["1", "2"], ["3"]]}),
            400,
            "ragged_rows",
        ),
        (
            json!({"format": "csv", "filename": "a.csv", "columns": [], "rows": []}),
            400,
            "invalid_request",
        ),
        (
            json!({"format": "csv", "filename": "", "columns": ["a"], "rows": []}),
            400,
            "invalid_filename",
        ),
        (json!({"format": "csv", "filename": "a.csv"}), 400, "invalid_request"),
        (
            json!({"format": "csv", "filename": "a.csv", "columns": ["a"], "rows": [], "source": "x"}),
            400,
            "invalid_request",
        ),
        (
            json!({"format": "csv", "filename": "a.csv", "columns": ["a"], "rows": [[{"nested": 1}]]}),
            400,
            "invalid_request",
        ),
        (
            json!({"format": "csv", "filename": "a.csv", "columns": ["a"], "rows": [["x".repeat(3000)]]}),
            413,
            "payload_too_large",
        ),
        (
            source("default/uploads/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c99.csv"),
            422,
            "source_not_found",
        ),
    ];
    for (body, status, code) in cases {
        let response = app.export(&body).await;
        assert_eq!(error_code(response).await, (status, code.to_owned()), "{body}");
    }
    // Not the key of a verified export upload of the caller's tenant.
    for key in [
        "staging/default/export/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.csv",
        "other/uploads/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.csv",
        "default/avatars/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.png",
        "default/uploads/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.pdf",
        "../etc/passwd",
    ] {
        let response = app.export(&source(key)).await;
        assert_eq!(error_code(response).await, (400, "invalid_source".to_owned()), "{key}");
    }
    let not_json = app.post_body("/exports", "text/plain", "{}").await;
    assert_eq!(error_code(not_json).await, (415, "unsupported_media_type".into()));
    let broken = app.post_body("/exports", "application/json", "{").await;
    assert_eq!(error_code(broken).await, (400, "invalid_json".into()));

    for job_id in ["01M83ZAXYNVFVE1NPVFNNVXZG7", "not-a-job", "..%2F..%2Fx"] {
        assert_eq!(
            error_code(app.job(job_id).await).await,
            (404, "job_not_found".into()),
            "{job_id}"
        );
        assert_eq!(
            error_code(app.cancel_job(job_id).await).await,
            (404, "job_not_found".into()),
            "{job_id}"
        );
    }
    let put = app.session().send(reqwest::Method::PUT, "/exports").await;
    assert_eq!(error_code(put).await, (405, "method_not_allowed".into()));
}

#[tokio::test]
async fn the_inline_bound_is_far_above_the_json_limit_of_other_routes() {
    let app = spawn_app().await;
    // ~1 MiB of rows: accepted by /exports, though 16× the 64 KiB limit elsewhere.
    let rows: Vec<Value> = (0..20_000)
        .map(|n| json!([format!("row-{n:06}"), "x".repeat(40)]))
        .collect();
    let job_id = app
        .submit(&json!({"format": "csv", "filename": "big.csv", "columns": ["id", "pad"], "rows": rows}))
        .await;
    let job = app.wait_for(&job_id, &["done", "failed"], LONG).await;
    assert_eq!(job["progress"]["rows"], 20_000, "{job}");
    let (_, bytes) = app.fetch_output(&job).await;
    assert_eq!(csv_rows(&bytes).len(), 20_001);
}

#[tokio::test]
async fn an_idempotency_key_returns_the_existing_job() {
    let app = spawn_app().await;
    let body = one_row_csv();
    let post = |body: &Value, key: &str| {
        app.authorize(app.http.post(format!("{}/exports", app.address)))
            .header("idempotency-key", key)
            .json(body)
            .send()
    };
    let first = post(&body, "order-42").await.expect("sent");
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.expect("json");
    let again = post(&body, "order-42").await.expect("sent");
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.expect("json");
    assert_eq!(again["jobId"], first["jobId"]);

    let other = post(
        &json!({"format": "pdf", "filename": "a.pdf", "columns": ["a"], "rows": [["1"]]}),
        "order-42",
    )
    .await
    .expect("sent");
    assert_eq!(error_code(other).await, (422, "idempotency_key_reused".into()));
    let fresh = post(&body, "order-43").await.expect("sent");
    assert_eq!(fresh.status(), 202);
    let bad = post(&body, "has space").await.expect("sent");
    assert_eq!(error_code(bad).await, (400, "invalid_request".into()));
}

#[tokio::test]
async fn jobs_and_their_status_survive_a_restart_of_the_all_in_one_app() {
    let app = spawn_app().await;
    let job_id = app.submit(&one_row_csv()).await;
    let done = app.wait_for(&job_id, &["done"], LONG).await;
    let app = app.restart().await;
    let job = app.wait_for(&job_id, &["done"], LONG).await;
    assert_eq!(job["objectKey"], done["objectKey"]);
    let (_, bytes) = app.fetch_output(&job).await;
    assert_eq!(bytes, b"a\r\n1\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_the_api_only_enqueues_and_a_worker_exports() {
    let (_redis, app) = app_with_redis(&[("EXPORT_HEARTBEAT", "1"), ("EXPORT_MISSED_HEARTBEATS", "3")]).await;
    let job_id = app
        .submit(&json!({"format": "csv", "filename": "a.csv", "columns": ["a", "b"], "rows": [["=x", "2"]]}))
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let queued: Value = app.job(&job_id).await.json().await.expect("json");
    assert_eq!(
        queued["status"], "queued",
        "no worker runs in the API process: {queued}"
    );

    let _worker = app.start_worker();
    let job = app.wait_for(&job_id, &["done", "failed"], LONG).await;
    assert_eq!(job["status"], "done", "{job}");
    let (_, bytes) = app.fetch_output(&job).await;
    assert_eq!(csv_rows(&bytes), [vec!["a", "b"], vec!["'=x", "2"]]);

    let key = "default/uploads/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.json";
    app.put_object(key, br#"[{"k": "v"}]"#, "application/json", "d.json")
        .await;
    let job_id = app
        .submit(&json!({"format": "pdf", "filename": "d.pdf", "title": "From JSON", "source": key}))
        .await;
    let job = app.wait_for(&job_id, &["done", "failed"], LONG).await;
    let (_, pdf) = app.fetch_output(&job).await;
    pdf_tool("qpdf", &["--check", "{}"], &pdf);
    assert!(pdf_tool("pdftotext", &["{}", "-"], &pdf).contains("From JSON"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_and_running_jobs_can_be_cancelled() {
    let (_redis, app) = app_with_redis(&[]).await;

    // Queued (no worker yet): cancelled at once.
    let queued = app.submit(&one_row_csv()).await;
    let response = app.cancel_job(&queued).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "cancelled");
    assert_eq!(
        error_code(app.cancel_job(&queued).await).await,
        (409, "not_cancellable".into())
    );

    // Running: a PDF large enough to take a while, cancelled mid-way.
    let rows: Vec<Value> = (0..60_000)
        .map(|n| json!([n, format!("label {n}"), "lorem ipsum dolor sit amet"]))
        .collect();
    let running = app
        .submit(&json!({"format": "pdf", "filename": "big.pdf", "columns": ["n", "label", "text"], "rows": rows}))
        .await;
    let _worker = app.start_worker();
    let started = Instant::now();
    loop {
        let job: Value = app.job(&running).await.json().await.expect("json");
        if job["status"] == "running" && job["progress"]["rows"].as_u64().unwrap_or(0) > 0 {
            break;
        }
        assert!(job["status"] == "queued" || job["status"] == "running", "{job}");
        assert!(started.elapsed() < LONG, "the job never ran: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.cancel_job(&running).await.status(), 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let job: Value = app.job(&running).await.json().await.expect("json");
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(
        app.keys_under(&format!("default/exports/{running}/")).await.is_empty(),
        "a cancelled job leaves no object"
    );
    // The skipped task of the cancelled queued job never produced anything either.
    assert!(app.keys_under(&format!("default/exports/{queued}/")).await.is_empty());
}

#[tokio::test]
async fn without_redis_new_exports_get_503_queue_unavailable() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let app = spawn_app_with(&[("REDIS_URL", &url)]).await;
    let response = app.export(&one_row_csv()).await;
    assert_eq!(error_code(response).await, (503, "queue_unavailable".into()));
    assert_eq!(
        error_code(app.job("01M83ZAXYNVFVE1NPVFNNVXZG7").await).await,
        (503, "queue_unavailable".into())
    );
    // Validation still answers first.
    let response = app
        .export(&json!({"format": "xlsx", "filename": "a", "columns": ["a"], "rows": []}))
        .await;
    assert_eq!(error_code(response).await, (400, "unknown_format".into()));
}

#[tokio::test]
async fn jobs_of_one_tenant_are_invisible_to_another() {
    let app = spawn_app().await;
    let job_id = app.submit(&one_row_csv()).await;
    app.wait_for(&job_id, &["done"], LONG).await;
    let other = app.as_user("globex", "mallory");
    let get = other.job(&job_id).await;
    assert_eq!(error_code(get).await, (404, "job_not_found".into()));
    let delete = other.cancel_job(&job_id).await;
    assert_eq!(error_code(delete).await, (404, "job_not_found".into()));
    // Another tenant's verified upload is not a valid source either.
    let key = "default/uploads/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.csv";
    app.put_object(key, b"a\n1\n", "text/csv", "a.csv").await;
    let response = other
        .post_json(
            "/exports",
            &json!({"format": "csv", "filename": "a.csv", "source": key}),
        )
        .await;
    assert_eq!(error_code(response).await, (400, "invalid_source".into()));
    let unauthenticated = app
        .with_token(None)
        .post_json(
            "/exports",
            &json!({"format": "csv", "filename": "a.csv", "columns": ["a"], "rows": []}),
        )
        .await;
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_are_retried_with_backoff_then_fail_with_the_reason() {
    let (_redis, app) = app_with_redis(&[]).await;
    // A worker whose store is down: every attempt fails transiently.
    let dead_store = format!("http://127.0.0.1:{}", free_port());
    let _worker = app.start_worker_with(&[("S3_ENDPOINT", &dead_store)]);
    let job_id = app.submit(&one_row_csv()).await;

    let retrying = app.wait_for(&job_id, &["queued"], LONG).await;
    let started = Instant::now();
    assert!(retrying["attempts"].as_u64().is_some(), "{retrying}");
    let job = app.wait_for(&job_id, &["failed", "done"], LONG).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["attempts"], 3, "EXPORT_MAX_ATTEMPTS, not apalis's 25: {job}");
    assert_eq!(job["error"]["code"], "store_unavailable", "{job}");
    // A fixed message: the store's endpoint and the client's error text go to the log only.
    assert_eq!(
        job["error"]["message"], "the store could not be reached (after 3 attempts)",
        "{job}"
    );
    // Backoff 1 s then 2 s (EXPORT_RETRY_BASE=1): the job cannot have failed sooner.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "failed after {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_key_of_a_job_that_is_not_done_is_never_signed() {
    // No worker: the job stays queued until it is cancelled.
    let (_redis, app) = app_with_redis(&[]).await;
    let job_id = app.submit(&one_row_csv()).await;
    // An object at the job's key, as a worker leaves it when its upload
    // completes as the job is cancelled and the delete that follows fails.
    let key = format!("default/exports/{job_id}/a.csv");
    app.put_object(&key, b"a\r\n1\r\n", "text/csv", "a.csv").await;
    assert_eq!(
        error_code(app.download(&key).await).await,
        (404, "not_found".into()),
        "queued"
    );
    assert_eq!(app.cancel_job(&job_id).await.status(), 200);
    assert_eq!(
        error_code(app.download(&key).await).await,
        (404, "not_found".into()),
        "cancelled"
    );
    let job: Value = app.job(&job_id).await.json().await.expect("json");
    assert!(job.get("url").is_none() && job.get("objectKey").is_none(), "{job}");
    // Another key under an export that never existed answers the same.
    let unknown = "default/exports/01M83ZAXYNVFVE1NPVFNNVXZG7/a.csv";
    assert_eq!(error_code(app.download(unknown).await).await, (404, "not_found".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_can_queue_only_so_many_jobs_and_so_much_input() {
    // No worker: jobs stay queued.
    let (_redis, app) = app_with_redis(&[
        ("EXPORT_MAX_QUEUED_JOBS", "2"),
        ("EXPORT_MAX_INLINE_BYTES", "2000"),
        ("EXPORT_MAX_QUEUED_BYTES", "3000"),
    ])
    .await;
    let small = one_row_csv();
    let queued = [app.submit(&small).await, app.submit(&small).await];
    let response = app.export(&small).await;
    assert_eq!(error_code(response).await, (429, "too_many_queued_exports".into()));
    for job_id in &queued {
        assert_eq!(app.cancel_job(job_id).await.status(), 200);
    }
    // ~1.6 kB bodies: one fits in 3000 bytes of queued input, two do not.
    let big = json!({"format": "csv", "filename": "a.csv", "columns": ["a"], "rows": [["x".repeat(1_550)]]});
    app.submit(&big).await;
    let response = app.export(&big).await;
    assert_eq!(error_code(response).await, (413, "queued_exports_too_large".into()));
    app.submit(&small).await;
}

#[tokio::test]
async fn a_pdf_past_the_page_limit_fails_at_once_with_a_reason() {
    let app = spawn_app_with(&[("EXPORT_MAX_PDF_PAGES", "2")]).await;
    let rows: Vec<Value> = (1..=300).map(|n| json!([format!("row {n}"), n])).collect();
    let job_id = app
        .submit(&json!({"format": "pdf", "filename": "long.pdf", "columns": ["id", "n"], "rows": rows}))
        .await;
    let job = app.wait_for(&job_id, &["done", "failed"], LONG).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "too_many_pages", "{job}");
    assert_eq!(job["attempts"], 1, "permanent: {job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("more than 2 pages")),
        "{job}"
    );
    assert!(app.keys_under(&format!("default/exports/{job_id}/")).await.is_empty());
}
