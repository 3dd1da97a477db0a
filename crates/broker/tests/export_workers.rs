//! Export workers as real processes (`upload-broker worker`) sharing a real
//! redis-server: killed with SIGKILL mid-job, stopped with SIGTERM, Redis
//! restarted under them, several at once. The API runs in this process with
//! its embedded store; the workers reach that store as an S3 endpoint.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use broker_api::Application;
use broker_core::Settings;
use broker_core::store::{Store, StoreEndpoint};
use serde_json::{Value, json};
use tempfile::TempDir;

const ACCESS_KEY: &str = "worker-test-access";
const SECRET_KEY: &str = "worker-test-secret-0123456789";
const LONG: Duration = Duration::from_secs(90);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A redis-server with an append-only file, so it can be stopped and started
/// again on the same port with its data (as a production Redis would be).
struct Redis {
    port: u16,
    dir: TempDir,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Self {
        let mut redis = Redis { port: free_port(), dir: TempDir::new().expect("temp dir"), child: None };
        redis.up();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server is required for this test and could not be started ({e}); install it with `apt-get install redis-server` or run scripts/test.sh, which installs it"));
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start listening on port {}", self.port);
    }

    /// Stops it gracefully (SIGTERM) and waits until the port is closed.
    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([&format!("-{name}"), &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success(), "kill -{name} failed");
}

/// The API (in this process) plus what the worker processes need to reach its store.
struct Stack {
    address: String,
    http: reqwest::Client,
    store: Store,
    store_endpoint: String,
    redis: Redis,
    dir: TempDir,
    workers: Vec<Worker>,
}

struct Worker {
    child: Child,
    log: PathBuf,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Stack {
    async fn start() -> Stack {
        let redis = Redis::start();
        let dir = TempDir::new().expect("temp dir");
        let data_dir = dir.path().join("data");
        let vars: Vec<(&str, String)> = vec![
            ("AUTH_MODE", "none".into()),
            ("BIND_ADDR", "127.0.0.1:0".into()),
            ("DEVSTORE_BIND_ADDR", "127.0.0.1:0".into()),
            ("S3_ACCESS_KEY", ACCESS_KEY.into()),
            ("S3_SECRET_KEY", SECRET_KEY.into()),
            ("DATA_DIR", data_dir.to_str().expect("utf-8").into()),
            ("REDIS_URL", redis.url()),
        ];
        let settings = Settings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).expect("settings");
        let app = Application::build(settings.clone()).await.expect("the app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let store_endpoint = app.devstore_endpoint().expect("embedded store");
        let store = Store::connect(
            &settings.store,
            StoreEndpoint { endpoint: Some(store_endpoint.clone()), force_path_style: true, credentials: settings.store.credentials.clone() },
        )
        .await;
        tokio::spawn(app.run_until_stopped());
        Stack { address, http: reqwest::Client::new(), store, store_endpoint, redis, dir, workers: Vec::new() }
    }

    /// Starts `upload-broker worker` with seconds-scale liveness settings.
    fn start_worker(&mut self, extra: &[(&str, &str)]) -> usize {
        let index = self.workers.len();
        let log = self.dir.path().join(format!("worker-{index}.log"));
        let output = File::create(&log).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_upload-broker"));
        command
            .arg("worker")
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("AUTH_MODE", "none")
            .env("S3_ENABLED", "true")
            .env("S3_ENDPOINT", &self.store_endpoint)
            .env("S3_FORCE_PATH_STYLE", "true")
            .env("S3_REGION", "us-east-1")
            .env("S3_BUCKET", "uploads")
            .env("S3_ACCESS_KEY", ACCESS_KEY)
            .env("S3_SECRET_KEY", SECRET_KEY)
            .env("REDIS_URL", self.redis.url())
            .env("EXPORT_HEARTBEAT", "1")
            .env("EXPORT_MISSED_HEARTBEATS", "3")
            .env("EXPORT_RETRY_BASE", "1")
            .stdout(output.try_clone().expect("clone"))
            .stderr(output);
        for (name, value) in extra {
            command.env(name, value);
        }
        let child = command.spawn().expect("the worker binary starts");
        self.workers.push(Worker { child, log });
        index
    }

    fn worker_log(&self, index: usize) -> String {
        std::fs::read_to_string(&self.workers[index].log).unwrap_or_default()
    }

    async fn post(&self, body: &Value) -> reqwest::Response {
        self.http.post(format!("{}/exports", self.address)).json(body).send().await.expect("the API answers")
    }

    async fn submit(&self, body: &Value) -> String {
        let response = self.post(body).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let body: Value = response.json().await.expect("json");
        body["jobId"].as_str().expect("jobId").to_owned()
    }

    async fn job(&self, job_id: &str) -> Value {
        let response = self.http.get(format!("{}/exports/{job_id}", self.address)).send().await.expect("the API answers");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    async fn wait_until(&self, job_id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let job = self.job(job_id).await;
            if done(&job) {
                return job;
            }
            if started.elapsed() > LONG {
                let logs: Vec<String> = (0..self.workers.len()).map(|i| self.worker_log(i)).collect();
                panic!("job {job_id} never became {what}; last: {job}\nworker logs:\n{}", logs.join("\n----\n"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn objects_under(&self, prefix: &str) -> Vec<String> {
        self.store.list(prefix).await.expect("list").into_iter().map(|l| l.key).collect()
    }

    async fn download(&self, job: &Value) -> Vec<u8> {
        let response = reqwest::get(job["url"].as_str().expect("url")).await.expect("the store answers");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body").to_vec()
    }
}

/// A PDF job that takes a few seconds: long enough to be killed mid-way.
fn slow_job(rows: usize) -> Value {
    let rows: Vec<Value> = (0..rows).map(|n| json!([n, format!("label {n}"), "lorem ipsum dolor sit amet, consectetur"])).collect();
    json!({"format": "pdf", "filename": "big.pdf", "title": "Big", "columns": ["n", "label", "text"], "rows": rows})
}

fn pdftotext(pdf: &[u8], dir: &Path) -> String {
    let path = dir.join("out.pdf");
    std::fs::write(&path, pdf).expect("write");
    let check = Command::new("qpdf").arg("--check").arg(&path).output().expect("qpdf runs (apt-get install -y qpdf)");
    assert!(check.status.success(), "qpdf --check: {}", String::from_utf8_lossy(&check.stdout));
    let output = Command::new("pdftotext").arg(&path).arg("-").output().expect("pdftotext runs (apt-get install -y poppler-utils)");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_leaves_no_object_and_the_job_completes_once_a_worker_runs_again() {
    let mut stack = Stack::start().await;
    let first = stack.start_worker(&[]);
    let job_id = stack.submit(&slow_job(80_000)).await;
    stack.wait_until(&job_id, "running with progress", |j| j["status"] == "running" && j["progress"]["rows"].as_u64().unwrap_or(0) > 0).await;

    stack.workers[first].child.kill().expect("SIGKILL");
    let _ = stack.workers[first].child.wait();
    let job = stack.job(&job_id).await;
    assert_eq!(job["status"], "running", "nobody told the record: {job}");
    assert!(stack.objects_under(&format!("default/exports/{job_id}/")).await.is_empty(), "no partial object after SIGKILL");

    // The task returns once the dead worker misses its heartbeats (1 s × 3 here).
    let second = stack.start_worker(&[]);
    let job = stack.wait_until(&job_id, "done", |j| j["status"] == "done" || j["status"] == "failed").await;
    assert_eq!(job["status"], "done", "{job}\n{}", stack.worker_log(second));
    assert_eq!(job["attempts"], 2, "the killed attempt counts: {job}");
    assert_eq!(job["progress"]["rows"], 80_000);
    let objects = stack.objects_under(&format!("default/exports/{job_id}/")).await;
    assert_eq!(objects, [format!("default/exports/{job_id}/big.pdf")]);
    let text = pdftotext(&stack.download(&job).await, stack.dir.path());
    assert!(text.contains("79999"), "the last row is in the PDF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_running_job_finish_before_the_worker_exits() {
    let mut stack = Stack::start().await;
    let worker = stack.start_worker(&[]);
    let job_id = stack.submit(&slow_job(60_000)).await;
    stack.wait_until(&job_id, "running", |j| j["status"] == "running").await;
    signal(&stack.workers[worker].child, "TERM");
    let status = stack.workers[worker].child.wait().expect("wait");
    assert!(status.success(), "the worker exits cleanly: {status}\n{}", stack.worker_log(worker));
    let job = stack.job(&job_id).await;
    assert_eq!(job["status"], "done", "drained before exiting: {job}\n{}", stack.worker_log(worker));
    assert_eq!(job["attempts"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_drain_timeout_a_job_is_handed_back_and_finished_by_another_worker() {
    let mut stack = Stack::start().await;
    let worker = stack.start_worker(&[("EXPORT_DRAIN_TIMEOUT", "1")]);
    let job_id = stack.submit(&slow_job(80_000)).await;
    stack.wait_until(&job_id, "running", |j| j["status"] == "running" && j["progress"]["rows"].as_u64().unwrap_or(0) > 0).await;
    signal(&stack.workers[worker].child, "TERM");
    let status = stack.workers[worker].child.wait().expect("wait");
    assert!(status.success(), "{}", stack.worker_log(worker));
    let job = stack.job(&job_id).await;
    assert_eq!(job["status"], "queued", "handed back: {job}\n{}", stack.worker_log(worker));
    assert!(stack.objects_under(&format!("default/exports/{job_id}/")).await.is_empty());

    stack.start_worker(&[]);
    let job = stack.wait_until(&job_id, "done", |j| j["status"] == "done").await;
    assert_eq!(job["attempts"], 1, "an interrupted attempt is not counted: {job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_reconnects_after_redis_restarts_and_the_api_answers_503_meanwhile() {
    let mut stack = Stack::start().await;
    let worker = stack.start_worker(&[]);
    let small = json!({"format": "csv", "filename": "a.csv", "columns": ["a"], "rows": [["before"]]});
    let job_id = stack.submit(&small).await;
    stack.wait_until(&job_id, "done", |j| j["status"] == "done").await;

    stack.redis.down();
    let response = stack.post(&small).await;
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "queue_unavailable");
    tokio::time::sleep(Duration::from_secs(2)).await;
    stack.redis.up();

    // The API's connection comes back by itself…
    let started = Instant::now();
    let job_id = loop {
        let response = stack.post(&json!({"format": "csv", "filename": "a.csv", "columns": ["a"], "rows": [["after"]]})).await;
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
    assert_eq!(stack.download(&job).await, b"a\r\nafter\r\n");
    assert!(stack.workers[worker].child.try_wait().expect("wait").is_none(), "the worker is still the same process");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_workers_share_one_queue() {
    let mut stack = Stack::start().await;
    let first = stack.start_worker(&[]);
    let second = stack.start_worker(&[]);
    let mut jobs = Vec::new();
    for n in 0..8 {
        let body = if n % 2 == 0 { slow_job(8_000) } else { json!({"format": "csv", "filename": "a.csv", "columns": ["n"], "rows": [[n]]}) };
        jobs.push(stack.submit(&body).await);
    }
    for job_id in &jobs {
        let job = stack.wait_until(job_id, "done", |j| j["status"] == "done" || j["status"] == "failed").await;
        assert_eq!(job["status"], "done", "{job}");
        assert_eq!(job["attempts"], 1);
    }
    let ran = |index: usize| stack.worker_log(index).matches("export done").count();
    assert_eq!(ran(first) + ran(second), 8, "each job ran exactly once");
    assert!(ran(first) > 0 && ran(second) > 0, "both workers took jobs ({} and {})", ran(first), ran(second));
}

/// End-to-end jobs/s for trivial jobs with 1 and with 4 worker processes
/// (API → Redis → workers → store → status). A benchmark, not a check:
/// `cargo test --release -p upload-broker --test export_workers -- --ignored --nocapture jobs_per_second`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark; run with --ignored --nocapture"]
async fn jobs_per_second() {
    let jobs: usize = std::env::var("BENCH_JOBS").ok().and_then(|n| n.parse().ok()).unwrap_or(300);
    let mut results = Vec::new();
    for workers in [1, 4] {
        let mut stack = Stack::start().await;
        for _ in 0..workers {
            stack.start_worker(&[("EXPORT_CONCURRENCY", "4"), ("RUST_LOG", "warn")]);
        }
        let warm = stack.submit(&json!({"format": "csv", "filename": "w.csv", "columns": ["a"], "rows": [["1"]]})).await;
        stack.wait_until(&warm, "done", |j| j["status"] == "done").await;
        tokio::time::sleep(Duration::from_secs(2)).await;

        let started = Instant::now();
        let mut pending = Vec::with_capacity(jobs);
        for n in 0..jobs {
            pending.push(stack.submit(&json!({"format": "csv", "filename": "t.csv", "columns": ["n"], "rows": [[n]]})).await);
        }
        let submitted = started.elapsed();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for job_id in pending {
                if stack.job(&job_id).await["status"] != "done" {
                    still.push(job_id);
                }
            }
            pending = still;
            if !pending.is_empty() {
                assert!(started.elapsed() < Duration::from_secs(600), "jobs did not finish");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let elapsed = started.elapsed();
        let rate = jobs as f64 / elapsed.as_secs_f64();
        println!("{workers} worker(s): {jobs} jobs in {:.2} s (submitting took {:.2} s) = {rate:.1} jobs/s", elapsed.as_secs_f64(), submitted.as_secs_f64());
        results.push(rate);
    }
    println!("4 workers / 1 worker: {:.2}x", results[1] / results[0]);
}
