//! Identity and tenant isolation: who is calling (JWT or API key), how often
//! they may call (rate limits), how much their tenant may store (quotas), and
//! the audit trail of what they did. See docs/auth.md.
//!
//! Everything here is built once at start-up into [`Auth`], registered as
//! `web::Data<Auth>`; the [`Caller`] extractor authenticates with it. The
//! caller is part of this module, so identity has one home and no module
//! outside it is needed to say who is calling.

pub mod api_keys;
pub mod audit;
mod caller;
pub mod jwks;
pub mod jwt;
pub mod quota;
pub mod rate_limit;
mod redis_handle;

use std::sync::Arc;

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;
use broker_core::Settings;
use broker_core::config::{AuthMode, INSECURE_AUTH_NONE, StoreBackend};

use crate::error::ApiError;
pub use api_keys::ApiKeys;
pub use caller::{Admin, Caller};
pub use jwt::JwtVerifier;
pub use quota::Quotas;
pub use rate_limit::{Action, RateLimiter};
pub(crate) use redis_handle::SharedRedis;

/// The header server-to-server callers may use instead of `Authorization: Bearer`.
pub const API_KEY_HEADER: &str = "x-api-key";

pub struct Auth {
    mode: Mode,
    pub limiter: RateLimiter,
    pub quotas: Quotas,
    /// The process's one Redis connection (`REDIS_URL`), shared with the
    /// multipart sessions.
    pub(crate) redis: Option<Arc<SharedRedis>>,
}

enum Mode {
    /// `AUTH_MODE=none`; `local_admin` when only this machine can call.
    Disabled { local_admin: bool },
    Required {
        jwt: Option<Box<JwtVerifier>>,
        api_keys: ApiKeys,
    },
}

/// Why a request is not authenticated. The message never repeats the credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("send a credential: Authorization: Bearer <token>, or X-Api-Key for server-to-server callers")]
    Missing,
    #[error("send exactly one credential: Authorization or X-Api-Key, not both")]
    Ambiguous,
    #[error("the Authorization header must be 'Bearer <token>'")]
    NotBearer,
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's algorithm is not accepted")]
    AlgorithmNotAccepted,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the signing keys cannot be fetched right now")]
    KeysUnavailable,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    #[error("the token's audience is not accepted")]
    WrongAudience,
    #[error("the token lacks a required claim (exp, iss, aud)")]
    MissingClaim,
    #[error("the token does not name a valid tenant")]
    InvalidTenant,
    #[error("the token does not name a valid subject")]
    InvalidSubject,
    #[error("the token's teams claim is not a list of valid team ids")]
    InvalidTeams,
    #[error("the API key is not valid")]
    UnknownApiKey,
}

impl AuthFailure {
    /// A stable word for the audit log.
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::Missing => "missing_credentials",
            AuthFailure::Ambiguous => "ambiguous_credentials",
            AuthFailure::NotBearer => "not_bearer",
            AuthFailure::Malformed => "malformed_token",
            AuthFailure::AlgorithmNotAccepted => "algorithm_not_accepted",
            AuthFailure::UnknownKey => "unknown_signing_key",
            AuthFailure::KeysUnavailable => "signing_keys_unavailable",
            AuthFailure::BadSignature => "bad_signature",
            AuthFailure::Expired => "expired",
            AuthFailure::NotYetValid => "not_yet_valid",
            AuthFailure::WrongIssuer => "wrong_issuer",
            AuthFailure::WrongAudience => "wrong_audience",
            AuthFailure::MissingClaim => "missing_claim",
            AuthFailure::InvalidTenant => "invalid_tenant_claim",
            AuthFailure::InvalidSubject => "invalid_subject_claim",
            AuthFailure::InvalidTeams => "invalid_teams_claim",
            AuthFailure::UnknownApiKey => "unknown_api_key",
        }
    }
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        ApiError::Unauthenticated(failure.to_string())
    }
}

impl Auth {
    pub fn build(settings: &Settings) -> Result<Self, String> {
        let redis = settings
            .redis_url
            .as_ref()
            .map(|url| redis::Client::open(url.expose()).map(|client| Arc::new(SharedRedis::new(client))))
            .transpose()
            .map_err(|e| format!("REDIS_URL is not usable: {e}"))?;
        let mode = match &settings.auth.mode {
            AuthMode::Disabled => {
                let embedded = matches!(settings.store.backend, StoreBackend::Embedded { .. });
                let exposure = if settings.bind.ip().is_loopback() && embedded {
                    "only this machine can reach it, and only its embedded store".to_owned()
                } else {
                    format!(
                        "it listens on {} with {} store, allowed only by {INSECURE_AUTH_NONE}=true",
                        settings.bind,
                        if embedded { "the embedded" } else { "a real" }
                    )
                };
                tracing::warn!(
                    "AUTHENTICATION IS DISABLED (AUTH_MODE=none): every request acts as tenant 'default', subject 'anonymous'; \
                     {exposure}. Configure AUTH_HS256_SECRET, AUTH_JWKS_URL or API_KEYS before exposing this broker."
                );
                Mode::Disabled {
                    local_admin: settings.bind.ip().is_loopback(),
                }
            }
            AuthMode::Required(credentials) => Mode::Required {
                jwt: credentials
                    .jwt
                    .as_ref()
                    .map(JwtVerifier::new)
                    .transpose()?
                    .map(Box::new),
                api_keys: ApiKeys::new(credentials.api_keys.clone()),
            },
        };
        Ok(Auth {
            mode,
            limiter: RateLimiter::new(settings.auth.rate_limit, redis.clone()),
            quotas: Quotas::new(settings.auth.quotas.clone(), redis.clone()),
            redis,
        })
    }

    /// The principal a request acts for.
    pub async fn authenticate(&self, request: &HttpRequest) -> Result<Caller, AuthFailure> {
        let (jwt, api_keys) = match &self.mode {
            Mode::Disabled { local_admin } => {
                return Ok(Caller {
                    admin: *local_admin,
                    ..Caller::development()
                });
            }
            Mode::Required { jwt, api_keys } => (jwt, api_keys),
        };
        let headers = request.headers();
        let credential = match (headers.get(AUTHORIZATION), headers.get(API_KEY_HEADER)) {
            (None, None) => return Err(AuthFailure::Missing),
            (Some(_), Some(_)) => return Err(AuthFailure::Ambiguous),
            (None, Some(key)) => {
                let key = key.to_str().map_err(|_| AuthFailure::UnknownApiKey)?.trim();
                return api_keys.find(key).ok_or(AuthFailure::UnknownApiKey);
            }
            (Some(authorization), None) => bearer(authorization.to_str().map_err(|_| AuthFailure::NotBearer)?)?,
        };
        if jwt::looks_like_jwt(credential) {
            match jwt {
                Some(verifier) => verifier.verify(credential).await,
                None => Err(AuthFailure::AlgorithmNotAccepted),
            }
        } else {
            api_keys.find(credential).ok_or(AuthFailure::UnknownApiKey)
        }
    }
}

/// `Bearer <credential>`; the scheme is case-insensitive (RFC 7235).
fn bearer(header: &str) -> Result<&str, AuthFailure> {
    let (scheme, credential) = header.trim().split_once(' ').ok_or(AuthFailure::NotBearer)?;
    let credential = credential.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || credential.is_empty() {
        return Err(AuthFailure::NotBearer);
    }
    Ok(credential)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_credentials_are_parsed_strictly() {
        assert_eq!(bearer("Bearer abc"), Ok("abc"));
        assert_eq!(bearer("bearer   abc "), Ok("abc"));
        assert_eq!(bearer("Basic abc"), Err(AuthFailure::NotBearer));
        assert_eq!(bearer("Bearer "), Err(AuthFailure::NotBearer));
        assert_eq!(bearer("abc"), Err(AuthFailure::NotBearer));
    }
}
