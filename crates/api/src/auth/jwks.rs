//! The identity provider's public keys (`AUTH_JWKS_URL`), cached.
//!
//! Keys are fetched on first use and again after `AUTH_JWKS_CACHE_TTL`. A
//! token whose `kid` is not in the cache triggers a refetch, so a rotated key
//! is picked up at once, but at most one fetch per `AUTH_JWKS_MIN_REFRESH`:
//! a flood of made-up `kid`s cannot turn the broker against its IdP. When a
//! fetch fails the keys already known stay in use.
//!
//! Only signing keys the broker can pin an algorithm to are kept: RSA keys
//! verify RS256 and P-256 keys verify ES256, nothing else. Symmetric (`oct`)
//! keys in a JWKS are ignored, so a published document can never become an
//! HMAC secret.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use broker_core::config::JwksSettings;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// A JWKS is a few KiB; anything much larger is not one.
const MAX_JWKS_BYTES: usize = 512 * 1024;

/// A public key and the one algorithm it may verify.
#[derive(Clone)]
pub struct PinnedKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub key: DecodingKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMiss {
    /// No key with this `kid` and algorithm, even after a refetch.
    Unknown,
    /// The keys could never be fetched.
    Unavailable,
}

/// An HTTPS (and plain HTTP) connector over [`broker_core::tls::client_config`]. The JWKS fetch and `upload-broker doctor` use it.
pub fn https_connector() -> Result<HttpsConnector<HttpConnector>, String> {
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(broker_core::tls::client_config()?)
        .https_or_http()
        .enable_http1()
        .build())
}

pub struct Jwks {
    url: http::Uri,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    cache_ttl: Duration,
    min_refresh: Duration,
    state: RwLock<Cached>,
    /// One fetch at a time; waiters then read what it found.
    refresh: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cached {
    keys: Arc<Vec<PinnedKey>>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
}

impl Jwks {
    pub fn new(settings: &JwksSettings) -> Result<Self, String> {
        let url = settings.url.clone();
        let connector = https_connector()?;
        Ok(Jwks {
            url,
            client: Client::builder(TokioExecutor::new()).build(connector),
            cache_ttl: settings.cache_ttl,
            min_refresh: settings.min_refresh,
            state: RwLock::new(Cached::default()),
            refresh: tokio::sync::Mutex::new(()),
        })
    }

    /// The key for a token's `kid` and `alg`; a token without `kid` is accepted
    /// only when exactly one key fits its algorithm.
    pub async fn key_for(&self, kid: Option<&str>, algorithm: Algorithm) -> Result<PinnedKey, KeyMiss> {
        if let (Some(key), true) = self.lookup(kid, algorithm) {
            return Ok(key);
        }
        let _one_fetch = self.refresh.lock().await;
        // Another request may have refreshed while this one waited.
        if let (Some(key), true) = self.lookup(kid, algorithm) {
            return Ok(key);
        }
        if self.may_fetch() {
            self.fetch().await;
        }
        match self.lookup(kid, algorithm) {
            // Stale keys are still served when the IdP cannot be reached.
            (Some(key), _) => Ok(key),
            (None, _) if self.read().fetched_at.is_none() => Err(KeyMiss::Unavailable),
            (None, _) => Err(KeyMiss::Unknown),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Cached> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The matching key, and whether the cache is still fresh.
    fn lookup(&self, kid: Option<&str>, algorithm: Algorithm) -> (Option<PinnedKey>, bool) {
        let state = self.read();
        let fresh = state.fetched_at.is_some_and(|at| at.elapsed() < self.cache_ttl);
        let mut candidates = state.keys.iter().filter(|k| k.algorithm == algorithm);
        let found = match kid {
            Some(kid) => candidates.find(|k| k.kid.as_deref() == Some(kid)).cloned(),
            None => match (candidates.next(), candidates.next()) {
                (Some(only), None) => Some(only.clone()),
                _ => None,
            },
        };
        (found, fresh)
    }

    fn may_fetch(&self) -> bool {
        self.read()
            .attempted_at
            .is_none_or(|at| at.elapsed() >= self.min_refresh)
    }

    async fn fetch(&self) {
        if let Ok(mut state) = self.state.write() {
            state.attempted_at = Some(Instant::now());
        }
        match tokio::time::timeout(FETCH_TIMEOUT, self.download()).await {
            Ok(Ok(keys)) => {
                tracing::info!(keys = keys.len(), "fetched the JWKS");
                if let Ok(mut state) = self.state.write() {
                    state.keys = Arc::new(keys);
                    state.fetched_at = Some(Instant::now());
                }
            }
            // The URL is configuration, not a secret, but it is left out of logs anyway.
            Ok(Err(reason)) => tracing::warn!(%reason, "the JWKS could not be fetched; keeping the keys already known"),
            Err(_) => tracing::warn!("fetching the JWKS timed out; keeping the keys already known"),
        }
    }

    async fn download(&self) -> Result<Vec<PinnedKey>, String> {
        let request = http::Request::get(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("bad request: {e}"))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the body failed: {e}"))?
            .to_bytes();
        parse(&body)
    }
}

/// The usable keys of a JWKS document; keys the broker cannot pin are skipped.
pub fn parse(body: &[u8]) -> Result<Vec<PinnedKey>, String> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document = serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
    // One odd key (an encryption key, an unknown type) must not hide the others.
    Ok(document
        .keys
        .into_iter()
        .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
        .filter_map(|jwk| pin(&jwk))
        .collect())
}

fn pin(jwk: &Jwk) -> Option<PinnedKey> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|u| *u != PublicKeyUse::Signature)
    {
        return None;
    }
    let algorithm = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => Algorithm::ES256,
        // oct, OKP, other curves: never.
        _ => return None,
    };
    // A key that names its algorithm must name this one.
    if let Some(declared) = jwk.common.key_algorithm
        && declared != KeyAlgorithm::from(algorithm)
    {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(PinnedKey {
        kid: jwk.common.key_id.clone(),
        algorithm,
        key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_with_a_pinnable_algorithm_are_kept() {
        let document = serde_json::json!({ "keys": [
            { "kty": "RSA", "kid": "r1", "use": "sig", "alg": "RS256", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw", "e": "AQAB" },
            { "kty": "RSA", "kid": "enc", "use": "enc", "n": "sXch", "e": "AQAB" },
            { "kty": "RSA", "kid": "ps", "alg": "PS256", "n": "sXch", "e": "AQAB" },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            { "kty": "EC", "kid": "e1", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" },
            { "kty": "EC", "kid": "e3", "crv": "P-384", "x": "AA", "y": "AA" },
            { "kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" },
            { "kty": "weird" }
        ]});
        let keys = parse(document.to_string().as_bytes()).expect("a JWKS");
        let pinned: Vec<(Option<&str>, Algorithm)> = keys.iter().map(|k| (k.kid.as_deref(), k.algorithm)).collect();
        assert_eq!(pinned, [(Some("r1"), Algorithm::RS256), (Some("e1"), Algorithm::ES256)]);
        assert!(parse(b"<html>").is_err());
    }
}
