//! Starting the whole system for a test, as `upload-broker serve` does.
//!
//! The store is chosen per test run by `BROKER_TEST_STORE`: `embedded` (the
//! default; the broker's own s3s store in the app's data dir) or `garage` (a
//! fresh single-node Garage per app, see [`crate::garage`]). The test command
//! runs the whole suite once per store, so every test proves its behaviour on
//! both without being written twice. A test that configures a store itself
//! (`S3_ENABLED` in its overrides) keeps it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use broker_core::Settings;
use broker_core::config::INSECURE_AUTH_NONE;
use broker_core::endpoint::StoreEndpoint;
use broker_core::store::Store;
use broker_jobs::JobsClient;
use serde_json::Value;
use tempfile::TempDir;
use upload_broker::{Shutdown, System};

use crate::garage::Garage;
use crate::http::{Session, Signed};
use crate::tokens::{AUDIENCE, DEFAULT_SUBJECT, DEFAULT_TENANT, ISSUER, JWT_SECRET, member_token, token, user_prefix};

/// The static credentials of every test app's store.
pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key-0123456789";

/// A running system: the API on a loopback port and its store.
pub struct TestApp {
    /// `http://127.0.0.1:{port}` of the API.
    pub address: String,
    /// `http://127.0.0.1:{port}/metrics`, unless `METRICS_BIND_ADDR` is empty.
    pub metrics_url: Option<String>,
    pub http: reqwest::Client,
    /// A client of the app's store, for checks behind the API's back.
    pub store: Store,
    /// How the store is reached (the embedded one, or the configured one).
    pub endpoint: StoreEndpoint,
    /// The store's endpoint URL.
    pub store_endpoint: String,
    /// The export queue's client handle.
    pub exports: JobsClient,
    /// Sent as `Authorization: Bearer` by the helpers; `None` with `AUTH_MODE=none`.
    pub token: Option<String>,
    /// The configuration the app was started with.
    pub vars: BTreeMap<String, String>,
    /// The Garage the app stores to, in a `garage` test run.
    pub garage: Option<Arc<Garage>>,
    data_dir: PathBuf,
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

/// [`spawn_app`] configured for a store nobody listens on; also returns that
/// store's URL.
pub async fn spawn_app_with_store_down() -> (TestApp, String) {
    let closed = closed_endpoint();
    let app = spawn_app_with(&store_vars_for(&closed)).await;
    (app, closed)
}

/// The URL of a loopback port nobody listens on.
pub fn closed_endpoint() -> String {
    format!("http://127.0.0.1:{}", crate::free_port())
}

/// The variables of an S3-compatible store at `endpoint` (path-style,
/// bucket `uploads`), as an operator would set them.
pub fn store_vars_for(endpoint: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("S3_ENABLED", "true"),
        ("S3_REGION", "us-east-1"),
        ("S3_BUCKET", "uploads"),
        ("S3_ENDPOINT", endpoint),
        ("S3_FORCE_PATH_STYLE", "true"),
    ]
}

/// Which store the apps of this test run use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStore {
    Embedded,
    Garage,
}

impl TestStore {
    /// `BROKER_TEST_STORE`: `embedded` (default) or `garage`; anything else fails the test.
    pub fn from_env() -> Self {
        match std::env::var("BROKER_TEST_STORE").as_deref() {
            Err(_) | Ok("" | "embedded") => TestStore::Embedded,
            Ok("garage") => TestStore::Garage,
            Ok(other) => panic!("BROKER_TEST_STORE must be `embedded` or `garage` (got {other:?})"),
        }
    }
}

/// The broker over `data_dir`, with the store of this test run.
async fn spawn_app_in(data_dir: &Path, overrides: &[(&str, &str)]) -> TestApp {
    let configures_store = overrides.iter().any(|(k, _)| *k == "S3_ENABLED");
    let garage = match TestStore::from_env() {
        TestStore::Garage if !configures_store => {
            let garage = Garage::start().await;
            // Browsers of any origin may use the bucket, as the embedded store's
            // `ALLOWED_ORIGINS` default allows the API's own origin.
            garage.set_cors(&["*"]).await;
            Some(Arc::new(garage))
        }
        _ => None,
    };
    start(data_dir, overrides, garage).await
}

async fn start(data_dir: &Path, overrides: &[(&str, &str)], garage: Option<Arc<Garage>>) -> TestApp {
    crate::logs::init();
    let mut vars: BTreeMap<String, String> = [
        ("BIND_ADDR", "127.0.0.1:0"),
        ("DEVSTORE_BIND_ADDR", "127.0.0.1:0"),
        // Every app serves its metrics, on a port of its own (the recorder is
        // one per process: see `upload_broker::metrics`).
        ("METRICS_BIND_ADDR", "127.0.0.1:0"),
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
    if let Some(garage) = &garage {
        for (k, v) in garage.broker_vars() {
            vars.insert(k.to_owned(), v.to_owned());
        }
    }
    vars.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    accept_auth_none_on_loopback_stores(&mut vars);
    let settings = settings(&vars);

    let system = System::build(settings.clone()).await.expect("the system builds");
    let address = format!("http://127.0.0.1:{}", system.api_port());
    let metrics_url = system.metrics_addr().map(|addr| format!("http://{addr}/metrics"));
    let endpoint = system.endpoint().clone();
    let exports = system.exports().clone();
    let store = Store::connect(&settings.store, endpoint.clone()).await;
    let shutdown = Shutdown::new();
    let running = tokio::spawn(system.run(shutdown.clone()));
    let token = (vars.get("AUTH_HS256_SECRET").map(String::as_str) == Some(JWT_SECRET))
        .then(|| token(DEFAULT_TENANT, DEFAULT_SUBJECT));
    TestApp {
        address,
        metrics_url,
        http: reqwest::Client::new(),
        store,
        store_endpoint: endpoint.endpoint.clone().unwrap_or_default(),
        endpoint,
        exports,
        token,
        vars,
        garage,
        data_dir: data_dir.to_owned(),
        shutdown,
        running: Some(running),
        _data_dir: None,
    }
}

/// Test apps with `AUTH_MODE=none` also run against Garage, and their workers
/// reach the embedded store as an external one (`S3_ENABLED=true`): both on
/// loopback, which the broker only accepts with its escape hatch.
fn accept_auth_none_on_loopback_stores(vars: &mut BTreeMap<String, String>) {
    let is = |name: &str, value: &str| vars.get(name).is_some_and(|v| v == value);
    if is("AUTH_MODE", "none") && is("S3_ENABLED", "true") {
        vars.entry(INSECURE_AUTH_NONE.to_owned())
            .or_insert_with(|| "true".to_owned());
    }
}

fn settings(vars: &BTreeMap<String, String>) -> Settings {
    Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings are valid")
}

impl TestApp {
    /// Fires the app's shutdown and waits until every part has stopped.
    pub async fn stop(mut self) {
        self.halt().await;
    }

    async fn halt(&mut self) {
        self.shutdown.trigger();
        if let Some(running) = self.running.take() {
            running.await.expect("the app task").expect("the app stops cleanly");
        }
    }

    /// Stops the app and starts it again over the same store, data dir and
    /// configuration (ports are new): what a restart of the process keeps.
    pub async fn restart(mut self) -> TestApp {
        self.halt().await;
        let overrides: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut app = start(&self.data_dir, &overrides, self.garage.clone()).await;
        app._data_dir = self._data_dir.take();
        app
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

    /// A principal of the HS256 test issuer that is a member of `teams`.
    pub fn as_member(&self, tenant: &str, subject: &str, teams: &[&str]) -> Session<'_> {
        Session {
            app: self,
            token: Some(member_token(tenant, subject, teams)),
        }
    }

    /// Where the default principal's `user`-scoped objects are served.
    pub fn own_prefix(&self) -> String {
        user_prefix(DEFAULT_TENANT, DEFAULT_SUBJECT)
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

    pub async fn upload(&self, kind: &str, filename: &str, content_type: &str, bytes: Vec<u8>) -> String {
        self.session().upload(kind, filename, content_type, bytes).await
    }

    pub async fn complete(&self, object_key: &str) -> reqwest::Response {
        self.session().complete(object_key).await
    }

    /// A POST of a raw body of any content type, with the default credential.
    pub async fn post_body(&self, path: &str, content_type: &str, body: &'static str) -> reqwest::Response {
        self.authorize(self.http.post(format!("{}{path}", self.address)))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request reaches the API")
    }

    /// A GET of an API path, with no credential (`/healthz`, `/readyz`).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request reaches the API")
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
            .metadata(
                broker_core::record::field::FILENAME,
                broker_core::record::encode_text(filename),
            )
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
        self.session().job(job_id).await
    }

    pub async fn cancel_job(&self, job_id: &str) -> reqwest::Response {
        self.session().cancel_job(job_id).await
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

    /// Which store this app uses.
    pub fn store_kind(&self) -> TestStore {
        if self.garage.is_some() {
            TestStore::Garage
        } else {
            TestStore::Embedded
        }
    }

    /// The variables that make another process use this app's store: its
    /// endpoint (the embedded one included), bucket, region and credentials.
    pub fn store_vars(&self) -> BTreeMap<String, String> {
        let mut vars = BTreeMap::new();
        for (k, v) in [
            ("S3_ENABLED", "true"),
            ("S3_ENDPOINT", self.store_endpoint.as_str()),
            ("S3_FORCE_PATH_STYLE", "true"),
            ("S3_REGION", self.store.region()),
            ("S3_BUCKET", self.store.bucket()),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
        for k in ["S3_ACCESS_KEY", "S3_SECRET_KEY"] {
            if let Some(v) = self.vars.get(k) {
                vars.insert(k.to_owned(), v.clone());
            }
        }
        vars
    }

    /// Another API instance over the same store (a scaled-out deployment),
    /// with `overrides` on top of this app's configuration.
    pub async fn spawn_sibling(&self, overrides: &[(&str, &str)]) -> TestApp {
        let mut vars = self.vars.clone();
        vars.remove("DATA_DIR");
        vars.extend(self.store_vars());
        vars.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        let data_dir = TempDir::new().expect("temp dir");
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut app = start(data_dir.path(), &pairs, self.garage.clone()).await;
        app._data_dir = Some(data_dir);
        app
    }

    /// The configuration of an export worker next to this app: the same
    /// store (reached over its endpoint) and the app's Redis, with
    /// seconds-scale liveness and retry settings.
    pub fn worker_vars(&self) -> BTreeMap<String, String> {
        let mut vars = self.vars.clone();
        vars.extend(self.store_vars());
        for (k, v) in [
            ("EXPORT_HEARTBEAT", "1"),
            ("EXPORT_MISSED_HEARTBEATS", "3"),
            ("EXPORT_RETRY_BASE", "1"),
        ] {
            vars.insert(k.to_owned(), v.to_owned());
        }
        accept_auth_none_on_loopback_stores(&mut vars);
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
