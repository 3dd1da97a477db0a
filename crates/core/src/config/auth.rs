//! Who may call the API, how often, and how much each tenant may store:
//! `AUTH_*`, `API_KEYS`, `ADMIN_API_KEYS`, `RATE_LIMIT_*`, `TENANT_QUOTA_BYTES`
//! and `TENANT_QUOTAS`.
//!
//! Operators' routes (`/storage/info`, `/storage/usage`) need an admin: a key
//! of `ADMIN_API_KEYS` (the same `tenant:sha256hex[:label]` form as
//! `API_KEYS`, so an admin key is also a caller of its tenant), or a JWT whose
//! `AUTH_ADMIN_CLAIM` holds `AUTH_ADMIN_VALUE`. With `AUTH_MODE=none` the
//! local caller is the admin only on a loopback `BIND_ADDR`.
//!
//! Authentication is on unless `AUTH_MODE=none` says otherwise, explicitly:
//! with no credential source configured the broker refuses to start, whatever
//! the store. `AUTH_MODE=none` itself is only accepted where nobody else can
//! reach the broker or real data: the embedded store on a loopback
//! `BIND_ADDR`. Anything else needs [`INSECURE_AUTH_NONE`], a name nobody sets
//! by accident. See docs/auth.md.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{Reader, StoreBackend};
use crate::keys::TenantId;
use crate::secret::Secret;

/// HS256 secrets shorter than this are refused (RFC 7518 §3.2: at least the hash size).
pub const MIN_HS256_SECRET_BYTES: usize = 32;
pub const DEFAULT_TENANT_CLAIM: &str = "tenant";
pub const DEFAULT_SUBJECT_CLAIM: &str = "sub";
pub const DEFAULT_TEAMS_CLAIM: &str = "teams";
/// `AUTH_MODE=none` with a real store, or on an address other machines can
/// reach, for a private network that is trusted as a whole: anyone who can
/// reach the port reads and writes every tenant's objects.
pub const INSECURE_AUTH_NONE: &str = "AUTH_MODE_NONE_I_UNDERSTAND_THIS_IS_INSECURE";

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub mode: AuthMode,
    /// `RATE_LIMIT_RATE` / `RATE_LIMIT_BURST`; `None` when `RATE_LIMIT_RATE=0`.
    pub rate_limit: Option<RateLimitSettings>,
    pub quotas: QuotaSettings,
}

#[derive(Debug, Clone)]
pub enum AuthMode {
    /// `AUTH_MODE=none`: every request acts as the development principal.
    Disabled,
    /// The default: every request must carry a credential.
    Required(Box<CredentialSettings>),
}

/// Where credentials are checked: JWTs, API keys, or both.
#[derive(Debug, Clone)]
pub struct CredentialSettings {
    pub jwt: Option<JwtSettings>,
    /// `API_KEYS` and `ADMIN_API_KEYS`: server-to-server keys, each bound to one tenant.
    pub api_keys: Vec<ApiKey>,
}

#[derive(Debug, Clone)]
pub struct JwtSettings {
    /// `AUTH_HS256_SECRET`: HS256 tokens are verified with it, and only with it.
    pub hs256_secret: Option<Secret>,
    /// `AUTH_JWKS_URL`: RS256 / ES256 tokens are verified with its keys.
    pub jwks: Option<JwksSettings>,
    /// `AUTH_ISSUER`: accepted `iss` values (required).
    pub issuers: Vec<String>,
    /// `AUTH_AUDIENCE`: accepted `aud` values (required).
    pub audiences: Vec<String>,
    /// `AUTH_LEEWAY`: clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
    /// `AUTH_TENANT_CLAIM`: the claim that names the tenant.
    pub tenant_claim: String,
    /// `AUTH_SUBJECT_CLAIM`: the claim that names the principal.
    pub subject_claim: String,
    /// `AUTH_TEAMS_CLAIM`: the claim that lists the teams the principal is a
    /// member of (an array of team ids, or one id).
    pub teams_claim: String,
    /// `AUTH_ADMIN_CLAIM` / `AUTH_ADMIN_VALUE`: a token is an admin's when this
    /// claim is the value, or an array holding it; `None`: no token is.
    pub admin_claim: Option<AdminClaim>,
}

/// The claim that makes a token an admin's, and the value it must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminClaim {
    pub claim: String,
    pub value: String,
}

#[derive(Debug, Clone)]
pub struct JwksSettings {
    /// Checked at start-up, parsed as the fetch uses it.
    pub url: http::Uri,
    /// `AUTH_JWKS_CACHE_TTL`: keys are refetched after this long.
    pub cache_ttl: Duration,
    /// `AUTH_JWKS_MIN_REFRESH`: an unknown `kid` triggers a refetch at most this often.
    pub min_refresh: Duration,
}

/// One configured API key: the SHA-256 of the key, never the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub tenant: TenantId,
    pub sha256: [u8; 32],
    /// Names the caller in logs and rate limits (`apikey:{label}`).
    pub label: String,
    /// From `ADMIN_API_KEYS`: the key may also call the operators' routes.
    pub admin: bool,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("tenant", &self.tenant)
            .field("label", &self.label)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

/// A token bucket per subject and action: `burst` requests at once, refilled at `rate_per_sec`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitSettings {
    pub rate_per_sec: f64,
    /// `RATE_LIMIT_BURST`: the bucket of signing and of exports.
    pub burst: u32,
    /// `RATE_LIMIT_COMPLETE_BURST`: the bucket of completions, smaller because
    /// each one reads and verifies a whole object.
    pub complete_burst: u32,
}

/// Bytes of verified uploads a tenant may keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaSettings {
    /// `TENANT_QUOTA_BYTES`: every tenant's quota unless overridden.
    pub default_bytes: Option<u64>,
    /// `TENANT_QUOTAS=acme:1000000,big:unlimited`: per-tenant overrides.
    pub per_tenant: HashMap<TenantId, Option<u64>>,
}

impl QuotaSettings {
    /// The tenant's quota in bytes, `None` when unlimited.
    pub fn for_tenant(&self, tenant: &TenantId) -> Option<u64> {
        match self.per_tenant.get(tenant) {
            Some(quota) => *quota,
            None => self.default_bytes,
        }
    }

    pub fn any(&self) -> bool {
        self.default_bytes.is_some() || self.per_tenant.values().any(Option::is_some)
    }
}

/// `bind` and `backend` say who could reach a broker without authentication,
/// and what they would reach.
pub(super) fn parse<F: Fn(&str) -> Option<String>>(
    env: &mut Reader<'_, F>,
    bind: SocketAddr,
    backend: &StoreBackend,
) -> AuthSettings {
    let mode = env.string("AUTH_MODE").map(|m| m.to_ascii_lowercase());
    let hs256_secret = env.string("AUTH_HS256_SECRET").map(Secret::new);
    let jwks_url = env.string("AUTH_JWKS_URL");
    let api_keys_raw = env.string("API_KEYS").map(Secret::new);
    let admin_keys_raw = env.string("ADMIN_API_KEYS").map(Secret::new);
    let admin_claim = env.string("AUTH_ADMIN_CLAIM");
    let admin_value = env.string("AUTH_ADMIN_VALUE");
    let issuers = list(env.string("AUTH_ISSUER"));
    let audiences = list(env.string("AUTH_AUDIENCE"));
    let leeway = env.secs_or("AUTH_LEEWAY", "30");
    let cache_ttl = env.secs_or("AUTH_JWKS_CACHE_TTL", "600");
    let min_refresh = env.secs_or("AUTH_JWKS_MIN_REFRESH", "30");
    let tenant_claim = env
        .string("AUTH_TENANT_CLAIM")
        .unwrap_or_else(|| DEFAULT_TENANT_CLAIM.into());
    let subject_claim = env
        .string("AUTH_SUBJECT_CLAIM")
        .unwrap_or_else(|| DEFAULT_SUBJECT_CLAIM.into());
    let teams_claim = env
        .string("AUTH_TEAMS_CLAIM")
        .unwrap_or_else(|| DEFAULT_TEAMS_CLAIM.into());
    // Read whatever the mode, like every variable, so `Settings::variables` sees it.
    let insecure_none_accepted = env.bool_or(INSECURE_AUTH_NONE, false);

    let configured: Vec<&str> = [
        ("AUTH_HS256_SECRET", hs256_secret.is_some()),
        ("AUTH_JWKS_URL", jwks_url.is_some()),
        ("API_KEYS", api_keys_raw.is_some()),
        ("ADMIN_API_KEYS", admin_keys_raw.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();

    let mode = match mode.as_deref() {
        Some("none") => {
            if !configured.is_empty() {
                env.problem(format!(
                    "AUTH_MODE=none disables authentication, but {} is set; unset one or the other",
                    configured.join(" and ")
                ));
            }
            let mut exposed = Vec::new();
            if matches!(backend, StoreBackend::External { .. }) {
                exposed.push("S3_ENABLED=true (a real store)".to_owned());
            }
            if !bind.ip().is_loopback() {
                exposed.push(format!("BIND_ADDR={bind} (reachable from other machines)"));
            }
            if !exposed.is_empty() && !insecure_none_accepted {
                env.problem(format!(
                    "AUTH_MODE=none is only accepted with the embedded store (S3_ENABLED unset) on a loopback BIND_ADDR, \
                     but {}: configure AUTH_HS256_SECRET, AUTH_JWKS_URL or API_KEYS; on a private network where \
                     everyone who can reach the broker may act for every tenant, set {INSECURE_AUTH_NONE}=true",
                    exposed.join(" and ")
                ));
            }
            AuthMode::Disabled
        }
        None | Some("required") => {
            if configured.is_empty() {
                env.problem(
                    "no authentication is configured: set AUTH_HS256_SECRET and/or AUTH_JWKS_URL (JWT), and/or API_KEYS; \
                     or set AUTH_MODE=none to run without authentication (local development only)"
                        .into(),
                );
            }
            if let Some(secret) = &hs256_secret
                && secret.expose().len() < MIN_HS256_SECRET_BYTES
            {
                env.problem(format!(
                    "AUTH_HS256_SECRET must be at least {MIN_HS256_SECRET_BYTES} bytes"
                ));
            }
            let jwks_uri = jwks_url.as_deref().and_then(|raw| {
                let uri = acceptable_jwks_url(raw);
                if uri.is_none() {
                    env.problem(format!(
                        "AUTH_JWKS_URL must be an https:// URL (http:// only on loopback), without user:password@ (got {raw:?})"
                    ));
                }
                uri
            });
            let jwt = if hs256_secret.is_some() || jwks_url.is_some() {
                for (name, values) in [("AUTH_ISSUER", &issuers), ("AUTH_AUDIENCE", &audiences)] {
                    if values.is_empty() {
                        env.problem(format!("{name} is required when JWT authentication is configured"));
                    }
                }
                // A principal is `jwt:{iss}#{sub}`; an issuer with a `#` could pass for another's subject.
                for issuer in issuers.iter().filter(|i| i.contains('#')) {
                    env.problem(format!("AUTH_ISSUER values must not contain '#' (got {issuer:?})"));
                }
                let admin_claim = match (admin_claim, admin_value) {
                    (Some(claim), Some(value)) => Some(AdminClaim { claim, value }),
                    (None, None) => None,
                    _ => {
                        env.problem("AUTH_ADMIN_CLAIM and AUTH_ADMIN_VALUE are set together or not at all".into());
                        None
                    }
                };
                Some(JwtSettings {
                    hs256_secret,
                    jwks: jwks_uri.map(|url| JwksSettings {
                        url,
                        cache_ttl,
                        min_refresh,
                    }),
                    issuers,
                    audiences,
                    leeway,
                    tenant_claim,
                    subject_claim,
                    teams_claim,
                    admin_claim,
                })
            } else {
                if admin_claim.is_some() || admin_value.is_some() {
                    env.problem("AUTH_ADMIN_CLAIM and AUTH_ADMIN_VALUE need JWT authentication (AUTH_HS256_SECRET or AUTH_JWKS_URL)".into());
                }
                None
            };
            let mut api_keys = Vec::new();
            for (name, raw, admin) in [
                ("API_KEYS", &api_keys_raw, false),
                ("ADMIN_API_KEYS", &admin_keys_raw, true),
            ] {
                if let Some(raw) = raw {
                    parse_api_keys(env, name, raw.expose(), admin, &mut api_keys);
                }
            }
            AuthMode::Required(Box::new(CredentialSettings { jwt, api_keys }))
        }
        Some(other) => {
            env.problem(format!(
                "AUTH_MODE must be 'required' (the default) or 'none' (got {other:?})"
            ));
            AuthMode::Disabled
        }
    };

    let rate: f64 = env.parse_or("RATE_LIMIT_RATE", "5", "a number of requests per second");
    let burst: u32 = env.parse_or("RATE_LIMIT_BURST", "30", "a whole number of at least 1");
    let complete_burst: u32 = env.parse_or("RATE_LIMIT_COMPLETE_BURST", "10", "a whole number of at least 1");
    if !rate.is_finite() || rate < 0.0 {
        env.problem(format!(
            "RATE_LIMIT_RATE must be a number of requests per second, 0 to disable (got {rate})"
        ));
    }
    for (name, value) in [
        ("RATE_LIMIT_BURST", burst),
        ("RATE_LIMIT_COMPLETE_BURST", complete_burst),
    ] {
        if value == 0 {
            env.problem(format!("{name} must be at least 1"));
        }
    }
    let rate_limit = (rate > 0.0 && rate.is_finite()).then_some(RateLimitSettings {
        rate_per_sec: rate,
        burst: burst.max(1),
        complete_burst: complete_burst.max(1),
    });

    let quotas = QuotaSettings {
        default_bytes: env
            .string("TENANT_QUOTA_BYTES")
            .and_then(|raw| match raw.parse::<u64>() {
                Ok(bytes) => Some(bytes),
                Err(_) => {
                    env.problem(format!("TENANT_QUOTA_BYTES must be a number of bytes (got {raw:?})"));
                    None
                }
            }),
        per_tenant: env
            .string("TENANT_QUOTAS")
            .map(|raw| parse_quotas(env, &raw))
            .unwrap_or_default(),
    };

    AuthSettings {
        mode,
        rate_limit,
        quotas,
    }
}

fn list(raw: Option<String>) -> Vec<String> {
    raw.map(|r| {
        r.split(',')
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

/// The JWKS URL, parsed by the parser the fetch uses, so the host checked here
/// is the host connected to: https anywhere; plain http only to this machine
/// (tests, a local IdP). Never with `user:password@`: credentials do not
/// belong in a setting, and `http://127.0.0.1:80@evil.example/` is a URL for
/// `evil.example` that only looks like loopback.
fn acceptable_jwks_url(raw: &str) -> Option<http::Uri> {
    let uri: http::Uri = raw.parse().ok()?;
    let authority = uri.authority()?;
    if authority.as_str().contains('@') {
        return None;
    }
    let acceptable = match uri.scheme_str()? {
        "https" => true,
        "http" => {
            let host = authority.host();
            let ip = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
            host.eq_ignore_ascii_case("localhost") || ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        _ => false,
    };
    acceptable.then_some(uri)
}

/// `tenant:sha256hex[:label],...` of the variable `name`, added to `keys`:
/// a hash or a tenant's label is unique across `API_KEYS` and `ADMIN_API_KEYS`.
/// Problems never quote the value: it is close to a secret.
fn parse_api_keys<F: Fn(&str) -> Option<String>>(
    env: &mut Reader<'_, F>,
    name: &str,
    raw: &str,
    admin: bool,
    keys: &mut Vec<ApiKey>,
) {
    for (index, entry) in raw.split(',').map(str::trim).filter(|e| !e.is_empty()).enumerate() {
        let position = index + 1;
        let mut parts = entry.splitn(3, ':');
        let (tenant, hash, label) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next());
        let Ok(tenant) = TenantId::parse(tenant) else {
            env.problem(format!("{name} entry {position}: the tenant is not a valid tenant id"));
            continue;
        };
        let Some(sha256) = decode_sha256(hash) else {
            env.problem(format!(
                "{name} entry {position}: expected tenant:sha256hex[:label] with 64 hex digits (the SHA-256 of the key, never the key)"
            ));
            continue;
        };
        let label = match label {
            Some(label) if valid_label(label) => label.to_owned(),
            Some(_) => {
                env.problem(format!(
                    "{name} entry {position}: the label must be 1 to 64 of [A-Za-z0-9_-]"
                ));
                continue;
            }
            None => hash[..12].to_ascii_lowercase(),
        };
        if keys.iter().any(|k: &ApiKey| k.sha256 == sha256) {
            env.problem(format!("{name} entry {position}: the same key hash appears twice"));
            continue;
        }
        // The label is the key's principal (`apikey:{label}`): two keys with one
        // label would sign, complete and be rate-limited as one.
        if keys.iter().any(|k| k.tenant == tenant && k.label == label) {
            env.problem(format!(
                "{name} entry {position}: another key of this tenant has the same label"
            ));
            continue;
        }
        keys.push(ApiKey {
            tenant,
            sha256,
            label,
            admin,
        });
    }
}

fn decode_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn valid_label(label: &str) -> bool {
    (1..=64).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
}

/// `acme:1000000,big:unlimited`.
fn parse_quotas<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>, raw: &str) -> HashMap<TenantId, Option<u64>> {
    let mut quotas = HashMap::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry.split_once(':').and_then(|(tenant, bytes)| {
            let tenant = TenantId::parse(tenant.trim()).ok()?;
            let bytes = match bytes.trim() {
                "unlimited" => None,
                n => Some(n.parse::<u64>().ok()?),
            };
            Some((tenant, bytes))
        });
        match parsed {
            Some((tenant, bytes)) => {
                quotas.insert(tenant, bytes);
            }
            None => env.problem(format!(
                "TENANT_QUOTAS entries are tenant:bytes or tenant:unlimited (got {entry:?})"
            )),
        }
    }
    quotas
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::{ConfigError, Settings};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";
    const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const OTHER_HASH: &str = "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752";

    fn parse(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    fn problems(vars: &[(&str, &str)]) -> String {
        parse(vars).expect_err("invalid").to_string()
    }

    #[test]
    fn without_credentials_the_broker_does_not_start_unless_auth_is_explicitly_off() {
        assert!(problems(&[]).contains("AUTH_MODE=none"));
        let real_store = [
            ("S3_ENABLED", "true"),
            ("S3_REGION", "eu-west-1"),
            ("S3_BUCKET", "my-bucket"),
        ];
        assert!(problems(&real_store).contains("no authentication is configured"));
        let dev = parse(&[("AUTH_MODE", "none")]).expect("explicitly off");
        assert!(matches!(dev.auth.mode, AuthMode::Disabled));
        let off = parse(
            &[
                real_store.as_slice(),
                &[("AUTH_MODE", "none"), (INSECURE_AUTH_NONE, "true")],
            ]
            .concat(),
        )
        .expect("explicitly off, and explicitly insecure");
        assert!(matches!(off.auth.mode, AuthMode::Disabled));
        assert!(problems(&[("AUTH_MODE", "none"), ("AUTH_HS256_SECRET", SECRET)]).contains("unset one"));
        assert!(problems(&[("AUTH_MODE", "off")]).contains("AUTH_MODE must be"));
    }

    #[test]
    fn auth_mode_none_is_only_for_the_embedded_store_on_loopback() {
        for loopback in ["127.0.0.1:8080", "[::1]:0", "127.0.0.2:80"] {
            assert!(
                parse(&[("AUTH_MODE", "none"), ("BIND_ADDR", loopback)]).is_ok(),
                "{loopback}"
            );
        }
        let real_store = [
            ("AUTH_MODE", "none"),
            ("S3_ENABLED", "true"),
            ("S3_REGION", "eu-west-1"),
            ("S3_BUCKET", "my-bucket"),
        ];
        let text = problems(&real_store);
        for needle in ["AUTH_MODE=none", "S3_ENABLED=true", INSECURE_AUTH_NONE] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert!(!text.contains("BIND_ADDR="), "the loopback address is fine: {text}");
        let text = problems(&[("AUTH_MODE", "none"), ("BIND_ADDR", "0.0.0.0:8080")]);
        for needle in ["BIND_ADDR=0.0.0.0:8080", INSECURE_AUTH_NONE] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        let both = [real_store.as_slice(), &[("BIND_ADDR", "10.0.0.5:8080")]].concat();
        let text = problems(&both);
        assert!(
            text.contains("S3_ENABLED=true") && text.contains("BIND_ADDR=10.0.0.5:8080"),
            "{text}"
        );
        assert_eq!(text.matches("\n  - ").count(), 1, "one problem naming both: {text}");
        // The escape hatch must say yes; anything else is not consent.
        assert!(problems(&[both.as_slice(), &[(INSECURE_AUTH_NONE, "false")]].concat()).contains(INSECURE_AUTH_NONE));
        let hatched = parse(&[both.as_slice(), &[(INSECURE_AUTH_NONE, "true")]].concat()).expect("explicitly insecure");
        assert!(matches!(hatched.auth.mode, AuthMode::Disabled));
    }

    #[test]
    fn jwt_needs_issuer_audience_and_a_strong_secret() {
        let text = problems(&[("AUTH_HS256_SECRET", "short")]);
        for needle in [
            "at least 32 bytes",
            "AUTH_ISSUER is required",
            "AUTH_AUDIENCE is required",
        ] {
            assert!(text.contains(needle), "{needle} missing from {text}");
        }
        assert!(!text.contains("short"), "the secret is never echoed: {text}");
        let text = problems(&[
            ("AUTH_HS256_SECRET", SECRET),
            ("AUTH_ISSUER", "https://id.example/#a"),
            ("AUTH_AUDIENCE", "broker"),
        ]);
        assert!(text.contains("AUTH_ISSUER values must not contain '#'"), "{text}");
        let ok = parse(&[
            ("AUTH_HS256_SECRET", SECRET),
            ("AUTH_ISSUER", "https://id.example, other"),
            ("AUTH_AUDIENCE", "broker"),
        ])
        .expect("valid");
        assert!(!format!("{:?}", ok.auth).contains(SECRET));
        let AuthMode::Required(credentials) = ok.auth.mode else {
            panic!("auth is on")
        };
        let jwt = credentials.jwt.expect("jwt");
        assert_eq!(jwt.issuers, ["https://id.example", "other"]);
        assert_eq!(
            (
                jwt.tenant_claim.as_str(),
                jwt.subject_claim.as_str(),
                jwt.teams_claim.as_str()
            ),
            ("tenant", "sub", "teams")
        );
        assert_eq!(jwt.leeway, Duration::from_secs(30));
    }

    #[test]
    fn jwks_urls_are_https_or_loopback_http() {
        for good in [
            "https://id.example/.well-known/jwks.json",
            "http://127.0.0.1:8081/jwks",
            "http://localhost/jwks",
            "http://[::1]:9/k",
        ] {
            assert!(acceptable_jwks_url(good).is_some(), "{good}");
        }
        for bad in [
            "http://id.example/jwks",
            "http://127.0.0.1.evil.example/jwks",
            "ftp://x",
            "http://10.0.0.1/jwks",
            // Userinfo: the host is what follows the '@'.
            "http://127.0.0.1:80@evil.example/jwks",
            "http://localhost@evil.example/jwks",
            "http://[::1]@evil.example/jwks",
            "https://user:password@id.example/jwks",
            "/jwks",
            "not a url",
        ] {
            assert!(acceptable_jwks_url(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn api_keys_are_hashes_bound_to_tenants() {
        let settings = parse(&[(
            "API_KEYS",
            &format!("acme:{HASH}:billing, globex:{}", HASH.to_uppercase().replace('9', "8")),
        )])
        .expect("valid");
        let AuthMode::Required(credentials) = settings.auth.mode else {
            panic!("auth is on")
        };
        assert!(credentials.jwt.is_none());
        assert_eq!(credentials.api_keys.len(), 2);
        assert_eq!(credentials.api_keys[0].tenant.as_str(), "acme");
        assert_eq!(credentials.api_keys[0].label, "billing");
        assert_eq!(credentials.api_keys[0].sha256[0], 0x9f);
        assert!(
            !format!("{:?}", credentials.api_keys).contains("9f86"),
            "hashes stay out of Debug"
        );
        for bad in [
            "acme:plaintext-key",
            &format!("staging:{HASH}"),
            &format!("acme:{HASH}:bad label"),
            &format!("a:{HASH},b:{HASH}"),
            &format!("acme:{HASH}:billing,acme:{OTHER_HASH}:billing"),
            // Unlabelled keys are named by their first 12 hex digits.
            &format!("acme:{HASH},acme:{}:{}", &OTHER_HASH, &HASH[..12]),
        ] {
            let text = problems(&[("API_KEYS", bad)]);
            assert!(text.contains("API_KEYS entry"), "{bad}: {text}");
            assert!(!text.contains("plaintext-key"), "{text}");
        }
        // A label names a key within its tenant.
        assert!(parse(&[("API_KEYS", &format!("acme:{HASH}:billing,globex:{OTHER_HASH}:billing"))]).is_ok());
    }

    #[test]
    fn admins_are_keys_of_their_own_list_or_a_configured_claim() {
        let settings =
            parse(&[("ADMIN_API_KEYS", &format!("ops:{HASH}:ops"))]).expect("admin keys alone are a credential source");
        let AuthMode::Required(credentials) = settings.auth.mode else {
            panic!("auth is on")
        };
        assert_eq!(credentials.api_keys.len(), 1);
        assert!(credentials.api_keys[0].admin);
        let both = parse(&[
            ("API_KEYS", &format!("acme:{HASH}:billing")),
            ("ADMIN_API_KEYS", &format!("ops:{OTHER_HASH}")),
        ])
        .expect("valid");
        let AuthMode::Required(credentials) = both.auth.mode else {
            panic!("auth is on")
        };
        let admins: Vec<bool> = credentials.api_keys.iter().map(|k| k.admin).collect();
        assert_eq!(admins, [false, true]);
        // One hash is one key, whichever list it is in.
        let text = problems(&[
            ("API_KEYS", &format!("acme:{HASH}")),
            ("ADMIN_API_KEYS", &format!("ops:{HASH}")),
        ]);
        assert!(text.contains("ADMIN_API_KEYS entry 1: the same key hash"), "{text}");

        let jwt = [
            ("AUTH_HS256_SECRET", SECRET),
            ("AUTH_ISSUER", "iss"),
            ("AUTH_AUDIENCE", "aud"),
        ];
        let claim = parse(
            &[
                jwt.as_slice(),
                &[("AUTH_ADMIN_CLAIM", "role"), ("AUTH_ADMIN_VALUE", "admin")],
            ]
            .concat(),
        )
        .expect("valid");
        let AuthMode::Required(credentials) = claim.auth.mode else {
            panic!("auth is on")
        };
        assert_eq!(
            credentials.jwt.and_then(|j| j.admin_claim),
            Some(AdminClaim {
                claim: "role".into(),
                value: "admin".into()
            })
        );
        let text = problems(&[jwt.as_slice(), &[("AUTH_ADMIN_CLAIM", "role")]].concat());
        assert!(text.contains("together or not at all"), "{text}");
        let text = problems(&[
            ("API_KEYS", &format!("acme:{HASH}")),
            ("AUTH_ADMIN_CLAIM", "role"),
            ("AUTH_ADMIN_VALUE", "admin"),
        ]);
        assert!(text.contains("need JWT authentication"), "{text}");
        assert!(problems(&[("AUTH_MODE", "none"), ("ADMIN_API_KEYS", &format!("ops:{HASH}"))]).contains("unset one"));
    }

    #[test]
    fn rate_limits_and_quotas_parse() {
        let settings = parse(&[
            ("AUTH_MODE", "none"),
            ("RATE_LIMIT_RATE", "0.5"),
            ("RATE_LIMIT_BURST", "3"),
            ("RATE_LIMIT_COMPLETE_BURST", "2"),
            ("TENANT_QUOTA_BYTES", "1000"),
            ("TENANT_QUOTAS", "acme:5, big:unlimited"),
        ])
        .expect("valid");
        assert_eq!(
            settings.auth.rate_limit,
            Some(RateLimitSettings {
                rate_per_sec: 0.5,
                burst: 3,
                complete_burst: 2,
            })
        );
        let defaults = parse(&[("AUTH_MODE", "none")]).expect("valid").auth.rate_limit;
        assert_eq!(
            defaults.map(|r| (r.burst, r.complete_burst)),
            Some((30, 10)),
            "completions have their own, smaller bucket"
        );
        let quota = |t: &str| settings.auth.quotas.for_tenant(&TenantId::parse(t).expect("tenant"));
        assert_eq!(
            (quota("acme"), quota("big"), quota("other")),
            (Some(5), None, Some(1000))
        );
        let off = parse(&[("AUTH_MODE", "none"), ("RATE_LIMIT_RATE", "0")]).expect("valid");
        assert_eq!(off.auth.rate_limit, None);
        assert!(!off.auth.quotas.any());
        let text = problems(&[
            ("AUTH_MODE", "none"),
            ("RATE_LIMIT_BURST", "0"),
            ("RATE_LIMIT_COMPLETE_BURST", "0"),
            ("TENANT_QUOTAS", "acme"),
            ("TENANT_QUOTA_BYTES", "lots"),
        ]);
        assert_eq!(text.matches("\n  - ").count(), 4, "{text}");
    }
}
