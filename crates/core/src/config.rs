//! Typed configuration, read from the environment (and `.env`).
//!
//! Parsing collects every problem before failing, so an operator fixes a broken
//! deployment in one round instead of one variable per restart. Secrets are
//! wrapped in [`Secret`] and never reach `Debug` output or error messages.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::keys::KeyLayout;
use crate::secret::Secret;

mod auth;
pub use auth::{
    ApiKey, AuthMode, AuthSettings, CredentialSettings, INSECURE_AUTH_NONE, JwksSettings, JwtSettings, QuotaSettings,
    RateLimitSettings,
};

/// Every variable the broker reads, with its default, for docs and `.env.example`.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";
pub const DEFAULT_DEVSTORE_BIND: &str = "127.0.0.1:9000";
pub const DEFAULT_PRESIGN_TTL_SECS: u64 = 3600;
pub const MAX_PRESIGN_TTL_SECS: u64 = 604_800;

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the HTTP API listens (`BIND_ADDR`).
    pub bind: SocketAddr,
    pub store: StoreSettings,
    /// `REDIS_URL`: may carry a password, hence a secret.
    pub redis_url: Option<Secret>,
    /// `ALLOWED_ORIGINS`: browser origins the API and the embedded store answer.
    pub allowed_origins: AllowedOrigins,
    pub verify: VerifySettings,
    pub exports: ExportSettings,
    /// Authentication, rate limits and quotas (see docs/auth.md).
    pub auth: AuthSettings,
}

/// Export jobs: bounds on requests, the retry policy and worker liveness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// `EXPORT_MAX_INLINE_BYTES`: largest `POST /exports` body with inline rows.
    pub max_inline_bytes: usize,
    /// `EXPORT_MAX_ATTEMPTS`: attempts before a job with transient failures is `failed`.
    pub max_attempts: u32,
    /// `EXPORT_CONCURRENCY`: jobs one worker process runs at once.
    pub concurrency: usize,
    /// `EXPORT_STATUS_TTL`: how long a job's status (and its idempotency key) is kept.
    pub status_ttl: Duration,
    /// `EXPORT_RETRY_BASE`: first retry delay; doubles per attempt (capped at `EXPORT_RETRY_MAX`).
    pub retry_base: Duration,
    /// `EXPORT_RETRY_MAX`: longest retry delay.
    pub retry_max: Duration,
    /// `EXPORT_HEARTBEAT`: worker heartbeat interval.
    pub heartbeat: Duration,
    /// `EXPORT_MISSED_HEARTBEATS`: a worker silent for `heartbeat × missed` is dead
    /// and its jobs are handed to another worker.
    pub missed_heartbeats: u32,
    /// `EXPORT_DRAIN_TIMEOUT`: on SIGTERM, how long running jobs may finish before
    /// they are interrupted and handed back to the queue.
    pub drain_timeout: Duration,
    /// `EXPORT_QUEUE`: queue name, also the prefix of every Redis key exports use.
    pub queue: String,
    /// `{DATA_DIR}/exports.sqlite3`: the embedded queue when `REDIS_URL` is unset.
    pub sqlite_path: PathBuf,
}

impl ExportSettings {
    /// How long a silent worker keeps its jobs before another one takes them over.
    pub fn orphan_timeout(&self) -> Duration {
        self.heartbeat * self.missed_heartbeats
    }
}

/// Bounds on completion checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifySettings {
    /// `VERIFY_MAX_IMAGE_SIDE`: widest or tallest image accepted, in pixels.
    pub max_image_side: u32,
    /// `VERIFY_MAX_IMAGE_PIXELS`: largest width × height accepted.
    pub max_image_pixels: u64,
    /// `VERIFY_CONCURRENCY`: verifications running at once per process; the
    /// rest wait, so a burst cannot exhaust memory.
    pub concurrency: usize,
    /// `VERIFY_TENANT_CONCURRENCY`: how many of those one tenant may hold
    /// (default: half, at least 1), so one tenant's burst cannot stall the others.
    pub tenant_concurrency: usize,
}

/// Which browser origins may call the API and the embedded store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    /// `ALLOWED_ORIGINS=*`: only for development.
    Any,
    List(Vec<String>),
}

impl AllowedOrigins {
    pub fn allows(&self, origin: &str) -> bool {
        match self {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }

    /// The default: the broker's own origin, so its demo page works and nothing else.
    fn own_origin(bind: SocketAddr) -> Self {
        let port = bind.port();
        let mut list = vec![format!("http://{bind}")];
        if bind.ip().is_loopback() {
            list.push(format!("http://localhost:{port}"));
        }
        AllowedOrigins::List(list)
    }
}

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub backend: StoreBackend,
    pub region: String,
    pub bucket: String,
    /// `S3_ACCESS_KEY` / `S3_SECRET_KEY`; `None` means the default AWS credential chain.
    pub credentials: Option<StaticCredentials>,
    pub presign_ttl: Duration,
    /// `CLEANUP_GRACE`: extra age, beyond the presign TTL, before `cleanup`
    /// deletes a staging object.
    pub cleanup_grace: Duration,
    /// `S3_UPLOAD_MODE`: how browsers upload.
    pub upload_mode: UploadMode,
    pub layout: KeyLayout,
    pub encryption: Option<Encryption>,
}

/// How browsers send a file to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// A presigned POST form: the store enforces type, size range, key and
    /// metadata through the policy (AWS, Garage, MinIO, Ceph, the embedded store).
    Post,
    /// A presigned PUT with signed headers, for stores without POST Object
    /// (R2, B2); the exact size must be declared at signing.
    Put,
}

impl UploadMode {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadMode::Post => "post",
            UploadMode::Put => "put",
        }
    }
}

#[derive(Debug, Clone)]
pub enum StoreBackend {
    /// `S3_ENABLED=true`: AWS S3 or any S3-compatible endpoint.
    External {
        endpoint: Option<String>,
        force_path_style: bool,
    },
    /// The in-process dev store, keeping its objects under `data_dir`.
    Embedded { bind: SocketAddr, data_dir: PathBuf },
}

#[derive(Debug, Clone)]
pub struct StaticCredentials {
    pub access_key: String,
    pub secret_key: Secret,
}

/// Server-side encryption pinned in every policy and applied to every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    Aes256,
    Kms { key_id: Option<String> },
}

impl Encryption {
    pub fn algorithm(&self) -> &'static str {
        match self {
            Encryption::Aes256 => "AES256",
            Encryption::Kms { .. } => "aws:kms",
        }
    }
}

/// Every problem found, one per line.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

impl Settings {
    /// Reads `.env` when present, then the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is normal; a malformed one is reported like any other problem.
        let dotenv_problem = match dotenvy::dotenv() {
            Err(e) if !e.not_found() => Some(format!(".env could not be read: {e}")),
            _ => None,
        };
        let mut result = Self::from_lookup(|name| std::env::var(name).ok());
        if let Some(problem) = dotenv_problem {
            match &mut result {
                Ok(_) => {
                    return Err(ConfigError {
                        problems: vec![problem],
                    });
                }
                Err(e) => e.problems.insert(0, problem),
            }
        }
        result
    }

    /// Parses from any lookup, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut env = Reader {
            lookup: &lookup,
            problems: Vec::new(),
        };

        let bind = env.parse_or("BIND_ADDR", DEFAULT_BIND, "an address such as 127.0.0.1:8080");
        let s3_enabled = env.bool_or("S3_ENABLED", false);
        let region = env.string("S3_REGION");
        let bucket = env.string("S3_BUCKET");
        let endpoint = env.string("S3_ENDPOINT");
        let force_path_style = env.bool_or("S3_FORCE_PATH_STYLE", false);
        let access_key = env.string("S3_ACCESS_KEY");
        let secret_key = env.string("S3_SECRET_KEY").map(Secret::new);
        let ttl_secs: u64 = env.parse_or(
            "S3_PRESIGN_TTL",
            &DEFAULT_PRESIGN_TTL_SECS.to_string(),
            "a whole number of seconds",
        );
        let prefix = env.string("S3_PREFIX").unwrap_or_default();
        let cleanup_grace = env.secs_or("CLEANUP_GRACE", "3600");
        let upload_mode = match env.string("S3_UPLOAD_MODE").as_deref() {
            None | Some("post") => UploadMode::Post,
            Some("put") => UploadMode::Put,
            Some(other) => {
                env.problem(format!("S3_UPLOAD_MODE must be 'post' or 'put' (got {other:?})"));
                UploadMode::Post
            }
        };
        let sse = env.string("S3_SSE");
        let kms_key_id = env.string("S3_SSE_KMS_KEY_ID");
        let devstore_bind = env.parse_or(
            "DEVSTORE_BIND_ADDR",
            DEFAULT_DEVSTORE_BIND,
            "an address such as 127.0.0.1:9000",
        );
        let data_dir = PathBuf::from(env.string("DATA_DIR").unwrap_or_else(|| ".data".into()));
        let redis_url = env.string("REDIS_URL").map(Secret::new);
        let origins = env.string("ALLOWED_ORIGINS");
        let concurrency: usize = env.parse_or("VERIFY_CONCURRENCY", "4", "a whole number of at least 1");
        let verify = VerifySettings {
            max_image_side: env.parse_or("VERIFY_MAX_IMAGE_SIDE", "8192", "a number of pixels"),
            max_image_pixels: env.parse_or("VERIFY_MAX_IMAGE_PIXELS", "40000000", "a number of pixels"),
            concurrency,
            tenant_concurrency: env.parse_or(
                "VERIFY_TENANT_CONCURRENCY",
                &(concurrency / 2).max(1).to_string(),
                "a whole number of at least 1",
            ),
        };
        if verify.concurrency == 0 {
            env.problem("VERIFY_CONCURRENCY must be at least 1".into());
        }
        if !(1..=verify.concurrency.max(1)).contains(&verify.tenant_concurrency) {
            env.problem(format!(
                "VERIFY_TENANT_CONCURRENCY must be between 1 and VERIFY_CONCURRENCY ({})",
                verify.concurrency
            ));
        }
        let exports = ExportSettings {
            max_inline_bytes: env.parse_or("EXPORT_MAX_INLINE_BYTES", "10485760", "a number of bytes"),
            max_attempts: env.parse_or("EXPORT_MAX_ATTEMPTS", "3", "a whole number of at least 1"),
            concurrency: env.parse_or("EXPORT_CONCURRENCY", "2", "a whole number of at least 1"),
            status_ttl: env.secs_or("EXPORT_STATUS_TTL", "604800"),
            retry_base: env.secs_or("EXPORT_RETRY_BASE", "5"),
            retry_max: env.secs_or("EXPORT_RETRY_MAX", "300"),
            heartbeat: env.secs_or("EXPORT_HEARTBEAT", "5"),
            missed_heartbeats: env.parse_or("EXPORT_MISSED_HEARTBEATS", "6", "a whole number of at least 2"),
            drain_timeout: env.secs_or("EXPORT_DRAIN_TIMEOUT", "60"),
            queue: env.string("EXPORT_QUEUE").unwrap_or_else(|| "broker:exports".into()),
            sqlite_path: data_dir.join("exports.sqlite3"),
        };
        for (name, value) in [
            ("EXPORT_MAX_INLINE_BYTES", exports.max_inline_bytes as u64),
            ("EXPORT_MAX_ATTEMPTS", u64::from(exports.max_attempts)),
            ("EXPORT_CONCURRENCY", exports.concurrency as u64),
            ("EXPORT_STATUS_TTL", exports.status_ttl.as_secs()),
            ("EXPORT_RETRY_BASE", exports.retry_base.as_secs()),
            ("EXPORT_HEARTBEAT", exports.heartbeat.as_secs()),
        ] {
            if value == 0 {
                env.problem(format!("{name} must be at least 1"));
            }
        }
        if exports.missed_heartbeats < 2 {
            env.problem("EXPORT_MISSED_HEARTBEATS must be at least 2".into());
        }
        if exports.retry_max < exports.retry_base {
            env.problem("EXPORT_RETRY_MAX must not be shorter than EXPORT_RETRY_BASE".into());
        }
        if !exports
            .queue
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.'))
        {
            env.problem(format!(
                "EXPORT_QUEUE must be made of [A-Za-z0-9:_.-] (got {:?})",
                exports.queue
            ));
        }

        if !(1..=MAX_PRESIGN_TTL_SECS).contains(&ttl_secs) {
            env.problem(format!(
                "S3_PRESIGN_TTL must be between 1 and {MAX_PRESIGN_TTL_SECS} seconds (got {ttl_secs})"
            ));
        }
        let layout = KeyLayout::new(&prefix).unwrap_or_else(|e| {
            env.problem(format!("S3_PREFIX is not a valid key prefix: {e}"));
            KeyLayout::new("").expect("the empty prefix is valid")
        });
        let encryption = match (sse.as_deref(), kms_key_id) {
            (None, None) => None,
            (Some("AES256"), None) => Some(Encryption::Aes256),
            (Some("aws:kms"), key_id) => Some(Encryption::Kms { key_id }),
            (Some("AES256") | None, Some(_)) => {
                env.problem("S3_SSE_KMS_KEY_ID is set but S3_SSE is not 'aws:kms'".into());
                None
            }
            (Some(other), _) => {
                env.problem(format!("S3_SSE must be 'AES256' or 'aws:kms' (got {other:?})"));
                None
            }
        };
        let credentials = match (access_key, secret_key) {
            (Some(access_key), Some(secret_key)) => Some(StaticCredentials { access_key, secret_key }),
            (None, None) => None,
            (Some(_), None) => {
                env.problem("S3_ACCESS_KEY is set but S3_SECRET_KEY is not".into());
                None
            }
            (None, Some(_)) => {
                env.problem("S3_SECRET_KEY is set but S3_ACCESS_KEY is not".into());
                None
            }
        };
        if let Some(endpoint) = &endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            env.problem(format!(
                "S3_ENDPOINT must start with http:// or https:// (got {endpoint:?})"
            ));
        }
        if let Some(url) = &redis_url
            && !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"))
        {
            env.problem("REDIS_URL must start with redis:// or rediss://".into());
        }

        let backend = if s3_enabled {
            for (name, value) in [("S3_REGION", &region), ("S3_BUCKET", &bucket)] {
                if value.is_none() {
                    env.problem(format!("{name} is required when S3_ENABLED=true"));
                }
            }
            StoreBackend::External {
                endpoint,
                force_path_style,
            }
        } else {
            if endpoint.is_some() {
                env.problem("S3_ENDPOINT is set but S3_ENABLED is not true; set S3_ENABLED=true to use it".into());
            }
            StoreBackend::Embedded {
                bind: devstore_bind,
                data_dir: data_dir.clone(),
            }
        };
        if let Some(bucket) = &bucket
            && !valid_bucket_name(bucket)
        {
            env.problem(format!(
                "S3_BUCKET {bucket:?} is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')"
            ));
        }

        let allowed_origins = match origins.as_deref() {
            None => AllowedOrigins::own_origin(bind),
            Some("*") => AllowedOrigins::Any,
            Some(list) => {
                let list: Vec<String> = list
                    .split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_owned())
                    .filter(|o| !o.is_empty())
                    .collect();
                for origin in list
                    .iter()
                    .filter(|o| !(o.starts_with("http://") || o.starts_with("https://")))
                {
                    env.problem(format!(
                        "ALLOWED_ORIGINS entries must be origins such as https://app.example (got {origin:?})"
                    ));
                }
                AllowedOrigins::List(list)
            }
        };

        let auth = auth::parse(&mut env, bind, &backend);

        if !env.problems.is_empty() {
            return Err(ConfigError { problems: env.problems });
        }
        Ok(Settings {
            bind,
            store: StoreSettings {
                backend,
                region: region.unwrap_or_else(|| "us-east-1".into()),
                bucket: bucket.unwrap_or_else(|| "uploads".into()),
                credentials,
                presign_ttl: Duration::from_secs(ttl_secs),
                cleanup_grace,
                upload_mode,
                layout,
                encryption,
            },
            redis_url,
            allowed_origins,
            verify,
            exports,
            auth,
        })
    }
}

fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
}

/// Reads variables and remembers what was wrong with them.
struct Reader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    problems: Vec<String>,
}

impl<F: Fn(&str) -> Option<String>> Reader<'_, F> {
    fn problem(&mut self, message: String) {
        self.problems.push(message);
    }

    /// A set, non-blank value.
    fn string(&mut self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn bool_or(&mut self, name: &str, default: bool) -> bool {
        match self.string(name).map(|v| v.to_ascii_lowercase()).as_deref() {
            None => default,
            Some("true" | "1" | "yes") => true,
            Some("false" | "0" | "no") => false,
            Some(other) => {
                self.problem(format!("{name} must be true or false (got {other:?})"));
                default
            }
        }
    }

    fn secs_or(&mut self, name: &str, default: &str) -> Duration {
        Duration::from_secs(self.parse_or(name, default, "a whole number of seconds"))
    }

    /// `default` must parse; a bad value is reported and replaced by it.
    fn parse_or<T: std::str::FromStr>(&mut self, name: &str, default: &str, expected: &str) -> T {
        let fallback = || default.parse().ok().expect("built-in defaults parse");
        match self.string(name) {
            None => fallback(),
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                self.problem(format!("{name} must be {expected} (got {raw:?})"));
                fallback()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Authentication is off here unless a test configures it, whatever the
    /// store and address (its own tests are in `auth`).
    fn parse(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        if !map.keys().any(|k| k.starts_with("AUTH_") || k == "API_KEYS") {
            map.insert("AUTH_MODE".into(), "none".into());
            map.insert(INSECURE_AUTH_NONE.into(), "true".into());
        }
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn an_empty_environment_runs_the_embedded_store_on_loopback() {
        let settings = parse(&[]).expect("defaults are valid");
        assert_eq!(settings.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.store.presign_ttl, Duration::from_secs(3600));
        assert!(matches!(settings.store.backend, StoreBackend::Embedded { .. }));
        assert!(settings.redis_url.is_none());
        assert!(settings.allowed_origins.allows("http://localhost:8080"));
        assert!(!settings.allowed_origins.allows("http://evil.example"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = parse(&[
            ("S3_ENABLED", "true"),
            ("S3_PRESIGN_TTL", "0"),
            ("S3_ACCESS_KEY", "AKIA"),
            ("S3_SSE", "des"),
            ("BIND_ADDR", "nowhere"),
        ])
        .expect_err("broken");
        let text = err.to_string();
        for needle in [
            "S3_PRESIGN_TTL",
            "S3_SECRET_KEY",
            "S3_SSE",
            "BIND_ADDR",
            "S3_REGION is required",
            "S3_BUCKET is required",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert_eq!(err.problems.len(), 6, "{text}");
    }

    #[test]
    fn secrets_never_appear_in_debug_output_or_errors() {
        let settings = parse(&[
            ("S3_ENABLED", "true"),
            ("S3_REGION", "eu-west-1"),
            ("S3_BUCKET", "my-bucket"),
            ("S3_ACCESS_KEY", "AKIAEXAMPLE"),
            ("S3_SECRET_KEY", "very-secret-value"),
            ("REDIS_URL", "redis://:hunter2@localhost:6379"),
        ])
        .expect("valid");
        let debug = format!("{settings:?}");
        assert!(
            !debug.contains("very-secret-value") && !debug.contains("hunter2"),
            "{debug}"
        );

        let err = parse(&[
            ("S3_SECRET_KEY", "very-secret-value"),
            ("REDIS_URL", "http://:hunter2@x"),
        ])
        .expect_err("broken");
        let text = err.to_string();
        assert!(
            !text.contains("very-secret-value") && !text.contains("hunter2"),
            "{text}"
        );
    }

    #[test]
    fn export_settings_have_production_defaults_and_are_checked() {
        let settings = parse(&[("DATA_DIR", "/var/lib/broker")]).expect("defaults are valid");
        let exports = &settings.exports;
        assert_eq!(exports.max_inline_bytes, 10 * 1024 * 1024);
        assert_eq!(exports.max_attempts, 3);
        assert_eq!(exports.orphan_timeout(), Duration::from_secs(30));
        assert_eq!(exports.sqlite_path, PathBuf::from("/var/lib/broker/exports.sqlite3"));
        let err = parse(&[
            ("EXPORT_MAX_ATTEMPTS", "0"),
            ("EXPORT_MISSED_HEARTBEATS", "1"),
            ("EXPORT_QUEUE", "a b"),
        ])
        .expect_err("broken");
        assert_eq!(err.problems.len(), 3, "{err}");
    }

    #[test]
    fn a_tenant_gets_half_the_verification_slots_by_default() {
        let verify = |vars: &[(&str, &str)]| parse(vars).map(|s| (s.verify.concurrency, s.verify.tenant_concurrency));
        assert_eq!(verify(&[]).expect("defaults"), (4, 2));
        assert_eq!(verify(&[("VERIFY_CONCURRENCY", "1")]).expect("valid"), (1, 1));
        assert_eq!(
            verify(&[("VERIFY_CONCURRENCY", "8"), ("VERIFY_TENANT_CONCURRENCY", "8")]).expect("valid"),
            (8, 8)
        );
        for bad in ["0", "5"] {
            let err = verify(&[("VERIFY_TENANT_CONCURRENCY", bad)]).expect_err("out of range");
            assert!(err.to_string().contains("VERIFY_TENANT_CONCURRENCY"), "{err}");
        }
    }

    #[test]
    fn ttl_bounds_and_encryption_are_checked() {
        assert!(parse(&[("S3_PRESIGN_TTL", "604800")]).is_ok());
        assert!(parse(&[("S3_PRESIGN_TTL", "604801")]).is_err());
        let kms = parse(&[("S3_SSE", "aws:kms"), ("S3_SSE_KMS_KEY_ID", "alias/uploads")]).expect("valid");
        assert_eq!(
            kms.store.encryption,
            Some(Encryption::Kms {
                key_id: Some("alias/uploads".into())
            })
        );
        assert!(parse(&[("S3_SSE", "AES256"), ("S3_SSE_KMS_KEY_ID", "k")]).is_err());
    }
}
