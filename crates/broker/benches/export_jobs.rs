//! Export-job load benchmarks against real processes: end-to-end jobs/s with
//! 1 and 4 worker processes (the 1-worker run is the baseline of the 4-worker
//! one), and a worker's peak RSS for 100k and 1M rows against its idle RSS.
//! A committed load script, not a test: `cargo bench -p upload-broker --bench export_jobs`
//! runs both; pass `jobs` or `rss` to run one.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::time::{Duration, Instant};

use serde_json::json;

use broker_testkit::Stack;

const BINARY: &str = env!("CARGO_BIN_EXE_upload-broker");

fn main() {
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    if wanted("jobs") {
        runtime.block_on(jobs_per_second());
    }
    if wanted("rss") {
        runtime.block_on(worker_peak_rss());
    }
}

/// End-to-end jobs/s for trivial jobs with 1 and with 4 worker processes
/// (API → Redis → workers → store → status). A benchmark, not a check:
/// `cargo bench -p upload-broker --bench export_jobs -- jobs`
async fn jobs_per_second() {
    let jobs: usize = std::env::var("BENCH_JOBS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let mut results = Vec::new();
    for workers in [1, 4] {
        let mut stack = Stack::start(BINARY.as_ref()).await;
        // A backlog first, so the figure is the workers' rate, not the submitter's.
        let mut pending = Vec::with_capacity(jobs);
        for n in 0..jobs {
            pending.push(
                stack
                    .submit(&json!({"format": "csv", "filename": "t.csv", "columns": ["n"], "rows": [[n]]}))
                    .await,
            );
        }
        let started = Instant::now();
        for _ in 0..workers {
            stack.start_worker(&[("EXPORT_CONCURRENCY", "4"), ("RUST_LOG", "warn")]);
        }
        while !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut still = Vec::new();
            for job_id in pending {
                if stack.job(&job_id).await["status"] != "done" {
                    still.push(job_id);
                }
            }
            pending = still;
            assert!(started.elapsed() < Duration::from_secs(600), "jobs did not finish");
        }
        let elapsed = started.elapsed();
        let rate = jobs as f64 / elapsed.as_secs_f64();
        println!(
            "{workers} worker(s), concurrency 4 each: {jobs} queued jobs done in {:.2} s = {rate:.1} jobs/s",
            elapsed.as_secs_f64()
        );
        results.push(rate);
    }
    println!("4 workers / 1 worker: {:.2}x", results[1] / results[0]);
}

/// Peak RSS (VmHWM) of a real `upload-broker worker` process exporting a CSV
/// source of 100k and 1M rows × 8 columns to CSV (and 100k rows to PDF), each
/// in a fresh worker. A benchmark, not a check:
/// `cargo bench -p upload-broker --bench export_jobs -- rss`
async fn worker_peak_rss() {
    fn vm_hwm_kib(pid: u32) -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            })
            .unwrap_or(0)
    }
    let mut stack = Stack::start(BINARY.as_ref()).await;
    for (index, (rows, format)) in [(100_000usize, "csv"), (1_000_000, "csv"), (100_000, "pdf")]
        .into_iter()
        .enumerate()
    {
        let mut source = csv::Writer::from_writer(Vec::new());
        source.write_record((0..8).map(|c| format!("col{c}"))).expect("header");
        for n in 0..rows {
            source
                .write_record([
                    n.to_string(),
                    format!("user{n}@example.com"),
                    format!("Name {n}"),
                    "=SUM(A1)".into(),
                    format!("{}.5", n % 1000),
                    "2026-01-01".into(),
                    "a, \"b\"".into(),
                    (n * 31 % 997).to_string(),
                ])
                .expect("row");
        }
        let source = source.into_inner().expect("csv");
        let key = format!("default/uploads/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c{index:02}.csv");
        stack
            .app
            .store
            .client()
            .put_object()
            .bucket(stack.app.store.bucket())
            .key(&key)
            .body(source.clone().into())
            .content_type("text/csv")
            .send()
            .await
            .expect("put");
        let worker = stack.start_worker(&[("RUST_LOG", "warn")]);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let idle = vm_hwm_kib(stack.workers[worker].child.id());
        let started = Instant::now();
        let job_id = stack
            .submit(&json!({"format": format, "filename": "big", "source": key}))
            .await;
        let job = stack
            .wait_until(&job_id, "done", |j| j["status"] == "done" || j["status"] == "failed")
            .await;
        assert_eq!(job["status"], "done", "{job}");
        let peak = vm_hwm_kib(stack.workers[worker].child.id());
        println!(
            "{format} {rows} rows ({:.1} MB source): worker peak RSS {:.1} MiB (idle {:.1} MiB), job {:.1} s",
            source.len() as f64 / 1e6,
            peak as f64 / 1024.0,
            idle as f64 / 1024.0,
            started.elapsed().as_secs_f64()
        );
        let _ = stack.workers[worker].child.kill();
    }
}
