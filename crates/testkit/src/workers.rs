//! A scaled-out stack: the app with a real redis-server, and `upload-broker
//! worker` processes next to it, to test what only real processes show:
//! SIGKILL mid-job, SIGTERM drains, Redis restarts, several consumers.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::{Redis, TestApp, spawn_app_with};

/// How long a stack test waits for a job.
pub const LONG: Duration = Duration::from_secs(90);

pub struct Stack {
    /// No authentication and no rate limit: the stack tests the workers.
    pub app: TestApp,
    pub redis: Redis,
    /// The workers' working directory and logs.
    pub dir: TempDir,
    pub workers: Vec<Worker>,
    binary: PathBuf,
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
    /// `binary` is the `upload-broker` executable (`env!("CARGO_BIN_EXE_upload-broker")`).
    pub async fn start(binary: &Path) -> Stack {
        let redis = Redis::start();
        let app = spawn_app_with(&[
            ("AUTH_MODE", "none"),
            // The benchmarks submit hundreds of jobs from one client.
            ("RATE_LIMIT_RATE", "0"),
            ("REDIS_URL", &redis.url()),
        ])
        .await;
        Stack {
            app,
            redis,
            dir: TempDir::new().expect("temp dir"),
            workers: Vec::new(),
            binary: binary.to_owned(),
        }
    }

    /// Starts `upload-broker worker` with [`TestApp::worker_vars`] plus
    /// `extra`; returns its index in `workers`.
    pub fn start_worker(&mut self, extra: &[(&str, &str)]) -> usize {
        let index = self.workers.len();
        let log = self.dir.path().join(format!("worker-{index}.log"));
        let output = File::create(&log).expect("log file");
        let child = Command::new(&self.binary)
            .arg("worker")
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .envs(self.app.worker_vars())
            .envs(extra.iter().copied())
            .stdout(output.try_clone().expect("clone"))
            .stderr(output)
            .spawn()
            .unwrap_or_else(|e| panic!("the worker binary {} does not start: {e}", self.binary.display()));
        self.workers.push(Worker { child, log });
        index
    }

    pub fn worker_log(&self, index: usize) -> String {
        std::fs::read_to_string(&self.workers[index].log).unwrap_or_default()
    }

    pub async fn submit(&self, body: &Value) -> String {
        self.app.submit(body).await
    }

    pub async fn job(&self, job_id: &str) -> Value {
        let response = self.app.job(job_id).await;
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    /// Polls until the job satisfies `done`; on timeout, fails with every worker's log.
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
}

/// Sends signal `name` (`TERM`, `STOP`, `CONT`, …) to a child process.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} failed");
}
