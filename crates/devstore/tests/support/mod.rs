//! Shared by the integration tests and the `post_soak` example.
//!
//! - [`TestStore`]: the real `DevStore` on port 0 over a temporary directory;
//! - forms signed by `broker_core::post_policy`, exactly as the API signs them
//!   ([`TestStore::sign`]), plus [`with_fields`] for the fields the broker never
//!   sends (`success_action_status`, `success_action_redirect`);
//! - multipart bodies built by hand with a chosen boundary, and a minimal raw
//!   HTTP/1.1 client for what reqwest does not let a test choose: the chunking
//!   of a body on the wire, a quoted boundary, reading the answer of a request
//!   whose body is still being sent;
//! - [`upload_case`]: one random upload, checked end to end (status, `ETag`,
//!   `Location`, and the stored bytes read back from the data directory).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use broker_core::ObjectKey;
use broker_core::Secret;
use broker_core::config::AllowedOrigins;
use broker_core::post_policy::{Destination, PostPolicy, PresignedPost, SigningCredentials, Stored};
use broker_devstore::{ConnectionLimits, DevStore, DevStoreConfig, FORM_OVERHEAD};
use md5::{Digest as _, Md5};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const BUCKET: &str = "uploads";
pub const REGION: &str = "us-east-1";
pub const ACCESS_KEY: &str = "devstore-test";
pub const SECRET_KEY: &str = "devstore-test-secret";
pub const CONTENT_TYPE: &str = "application/octet-stream";
pub const MIB: u64 = 1024 * 1024;
/// The largest file the tests upload: the export profile's maximum.
pub const MAX_FILE: u64 = 25 * MIB;
/// An origin the test store allows.
pub const ORIGIN: &str = "http://app.example";

/// What AWS leaves unencoded in an object URL: RFC 3986 unreserved characters.
const KEY_IN_URL: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A running store over its own temporary directory.
pub struct TestStore {
    pub store: DevStore,
    dir: tempfile::TempDir,
}

impl TestStore {
    /// The store as the broker starts it: POST bodies up to the largest
    /// profile maximum plus the form overhead, default connection limits.
    pub async fn start() -> Self {
        Self::start_with(MAX_FILE + FORM_OVERHEAD, ConnectionLimits::default()).await
    }

    pub async fn start_with(max_post_body: u64, limits: ConnectionLimits) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        // s3s-fs: a bucket is a directory under the root.
        std::fs::create_dir_all(dir.path().join(BUCKET)).expect("the bucket directory");
        let store = DevStore::start(DevStoreConfig {
            data_dir: dir.path().to_path_buf(),
            bind: "127.0.0.1:0".parse().expect("an address"),
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            max_signature_age: Duration::from_secs(3600),
            allowed_origins: AllowedOrigins::List(vec![ORIGIN.into()]),
            max_post_body,
            limits,
        })
        .await
        .expect("the store starts");
        Self { store, dir }
    }

    pub fn addr(&self) -> SocketAddr {
        self.store.addr()
    }

    /// Where browsers POST forms (path style).
    pub fn bucket_url(&self) -> String {
        format!("{}/{BUCKET}", self.store.endpoint())
    }

    /// The object's URL as S3 reports it in `Location`: the key percent-encoded, `/` too.
    pub fn object_url(&self, key: &str) -> String {
        format!("{}/{}", self.bucket_url(), utf8_percent_encode(key, KEY_IN_URL))
    }

    /// The stored object, read straight from the data directory.
    pub fn stored(&self, key: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(self.dir.path().join(BUCKET).join(key))
    }

    /// A form for `key`, signed as the API signs one: key, content type and
    /// size range pinned.
    pub fn sign(&self, key: &str, max_bytes: u64) -> PresignedPost {
        self.sign_at(key, max_bytes, SystemTime::now())
    }

    fn sign_at(&self, key: &str, max_bytes: u64, now: SystemTime) -> PresignedPost {
        let key = ObjectKey::parse(key).expect("a valid key");
        let url = self.bucket_url();
        PostPolicy {
            to: Destination {
                bucket_url: &url,
                region: REGION,
                key: &key,
            },
            bucket: BUCKET,
            object: Stored {
                content_type: CONTENT_TYPE,
                encryption: None,
                metadata: &[],
            },
            max_bytes,
            expires_in: Duration::from_secs(600),
        }
        .sign(&credentials(), now)
    }

    /// A signed form that also sends `extra` fields, each pinned in the policy.
    pub fn sign_with(&self, key: &str, max_bytes: u64, extra: &[(&str, &str)]) -> PresignedPost {
        let now = SystemTime::now();
        with_fields(self.sign_at(key, max_bytes, now), extra, now)
    }
}

fn credentials() -> SigningCredentials {
    SigningCredentials {
        access_key: ACCESS_KEY.into(),
        secret_key: Secret::new(SECRET_KEY),
        session_token: None,
    }
}

/// Adds fields the broker's policy never has (it pins only its own fields):
/// each goes into the form and, as an `eq` condition, into the policy, which
/// is then signed again with the same aws-sigv4 primitives and date.
pub fn with_fields(mut post: PresignedPost, extra: &[(&str, &str)], signed_at: SystemTime) -> PresignedPost {
    let raw = BASE64.decode(&post.fields["policy"]).expect("a base64 policy");
    let mut policy: serde_json::Value = serde_json::from_slice(&raw).expect("a JSON policy");
    let conditions = policy["conditions"].as_array_mut().expect("conditions");
    for (name, value) in extra {
        conditions.push(serde_json::json!(["eq", format!("${name}"), value]));
        post.fields.insert((*name).to_owned(), (*value).to_owned());
    }
    let policy = BASE64.encode(serde_json::to_vec(&policy).expect("serialisable"));
    let key = aws_sigv4::sign::v4::generate_signing_key(SECRET_KEY, signed_at, REGION, "s3");
    let signature = aws_sigv4::sign::v4::calculate_signature(key, policy.as_bytes());
    post.fields.insert("policy".into(), policy);
    post.fields.insert("x-amz-signature".into(), signature);
    post
}

/// S3's `ETag` for a single-part object: the quoted MD5 hex.
pub fn etag_of(content: &[u8]) -> String {
    let digest = Md5::digest(content);
    let mut etag = String::with_capacity(34);
    etag.push('"');
    for byte in digest.iter() {
        let _ = write!(etag, "{byte:02x}");
    }
    etag.push('"');
    etag
}

/// A `multipart/form-data` body: every field, then `file` last, as S3 requires.
pub fn multipart_body(fields: &BTreeMap<String, String>, file: &[u8], boundary: &str) -> Vec<u8> {
    let mut body = Vec::with_capacity(file.len() + 4096);
    for (name, value) in fields {
        let _ = write!(
            Writer(&mut body),
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        );
    }
    let _ = write!(
        Writer(&mut body),
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"upload.bin\"\r\nContent-Type: {CONTENT_TYPE}\r\n\r\n"
    );
    body.extend_from_slice(file);
    let _ = write!(Writer(&mut body), "\r\n--{boundary}--\r\n");
    body
}

/// `fmt::Write` into a byte buffer.
struct Writer<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Writer<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// How a raw request sends its body.
#[derive(Debug, Clone)]
pub enum Framing {
    /// `Content-Length`, written in one go.
    Length,
    /// `Content-Length`; the head and the first `n` body bytes are written,
    /// then, after a pause, the rest: the store's first body chunk is `n` bytes.
    LengthPausedAfter(usize),
    /// `Transfer-Encoding: chunked`, with these chunk sizes, cycled.
    Chunked(Vec<usize>),
}

/// An HTTP answer read off a raw connection.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// POSTs `body` to `path` over a fresh connection, framed as asked. The
/// answer is read while the body is sent: a store may answer (and close)
/// before it has read the whole body.
pub async fn raw_post(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    body: &[u8],
    framing: &Framing,
) -> std::io::Result<RawResponse> {
    let mut stream = TcpStream::connect(addr).await?;
    let (mut reader, mut writer) = stream.split();
    let framing_header = match framing {
        Framing::Length | Framing::LengthPausedAfter(_) => format!("Content-Length: {}", body.len()),
        Framing::Chunked(_) => "Transfer-Encoding: chunked".to_owned(),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\n{framing_header}\r\nConnection: close\r\n\r\n"
    );
    let write = async {
        match framing {
            Framing::Length => {
                writer.write_all(head.as_bytes()).await?;
                writer.write_all(body).await?;
            }
            Framing::LengthPausedAfter(n) => {
                let (first, rest) = body.split_at((*n).min(body.len()));
                writer.write_all(&[head.as_bytes(), first].concat()).await?;
                writer.flush().await?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                writer.write_all(rest).await?;
            }
            Framing::Chunked(sizes) => {
                writer.write_all(head.as_bytes()).await?;
                let mut rest = body;
                for &size in sizes.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (chunk, tail) = rest.split_at(size.clamp(1, rest.len()));
                    writer.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await?;
                    writer.write_all(chunk).await?;
                    writer.write_all(b"\r\n").await?;
                    rest = tail;
                }
                writer.write_all(b"0\r\n\r\n").await?;
            }
        }
        writer.flush().await
    };
    let read = read_response(&mut reader);
    tokio::pin!(write, read);
    let mut sending = true;
    loop {
        tokio::select! {
            answer = &mut read => return answer,
            // A failed write (the store stopped reading) still lets the answer be read.
            _ = &mut write, if sending => sending = false,
        }
    }
}

/// Reads one answer: the head, then a `Content-Length` body, no body for
/// 1xx/204/304, or everything up to EOF (requests send `Connection: close`).
pub async fn read_response(stream: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<RawResponse> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the connection closed before an answer",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {head}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut response = RawResponse {
        status,
        headers,
        body: buf[head_end + 4..].to_vec(),
    };
    if matches!(status, 100..=199 | 204 | 304) {
        response.body.clear();
        return Ok(response);
    }
    match response.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(length) => {
            while response.body.len() < length {
                let mut chunk = vec![0u8; length - response.body.len()];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                response.body.extend_from_slice(&chunk[..n]);
            }
        }
        None => {
            stream.read_to_end(&mut response.body).await?;
        }
    }
    Ok(response)
}

/// The answer to a successful POST Object, whatever client sent it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub etag: Option<String>,
    pub location: Option<String>,
    pub body: String,
}

/// Token characters allowed in a boundary (RFC 2046 `bchars` without the
/// ones that need quoting), and the full set, used with a quoted boundary.
const BOUNDARY_TOKEN: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'+_-.";
const BOUNDARY_QUOTED: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'()+_,-./:=? ";

/// What a random upload is made of.
#[derive(Debug, Clone, Copy)]
pub enum Content {
    /// Uniformly random bytes.
    Random,
    /// Random bytes mixed with every proper prefix of `\r\n--{boundary}`: the
    /// parser must tell near-delimiters from the delimiter at any offset.
    NearDelimiters,
    /// Only `\r`, a delimiter prefix at every offset: each body chunk ends
    /// inside a possible delimiter.
    CarriageReturns,
}

/// How a random upload reaches the store.
#[derive(Debug, Clone)]
pub enum Transport {
    /// reqwest's multipart form (its own random boundary, `Content-Length`).
    Reqwest,
    /// A hand-built body with this boundary (quoted in the header or not).
    Raw {
        boundary: String,
        quoted: bool,
        framing: Framing,
    },
}

/// One random upload, described so a failure can be replayed.
#[derive(Debug, Clone)]
pub struct Case {
    pub key: String,
    pub size: usize,
    pub content: Content,
    pub transport: Transport,
    pub seed: u64,
}

impl Case {
    /// A random case of `size` bytes for upload `index`.
    pub fn random(rng: &mut fastrand::Rng, index: usize, size: usize) -> Self {
        let content = match rng.u8(0..20) {
            0..=15 => Content::Random,
            16..=18 => Content::NearDelimiters,
            _ => Content::CarriageReturns,
        };
        let transport = match rng.u8(0..10) {
            0..=3 => Transport::Reqwest,
            n => {
                let quoted = rng.bool();
                let alphabet = if quoted { BOUNDARY_QUOTED } else { BOUNDARY_TOKEN };
                let len = rng.usize(1..=70);
                let mut boundary: String = (0..len)
                    .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
                    .collect();
                // RFC 2046: a boundary may hold spaces (quoted) but not end with one.
                if boundary.ends_with(' ') {
                    boundary.pop();
                    boundary.push('z');
                }
                let framing = if n <= 7 {
                    Framing::Length
                } else {
                    // Tiny chunks too, but no more than about a thousand per file (debug builds).
                    let sizes = (0..rng.usize(1..8))
                        .map(|_| (log_uniform(rng, 256 * 1024) as usize).max(size / 1024))
                        .collect();
                    Framing::Chunked(sizes)
                };
                Transport::Raw {
                    boundary,
                    quoted,
                    framing,
                }
            }
        };
        Case {
            key: format!("staging/acme/export/case-{index}.bin"),
            size,
            content,
            transport,
            seed: rng.u64(..),
        }
    }

    /// The file's bytes; never containing the delimiter of a hand-built body.
    pub fn file(&self) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let delimiter = match &self.transport {
            Transport::Raw { boundary, .. } => format!("\r\n--{boundary}").into_bytes(),
            // reqwest's boundary is 64 random hex digits: no file holds it by chance.
            Transport::Reqwest => b"\r\n--".to_vec(),
        };
        let mut file = match self.content {
            Content::Random => {
                let mut file = vec![0u8; self.size];
                rng.fill(&mut file);
                file
            }
            Content::CarriageReturns => vec![b'\r'; self.size],
            Content::NearDelimiters => {
                let mut file = Vec::with_capacity(self.size + delimiter.len());
                while file.len() < self.size {
                    if rng.bool() {
                        file.extend_from_slice(&delimiter[..rng.usize(1..delimiter.len())]);
                    } else {
                        let start = file.len();
                        file.resize(start + rng.usize(1..64), 0);
                        rng.fill(&mut file[start..]);
                    }
                }
                file.truncate(self.size);
                file
            }
        };
        if let Transport::Raw { .. } = self.transport {
            break_delimiters(&mut file, &delimiter);
        }
        file
    }
}

/// Turns the last byte of every whole `delimiter` in `file` into NUL, which no
/// delimiter contains, so the change cannot make a new one (a 1-character
/// boundary appears by chance in a few MiB of near-delimiters).
fn break_delimiters(file: &mut [u8], delimiter: &[u8]) {
    let mut at = 0;
    while let Some(offset) = find(&file[at..], delimiter) {
        let end = at + offset + delimiter.len();
        file[end - 1] = 0;
        at = end;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == needle[0])
        .map(|(i, _)| i)
        .find(|&i| haystack[i..].starts_with(needle))
}

/// A size in `1..=max`, log-uniform: every doubling of size is as likely.
pub fn log_uniform(rng: &mut fastrand::Rng, max: u64) -> u64 {
    let exponent = rng.f64() * (max as f64).ln();
    (exponent.exp() as u64).clamp(1, max)
}

/// Why an upload did not go through.
#[derive(Debug)]
pub enum Failure {
    /// The store did not accept the form (or the connection failed).
    Refused(String),
    /// The store accepted it but answered or stored something else.
    Wrong(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused(why) => write!(f, "refused: {why}"),
            Failure::Wrong(why) => write!(f, "wrong: {why}"),
        }
    }
}

/// Uploads `case` with a form signed for it and checks the answer and the
/// stored bytes.
pub async fn upload_case(store: &TestStore, client: &reqwest::Client, case: &Case) -> Result<(), Failure> {
    let file = case.file();
    let post = store.sign(&case.key, MAX_FILE);
    let answer = post_form(store, client, &post, &file, &case.transport)
        .await
        .map_err(|e| Failure::Refused(format!("{case:?}: transport error {e}")))?;
    if answer.status != 204 {
        return Err(Failure::Refused(format!(
            "{case:?}: {} {}",
            answer.status,
            answer.body.chars().take(300).collect::<String>()
        )));
    }
    let expected_etag = etag_of(&file);
    if answer.etag.as_deref() != Some(expected_etag.as_str()) {
        return Err(Failure::Wrong(format!(
            "{case:?}: ETag {:?}, expected {expected_etag}",
            answer.etag
        )));
    }
    let expected_location = store.object_url(&case.key);
    if answer.location.as_deref() != Some(expected_location.as_str()) {
        return Err(Failure::Wrong(format!(
            "{case:?}: Location {:?}, expected {expected_location}",
            answer.location
        )));
    }
    let stored = store
        .stored(&case.key)
        .map_err(|e| Failure::Wrong(format!("{case:?}: not stored: {e}")))?;
    if stored != file {
        return Err(Failure::Wrong(format!(
            "{case:?}: stored {} bytes differ from the {} sent",
            stored.len(),
            file.len()
        )));
    }
    Ok(())
}

/// POSTs a signed form with `file` over `transport`.
pub async fn post_form(
    store: &TestStore,
    client: &reqwest::Client,
    post: &PresignedPost,
    file: &[u8],
    transport: &Transport,
) -> Result<Answer, String> {
    match transport {
        Transport::Reqwest => {
            let mut form = reqwest::multipart::Form::new();
            for (name, value) in &post.fields {
                form = form.text(name.clone(), value.clone());
            }
            let part = reqwest::multipart::Part::bytes(file.to_vec())
                .file_name("upload.bin")
                .mime_str(CONTENT_TYPE)
                .map_err(|e| e.to_string())?;
            let response = client
                .post(&post.url)
                .multipart(form.part("file", part))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let (status, etag, location) = (response.status().as_u16(), header("etag"), header("location"));
            let body = response.text().await.map_err(|e| e.to_string())?;
            Ok(Answer {
                status,
                etag,
                location,
                body,
            })
        }
        Transport::Raw {
            boundary,
            quoted,
            framing,
        } => {
            let body = multipart_body(&post.fields, file, boundary);
            let content_type = if *quoted {
                format!("multipart/form-data; boundary=\"{boundary}\"")
            } else {
                format!("multipart/form-data; boundary={boundary}")
            };
            let path = format!("/{BUCKET}");
            let response = raw_post(store.addr(), &path, &content_type, &body, framing)
                .await
                .map_err(|e| e.to_string())?;
            Ok(Answer {
                status: response.status,
                etag: response.header("etag").map(str::to_owned),
                location: response.header("location").map(str::to_owned),
                body: response.text(),
            })
        }
    }
}

/// The resident set size of this process now and at its peak, in bytes.
pub fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .unwrap_or_else(|| panic!("{name} missing from /proc/self/status"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// How [`stream_post`] announces its body.
#[derive(Debug, Clone, Copy)]
pub enum Announce {
    /// An honest `Content-Length`.
    Length,
    /// `Transfer-Encoding: chunked`: the store learns the size only by reading.
    Chunked,
}

/// POSTs an unsigned form whose file is `file_len` bytes, generated while it
/// is sent (never held in memory), and reads the answer at the same time;
/// sending stops when the answer arrives or the store stops reading. Returns
/// the answer and how many body bytes were written by then.
pub async fn stream_post(addr: SocketAddr, announce: Announce, file_len: u64) -> (std::io::Result<RawResponse>, u64) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    const BLOCK: usize = 64 * 1024;
    let boundary = "unsigned-form-boundary";
    let preamble = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\nstaging/anonymous/big.bin\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n\
         Content-Type: {CONTENT_TYPE}\r\n\r\n"
    );
    let epilogue = format!("\r\n--{boundary}--\r\n");
    let framing = match announce {
        Announce::Length => format!(
            "Content-Length: {}",
            preamble.len() as u64 + file_len + epilogue.len() as u64
        ),
        Announce::Chunked => "Transfer-Encoding: chunked".to_owned(),
    };
    let head = format!(
        "POST /{BUCKET} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
         {framing}\r\nConnection: close\r\n\r\n"
    );

    let stream = match TcpStream::connect(addr).await {
        Ok(stream) => stream,
        Err(e) => return (Err(e), 0),
    };
    let (mut reader, mut writer) = stream.into_split();
    let written = Arc::new(AtomicU64::new(0));
    let sender = {
        let written = Arc::clone(&written);
        tokio::spawn(async move {
            let block = vec![b'x'; BLOCK];
            writer.write_all(head.as_bytes()).await?;
            let mut send = async |bytes: &[u8]| -> std::io::Result<()> {
                match announce {
                    Announce::Length => writer.write_all(bytes).await?,
                    Announce::Chunked => {
                        writer.write_all(format!("{:x}\r\n", bytes.len()).as_bytes()).await?;
                        writer.write_all(bytes).await?;
                        writer.write_all(b"\r\n").await?;
                    }
                }
                written.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                Ok(())
            };
            send(preamble.as_bytes()).await?;
            let mut left = file_len;
            while left > 0 {
                let n = left.min(BLOCK as u64) as usize;
                send(&block[..n]).await?;
                left -= n as u64;
            }
            send(epilogue.as_bytes()).await?;
            if let Announce::Chunked = announce {
                writer.write_all(b"0\r\n\r\n").await?;
            }
            std::io::Result::Ok(())
        })
    };
    let answer = match tokio::time::timeout(Duration::from_secs(120), read_response(&mut reader)).await {
        Ok(answer) => answer,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer within 120 s",
        )),
    };
    sender.abort();
    (answer, written.load(Ordering::Relaxed))
}
