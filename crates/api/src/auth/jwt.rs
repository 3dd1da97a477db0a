//! Bearer JWTs, verified locally.
//!
//! The header's `alg` only selects *where* the key comes from, and each source
//! is pinned to its algorithm: HS256 verifies with `AUTH_HS256_SECRET` and
//! nothing else; RS256 and ES256 verify with a JWKS key of that type and
//! nothing else. `none`, every other algorithm, and an HS256 token when no
//! secret is configured are refused before any signature check, so a token
//! "signed" with the RSA public key as an HMAC secret never verifies.
//!
//! An HS256 token that verified is remembered by its exact text until it
//! expires: a client sends the same token with every request, and its
//! verdict cannot change while the process runs (the secret, the issuers
//! and audiences are fixed at start-up; only time passes, and `exp` is
//! checked again on every use). JWKS tokens are verified every time: their
//! key can leave the JWKS.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use broker_core::config::JwtSettings;
use broker_core::{TeamId, TenantId};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::AuthFailure;
use super::Caller;
use super::jwks::{Jwks, KeyMiss};

/// Subjects end up in object metadata and logs: bounded, no control characters.
const MAX_SUBJECT_BYTES: usize = 255;
/// The most teams one token may list.
const MAX_TEAMS: usize = 100;

pub struct JwtVerifier {
    hs256: Option<DecodingKey>,
    jwks: Option<Jwks>,
    settings: JwtSettings,
    /// The claim checks of each accepted algorithm, built once: they only
    /// depend on the settings.
    validations: [(Algorithm, Validation); 3],
    verified: Verified,
}

/// HS256 tokens that verified: the caller each names and the last second
/// (`exp` plus the leeway) it is valid in.
#[derive(Default)]
struct Verified(RwLock<HashMap<Box<str>, (Caller, u64)>>);

/// The most tokens remembered; past it, expired ones are forgotten, then all.
const VERIFIED_MAX: usize = 10_000;

impl Verified {
    /// A read lock: the HTTP workers look tokens up side by side (issue 15:
    /// a mutex here made them wait for each other on every request).
    fn get(&self, token: &str, now: u64) -> Option<Caller> {
        {
            let verified = self.0.read().unwrap_or_else(PoisonError::into_inner);
            match verified.get(token) {
                Some((caller, valid_until)) if now <= *valid_until => return Some(caller.clone()),
                Some(_) => {}
                None => return None,
            }
        }
        let mut verified = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if verified.get(token).is_some_and(|(_, valid_until)| now > *valid_until) {
            verified.remove(token);
        }
        None
    }

    fn insert(&self, token: &str, caller: &Caller, valid_until: u64, now: u64) {
        let mut verified = self.0.write().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= VERIFIED_MAX {
            verified.retain(|_, (_, until)| now <= *until);
            if verified.len() >= VERIFIED_MAX {
                verified.clear();
            }
        }
        verified.insert(token.into(), (caller.clone(), valid_until));
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
            verified: Verified::default(),
        })
    }

    pub async fn verify(&self, token: &str) -> Result<Caller, AuthFailure> {
        let now = unix_now();
        if let Some(caller) = self.verified.get(token, now) {
            return Ok(caller);
        }
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
        let caller = self.caller(&claims)?;
        // `exp` is required and was checked (an integer; a fraction is not remembered).
        if header.alg == Algorithm::HS256
            && let Some(exp) = claims.get("exp").and_then(Value::as_u64)
        {
            let valid_until = exp.saturating_add(self.settings.leeway.as_secs());
            self.verified.insert(token, &caller, valid_until, now);
        }
        Ok(caller)
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
            teams: teams(claims.get(&self.settings.teams_claim))?,
            tenant_wide: false,
        })
    }
}

/// The teams claim: absent (no team), one team id, or an array of at most
/// [`MAX_TEAMS`] team ids. Anything else refuses the token: a team id that
/// cannot be a key segment is a misconfigured issuer, not "no team".
fn teams(claim: Option<&Value>) -> Result<Vec<TeamId>, AuthFailure> {
    let ids: Vec<&Value> = match claim {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(values)) if values.len() <= MAX_TEAMS => values.iter().collect(),
        Some(one @ Value::String(_)) => vec![one],
        Some(_) => return Err(AuthFailure::InvalidTeams),
    };
    ids.into_iter()
        .map(|id| {
            id.as_str()
                .and_then(|id| TeamId::parse(id).ok())
                .ok_or(AuthFailure::InvalidTeams)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use broker_core::secret::Secret;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &str = "unit-test-secret-unit-test-secret-0123";

    fn verifier() -> JwtVerifier {
        JwtVerifier::new(&JwtSettings {
            hs256_secret: Some(Secret::new(SECRET)),
            jwks: None,
            issuers: vec!["https://id.example".into()],
            audiences: vec!["broker".into()],
            leeway: Duration::ZERO,
            tenant_claim: "tenant".into(),
            subject_claim: "sub".into(),
            teams_claim: "teams".into(),
            admin_claim: None,
        })
        .expect("verifier")
    }

    fn token(exp: u64, secret: &str) -> String {
        let claims =
            json!({"iss": "https://id.example", "aud": "broker", "sub": "alice", "tenant": "acme", "exp": exp});
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("token")
    }

    #[tokio::test]
    async fn a_remembered_token_is_still_refused_once_it_expires() {
        let verifier = verifier();
        let token = token(unix_now() + 1, SECRET);
        let caller = verifier.verify(&token).await.expect("a valid token");
        assert_eq!(caller.subject, "jwt:https://id.example#alice");
        assert_eq!(
            verifier.verified.get(&token, unix_now()),
            Some(caller.clone()),
            "remembered"
        );
        assert_eq!(verifier.verify(&token).await, Ok(caller));
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(verifier.verify(&token).await, Err(AuthFailure::Expired));
        assert_eq!(verifier.verified.get(&token, unix_now()), None, "forgotten");
    }

    #[tokio::test]
    async fn only_tokens_that_verified_are_remembered() {
        let verifier = verifier();
        let forged = token(unix_now() + 3600, "another-secret-another-secret-0123456");
        for _ in 0..2 {
            assert_eq!(verifier.verify(&forged).await, Err(AuthFailure::BadSignature));
        }
        let expired = token(unix_now() - 10, SECRET);
        assert_eq!(verifier.verify(&expired).await, Err(AuthFailure::Expired));
        assert!(verifier.verified.0.read().expect("lock").is_empty());
    }

    #[test]
    fn teams_are_a_list_of_team_ids_or_the_token_is_refused() {
        let ids = |value: Value| teams(Some(&value)).map(|t| t.iter().map(|t| t.to_string()).collect::<Vec<_>>());
        assert_eq!(teams(None), Ok(Vec::new()));
        assert_eq!(ids(json!(null)), Ok(vec![]));
        assert_eq!(ids(json!(["red", "blue-2"])), Ok(vec!["red".into(), "blue-2".into()]));
        assert_eq!(ids(json!("red")), Ok(vec!["red".into()]));
        for bad in [
            json!(["red", "a/b"]),
            json!([".."]),
            json!([1]),
            json!({"red": true}),
            json!(7),
            json!(vec!["t"; MAX_TEAMS + 1]),
        ] {
            assert_eq!(ids(bad.clone()), Err(AuthFailure::InvalidTeams), "{bad}");
        }
    }

    #[test]
    fn the_remembered_tokens_are_bounded() {
        let verified = Verified::default();
        let caller = Caller::development();
        for n in 0..VERIFIED_MAX {
            verified.insert(&format!("t{n}"), &caller, if n % 2 == 0 { 10 } else { 100 }, 5);
        }
        // Full: at 50 the expired half is forgotten first.
        verified.insert("new", &caller, 100, 50);
        let kept = verified.0.read().expect("lock").len();
        assert_eq!(kept, VERIFIED_MAX / 2 + 1);
        assert_eq!(verified.get("t1", 50), Some(caller.clone()));
        assert_eq!(verified.get("t0", 50), None);
        // A token found expired is forgotten.
        assert_eq!(verified.get("t1", 101), None);
        assert_eq!(verified.0.read().expect("lock").len(), VERIFIED_MAX / 2);
        assert_eq!(verified.get("t1", 50), None);
    }
}
