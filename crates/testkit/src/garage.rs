//! A throwaway single-node [Garage](https://garagehq.deuxfleurs.fr/) for tests.
//!
//! Why Garage: the embedded dev store (s3s) is not what the broker meets when
//! deployed. It answers a POST with a bare 204 and no `ETag`, and its multipart
//! parser refuses some valid forms. Garage is a real S3 implementation that runs
//! as one process with no other service, so tests can run the browser flows
//! (POST policy, presigned PUT and GET, CORS) against a store that behaves like
//! the deployed ones. `docs/stores.md` records what Garage 2.5.0 enforces.
//!
//! Each [`Garage`] owns everything it uses: a temp dir (`garage.toml`, SQLite
//! metadata, data, `garage.log`), three loopback ports (RPC, S3 API, admin API),
//! the `garage server` child, one access key and one bucket that key owns. Tests
//! in one binary can therefore start several side by side. Dropping it kills
//! the child, then removes the directory; if the test is panicking, the end of
//! `garage.log` is printed first.
//!
//! Set-up is the documented single-node procedure, run with the Garage CLI
//! against the new node: `layout assign` + `layout apply`, `key create`,
//! `bucket create`, `bucket allow --read --write --owner`. CORS goes through
//! the S3 API (PutBucketCors), as it would for a real bucket, and starts empty
//! so that tests can check the bucket without CORS too; see [`Garage::set_cors`].
//! `public_endpoint` is set so that a POST's `Location` is this instance's
//! path-style URL.
//!
//! A start takes 0.4–0.5 s, most of it the five CLI round trips (about 55 ms
//! each); three started at once take about 0.6 s in all, eight about 1.2 s.
//! The ports are picked free and released for Garage to bind, so another
//! process can take one in between: the start notices (Garage's log, or a port
//! that does not answer as this Garage) and starts over on fresh ports.
//!
//! The binary is not built here: it takes about 16 minutes. It comes from
//! `GARAGE_BIN`, or from the cache path that `scripts/garage.sh` installs to,
//! `${XDG_CACHE_HOME:-$HOME/.cache}/upload-broker/garage-2.5.0/bin/garage`.
//! Without it, [`Garage::start`] panics and says how to install it.
//!
//! [`Garage::client`] is configured as S3-compatible stores need: path-style
//! URLs, region `garage`, static credentials, and request checksums only when
//! an operation requires one. With the SDK's default checksums, a streamed body
//! (`ByteStream::from_path`) is sent aws-chunked with a trailer, and Garage
//! answers `400 InvalidRequest: Invalid payload signature`.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
use tempfile::TempDir;

/// The Garage release the harness is written against.
pub const GARAGE_VERSION: &str = "2.5.0";
/// The S3 region Garage is configured with (`[s3_api] s3_region`); requests must be signed for it.
pub const REGION: &str = "garage";
/// The bucket [`Garage::start`] creates.
pub const DEFAULT_BUCKET: &str = "uploads";

const INSTALL_HINT: &str = "install it with `bash scripts/garage.sh` (builds Garage 2.5.0 into the cache once, \
     about 16 minutes) or point GARAGE_BIN at a garage 2.5.0 binary";
/// How long a start may take before we give up (a start normally takes well under a second).
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Ports are picked free, then released for Garage to bind: another process may
/// take one in between. Start over with fresh ports this many times.
const START_ATTEMPTS: usize = 4;
const POLL: Duration = Duration::from_millis(10);
/// How long the admin and S3 ports may stay silent once the node is configured: Garage binds
/// them within milliseconds of the RPC port, so silence means another process holds them.
const PORT_GRACE: Duration = Duration::from_secs(3);

/// The answer to an S3 call (`call`: the request's `send()`), or a panic naming `what`, with
/// the SDK's whole error context.
pub async fn answered<T, E, R>(what: &str, call: impl Future<Output = Result<T, SdkError<E, R>>>) -> T
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    call.await
        .unwrap_or_else(|e| panic!("{what}: {}", DisplayErrorContext(e)))
}

/// A running single-node Garage with one bucket and one key that owns it.
pub struct Garage {
    // Fields drop in order: the server is killed before its directory is removed.
    server: Server,
    dir: TempDir,
    cli: Cli,
    endpoint: String,
    admin_endpoint: String,
    admin_token: String,
    bucket: String,
    access_key: String,
    secret_key: String,
    client: Client,
}

impl Garage {
    /// Starts a Garage with the bucket [`DEFAULT_BUCKET`], no CORS configuration.
    ///
    /// Panics, with the reason and Garage's log, if it cannot start.
    pub async fn start() -> Garage {
        Garage::start_with_bucket(DEFAULT_BUCKET).await
    }

    /// Starts a Garage whose bucket is `bucket` (a valid S3 bucket name).
    pub async fn start_with_bucket(bucket: &str) -> Garage {
        let bin = garage_bin();
        let mut conflicts = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let (bin, bucket) = (bin.clone(), bucket.to_owned());
            let booted = match blocking(move || Booted::boot(bin, &bucket)).await {
                Ok(booted) => booted,
                Err(conflict) => {
                    conflicts.push(conflict);
                    continue;
                }
            };
            let garage = booted.into_garage();
            match garage.wait_for_s3().await {
                Ok(()) => return garage,
                Err(conflict) => conflicts.push(conflict),
            }
        }
        panic!(
            "Garage did not start in {START_ATTEMPTS} attempts, each on fresh ports:\n{}",
            conflicts.join("\n")
        );
    }

    /// The S3 API, `http://127.0.0.1:<port>`. Use path-style URLs (`<endpoint>/<bucket>/<key>`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The region requests are signed for: [`REGION`].
    pub fn region(&self) -> &str {
        REGION
    }

    /// The bucket created at start.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The access key id (`GK…`), with read, write and owner rights on [`Garage::bucket`].
    pub fn access_key(&self) -> &str {
        &self.access_key
    }

    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// The broker's configuration of this store as its S3 bucket.
    pub fn broker_vars(&self) -> [(&'static str, &str); 7] {
        [
            ("S3_ENABLED", "true"),
            ("S3_ENDPOINT", self.endpoint()),
            ("S3_FORCE_PATH_STYLE", "true"),
            ("S3_REGION", self.region()),
            ("S3_BUCKET", self.bucket()),
            ("S3_ACCESS_KEY", self.access_key()),
            ("S3_SECRET_KEY", self.secret_key()),
        ]
    }

    /// An aws-sdk-s3 client for this store, with this instance's key.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The admin API, `http://127.0.0.1:<port>` (`GET /health` needs no token).
    pub fn admin_endpoint(&self) -> &str {
        &self.admin_endpoint
    }

    /// Bearer token for the admin API's `/v2/...` endpoints.
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// The temp dir holding `garage.toml`, `garage.log`, `meta/` and `data/`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The server's log: `RUST_LOG=info`, plus the directives in `GARAGE_LOG` if set (e.g.
    /// `garage_api_s3=debug`; the start needs `garage_net`'s info lines).
    pub fn log_path(&self) -> PathBuf {
        self.server.log.clone()
    }

    /// Creates another bucket that this instance's key may read, write and own; returns its name.
    pub async fn create_bucket(&self, name: &str) -> String {
        let (cli, name, key) = (self.cli.clone(), name.to_owned(), self.access_key.clone());
        blocking(move || {
            cli.run(&["bucket", "create", &name]);
            cli.run(&["bucket", "allow", "--read", "--write", "--owner", &name, "--key", &key]);
            name
        })
        .await
    }

    /// Runs the Garage CLI against this instance (`garage -c <toml> <args>`) and returns its
    /// stdout. Blocks for the few milliseconds a command takes; panics if it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        self.cli.run(args)
    }

    /// Replaces the bucket's CORS rules with one rule for `origins`: methods GET, PUT, POST,
    /// HEAD and DELETE, every request header, `ETag` and `Location` exposed.
    pub async fn set_cors(&self, origins: &[&str]) {
        self.set_bucket_cors(&self.bucket, origins).await
    }

    /// [`Garage::set_cors`] on another bucket of this instance.
    pub async fn set_bucket_cors(&self, bucket: &str, origins: &[&str]) {
        let rule = CorsRule::builder()
            .set_allowed_origins(Some(origins.iter().map(|o| o.to_string()).collect()))
            .set_allowed_methods(Some(
                ["GET", "PUT", "POST", "HEAD", "DELETE"].map(String::from).to_vec(),
            ))
            .allowed_headers("*")
            .expose_headers("ETag")
            .expose_headers("Location")
            .build()
            .expect("methods and origins are set");
        let cors = CorsConfiguration::builder()
            .cors_rules(rule)
            .build()
            .expect("one rule is set");
        let request = self.client.put_bucket_cors().bucket(bucket).cors_configuration(cors);
        answered(&format!("PutBucketCors on Garage bucket {bucket}"), request.send()).await;
    }

    /// Removes the bucket's CORS rules: preflights are then refused (403) and successful
    /// responses carry no CORS headers. (Garage puts `Access-Control-Allow-Origin: *` on
    /// every S3 error response, with or without rules.)
    pub async fn delete_cors(&self) {
        self.delete_bucket_cors(&self.bucket).await
    }

    /// [`Garage::delete_cors`] on another bucket of this instance.
    pub async fn delete_bucket_cors(&self, bucket: &str) {
        let request = self.client.delete_bucket_cors().bucket(bucket);
        answered(&format!("DeleteBucketCors on Garage bucket {bucket}"), request.send()).await;
    }

    /// Waits until the S3 API answers a signed HeadBucket, which also proves the port is ours:
    /// no other process knows this key.
    async fn wait_for_s3(&self) -> Result<(), String> {
        let deadline = Instant::now() + PORT_GRACE;
        loop {
            if let Some(conflict) = self.server.port_conflict() {
                return Err(conflict);
            }
            let probe = self.client.head_bucket().bucket(&self.bucket).send();
            let error = match tokio::time::timeout(Duration::from_millis(500), probe).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(e)) => DisplayErrorContext(e).to_string(),
                Err(_) => "no answer within 500 ms".to_owned(),
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "the S3 port did not answer as this Garage (taken by another process?): {error}"
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// A node that is up and configured, before the S3 client exists.
struct Booted {
    server: Server,
    dir: TempDir,
    cli: Cli,
    ports: Ports,
    admin_token: String,
    bucket: String,
    access_key: String,
    secret_key: String,
}

impl Booted {
    /// Writes the config, starts the server and configures it. `Err` means a port was taken.
    fn boot(bin: PathBuf, bucket: &str) -> Result<Booted, String> {
        let dir = tempfile::Builder::new()
            .prefix("garage-test-")
            .tempdir()
            .expect("a temp dir for Garage");
        let (listeners, ports) = Ports::reserve();
        let admin_token = random_hex(32);
        let config = dir.path().join("garage.toml");
        fs::write(&config, config_toml(dir.path(), &ports, &random_hex(32), &admin_token))
            .expect("writing garage.toml");
        drop(listeners);

        let mut server = Server::spawn(&bin, &config, dir.path().join("garage.log"));
        let cli = Cli { bin, config };
        server.wait_for_rpc(ports.rpc)?;

        // `node id` reads the key the server wrote in meta/ before binding; the commands after it
        // go through RPC.
        let node_id = server.step(&cli, &["node", "id", "--quiet"])?;
        let node_id = node_id.trim().split('@').next().unwrap_or_default();
        server.step(&cli, &["layout", "assign", "-z", "dc1", "-c", "1G", node_id])?;
        server.step(&cli, &["layout", "apply", "--version", "1"])?;
        server.wait_for_health(ports.admin)?;

        let key = server.step(&cli, &["key", "create", "testkit"])?;
        let (access_key, secret_key) = match (field(&key, "Key ID"), field(&key, "Secret key")) {
            (Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
            _ => server.fail(&format!("`garage key create` printed no Key ID / Secret key:\n{key}")),
        };
        server.step(&cli, &["bucket", "create", bucket])?;
        server.step(
            &cli,
            &[
                "bucket",
                "allow",
                "--read",
                "--write",
                "--owner",
                bucket,
                "--key",
                &access_key,
            ],
        )?;

        Ok(Booted {
            server,
            dir,
            cli,
            ports,
            admin_token,
            bucket: bucket.to_owned(),
            access_key,
            secret_key,
        })
    }

    fn into_garage(self) -> Garage {
        let endpoint = format!("http://127.0.0.1:{}", self.ports.s3);
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(&endpoint)
            .region(Region::new(REGION))
            .credentials_provider(Credentials::new(
                &self.access_key,
                &self.secret_key,
                None,
                None,
                "broker-testkit-garage",
            ))
            .force_path_style(true)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        Garage {
            server: self.server,
            dir: self.dir,
            cli: self.cli,
            endpoint,
            admin_endpoint: format!("http://127.0.0.1:{}", self.ports.admin),
            admin_token: self.admin_token,
            bucket: self.bucket,
            access_key: self.access_key,
            secret_key: self.secret_key,
            client: Client::from_conf(config),
        }
    }
}

/// The `garage server` child; killed on drop.
struct Server {
    child: Child,
    log: PathBuf,
    /// The log's end is already in a panic message.
    reported: AtomicBool,
}

impl Server {
    fn spawn(bin: &Path, config: &Path, log: PathBuf) -> Server {
        let out = File::create(&log).expect("creating garage.log");
        let err = out.try_clone().expect("cloning the garage.log handle");
        let mut command = garage_command(bin, config);
        let filter = match std::env::var("GARAGE_LOG") {
            Ok(extra) if !extra.is_empty() => format!("info,{extra}"),
            _ => "info".to_owned(),
        };
        command
            .arg("server")
            .env("RUST_LOG", filter)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not run {} server: {e}; {INSTALL_HINT}", bin.display()));
        Server {
            child,
            log,
            reported: AtomicBool::new(false),
        }
    }

    /// Waits until Garage has bound its RPC port (the CLI's way in). A successful connection
    /// would not do: it may reach a process that took the port, before Garage fails to bind
    /// it and aborts. Garage logs `Listening on <addr>` right after the bind, at info level.
    fn wait_for_rpc(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        let listening = format!("Listening on 127.0.0.1:{port}");
        loop {
            if self.log_text().contains(&listening) {
                return Ok(());
            }
            self.check(deadline, "it did not listen for RPC")?;
        }
    }

    /// One CLI command of the set-up: its stdout, `Err` if it failed on a port conflict.
    fn step(&self, cli: &Cli, args: &[&str]) -> Result<String, String> {
        cli.output(args).or_else(|error| match self.port_conflict() {
            Some(conflict) => Err(conflict),
            None => self.fail(&error),
        })
    }

    /// Waits until `GET /health` on the admin API says the node, layout applied, is fully
    /// operational (it is as soon as `layout apply` returns). No Garage answer within
    /// [`PORT_GRACE`] means another process holds the port: Garage only logs that failure
    /// once its S3 server stops, so the log cannot tell.
    fn wait_for_health(&mut self, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + PORT_GRACE;
        loop {
            if let Ok((200, response)) = http_request(port, "GET", "/health", &[])
                && response.contains("fully operational")
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no Garage answer on admin port {port} (taken by another process?)"
                ));
            }
            self.check(deadline, "its admin API did not report health")?;
        }
    }

    /// Between polls: `Err` on a port conflict, panic if the server died or the deadline passed.
    fn check(&mut self, deadline: Instant, waiting_for: &str) -> Result<(), String> {
        if let Some(conflict) = self.port_conflict() {
            return Err(conflict);
        }
        if let Ok(Some(status)) = self.child.try_wait() {
            self.fail(&format!("it exited ({status}): {waiting_for}"));
        }
        if Instant::now() > deadline {
            self.fail(&format!("{waiting_for} within {START_TIMEOUT:?}"));
        }
        thread::sleep(POLL);
        Ok(())
    }

    /// A port another process took between our pick and Garage's bind. Garage aborts on an
    /// RPC bind failure but keeps running when an HTTP server fails to bind.
    fn port_conflict(&self) -> Option<String> {
        let log = self.log_text();
        log.contains("Address already in use")
            .then(|| format!("port taken: {}", tail(&log, 5)))
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn fail(&self, why: &str) -> ! {
        self.reported.store(true, Ordering::Relaxed);
        panic!(
            "Garage failed to start: {why}.\nlog ({}):\n{}",
            self.log.display(),
            tail(&self.log_text(), 40)
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if thread::panicking() && !self.reported.load(Ordering::Relaxed) {
            eprintln!(
                "--- end of Garage's log ({}) ---\n{}",
                self.log.display(),
                tail(&self.log_text(), 40)
            );
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `garage -c <toml> …` for one instance.
#[derive(Clone)]
struct Cli {
    bin: PathBuf,
    config: PathBuf,
}

impl Cli {
    fn run(&self, args: &[&str]) -> String {
        self.output(args).unwrap_or_else(|error| panic!("{error}"))
    }

    fn output(&self, args: &[&str]) -> Result<String, String> {
        let output = garage_command(&self.bin, &self.config)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}; {INSTALL_HINT}", self.bin.display()));
        if !output.status.success() {
            return Err(format!(
                "`garage {}` failed ({}):\n{}{}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr),
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// A command for `bin` with this instance's config, and none of the `GARAGE_*` variables a
/// developer may have set for another cluster (`GARAGE_RPC_HOST`, `GARAGE_RPC_SECRET`, …).
fn garage_command(bin: &Path, config: &Path) -> Command {
    let mut command = Command::new(bin);
    command.arg("-c").arg(config).env("NO_COLOR", "1");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GARAGE_") {
            command.env_remove(name);
        }
    }
    command
}

/// The binary: `GARAGE_BIN`, else the cache path of `scripts/garage.sh`. Checked once per
/// process. Public for tests that run Garage's CLI from scripts (the compose bootstrap).
pub fn garage_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("GARAGE_BIN").filter(|v| !v.is_empty()) {
        Some(bin) => check_bin(PathBuf::from(bin), "GARAGE_BIN"),
        None => check_bin(cache_bin(), "the default cache path"),
    })
    .clone()
    .unwrap_or_else(|message| panic!("{message}"))
}

/// `bin` exists and `bin --version` names [`GARAGE_VERSION`].
fn check_bin(bin: PathBuf, origin: &str) -> Result<PathBuf, String> {
    if !bin.is_file() {
        return Err(format!(
            "the Garage binary is missing: {} (from {origin}) does not exist; {INSTALL_HINT}",
            bin.display()
        ));
    }
    let output = Command::new(&bin)
        .arg("--version")
        .output()
        .map_err(|e| format!("could not run {} (from {origin}): {e}; {INSTALL_HINT}", bin.display()))?;
    // `garage cargo:2.5.0 [features: …]` from crates.io, `garage v2.5.0 […]` from a release.
    let version = String::from_utf8_lossy(&output.stdout);
    let names_version = |word: &str| word.rsplit(':').next().map(|w| w.trim_start_matches('v')) == Some(GARAGE_VERSION);
    if !version.split_whitespace().any(names_version) {
        return Err(format!(
            "{} (from {origin}) is not Garage {GARAGE_VERSION}: `--version` says {:?}; {INSTALL_HINT}",
            bin.display(),
            version.trim()
        ));
    }
    Ok(bin)
}

fn cache_bin() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache
        .join("upload-broker")
        .join(format!("garage-{GARAGE_VERSION}"))
        .join("bin")
        .join("garage")
}

/// Loopback ports that were free a moment ago, all distinct: the listeners are held together
/// until the config is written, so concurrent starts in one process cannot pick the same port.
struct Ports {
    rpc: u16,
    s3: u16,
    admin: u16,
}

impl Ports {
    fn reserve() -> ([TcpListener; 3], Ports) {
        let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding a free loopback port");
        let listeners = [bind(), bind(), bind()];
        let port = |i: usize| listeners[i].local_addr().expect("a bound address").port();
        let ports = Ports {
            rpc: port(0),
            s3: port(1),
            admin: port(2),
        };
        (listeners, ports)
    }
}

fn config_toml(dir: &Path, ports: &Ports, rpc_secret: &str, admin_token: &str) -> String {
    let path = |name: &str| toml_string(&dir.join(name).to_string_lossy());
    format!(
        r#"metadata_dir = {meta}
data_dir = {data}
db_engine = "sqlite"
replication_factor = 1

rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{rpc_secret}"

[s3_api]
s3_region = "{REGION}"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"
# A POST's `Location` is built from this; without it, Garage answers https://<bucket>.<root_domain>/<key>.
public_endpoint = "http://127.0.0.1:{s3}"
public_endpoint_path_style = true

[admin]
api_bind_addr = "127.0.0.1:{admin}"
admin_token = "{admin_token}"
"#,
        meta = path("meta"),
        data = path("data"),
        rpc = ports.rpc,
        s3 = ports.s3,
        admin = ports.admin,
    )
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `bytes` random bytes as lowercase hex (Garage wants `rpc_secret` as 32 hex-encoded bytes).
fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("reading /dev/urandom");
    buf.iter().fold(String::with_capacity(bytes * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The value of a `Label:   value` line in the CLI's table output.
fn field<'a>(output: &'a str, label: &str) -> Option<&'a str> {
    output.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        (name.trim() == label).then(|| value.trim()).filter(|v| !v.is_empty())
    })
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A minimal HTTP/1.1 request on loopback (no client crate needed): status and raw response.
fn http_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> io::Result<(u16, String)> {
    let address = (Ipv4Addr::LOCALHOST, port).into();
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    stream.set_write_timeout(Some(Duration::from_millis(500)))?;
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no HTTP status line"))?;
    Ok((status, response))
}

/// Runs blocking set-up (child processes, sleeps) off the async runtime, passing panics on.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(value) => value,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("Garage set-up task failed: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::primitives::ByteStream;

    use super::*;

    async fn put_and_get(garage: &Garage, bucket: &str, key: &str, body: &'static [u8]) -> Vec<u8> {
        let client = garage.client();
        let put = client.put_object().bucket(bucket).key(key);
        answered("PutObject", put.body(ByteStream::from_static(body)).send()).await;
        let object = answered("GetObject", client.get_object().bucket(bucket).key(key).send()).await;
        object.body.collect().await.expect("body").to_vec()
    }

    /// A browser's preflight for a PUT with a content type and a metadata header: the status and,
    /// if the preflight passed, the allowed origin. (Garage puts `Access-Control-Allow-Origin: *`
    /// on every S3 error, a refused preflight included; a browser still fails it on the 403.)
    fn preflight(garage: &Garage, origin: &str) -> (u16, Option<String>) {
        let port: u16 = garage
            .endpoint()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port");
        let path = format!("/{}/some/key", garage.bucket());
        let headers = [
            ("Origin", origin),
            ("Access-Control-Request-Method", "PUT"),
            ("Access-Control-Request-Headers", "content-type,x-amz-meta-profile"),
        ];
        let (status, response) = http_request(port, "OPTIONS", &path, &headers).expect("preflight");
        let allowed = response.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("access-control-allow-origin")
                .then(|| value.trim().to_owned())
        });
        (status, allowed.filter(|_| status == 200))
    }

    #[tokio::test]
    async fn a_started_garage_serves_its_bucket_to_its_key() {
        let garage = Garage::start().await;
        assert_eq!(garage.region(), "garage");
        assert_eq!(garage.bucket(), DEFAULT_BUCKET);
        assert!(
            garage.endpoint().starts_with("http://127.0.0.1:"),
            "{}",
            garage.endpoint()
        );
        assert!(garage.access_key().starts_with("GK"), "{}", garage.access_key());
        assert!(!garage.secret_key().is_empty());
        assert_eq!(
            put_and_get(&garage, DEFAULT_BUCKET, "a/b.txt", b"hello").await,
            b"hello"
        );

        // A streamed file body: refused by Garage under the SDK's default checksums, fine here.
        let file = tempfile::NamedTempFile::new().expect("temp file");
        fs::write(file.path(), vec![7u8; 300 * 1024]).expect("write");
        let body = ByteStream::from_path(file.path()).await.expect("stream");
        let put = garage.client().put_object().bucket(garage.bucket()).key("streamed.bin");
        answered("streamed PutObject", put.body(body).send()).await;

        let extra = garage.create_bucket("exports").await;
        assert_eq!(put_and_get(&garage, &extra, "x", b"extra").await, b"extra");
        assert!(garage.cli(&["bucket", "list"]).contains("exports"));

        let (status, response) = http_request(
            garage
                .admin_endpoint()
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port"),
            "GET",
            "/v2/GetClusterHealth",
            &[("Authorization", &format!("Bearer {}", garage.admin_token()))],
        )
        .expect("admin API");
        assert_eq!(status, 200, "{response}");
        assert!(garage.log_path().starts_with(garage.dir()));
    }

    #[tokio::test]
    async fn cors_is_absent_until_set_and_after_delete() {
        let garage = Garage::start().await;
        let app = "http://app.test:8080";
        assert_eq!(preflight(&garage, app), (403, None));

        garage.set_cors(&[app]).await;
        assert_eq!(preflight(&garage, app), (200, Some(app.to_owned())));
        assert_eq!(preflight(&garage, "http://elsewhere.test"), (403, None));
        let request = garage.client().get_bucket_cors().bucket(garage.bucket());
        let rules = answered("GetBucketCors", request.send()).await;
        let rule = &rules.cors_rules()[0];
        assert_eq!(rule.expose_headers(), ["ETag", "Location"]);
        assert_eq!(rule.allowed_headers(), ["*"]);

        garage.delete_cors().await;
        assert_eq!(preflight(&garage, app), (403, None));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_run_side_by_side_and_drop_cleanly() {
        let started = Instant::now();
        let (a, b, c) = tokio::join!(Garage::start(), Garage::start(), Garage::start());
        eprintln!("three concurrent starts: {:?}", started.elapsed());
        let started = Instant::now();
        let d = Garage::start().await;
        eprintln!("one start: {:?}", started.elapsed());

        let all = [&a, &b, &c, &d];
        for (i, garage) in all.iter().enumerate() {
            assert_eq!(put_and_get(garage, DEFAULT_BUCKET, "k", b"v").await, b"v");
            for other in &all[i + 1..] {
                assert_ne!(garage.endpoint(), other.endpoint());
                assert_ne!(garage.dir(), other.dir());
            }
        }
        // Each key exists on its own node only.
        let mut config = a.client().config().to_builder();
        config.set_endpoint_url(Some(b.endpoint().to_owned()));
        let error = Client::from_conf(config.build())
            .list_objects_v2()
            .bucket(DEFAULT_BUCKET)
            .send()
            .await
            .expect_err("a's key on b");
        let error = DisplayErrorContext(&error).to_string();
        assert!(
            error.contains("InvalidAccessKeyId") || error.contains("AccessDenied"),
            "{error}"
        );

        let (dir, endpoint) = (d.dir().to_owned(), d.endpoint().to_owned());
        let port: u16 = endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
        drop(d);
        assert!(!dir.exists(), "{} survived the drop", dir.display());
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err(),
            "{endpoint} still answers"
        );
    }

    /// Another process binding one of the picked ports before Garage does is seen as a conflict
    /// (and [`Garage::start`] starts over), whether Garage aborts (RPC) or keeps running (HTTP).
    #[test]
    fn a_port_taken_after_the_pick_is_reported_as_a_conflict() {
        let bin = garage_bin();
        for taken in ["rpc", "s3"] {
            let dir = tempfile::tempdir().expect("temp dir");
            let (listeners, ports) = Ports::reserve();
            let [rpc, s3, admin] = listeners;
            let _held = if taken == "rpc" { rpc } else { s3 };
            drop(admin);
            let config = dir.path().join("garage.toml");
            fs::write(&config, config_toml(dir.path(), &ports, &random_hex(32), "token")).expect("config");
            let server = Server::spawn(&bin, &config, dir.path().join("garage.log"));
            let deadline = Instant::now() + Duration::from_secs(10);
            while server.port_conflict().is_none() {
                assert!(
                    Instant::now() < deadline,
                    "{taken} port: no conflict in\n{}",
                    server.log_text()
                );
                thread::sleep(POLL);
            }
        }
    }

    #[test]
    fn a_missing_or_wrong_binary_is_named_with_the_install_command() {
        let missing = check_bin(PathBuf::from("/nonexistent/garage"), "GARAGE_BIN").expect_err("missing");
        assert!(
            missing.contains("/nonexistent/garage") && missing.contains("GARAGE_BIN"),
            "{missing}"
        );
        assert!(missing.contains("bash scripts/garage.sh"), "{missing}");

        let dir = tempfile::tempdir().expect("temp dir");
        let fake = dir.path().join("garage");
        fs::write(&fake, "#!/bin/sh\necho 'garage cargo:2.5.1 [features: sqlite]'\n").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            fs::set_permissions(&fake, fs::Permissions::from_mode(0o755)).expect("chmod");
        }
        let wrong = check_bin(fake, "GARAGE_BIN").expect_err("wrong version");
        assert!(
            wrong.contains("is not Garage 2.5.0") && wrong.contains("cargo:2.5.1"),
            "{wrong}"
        );
        assert!(wrong.contains("bash scripts/garage.sh"), "{wrong}");
    }

    #[test]
    fn config_values_are_quoted_for_toml() {
        assert_eq!(toml_string(r#"/tmp/a "b"\c"#), r#""/tmp/a \"b\"\\c""#);
        assert_eq!(random_hex(32).len(), 64);
        assert_ne!(random_hex(32), random_hex(32));
        let key = "==== ACCESS KEY INFORMATION ====\nKey ID:      GK31c2f218a2e44f485b94239e\nKey name:    testkit\nSecret key:  b892c0665f0ada8a4755dae98baa3b133590e11dae3bcc1f9d769d67f16c3835\n";
        assert_eq!(field(key, "Key ID"), Some("GK31c2f218a2e44f485b94239e"));
        assert_eq!(
            field(key, "Secret key"),
            Some("b892c0665f0ada8a4755dae98baa3b133590e11dae3bcc1f9d769d67f16c3835")
        );
        assert_eq!(field(key, "Missing"), None);
    }
}
