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

/// Every test app verifies HS256 tokens with this secret unless told otherwise.
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789-abcdefghijklmnop";
pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "upload-broker";
/// The principal of the default token `TestApp` sends.
pub const DEFAULT_TENANT: &str = "default";
pub const DEFAULT_SUBJECT: &str = "user-1";

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub store: Store,
    /// The store's endpoint URL (the embedded one, or the configured one).
    pub store_endpoint: String,
    /// Sent as `Authorization: Bearer` by the helpers; `None` with `AUTH_MODE=none`.
    pub token: Option<String>,
    _data_dir: Option<TempDir>,
}

/// The broker with the embedded store in a fresh temp dir.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Every log line of every app in this test binary, as the broker would print
/// it, so tests can check what reaches the logs; `TEST_LOG=1` also prints them.
fn init_logs() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter("info,s3s=warn,s3s_fs=warn,aws_config=warn,aws_smithy_runtime=warn,hyper=warn")
            .with_ansi(false)
            .with_writer(|| CapturedLogs)
            .init();
    });
}

static LOGS: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

struct CapturedLogs;

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        if std::env::var_os("TEST_LOG").is_some() {
            eprint!("{}", String::from_utf8_lossy(bytes));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything logged so far by every app in this test binary.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned()
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// Valid claims for `tenant`/`subject` (ten minutes, the test issuer and audience).
pub fn claims(tenant: &str, subject: &str) -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "tenant": tenant, "iat": now(), "exp": now() + 600 })
}

/// A compact JWS with any header, any claims and any signature.
pub fn jwt(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(message.as_bytes());
    format!("{message}.{}", b64(&signature))
}

/// An HS256 token signed with `secret`.
pub fn hs256(secret: &[u8], claims: &Value) -> String {
    jwt(&json!({"alg": "HS256", "typ": "JWT"}), claims, |message| {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
    })
}

/// A valid token for `tenant`/`subject` under the test apps' HS256 secret.
pub fn token(tenant: &str, subject: &str) -> String {
    hs256(JWT_SECRET.as_bytes(), &claims(tenant, subject))
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
    init_logs();
    // HS256 authentication unless the test sets AUTH_MODE itself.
    let auth: &[(&str, &str)] = if overrides.iter().any(|(k, _)| *k == "AUTH_MODE") {
        &[]
    } else {
        &[
            ("AUTH_HS256_SECRET", JWT_SECRET),
            ("AUTH_ISSUER", ISSUER),
            ("AUTH_AUDIENCE", AUDIENCE),
        ]
    };
    let mut vars: HashMap<String, String> = [
        ("BIND_ADDR", "127.0.0.1:0"),
        ("DEVSTORE_BIND_ADDR", "127.0.0.1:0"),
        ("S3_ACCESS_KEY", ACCESS_KEY),
        ("S3_SECRET_KEY", SECRET_KEY),
        ("DATA_DIR", data_dir.to_str().expect("utf-8 temp path")),
    ]
    .into_iter()
    .chain(auth.iter().copied())
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.extend(overrides.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = Settings::from_lookup(|name| vars.get(name).cloned()).expect("test settings are valid");

    let app = Application::build(settings.clone()).await.expect("the app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let endpoint = match app.devstore_endpoint() {
        Some(endpoint) => StoreEndpoint {
            endpoint: Some(endpoint),
            force_path_style: true,
            credentials: settings.store.credentials.clone(),
        },
        None => match &settings.store.backend {
            broker_core::config::StoreBackend::External {
                endpoint,
                force_path_style,
            } => StoreEndpoint {
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
    let token = (vars.get("AUTH_HS256_SECRET").map(String::as_str) == Some(JWT_SECRET))
        .then(|| token(DEFAULT_TENANT, DEFAULT_SUBJECT));
    TestApp {
        address,
        http: reqwest::Client::new(),
        store,
        store_endpoint,
        token,
        _data_dir: None,
    }
}

pub struct Signed {
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub object_key: String,
    pub body: Value,
}

/// Requests to one app under one credential.
pub struct Session<'a> {
    pub app: &'a TestApp,
    /// A bearer token, an API key, or nothing.
    pub token: Option<String>,
}

impl Session<'_> {
    /// Adds this session's credential to any request.
    pub fn authorize(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        let request = self.app.http.post(format!("{}{path}", self.app.address)).json(body);
        self.authorize(request).send().await.expect("request reaches the API")
    }

    pub async fn sign(&self, kind: &str, filename: &str, content_type: &str) -> Signed {
        let response = self
            .post_json(
                "/uploads/sign",
                &json!({"kind": kind, "filename": filename, "content_type": content_type}),
            )
            .await;
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

    pub async fn complete(&self, object_key: &str) -> reqwest::Response {
        self.post_json("/uploads/complete", &json!({ "objectKey": object_key }))
            .await
    }

    pub async fn download(&self, object_key: &str) -> reqwest::Response {
        self.post_json("/uploads/download", &json!({ "objectKey": object_key }))
            .await
    }
}

impl TestApp {
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
}

/// Posts a multipart form as a browser does: every field, then `file` last.
pub async fn post_form(
    url: &str,
    fields: &BTreeMap<String, String>,
    file: Vec<u8>,
    content_type: &str,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.clone(), value.clone());
    }
    let part = reqwest::multipart::Part::bytes(file)
        .file_name("upload.bin")
        .mime_str(content_type)
        .expect("mime");
    form = form.part("file", part);
    reqwest::Client::new()
        .post(url)
        .multipart(form)
        .send()
        .await
        .expect("the store answers")
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
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code is a string")
        .to_owned();
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error.message is missing: {body}"
    );
    (status, code)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
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
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not start listening on port {port}");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
