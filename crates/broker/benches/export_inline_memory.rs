//! Peak memory of the API under a burst of maximum-size inline exports.
//!
//! Starts a real `upload-broker serve` (release build, Redis queue, so the
//! process only parses and enqueues), sends it `--requests` (30) parallel
//! `POST /exports` whose bodies are `EXPORT_MAX_INLINE_BYTES` (10 MiB) of
//! one-cell rows (`[0],` — the costliest shape per byte), and reads the
//! process's peak RSS (VmHWM) against its RSS before the burst. The figure
//! that matters is the growth per request as a multiple of the body size.
//! The per-tenant caps on queued input are lifted for the run (one tenant
//! sends everything).
//!
//! `BROKER_BIN` names the binary to measure (the current release build by
//! default). `BROKER_BIN_BEFORE`, if set, names another one (an older build)
//! that is measured first with the same burst, in the same run, and the
//! after/before ratios are printed: the machine is shared and noisy, so two
//! figures are only compared when they come from one run.
//!
//! `[BROKER_BIN_BEFORE=path] cargo bench -p upload-broker --bench export_inline_memory [-- --requests 30]`

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use broker_testkit::{Redis, free_port};

const BINARY: &str = env!("CARGO_BIN_EXE_upload-broker");
const MAX_INLINE_BYTES: usize = 10 * 1024 * 1024;

fn main() {
    let mut requests = 30;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--requests" {
            requests = args.next().and_then(|n| n.parse().ok()).unwrap_or(requests);
        }
    }
    let after = std::env::var_os("BROKER_BIN").map_or_else(|| PathBuf::from(BINARY), PathBuf::from);
    let before = std::env::var_os("BROKER_BIN_BEFORE").map(PathBuf::from);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let before = match &before {
            Some(binary) => Some(burst(binary, "before", requests).await),
            None => None,
        };
        let after = burst(&after, "after", requests).await;
        if let Some(before) = before {
            println!(
                "after/before: peak RSS growth {:.2}x ({:.1} MiB vs {:.1} MiB), growth per request {:.1}x vs {:.1}x the body",
                after.growth_mib / before.growth_mib,
                after.growth_mib,
                before.growth_mib,
                after.per_request_bodies,
                before.per_request_bodies
            );
        }
    });
}

/// What one burst cost the API.
struct Growth {
    /// Peak RSS minus RSS before the burst.
    growth_mib: f64,
    /// That growth per request, in bodies.
    per_request_bodies: f64,
}

/// A body of exactly `MAX_INLINE_BYTES`: one column, rows of `[0]`.
fn body() -> Vec<u8> {
    let head = br#"{"format":"csv","filename":"a.csv","columns":["a"],"rows":[[0]"#;
    let tail = b"]}";
    let rows = (MAX_INLINE_BYTES - head.len() - tail.len()) / 4;
    let mut body = Vec::with_capacity(MAX_INLINE_BYTES);
    body.extend_from_slice(head);
    for _ in 0..rows {
        body.extend_from_slice(b",[0]");
    }
    body.extend_from_slice(tail);
    body
}

/// A `/proc/{pid}/status` field in KiB.
fn status_kib(child: &Child, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with(field))
                .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `binary serve`, sends it the burst and reports what it cost.
async fn burst(binary: &std::path::Path, name: &str, requests: usize) -> Growth {
    let redis = Redis::start();
    let data_dir = tempfile::TempDir::new().expect("temp dir");
    let port = free_port();
    let serve = Serve(
        Command::new(binary)
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "warn")
            .env("AUTH_MODE", "none")
            .env("RATE_LIMIT_RATE", "0")
            .env("BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("DEVSTORE_BIND_ADDR", format!("127.0.0.1:{}", free_port()))
            .env("DATA_DIR", data_dir.path())
            .env("REDIS_URL", redis.url())
            .env("EXPORT_MAX_INLINE_BYTES", MAX_INLINE_BYTES.to_string())
            .env("EXPORT_MAX_QUEUED_JOBS", "100000")
            .env("EXPORT_MAX_QUEUED_BYTES", "1000000000000")
            .stdout(Stdio::null())
            .spawn()
            .expect("upload-broker serve starts"),
    );
    let http = reqwest::Client::new();
    let address = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while http.get(format!("{address}/healthz")).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Warm up the connection pools and the allocator with one small request.
    let small = http
        .post(format!("{address}/exports"))
        .header("content-type", "application/json")
        .body(r#"{"format":"csv","filename":"a.csv","columns":["a"],"rows":[[0]]}"#)
        .send()
        .await
        .expect("sent");
    assert_eq!(small.status(), 202, "{:?}", small.text().await);
    let before = status_kib(&serve.0, "VmRSS:");

    let body = bytes::Bytes::from(body());
    let started = Instant::now();
    let sends: Vec<_> = (0..requests)
        .map(|_| {
            let request = http
                .post(format!("{address}/exports"))
                .header("content-type", "application/json")
                .body(body.clone())
                .send();
            tokio::spawn(request)
        })
        .collect();
    // Every request is parsed whatever its answer; the answers are reported.
    let mut answers = std::collections::BTreeMap::<u16, usize>::new();
    for send in sends {
        let response = send.await.expect("task").expect("sent");
        *answers.entry(response.status().as_u16()).or_default() += 1;
    }
    let elapsed = started.elapsed();
    let peak = status_kib(&serve.0, "VmHWM:");
    let mib = |kib: u64| kib as f64 / 1024.0;
    let body_mib = body.len() as f64 / (1024.0 * 1024.0);
    let growth_mib = mib(peak.saturating_sub(before));
    let per_request = growth_mib / requests as f64;
    println!(
        "{name} ({}): {requests} parallel inline exports of {body_mib:.1} MiB ({} rows of [0]) in {:.1} s: \
         answers {answers:?}; API RSS {:.1} MiB before, peak {:.1} MiB; \
         growth {growth_mib:.1} MiB, {:.1} MiB per request = {:.1}x the body",
        binary.display(),
        (body.len() - 60) / 4,
        elapsed.as_secs_f64(),
        mib(before),
        mib(peak),
        per_request,
        per_request / body_mib
    );
    Growth {
        growth_mib,
        per_request_bodies: per_request / body_mib,
    }
}
