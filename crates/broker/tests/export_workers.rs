//! Export workers as real processes (`upload-broker worker`) sharing a real
//! redis-server: killed with SIGKILL mid-job, stopped with SIGTERM or SIGSTOP,
//! Redis restarted under them, several at once, killed under one job past its
//! limit of lost workers; and one worker in this process given a second
//! delivery of a running job. The API runs in this process with
//! its embedded store; the workers reach that store as an S3 endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::time::{Duration, Instant};

use apalis::prelude::{TaskBuilder, TaskId, TaskSink};
use apalis_redis::RedisStorage;
use broker_core::TenantId;
use broker_jobs::JobId;
use broker_jobs::job::{ExportFormat, ExportJob, JobSource};
use serde_json::{Value, json};

use broker_testkit::{LONG, Stack, pdf_tool, signal};

const BINARY: &str = env!("CARGO_BIN_EXE_upload-broker");

/// Rows of [`slow_job`]: about 2,330 pages at 30 rows a page, under the
/// default `EXPORT_MAX_PDF_PAGES` (2,500), so the job ends `done`.
const SLOW_ROWS: usize = 70_000;

/// A PDF job that takes a few seconds: long enough to be killed mid-way.
fn slow_job(rows: usize) -> Value {
    let rows: Vec<Value> = (0..rows)
        .map(|n| json!([n, format!("label {n}"), "lorem ipsum dolor sit amet, consectetur"]))
        .collect();
    json!({"format": "pdf", "filename": "big.pdf", "title": "Big", "columns": ["n", "label", "text"], "rows": rows})
}

/// The text of a PDF that `qpdf --check` accepts.
fn extract_text(pdf: &[u8]) -> String {
    pdf_tool("qpdf", &["--check", "{}"], pdf);
    pdf_tool("pdftotext", &["{}", "-"], pdf)
}

/// Waits until a worker has written some of the job's rows.
async fn wait_for_progress(stack: &Stack, job_id: &str) {
    let writing = |j: &Value| j["status"] == "running" && j["progress"]["rows"].as_u64().unwrap_or(0) > 0;
    stack.wait_until(job_id, "running with progress", writing).await;
}

/// The keys under the output prefix of `job_id`.
async fn outputs(stack: &Stack, job_id: &str) -> Vec<String> {
    stack.app.keys_under(&format!("default/shared/exports/{job_id}/")).await
}

/// A stack with one worker (index returned) that has written some rows of an
/// 80,000-row [`slow_job`] (id returned).
async fn slow_job_under_way() -> (Stack, usize, String) {
    let mut stack = Stack::start(BINARY.as_ref()).await;
    let worker = stack.start_worker(&[]);
    let job_id = stack.submit(&slow_job(SLOW_ROWS)).await;
    wait_for_progress(&stack, &job_id).await;
    (stack, worker, job_id)
}

/// Waits until the job is done or failed, and returns it.
async fn wait_until_ended(stack: &Stack, job_id: &str) -> Value {
    let ended = |j: &Value| j["status"] == "done" || j["status"] == "failed";
    stack.wait_until(job_id, "done", ended).await
}

/// Asserts that [`slow_job`] `job_id` is done, that its output prefix holds
/// exactly its one PDF (`why` says why that matters), and that the PDF's
/// text has the last row, `last_row`; returns the job.
async fn assert_done_with_one_pdf(stack: &Stack, job_id: &str, last_row: &str, why: &str) -> Value {
    let job = stack.job(job_id).await;
    assert_eq!(job["status"], "done", "{job}");
    let objects = outputs(stack, job_id).await;
    assert_eq!(objects, [format!("default/shared/exports/{job_id}/big.pdf")], "{why}");
    let text = extract_text(&stack.app.fetch_output(&job).await.1);
    assert!(text.contains(last_row), "the last row is in the PDF");
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_leaves_no_object_and_the_job_completes_once_a_worker_runs_again() {
    let (mut stack, first, job_id) = slow_job_under_way().await;

    stack.workers[first].child.kill().expect("SIGKILL");
    let _ = stack.workers[first].child.wait();
    let job = stack.job(&job_id).await;
    assert_eq!(job["status"], "running", "nobody told the record: {job}");
    assert!(
        outputs(&stack, &job_id).await.is_empty(),
        "no partial object after SIGKILL"
    );

    // The task returns once the dead worker misses its heartbeats (1 s × 3 here).
    let second = stack.start_worker(&[]);
    let job = wait_until_ended(&stack, &job_id).await;
    assert_eq!(job["status"], "done", "{job}\n{}", stack.worker_log(second));
    let job = assert_done_with_one_pdf(&stack, &job_id, &(SLOW_ROWS - 1).to_string(), "exactly one object").await;
    assert_eq!(job["attempts"], 2, "the killed attempt counts: {job}");
    assert_eq!(job["progress"]["rows"], SLOW_ROWS);
}

/// Waits until `job_id` runs attempt `attempt` with progress (or has ended), then SIGKILLs `worker`.
async fn kill_during_attempt(stack: &mut Stack, worker: usize, job_id: &str, attempt: u64) -> Value {
    let job = stack
        .wait_until(job_id, &format!("running attempt {attempt}"), |j| {
            (j["attempts"] == attempt && j["progress"]["rows"].as_u64().unwrap_or(0) > 0)
                || j["status"] == "failed"
                || j["status"] == "done"
        })
        .await;
    stack.workers[worker].child.kill().expect("SIGKILL");
    let _ = stack.workers[worker].child.wait();
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_workers_have_a_limit_of_their_own_apart_from_the_attempts_of_transient_failures() {
    let mut stack = Stack::start(BINARY.as_ref()).await;
    // One attempt for transient failures, one lost worker tolerated.
    let limits = [("EXPORT_MAX_ATTEMPTS", "1"), ("EXPORT_MAX_LOST_WORKERS", "1")];
    let first = stack.start_worker(&limits);
    let job_id = stack.submit(&slow_job(SLOW_ROWS)).await;
    kill_during_attempt(&mut stack, first, &job_id, 1).await;

    // A lost worker does not use up the one attempt: the job runs again.
    let second = stack.start_worker(&limits);
    let job = kill_during_attempt(&mut stack, second, &job_id, 2).await;
    assert_eq!(
        job["status"],
        "running",
        "a lost worker is not a failed attempt: {job}
{}",
        stack.worker_log(second)
    );

    // A second lost worker is one more than the limit: a job that kills its workers fails.
    let third = stack.start_worker(&limits);
    let job = stack
        .wait_until(&job_id, "ended", |j| j["status"] == "done" || j["status"] == "failed")
        .await;
    assert_eq!(
        job["status"],
        "failed",
        "{job}
{}",
        stack.worker_log(third)
    );
    assert_eq!(job["error"]["code"], "too_many_attempts", "{job}");
    assert_eq!(job["error"]["message"], "the job's worker was lost 2 times", "{job}");
    assert_eq!(job["attempts"], 3, "{job}");
    assert!(outputs(&stack, &job_id).await.is_empty(), "no object");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_running_job_finish_before_the_worker_exits() {
    let mut stack = Stack::start(BINARY.as_ref()).await;
    let worker = stack.start_worker(&[]);
    let job_id = stack.submit(&slow_job(60_000)).await;
    stack.wait_until(&job_id, "running", |j| j["status"] == "running").await;
    signal(&stack.workers[worker].child, "TERM");
    let status = stack.workers[worker].child.wait().expect("wait");
    assert!(
        status.success(),
        "the worker exits cleanly: {status}\n{}",
        stack.worker_log(worker)
    );
    let job = stack.job(&job_id).await;
    assert_eq!(
        job["status"],
        "done",
        "drained before exiting: {job}\n{}",
        stack.worker_log(worker)
    );
    assert_eq!(job["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_drain_timeout_a_job_is_handed_back_and_finished_by_another_worker() {
    let mut stack = Stack::start(BINARY.as_ref()).await;
    let worker = stack.start_worker(&[("EXPORT_DRAIN_TIMEOUT", "1")]);
    let job_id = stack.submit(&slow_job(SLOW_ROWS)).await;
    wait_for_progress(&stack, &job_id).await;
    signal(&stack.workers[worker].child, "TERM");
    let status = stack.workers[worker].child.wait().expect("wait");
    assert!(status.success(), "{}", stack.worker_log(worker));
    let job = stack.job(&job_id).await;
    assert_eq!(
        job["status"],
        "queued",
        "handed back: {job}\n{}",
        stack.worker_log(worker)
    );
    assert!(outputs(&stack, &job_id).await.is_empty());

    stack.start_worker(&[]);
    let job = stack.wait_until(&job_id, "done", |j| j["status"] == "done").await;
    assert_eq!(job["attempts"], 1, "an interrupted attempt is not counted: {job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reconnects_after_redis_restarts_and_the_api_answers_503_meanwhile() {
    let mut stack = Stack::start(BINARY.as_ref()).await;
    let worker = stack.start_worker(&[]);
    let small = json!({"format": "csv", "filename": "a.csv", "columns": ["a"], "rows": [["before"]]});
    let job_id = stack.submit(&small).await;
    stack.wait_until(&job_id, "done", |j| j["status"] == "done").await;

    stack.redis.down();
    let response = stack.app.export(&small).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "queue_unavailable");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.redis.up();

    // The API's connection comes back by itself…
    let started = Instant::now();
    let job_id = loop {
        let response = stack
            .app
            .export(&json!({"format": "csv", "filename": "a.csv", "columns": ["a"], "rows": [["after"]]}))
            .await;
        if response.status() == 202 {
            let body: Value = response.json().await.expect("json");
            break body["jobId"].as_str().expect("jobId").to_owned();
        }
        assert_eq!(response.status(), 503);
        assert!(started.elapsed() < LONG, "the API never reconnected to Redis");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // …and so does the same worker process.
    let job = stack.wait_until(&job_id, "done", |j| j["status"] == "done").await;
    assert_eq!(stack.app.fetch_output(&job).await.1, b"a\r\nafter\r\n");
    assert!(
        stack.workers[worker].child.try_wait().expect("wait").is_none(),
        "the worker is still the same process"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_share_one_queue() {
    let mut stack = Stack::start(BINARY.as_ref()).await;
    let first = stack.start_worker(&[]);
    let second = stack.start_worker(&[]);
    let mut jobs = Vec::new();
    for n in 0..8 {
        let body = if n % 2 == 0 {
            slow_job(8_000)
        } else {
            json!({"format": "csv", "filename": "a.csv", "columns": ["n"], "rows": [[n]]})
        };
        jobs.push(stack.submit(&body).await);
    }
    for job_id in &jobs {
        let job = wait_until_ended(&stack, job_id).await;
        assert_eq!(job["status"], "done", "{job}");
        assert_eq!(job["attempts"], 1);
    }
    // A worker writes its log in batches (docs/operations.md), so the last
    // "export done" lines may reach the files a moment after the statuses.
    let ran = |index: usize| stack.worker_log(index).matches("export done").count();
    let started = Instant::now();
    while ran(first) + ran(second) < 8 && started.elapsed() < LONG {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ran(first) + ran(second), 8, "each job ran exactly once");
    assert!(
        ran(first) > 0 && ran(second) > 0,
        "both workers took jobs ({} and {})",
        ran(first),
        ran(second)
    );
}

/// The apalis configuration of the test stack's queue (`EXPORT_QUEUE` is left at its default).
fn queue_config() -> apalis_redis::Config {
    apalis_redis::Config::default().queue("broker:exports")
}

/// Pushes another delivery of [`slow_job`] `job_id`, as apalis does when it
/// takes a busy worker for dead, or the retry path when it pushes a task and
/// then still fails; returns the new task's id.
async fn deliver_again(stack: &Stack, job_id: &str) -> String {
    let job = ExportJob {
        job_id: JobId::parse(job_id).expect("job id"),
        tenant: TenantId::parse("default").expect("tenant"),
        format: ExportFormat::Pdf,
        filename: "big.pdf".into(),
        title: Some("Big".into()),
        source: JobSource::Inline,
        bom: false,
        neutralize_formulas: true,
    };
    let connection = apalis_redis::connect(stack.redis.url()).await.expect("redis");
    let mut storage = RedisStorage::<ExportJob>::new(connection).with_config(queue_config());
    let task_id = ulid::Ulid::generate();
    storage
        .push_task(TaskBuilder::new(job).task_id(TaskId::from_ulid(task_id)).build())
        .await
        .expect("pushed");
    task_id.to_string()
}

/// Whether apalis has recorded the delivery `task_id` as done.
async fn delivery_done(stack: &Stack, task_id: &str) -> bool {
    let client = redis::Client::open(stack.redis.url()).expect("redis url");
    let mut connection = client.get_multiplexed_async_connection().await.expect("redis");
    redis::cmd("SISMEMBER")
        .arg(queue_config().done_jobs_set())
        .arg(task_id)
        .query_async(&mut connection)
        .await
        .expect("SISMEMBER")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_delivery_of_a_running_job_leaves_its_output_in_place() {
    let stack = Stack::start(BINARY.as_ref()).await;
    let job_id = stack.submit(&slow_job(4_000)).await;
    let again = deliver_again(&stack, &job_id).await;
    // Two workers that start together each take one delivery at once, so both
    // attempts run the job side by side and finish within moments of each other.
    let workers = [stack.app.start_worker(), stack.app.start_worker()];

    // Both deliveries have ended (the first task is named after the job).
    let started = Instant::now();
    while !(delivery_done(&stack, &job_id).await && delivery_done(&stack, &again).await) {
        assert!(started.elapsed() < LONG, "the deliveries never ended");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(workers);
    let job = assert_done_with_one_pdf(&stack, &job_id, "3999", "the output survives").await;
    assert_eq!(job["attempts"], 2, "both deliveries started an attempt: {job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_past_its_heartbeats_leaves_the_output_of_the_one_that_took_over() {
    let (mut stack, stalled, job_id) = slow_job_under_way().await;
    // Silent past 1 s × 3 missed heartbeats: the other worker takes the job over.
    signal(&stack.workers[stalled].child, "STOP");
    let successor = stack.start_worker(&[]);
    stack.wait_until(&job_id, "taken over", |j| j["attempts"] == 2).await;
    signal(&stack.workers[stalled].child, "CONT");

    let job = wait_until_ended(&stack, &job_id).await;
    assert_eq!(job["status"], "done", "{job}\n{}", stack.worker_log(successor));
    // The stalled worker found its attempt superseded and let go of it.
    let started = Instant::now();
    while !stack.worker_log(stalled).contains("took the job over") {
        assert!(
            started.elapsed() < LONG,
            "the stalled worker never let go:\n{}",
            stack.worker_log(stalled)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_done_with_one_pdf(&stack, &job_id, &(SLOW_ROWS - 1).to_string(), "exactly one object").await;
}
