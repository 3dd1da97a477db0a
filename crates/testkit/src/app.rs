//! Starting the whole system for a test, as `upload-broker serve` does.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use broker_core::Settings;
use broker_core::endpoint::StoreEndpoint;
use broker_core::store::Store;
use broker_worker::Exports;
use serde_json::Value;
use tempfile::TempDir;
use upload_broker::{Shutdown, System};

use crate::http::{Session, Signed};
use crate::tokens::{AUDIENCE, DEFAULT_SUBJECT, DEFAULT_TENANT, ISSUER, JWT_SECRET, token};

/// The static credentials of every test app's store.
pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key-0123456789";

/// A running system: the API on a loopback port and its store.
pub struct TestApp {
    /// `http://127.0.0.1:{port}` of the API.
    pub address: String,
    pub http: reqwest::Client,
    /// A client of the app's store, for checks behind the API's back.
    pub store: Store,
    /// How the store is reached (the embedded one, or the configured one).
    pub endpoint: StoreEndpoint,
    /// The store's endpoint URL.
    pub store_endpoint: String,
    /// The export queue's client handle.
    pub exports: Exports,
    /// Sent as `Authorization: Bearer` by the helpers; `None` with `AUTH_MODE=none`.
    pub token: Option<String>,
    /// The configuration the app was started with.
    pub vars: BTreeMap<String, String>,
    shutdown: Shutdown,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _data_dir: Option<TempDir>,
}

/// The broker with the embedded store in a fresh temp dir.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// [`spawn_app`] with some variables set (or overridden).
pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let data_dir = TempDir::new().expect("temp dir");
    let mut app = spawn_app_in(data_dir.path(), overrides).await;
    app._data_dir = Some(data_dir);
    app
}

/// The broker over an existing data dir (to test what survives a restart).
pub async fn spawn_app_in(data_dir: &Path, overrides: &[(&str, &str)]) -> TestApp {
    crate::logs::init();
    let mut vars: BTreeMap<String, String> = [
        ("BIND_ADDR", "127.0.0.1:0"),
        ("DEVSTORE_BIND_ADDR", "127.0.0.1:0"),
        ("S3_ACCESS_KEY", ACCESS_KEY),
        ("S3_SECRET_KEY", SECRET_KEY),
        ("DATA_DIR", data_dir.to_str().expect("utf-8 temp path")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // HS256 authentication unless the test sets AUTH_MODE itself.
    if !overrides.iter().any(|(k, _)| *k == "AUTH_MODE") {
        for (k, v) in [
            ("AUTH_HS256_SECRET", JWT_SECRET),
            ("AUTH_ISSUER", ISSUER),
            ("AUTH_AUDIENCE", AUDIENCE),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
    }
    vars.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = settings(&vars);

    let system = System::build(settings.clone()).await.expect("the system builds");
    let address = format!("http://127.0.0.1:{}", system.api_port());
    let endpoint = system.endpoint().clone();
    let exports = system.exports().clone();
    let store = Store::connect(&settings.store, endpoint.clone()).await;
    let shutdown = Shutdown::new();
    let running = tokio::spawn(system.run(shutdown.clone()));
    let token = (vars.get("AUTH_HS256_SECRET").map(String::as_str) == Some(JWT_SECRET))
        .then(|| token(DEFAULT_TENANT, DEFAULT_SUBJECT));
    TestApp {
        address,
        http: reqwest::Client::new(),
        store,
        store_endpoint: endpoint.endpoint.clone().unwrap_or_default(),
        endpoint,
        exports,
        token,
        vars,
        shutdown,
        running: Some(running),
        _data_dir: None,
    }
}

fn settings(vars: &BTreeMap<String, String>) -> Settings {
    Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings are valid")
}

impl TestApp {
    /// Fires the app's shutdown and waits until every part has stopped.
    pub async fn stop(mut self) {
        self.shutdown.trigger();
        if let Some(running) = self.running.take() {
            running.await.expect("the app task").expect("the app stops cleanly");
        }
    }

    /// The default principal (`default`/`user-1`, or anonymous with `AUTH_MODE=none`).
    pub fn session(&self) -> Session<'_> {
        Session {
            app: self,
            token: self.token.clone(),
        }
    }

    /// Another principal of the HS256 test issuer.
    pub fn as_user(&self, tenant: &str, subject: &str) -> Session<'_> {
        Session {
            app: self,
            token: Some(token(tenant, subject)),
        }
    }

    /// Any credential (or none).
    pub fn with_token(&self, token: Option<&str>) -> Session<'_> {
        Session {
            app: self,
            token: token.map(str::to_owned),
        }
    }

    /// Adds the default credential to any request.
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        self.session().authorize(request)
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.session().post_json(path, body).await
    }

    pub async fn sign(&self, kind: &str, filename: &str, content_type: &str) -> Signed {
        self.session().sign(kind, filename, content_type).await
    }

    pub async fn download(&self, object_key: &str) -> reqwest::Response {
        self.session().download(object_key).await
    }

    /// Puts an object straight into the store, as a verified one would be.
    pub async fn put_object(&self, key: &str, bytes: &[u8], content_type: &str, filename: &str) {
        self.store
            .client()
            .put_object()
            .bucket(self.store.bucket())
            .key(key)
            .body(bytes.to_vec().into())
            .content_type(content_type)
            .metadata("filename", broker_core::disposition::encode_filename(filename))
            .send()
            .await
            .expect("put succeeds");
    }

    pub async fn object_exists(&self, key: &str) -> bool {
        self.store
            .client()
            .head_object()
            .bucket(self.store.bucket())
            .key(key)
            .send()
            .await
            .is_ok()
    }

    pub async fn keys_under(&self, prefix: &str) -> Vec<String> {
        self.store
            .list(prefix)
            .await
            .expect("list")
            .into_iter()
            .map(|l| l.key)
            .collect()
    }

    pub async fn export(&self, body: &Value) -> reqwest::Response {
        self.post_json("/exports", body).await
    }

    pub async fn job(&self, job_id: &str) -> reqwest::Response {
        self.authorize(self.http.get(format!("{}/exports/{job_id}", self.address)))
            .send()
            .await
            .expect("request reaches the API")
    }

    pub async fn cancel_job(&self, job_id: &str) -> reqwest::Response {
        self.authorize(self.http.delete(format!("{}/exports/{job_id}", self.address)))
            .send()
            .await
            .expect("request reaches the API")
    }

    /// Submits and returns the job id (asserting 202 queued).
    pub async fn submit(&self, body: &Value) -> String {
        let response = self.export(body).await;
        assert_eq!(response.status(), 202, "export refused: {:?}", response.text().await);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["status"], "queued");
        body["jobId"].as_str().expect("jobId").to_owned()
    }

    /// Polls until the job reaches one of `statuses`.
    pub async fn wait_for(&self, job_id: &str, statuses: &[&str], timeout: Duration) -> Value {
        let started = Instant::now();
        loop {
            let response = self.job(job_id).await;
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.expect("json");
            if statuses.contains(&body["status"].as_str().unwrap_or("")) {
                return body;
            }
            assert!(
                started.elapsed() < timeout,
                "job {job_id} never reached {statuses:?}; last: {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Downloads a done job's output through its signed URL.
    pub async fn fetch_output(&self, job: &Value) -> (reqwest::header::HeaderMap, Vec<u8>) {
        let url = job["url"]
            .as_str()
            .unwrap_or_else(|| panic!("a done job has a url: {job}"));
        let response = reqwest::get(url).await.expect("the store answers");
        assert_eq!(response.status(), 200);
        let headers = response.headers().clone();
        (headers, response.bytes().await.expect("body").to_vec())
    }

    /// The configuration of an export worker next to this app: the same
    /// store (reached over its endpoint) and the app's Redis, with
    /// seconds-scale liveness and retry settings.
    pub fn worker_vars(&self) -> BTreeMap<String, String> {
        let mut vars = self.vars.clone();
        if vars.get("S3_ENABLED").map(String::as_str) != Some("true") {
            for (k, v) in [
                ("S3_ENABLED", "true"),
                ("S3_ENDPOINT", self.store_endpoint.as_str()),
                ("S3_FORCE_PATH_STYLE", "true"),
                ("S3_REGION", self.store.region()),
                ("S3_BUCKET", self.store.bucket()),
            ] {
                vars.insert(k.to_owned(), v.to_owned());
            }
        }
        for (k, v) in [
            ("EXPORT_HEARTBEAT", "1"),
            ("EXPORT_MISSED_HEARTBEATS", "3"),
            ("EXPORT_RETRY_BASE", "1"),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
        vars
    }

    /// Starts an export worker in this process (the app must use Redis).
    pub fn start_worker(&self) -> InProcessWorker {
        self.start_worker_with(&[])
    }

    /// [`TestApp::start_worker`] with some variables overridden (a dead store, say).
    pub fn start_worker_with(&self, overrides: &[(&str, &str)]) -> InProcessWorker {
        let mut vars = self.worker_vars();
        vars.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        assert!(
            vars.contains_key("REDIS_URL"),
            "a separate worker needs an app with REDIS_URL"
        );
        let shutdown = Shutdown::new();
        let task = tokio::spawn(upload_broker::worker::run(settings(&vars), shutdown.clone()));
        InProcessWorker { shutdown, _task: task }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// An export worker running in the test's process; stops when dropped.
pub struct InProcessWorker {
    shutdown: Shutdown,
    _task: tokio::task::JoinHandle<Result<(), String>>,
}

impl Drop for InProcessWorker {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}
