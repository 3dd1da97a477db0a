//! Typed configuration, read from the environment (and `.env`).
//!
//! Parsing collects every problem before failing, so an operator fixes a broken
//! deployment in one round instead of one variable per restart. Secrets are
//! wrapped in [`Secret`] and never reach `Debug` output or error messages.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

// One parser per section; each reads its own variables and reports its own
// problems through the shared `Reader`, and this file composes them.
mod auth;
mod exports;
mod origins;
mod store;
mod telemetry;
mod uploads;
mod verify;
mod webhooks;
pub use auth::{
    AdminClaim, ApiKey, AuthMode, AuthSettings, CredentialSettings, INSECURE_AUTH_NONE, JwksSettings, JwtSettings,
    QuotaSettings, RateLimitSettings,
};
pub use exports::ExportSettings;
pub use origins::AllowedOrigins;
pub use store::{
    DEFAULT_DEVSTORE_BIND, DEFAULT_PRESIGN_TTL_SECS, Encryption, MAX_PRESIGN_TTL_SECS, StaticCredentials, StoreBackend,
    StoreSettings, UploadMode,
};
pub use telemetry::{DEFAULT_METRICS_BIND, LogFormat, TelemetrySettings};
pub use uploads::{MAX_SINGLE_REQUEST_BYTES, MIN_PART_SIZE, UploadSettings};
pub use verify::VerifySettings;
pub use webhooks::{MIN_WEBHOOK_SECRET_LEN, WebhookEndpoint, WebhookEvent, WebhookSettings};

pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the HTTP API listens (`BIND_ADDR`).
    pub bind: SocketAddr,
    /// `DATA_DIR`: the embedded store's objects and the SQLite queue; also
    /// what `upload-broker migrate` copies from once `S3_ENABLED` is set.
    pub data_dir: PathBuf,
    pub store: StoreSettings,
    /// `REDIS_URL`: may carry a password, hence a secret.
    pub redis_url: Option<Secret>,
    /// `ALLOWED_ORIGINS`: browser origins the API and the embedded store answer.
    pub allowed_origins: AllowedOrigins,
    pub verify: VerifySettings,
    pub exports: ExportSettings,
    /// Authentication, rate limits and quotas (see docs/auth.md).
    pub auth: AuthSettings,
    /// Log format and the metrics address (see docs/operations.md).
    pub telemetry: TelemetrySettings,
    /// Signed completion webhooks (see docs/webhooks.md).
    pub webhooks: WebhookSettings,
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
        let mut env = Reader::new(&lookup);
        let settings = Self::read(&mut env);
        if !env.problems.is_empty() {
            return Err(ConfigError { problems: env.problems });
        }
        Ok(settings)
    }

    /// Every variable the configuration reads. It comes from running the
    /// parser itself, so it cannot drift from it: the deploy files,
    /// `.env.example` and the README's table are checked against it
    /// (`crates/broker/tests/deploy.rs`). Every section reads all of its
    /// variables whatever the others say (a test holds this), so an empty
    /// environment reaches them all.
    pub fn variables() -> BTreeSet<&'static str> {
        let unset = |_: &str| None;
        let mut env = Reader::new(&unset);
        Self::read(&mut env);
        env.read
    }

    /// Reads every section; the values stand in for bad input, which `env` reports.
    fn read<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>) -> Self {
        let bind = env.parse_or("BIND_ADDR", DEFAULT_BIND, "an address such as 127.0.0.1:8080");
        let data_dir = PathBuf::from(env.string("DATA_DIR").unwrap_or_else(|| ".data".into()));
        let store = store::parse(env, &data_dir);
        let redis_url = env.string("REDIS_URL").map(Secret::new);
        if let Some(url) = &redis_url
            && !(url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"))
        {
            env.problem("REDIS_URL must start with redis:// or rediss://".into());
        }
        let allowed_origins = origins::parse(env, bind);
        let verify = verify::parse(env);
        let exports = exports::parse(env, &data_dir);

        let auth = auth::parse(env, bind, &store.backend);
        let telemetry = telemetry::parse(env);
        let webhooks = webhooks::parse(env);

        Settings {
            bind,
            data_dir,
            store,
            redis_url,
            allowed_origins,
            verify,
            exports,
            auth,
            telemetry,
            webhooks,
        }
    }
}

/// Reads variables and remembers what was wrong with them, and which it read.
struct Reader<'a, F: Fn(&str) -> Option<String>> {
    lookup: &'a F,
    problems: Vec<String>,
    /// Every name asked for, set or not: [`Settings::variables`].
    read: BTreeSet<&'static str>,
}

impl<'a, F: Fn(&str) -> Option<String>> Reader<'a, F> {
    fn new(lookup: &'a F) -> Self {
        Reader {
            lookup,
            problems: Vec::new(),
            read: BTreeSet::new(),
        }
    }

    fn problem(&mut self, message: String) {
        self.problems.push(message);
    }

    /// A set, non-blank value. Every other reader goes through this one.
    fn string(&mut self, name: &'static str) -> Option<String> {
        self.read.insert(name);
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn bool_or(&mut self, name: &'static str, default: bool) -> bool {
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

    fn secs_or(&mut self, name: &'static str, default: &str) -> Duration {
        Duration::from_secs(self.parse_or(name, default, "a whole number of seconds"))
    }

    /// `default` must parse; a bad value is reported and replaced by it.
    #[allow(
        clippy::expect_used,
        reason = "every default is a constant of this crate; the empty-environment test parses them"
    )]
    fn parse_or<T: std::str::FromStr>(&mut self, name: &'static str, default: &str, expected: &str) -> T {
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
    /// store and address (its own tests are in `auth`); the sections' tests use it too.
    pub(super) fn parse(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        if !map.keys().any(|k| k.starts_with("AUTH_") || k == "API_KEYS") {
            map.insert("AUTH_MODE".into(), "none".into());
            map.insert(INSECURE_AUTH_NONE.into(), "true".into());
        }
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    /// Parses `vars`, which must fail with `count` problems whose messages
    /// name each of `needles`; returns the error's text.
    pub(super) fn reported_problems(vars: &[(&str, &str)], needles: &[&str], count: usize) -> String {
        let err = parse(vars).expect_err("broken");
        let text = err.to_string();
        for needle in needles {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert_eq!(err.problems.len(), count, "{text}");
        text
    }

    /// The names the parser asks for under `vars`.
    fn names_read(vars: &[(&str, &str)]) -> BTreeSet<&'static str> {
        let map: HashMap<&str, &str> = vars.iter().copied().collect();
        let lookup = |name: &str| map.get(name).map(|v| (*v).to_owned());
        let mut env = Reader::new(&lookup);
        Settings::read(&mut env);
        env.read
    }

    #[test]
    fn every_variable_is_read_whatever_the_others_say() {
        let all = Settings::variables();
        for name in [
            "BIND_ADDR",
            "S3_SSE_KMS_KEY_ID",
            "REDIS_URL",
            INSECURE_AUTH_NONE,
            "TENANT_QUOTAS",
        ] {
            assert!(all.contains(name), "{name} missing from {all:?}");
        }
        let garbage: Vec<(&str, &str)> = all.iter().map(|name| (*name, "?")).collect();
        let secret = "0123456789abcdef0123456789abcdef";
        let environments: [&[(&str, &str)]; 4] = [
            &garbage,
            &[
                ("AUTH_MODE", "none"),
                ("S3_ENABLED", "true"),
                ("BIND_ADDR", "0.0.0.0:8080"),
            ],
            &[
                ("AUTH_HS256_SECRET", secret),
                ("AUTH_ISSUER", "https://id.example.com/"),
                ("AUTH_AUDIENCE", "upload-broker"),
                (
                    "API_KEYS",
                    "acme:f3aac905f18ddf82ae02d1c28561a961549cb6cb04b57fe5a78dc4962526c132",
                ),
                ("TENANT_QUOTAS", "acme:10,big:unlimited"),
                ("TENANT_QUOTA_BYTES", "100"),
            ],
            &[
                ("S3_ENABLED", "true"),
                ("S3_REGION", "eu-west-1"),
                ("S3_BUCKET", "b"),
                ("S3_UPLOAD_MODE", "put"),
                ("S3_SSE", "aws:kms"),
                ("REDIS_URL", "redis://127.0.0.1:6379"),
                ("ALLOWED_ORIGINS", "*"),
            ],
        ];
        for vars in environments {
            assert_eq!(names_read(vars), all, "under {vars:?}");
        }
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
        reported_problems(
            &[
                ("S3_ENABLED", "true"),
                ("S3_PRESIGN_TTL", "0"),
                ("S3_ACCESS_KEY", "AKIA"),
                ("S3_SSE", "des"),
                ("BIND_ADDR", "nowhere"),
            ],
            &[
                "S3_PRESIGN_TTL",
                "S3_SECRET_KEY",
                "S3_SSE",
                "BIND_ADDR",
                "S3_REGION is required",
                "S3_BUCKET is required",
            ],
            6,
        );
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
}
