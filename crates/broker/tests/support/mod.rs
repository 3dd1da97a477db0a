//! The harness shared by the worker process tests and the export-job
//! benchmark: a real redis-server, the API with its embedded store in this
//! process, and `upload-broker worker` processes reaching that store.
//! Each user needs a different subset.
#![allow(dead_code)]

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

pub const ACCESS_KEY: &str = "worker-test-access";
pub const SECRET_KEY: &str = "worker-test-secret-0123456789";
pub const LONG: Duration = Duration::from_secs(90);

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A redis-server with an append-only file, so it can be stopped and started
/// again on the same port with its data (as a production Redis would be).
pub struct Redis {
    pub port: u16,
    pub dir: TempDir,
    pub child: Option<Child>,
}

impl Redis {
    pub fn start() -> Self {
        let mut redis = Redis {
            port: free_port(),
            dir: TempDir::new().expect("temp dir"),
            child: None,
        };
        redis.up();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn up(&mut self) {
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
    pub fn down(&mut self) {
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

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} failed");
}

/// The API (in this process) plus what the worker processes need to reach its store.
pub struct Stack {
    pub address: String,
    pub http: reqwest::Client,
    pub store: Store,
    pub store_endpoint: String,
    pub redis: Redis,
    pub dir: TempDir,
    pub workers: Vec<Worker>,
}

pub struct Worker {
    pub child: Child,
    pub log: PathBuf,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Stack {
    pub async fn start() -> Stack {
        let redis = Redis::start();
        let dir = TempDir::new().expect("temp dir");
        let data_dir = dir.path().join("data");
        let vars: Vec<(&str, String)> = vec![
            ("AUTH_MODE", "none".into()),
            // The benchmarks submit hundreds of jobs from one client.
            ("RATE_LIMIT_RATE", "0".into()),
            ("BIND_ADDR", "127.0.0.1:0".into()),
            ("DEVSTORE_BIND_ADDR", "127.0.0.1:0".into()),
            ("S3_ACCESS_KEY", ACCESS_KEY.into()),
            ("S3_SECRET_KEY", SECRET_KEY.into()),
            ("DATA_DIR", data_dir.to_str().expect("utf-8").into()),
            ("REDIS_URL", redis.url()),
        ];
        let settings = Settings::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone()))
            .expect("settings");
        let app = Application::build(settings.clone()).await.expect("the app builds");
        let address = format!("http://127.0.0.1:{}", app.port());
        let store_endpoint = app.devstore_endpoint().expect("embedded store");
        let store = Store::connect(
            &settings.store,
            StoreEndpoint {
                endpoint: Some(store_endpoint.clone()),
                force_path_style: true,
                credentials: settings.store.credentials.clone(),
            },
        )
        .await;
        tokio::spawn(app.run_until_stopped());
        Stack {
            address,
            http: reqwest::Client::new(),
            store,
            store_endpoint,
            redis,
            dir,
            workers: Vec::new(),
        }
    }

    /// Starts `upload-broker worker` with seconds-scale liveness settings.
    pub fn start_worker(&mut self, extra: &[(&str, &str)]) -> usize {
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

    pub fn worker_log(&self, index: usize) -> String {
        std::fs::read_to_string(&self.workers[index].log).unwrap_or_default()
    }

    pub async fn post(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}/exports", self.address))
            .json(body)
            .send()
            .await
            .expect("the API answers")
    }

    pub async fn submit(&self, body: &Value) -> String {
        let response = self.post(body).await;
        assert_eq!(response.status(), 202, "{:?}", response.text().await);
        let body: Value = response.json().await.expect("json");
        body["jobId"].as_str().expect("jobId").to_owned()
    }

    pub async fn job(&self, job_id: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/exports/{job_id}", self.address))
            .send()
            .await
            .expect("the API answers");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    pub async fn wait_until(&self, job_id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = Instant::now();
        loop {
            let job = self.job(job_id).await;
            if done(&job) {
                return job;
            }
            if started.elapsed() > LONG {
                let logs: Vec<String> = (0..self.workers.len()).map(|i| self.worker_log(i)).collect();
                panic!(
                    "job {job_id} never became {what}; last: {job}\nworker logs:\n{}",
                    logs.join("\n----\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn objects_under(&self, prefix: &str) -> Vec<String> {
        self.store
            .list(prefix)
            .await
            .expect("list")
            .into_iter()
            .map(|l| l.key)
            .collect()
    }

    pub async fn download(&self, job: &Value) -> Vec<u8> {
        let response = reqwest::get(job["url"].as_str().expect("url"))
            .await
            .expect("the store answers");
        assert_eq!(response.status(), 200);
        response.bytes().await.expect("body").to_vec()
    }
}

/// A PDF job that takes a few seconds: long enough to be killed mid-way.
pub fn slow_job(rows: usize) -> Value {
    let rows: Vec<Value> = (0..rows)
        .map(|n| json!([n, format!("label {n}"), "lorem ipsum dolor sit amet, consectetur"]))
        .collect();
    json!({"format": "pdf", "filename": "big.pdf", "title": "Big", "columns": ["n", "label", "text"], "rows": rows})
}

pub fn pdftotext(pdf: &[u8], dir: &Path) -> String {
    let path = dir.join("out.pdf");
    std::fs::write(&path, pdf).expect("write");
    let check = Command::new("qpdf")
        .arg("--check")
        .arg(&path)
        .output()
        .expect("qpdf runs (apt-get install -y qpdf)");
    assert!(
        check.status.success(),
        "qpdf --check: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    let output = Command::new("pdftotext")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext runs (apt-get install -y poppler-utils)");
    assert!(output.status.success());
    String::from_utf8_lossy(&output.stdout).into_owned()
}
