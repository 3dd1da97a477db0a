//! Bearer JWTs, verified locally.
//!
//! The header's `alg` only selects *where* the key comes from, and each source
//! is pinned to its algorithm: HS256 verifies with `AUTH_HS256_SECRET` and
//! nothing else; RS256 and ES256 verify with a JWKS key of that type and
//! nothing else. `none`, every other algorithm, and an HS256 token when no
//! secret is configured are refused before any signature check, so a token
//! "signed" with the RSA public key as an HMAC secret never verifies.

use broker_core::TenantId;
use broker_core::config::JwtSettings;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::AuthFailure;
use super::Caller;
use super::jwks::{Jwks, KeyMiss};

/// Subjects end up in object metadata and logs: bounded, no control characters.
const MAX_SUBJECT_BYTES: usize = 255;

pub struct JwtVerifier {
    hs256: Option<DecodingKey>,
    jwks: Option<Jwks>,
    settings: JwtSettings,
    /// The claim checks of each accepted algorithm, built once: they only
    /// depend on the settings.
    validations: [(Algorithm, Validation); 3],
}

impl JwtVerifier {
    pub fn new(settings: &JwtSettings) -> Result<Self, String> {
        Ok(JwtVerifier {
            hs256: settings
                .hs256_secret
                .as_ref()
                .map(|s| DecodingKey::from_secret(s.expose().as_bytes())),
            jwks: settings.jwks.as_ref().map(Jwks::new).transpose()?,
            validations: [Algorithm::HS256, Algorithm::RS256, Algorithm::ES256]
                .map(|algorithm| (algorithm, validation(settings, algorithm))),
            settings: settings.clone(),
        })
    }

    pub async fn verify(&self, token: &str) -> Result<Caller, AuthFailure> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| match declared_algorithm(token) {
            // `none`, `HS512`, `PS256`, ...: named, but not one the broker accepts.
            Some(_) => AuthFailure::AlgorithmNotAccepted,
            None => AuthFailure::Malformed,
        })?;
        // Extensions the broker does not implement must not be silently ignored (RFC 7515 §4.1.11).
        if header.crit.is_some() {
            return Err(AuthFailure::Malformed);
        }
        let pinned;
        let key = match header.alg {
            Algorithm::HS256 => self.hs256.as_ref().ok_or(AuthFailure::AlgorithmNotAccepted)?,
            Algorithm::RS256 | Algorithm::ES256 => {
                let jwks = self.jwks.as_ref().ok_or(AuthFailure::AlgorithmNotAccepted)?;
                pinned = jwks
                    .key_for(header.kid.as_deref(), header.alg)
                    .await
                    .map_err(|miss| match miss {
                        KeyMiss::Unknown => AuthFailure::UnknownKey,
                        KeyMiss::Unavailable => AuthFailure::KeysUnavailable,
                    })?;
                debug_assert_eq!(pinned.algorithm, header.alg);
                &pinned.key
            }
            _ => return Err(AuthFailure::AlgorithmNotAccepted),
        };
        let validation = self
            .validations
            .iter()
            .find_map(|(algorithm, validation)| (*algorithm == header.alg).then_some(validation))
            .ok_or(AuthFailure::AlgorithmNotAccepted)?;
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, key, validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthFailure::Expired,
                ErrorKind::ImmatureSignature => AuthFailure::NotYetValid,
                ErrorKind::InvalidIssuer => AuthFailure::WrongIssuer,
                ErrorKind::InvalidAudience => AuthFailure::WrongAudience,
                ErrorKind::InvalidSignature => AuthFailure::BadSignature,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => AuthFailure::AlgorithmNotAccepted,
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::InvalidClaimFormat(_) => AuthFailure::MissingClaim,
                _ => AuthFailure::Malformed,
            })?
            .claims;
        self.caller(&claims)
    }

    /// The principal is named by source and issuer, `jwt:{iss}#{sub}`: a
    /// `sub` is only unique within its issuer, and none can pass for an API
    /// key (`apikey:{label}`) or a subject of another issuer. `iss` is one of
    /// `AUTH_ISSUER` (checked above), none of which contains `#`.
    fn caller(&self, claims: &Map<String, Value>) -> Result<Caller, AuthFailure> {
        let tenant = claims
            .get(&self.settings.tenant_claim)
            .and_then(Value::as_str)
            .and_then(|t| TenantId::parse(t).ok())
            .ok_or(AuthFailure::InvalidTenant)?;
        let subject = claims
            .get(&self.settings.subject_claim)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= MAX_SUBJECT_BYTES && !s.chars().any(char::is_control))
            .ok_or(AuthFailure::InvalidSubject)?;
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(AuthFailure::MissingClaim)?;
        let admin = self
            .settings
            .admin_claim
            .as_ref()
            .is_some_and(|admin| match claims.get(&admin.claim) {
                Some(Value::String(value)) => *value == admin.value,
                Some(Value::Array(values)) => values.iter().any(|v| v.as_str() == Some(admin.value.as_str())),
                _ => false,
            });
        Ok(Caller {
            tenant,
            subject: format!("jwt:{issuer}#{subject}"),
            admin,
        })
    }
}

/// One algorithm: the one the key was pinned to.
fn validation(settings: &JwtSettings, algorithm: Algorithm) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&settings.issuers);
    validation.set_audience(&settings.audiences);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.leeway = settings.leeway.as_secs();
    validation
}

/// The `alg` a token's header names, when the header is JSON at all.
fn declared_algorithm(token: &str) -> Option<String> {
    use base64::Engine as _;
    let encoded = token.split('.').next()?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .ok()?;
    let header: Value = serde_json::from_slice(&json).ok()?;
    header.get("alg")?.as_str().map(str::to_owned)
}

/// Three base64url segments: a JWS compact serialisation, not an API key.
pub fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3
}
