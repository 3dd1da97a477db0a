use std::collections::{BTreeMap, HashMap};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use broker_api::Application;
use broker_core::Settings;
use broker_core::store::{Store, StoreEndpoint};
use serde_json::{Value, json};
use tempfile::TempDir;

pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key-0123456789";

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub store: Store,
    /// The store's endpoint URL (the embedded one, or the configured one).
    pub store_endpoint: String,
    _data_dir: Option<TempDir>,
}

/// The broker with the embedded store in a fresh temp dir.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// `TEST_LOG=1` shows the app's logs while debugging a test.
fn init_logs() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            tracing_subscriber::fmt().with_env_filter("info,s3s=warn").with_test_writer().init();
        }
    });
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    init_logs();
    let data_dir = TempDir::new().expect("temp dir");
    let mut app = spawn_app_in(data_dir.path(), overrides).await;
    app._data_dir = Some(data_dir);
    app
}

/// The broker over an existing data dir (to test that objects survive a restart).
pub async fn spawn_app_in(data_dir: &Path, overrides: &[(&str, &str)]) -> TestApp {
    let mut vars: HashMap<String, String> = [
        ("BIND_ADDR", "127.0.0.1:0"),
        ("DEVSTORE_BIND_ADDR", "127.0.0.1:0"),
        ("S3_ACCESS_KEY", ACCESS_KEY),
        ("S3_SECRET_KEY", SECRET_KEY),
        ("DATA_DIR", data_dir.to_str().expect("utf-8 temp path")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings are valid");

    let app = Application::build(settings.clone()).await.expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let endpoint = match app.devstore_endpoint() {
        Some(endpoint) => StoreEndpoint { endpoint: Some(endpoint), force_path_style: true, credentials: settings.store.credentials.clone() },
        None => match &settings.store.backend {
            broker_core::config::StoreBackend::External { endpoint, force_path_style } => StoreEndpoint {
                endpoint: endpoint.clone(),
                force_path_style: *force_path_style,
                credentials: settings.store.credentials.clone(),
            },
            broker_core::config::StoreBackend::Embedded { .. } => unreachable!("embedded apps expose their endpoint"),
        },
    };
    let store_endpoint = endpoint.endpoint.clone().unwrap_or_default();
    let store = Store::connect(&settings.store, endpoint).await;
    tokio::spawn(app.run_until_stopped());
    TestApp { address, http: reqwest::Client::new(), store, store_endpoint, _data_dir: None }
}

pub struct Signed {
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub object_key: String,
    pub body: Value,
}

impl TestApp {
    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http.post(format!("{}{path}", self.address)).json(body).send().await.expect("request reaches the API")
    }

    pub async fn sign(&self, kind: &str, filename: &str, content_type: &str) -> Signed {
        let response = self.post_json("/uploads/sign", &json!({"kind": kind, "filename": filename, "content_type": content_type})).await;
        assert_eq!(response.status(), 200, "sign failed");
        let body: Value = response.json().await.expect("json");
        let fields = serde_json::from_value(body["fields"].clone()).expect("fields are a string map");
        Signed {
            url: body["url"].as_str().expect("url").to_owned(),
            object_key: body["objectKey"].as_str().expect("objectKey").to_owned(),
            fields,
            body,
        }
    }

    pub async fn download(&self, object_key: &str) -> reqwest::Response {
        self.post_json("/uploads/download", &json!({ "objectKey": object_key })).await
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
        self.store.client().head_object().bucket(self.store.bucket()).key(key).send().await.is_ok()
    }
}

/// Posts a multipart form as a browser does: every field, then `file` last.
pub async fn post_form(url: &str, fields: &BTreeMap<String, String>, file: Vec<u8>, content_type: &str) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.clone(), value.clone());
    }
    let part = reqwest::multipart::Part::bytes(file).file_name("upload.bin").mime_str(content_type).expect("mime");
    form = form.part("file", part);
    reqwest::Client::new().post(url).multipart(form).send().await.expect("the store answers")
}

/// The `<Code>` of an S3 XML error body.
pub async fn s3_error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or("")
        .to_owned();
    (status, code)
}

pub async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("error bodies are JSON");
    let code = body["error"]["code"].as_str().expect("error.code is a string").to_owned();
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "error.message is missing: {body}");
    (status, code)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A real redis-server on a free loopback port, stopped on drop.
pub struct RedisServer {
    pub url: String,
    child: Child,
    _dir: TempDir,
}

impl RedisServer {
    pub fn start() -> Self {
        let dir = TempDir::new().expect("temp dir");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("redis-server is required for this test and could not be started ({e}); install it with `apt-get install redis-server` or run scripts/test.sh, which installs it"));
        let url = format!("redis://127.0.0.1:{port}");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return RedisServer { url, child, _dir: dir };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server did not start listening on port {port}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
