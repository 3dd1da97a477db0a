//! Authentication: the token matrix, JWKS keys and their rotation, API keys,
//! configurable claims and the development mode.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use broker_testkit::{
    JWT_SECRET, TestApp, claims, error_code, hs256, jwt, now, post_form, principal, spawn_app, spawn_app_with, token,
};

const SIGN: &str = "/uploads/sign";

fn sign_body() -> Value {
    json!({"kind": "avatar", "filename": "me.png", "content_type": "image/png"})
}

/// Signs as `token` and returns the status and the tenant segment of the key (or the error code).
async fn sign_as(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let response = app.with_token(token).post_json(SIGN, &sign_body()).await;
    let status = response.status().as_u16();
    if status == 200 {
        let body: Value = response.json().await.expect("json");
        let key = body["objectKey"].as_str().expect("objectKey");
        (status, key.split('/').nth(1).expect("staging/{tenant}/…").to_owned())
    } else {
        error_code(response).await
    }
}

/// Asks to sign with `name: value` as the only credential.
async fn sign_with_header(app: &TestApp, name: &str, value: &str) -> reqwest::Response {
    let request = app.http.post(format!("{}{SIGN}", app.address)).header(name, value);
    request.json(&sign_body()).send().await.expect("sent")
}

fn unauthenticated() -> (u16, String) {
    (401, "unauthenticated".into())
}

#[tokio::test]
async fn the_token_matrix() {
    let app = spawn_app().await;
    let secret = JWT_SECRET.as_bytes();
    let with = |patch: Value| {
        let mut c = claims("acme", "alice");
        for (k, v) in patch.as_object().expect("object") {
            if v.is_null() {
                c.as_object_mut().expect("object").remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };

    assert_eq!(
        sign_as(&app, Some(&hs256(secret, &claims("acme", "alice")))).await,
        (200, "acme".into()),
        "a valid token"
    );

    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("expired", Some(hs256(secret, &with(json!({"exp": now() - 3600}))))),
        (
            "not yet valid",
            Some(hs256(secret, &with(json!({"nbf": now() + 3600})))),
        ),
        (
            "bad signature",
            Some(hs256(
                b"another-secret-another-secret-0123456789",
                &claims("acme", "alice"),
            )),
        ),
        (
            "wrong audience",
            Some(hs256(secret, &with(json!({"aud": "another-service"})))),
        ),
        (
            "wrong issuer",
            Some(hs256(secret, &with(json!({"iss": "https://evil.example"})))),
        ),
        ("no exp", Some(hs256(secret, &with(json!({"exp": null}))))),
        ("no aud", Some(hs256(secret, &with(json!({"aud": null}))))),
        ("no iss", Some(hs256(secret, &with(json!({"iss": null}))))),
        ("no tenant", Some(hs256(secret, &with(json!({"tenant": null}))))),
        (
            "tenant not a tenant id",
            Some(hs256(secret, &with(json!({"tenant": "../other"})))),
        ),
        (
            "tenant 'staging'",
            Some(hs256(secret, &with(json!({"tenant": "staging"})))),
        ),
        ("no subject", Some(hs256(secret, &with(json!({"sub": null}))))),
        (
            "subject with a newline",
            Some(hs256(secret, &with(json!({"sub": "alice\nadmin"})))),
        ),
        (
            "alg none",
            Some(jwt(
                &json!({"alg": "none", "typ": "JWT"}),
                &claims("acme", "alice"),
                |_| Vec::new(),
            )),
        ),
        (
            "alg None",
            Some(jwt(&json!({"alg": "None"}), &claims("acme", "alice"), |_| Vec::new())),
        ),
        (
            "HS512",
            Some(jwt(&json!({"alg": "HS512"}), &claims("acme", "alice"), |_| vec![0; 64])),
        ),
        (
            "RS256 without a JWKS",
            Some(jwt(&json!({"alg": "RS256"}), &claims("acme", "alice"), |_| {
                vec![0; 256]
            })),
        ),
        (
            "crit header",
            Some(jwt(
                &json!({"alg": "HS256", "crit": ["exp"]}),
                &claims("acme", "alice"),
                |m| hmac(secret, m),
            )),
        ),
        (
            "tampered claims",
            Some(tamper(
                &hs256(secret, &claims("acme", "alice")),
                &claims("globex", "alice"),
            )),
        ),
        ("garbage", Some("a.b.c".into())),
        ("not a jwt nor a key", Some("hello".into())),
    ];
    for (case, token) in cases {
        assert_eq!(sign_as(&app, token.as_deref()).await, unauthenticated(), "{case}");
    }

    // A small clock skew is tolerated (AUTH_LEEWAY, 30 s by default).
    let skewed = hs256(secret, &with(json!({"exp": now() - 5, "nbf": now() + 5})));
    assert_eq!(sign_as(&app, Some(&skewed)).await.0, 200);

    // 401s are JSON, name the Bearer scheme, and never repeat the token.
    let expired = hs256(secret, &with(json!({"exp": now() - 3600})));
    let response = app.with_token(Some(&expired)).post_json(SIGN, &sign_body()).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let text = response.text().await.expect("body");
    assert!(
        text.contains("\"unauthenticated\"") && text.contains("expired"),
        "{text}"
    );
    assert!(!text.contains(&expired), "{text}");

    // Other schemes and malformed headers.
    for value in [
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Token abc",
        &format!("Bearer {}", "x".repeat(10)),
    ] {
        let response = sign_with_header(&app, "authorization", value).await;
        assert_eq!(error_code(response).await, unauthenticated(), "{value}");
    }
    // Every upload route needs a credential (export routes are covered in isolation.rs).
    for path in ["/uploads/sign", "/uploads/complete", "/uploads/download"] {
        let response = app
            .with_token(None)
            .post_json(path, &json!({"objectKey": "default/avatars/2026/11/x.png"}))
            .await;
        assert_eq!(error_code(response).await, unauthenticated(), "{path}");
    }
    // Health checks stay open.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn tenant_and_subject_claims_are_configurable() {
    let app = spawn_app_with(&[("AUTH_TENANT_CLAIM", "org_id"), ("AUTH_SUBJECT_CLAIM", "uid")]).await;
    let mut custom = claims("ignored", "ignored");
    custom["org_id"] = json!("initech");
    custom["uid"] = json!("peter");
    let token = hs256(JWT_SECRET.as_bytes(), &custom);
    let response = app.with_token(Some(&token)).sign("avatar", "me.png", "image/png").await;
    assert!(
        response.object_key.starts_with("staging/initech/shared/avatar/"),
        "{}",
        response.object_key
    );
    assert_eq!(
        response.fields["x-amz-meta-subject"],
        broker_core::record::encode_text(&principal("peter")),
        "the subject is pinned in the policy"
    );
    // The default claim names mean nothing to this app.
    assert_eq!(
        sign_as(&app, Some(&broker_testkit::token("acme", "alice"))).await,
        unauthenticated()
    );
}

#[tokio::test]
async fn the_tenant_in_the_body_is_ignored() {
    let app = spawn_app().await;
    let body = json!({"kind": "avatar", "filename": "me.png", "content_type": "image/png", "tenant": "globex"});
    let response = app.as_user("acme", "alice").post_json(SIGN, &body).await;
    let body: Value = response.json().await.expect("json");
    assert!(
        body["objectKey"].as_str().expect("key").starts_with("staging/acme/"),
        "{body}"
    );
    assert_eq!(body["fields"]["x-amz-meta-tenant"], "acme");
}

// ---- JWKS: RS256 and ES256 keys served over http on loopback ----------------

struct RsaKey {
    kid: String,
    pair: RsaKeyPair,
}

impl RsaKey {
    fn jwk(&self) -> Value {
        let components = RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({ "kty": "RSA", "kid": self.kid, "use": "sig", "alg": "RS256", "n": b64(&components.n), "e": b64(&components.e) })
    }

    fn sign(&self, claims: &Value) -> String {
        jwt(
            &json!({"alg": "RS256", "typ": "JWT", "kid": self.kid}),
            claims,
            |message| {
                let mut signature = vec![0; self.pair.public_modulus_len()];
                self.pair
                    .sign(
                        &signature::RSA_PKCS1_SHA256,
                        &SystemRandom::new(),
                        message,
                        &mut signature,
                    )
                    .expect("signs");
                signature
            },
        )
    }

    /// The public key as an attacker would find it: SubjectPublicKeyInfo DER.
    fn public_der(&self) -> Vec<u8> {
        self.pair.public_key().as_der().expect("der").as_ref().to_vec()
    }
}

/// RSA key generation is slow in debug builds: two keys for the whole binary.
fn rsa_keys() -> &'static [RsaKey; 2] {
    static KEYS: OnceLock<[RsaKey; 2]> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = |kid: &str| RsaKey {
            kid: kid.into(),
            pair: RsaKeyPair::generate(KeySize::Rsa2048).expect("rsa key"),
        };
        [key("rsa-2025"), key("rsa-2026")]
    })
}

struct EcKey {
    kid: String,
    pair: EcdsaKeyPair,
}

impl EcKey {
    fn new(kid: &str) -> Self {
        EcKey {
            kid: kid.into(),
            pair: EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec key"),
        }
    }

    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({ "kty": "EC", "kid": self.kid, "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65]) })
    }

    fn sign(&self, claims: &Value) -> String {
        jwt(&json!({"alg": "ES256", "kid": self.kid}), claims, |message| {
            self.pair
                .sign(&SystemRandom::new(), message)
                .expect("signs")
                .as_ref()
                .to_vec()
        })
    }
}

/// A JWKS endpoint on loopback: serves whatever document it currently holds
/// and counts the fetches.
struct JwksServer {
    url: String,
    document: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    async fn start(keys: Vec<Value>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().expect("addr"));
        let document = Arc::new(Mutex::new(json!({ "keys": keys })));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counter) = (document.clone(), fetches.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let body = served.lock().expect("lock").to_string();
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        JwksServer {
            url,
            document,
            fetches,
            task,
        }
    }

    fn serve(&self, keys: Vec<Value>) {
        *self.document.lock().expect("lock") = json!({ "keys": keys });
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn spawn_jwks_app(jwks: &JwksServer, extra: &[(&str, &str)]) -> TestApp {
    let mut vars = vec![("AUTH_JWKS_URL", jwks.url.as_str())];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

/// A JWKS publishing `key` and an app refetching it at most every
/// `min_refresh` seconds, which has accepted a token signed with `key`.
async fn accepting(key: &RsaKey, min_refresh: &str) -> (JwksServer, TestApp) {
    let jwks = JwksServer::start(vec![key.jwk()]).await;
    let app = spawn_jwks_app(&jwks, &[("AUTH_JWKS_MIN_REFRESH", min_refresh)]).await;
    assert_eq!(sign_as(&app, Some(&key.sign(&claims("acme", "alice")))).await.0, 200);
    (jwks, app)
}

#[tokio::test]
async fn rs256_and_es256_tokens_verify_against_the_jwks() {
    let [rsa, _] = rsa_keys();
    let ec = EcKey::new("ec-1");
    let jwks = JwksServer::start(vec![rsa.jwk(), ec.jwk()]).await;
    let app = spawn_jwks_app(&jwks, &[]).await;

    assert_eq!(
        sign_as(&app, Some(&rsa.sign(&claims("acme", "alice")))).await,
        (200, "acme".into())
    );
    assert_eq!(
        sign_as(&app, Some(&ec.sign(&claims("globex", "carol")))).await,
        (200, "globex".into())
    );
    assert_eq!(jwks.fetches(), 1, "the keys are cached");

    let mut expired = claims("acme", "alice");
    expired["exp"] = json!(now() - 3600);
    let mut wrong_audience = claims("acme", "alice");
    wrong_audience["aud"] = json!("someone-else");
    let other_ec = EcKey {
        kid: "ec-1".into(),
        ..EcKey::new("x")
    };
    let cases = [
        ("expired RS256", rsa.sign(&expired)),
        ("RS256 with a wrong audience", rsa.sign(&wrong_audience)),
        (
            "ES256 by another key under a known kid",
            other_ec.sign(&claims("acme", "alice")),
        ),
        (
            "RS256 tampered",
            tamper(&rsa.sign(&claims("acme", "alice")), &claims("globex", "alice")),
        ),
        // The EC key's kid with an RSA signature: the key type pins the algorithm.
        (
            "RS256 naming an EC key",
            jwt(&json!({"alg": "RS256", "kid": "ec-1"}), &claims("acme", "alice"), |m| {
                let mut signature = vec![0; rsa.pair.public_modulus_len()];
                rsa.pair
                    .sign(&signature::RSA_PKCS1_SHA256, &SystemRandom::new(), m, &mut signature)
                    .expect("signs");
                signature
            }),
        ),
        // Same with PS256, which the broker never accepts.
        (
            "PS256",
            jwt(
                &json!({"alg": "PS256", "kid": rsa.kid}),
                &claims("acme", "alice"),
                |_| vec![0; 256],
            ),
        ),
    ];
    for (case, token) in cases {
        assert_eq!(sign_as(&app, Some(&token)).await, unauthenticated(), "{case}");
    }
    // The HS256 secret of this app still works alongside the JWKS.
    assert_eq!(sign_as(&app, Some(&token("acme", "alice"))).await.0, 200);
}

/// The classic confusion: take the RSA *public* key, use it as an HMAC secret,
/// and send `alg: HS256`. The HS256 key source is only AUTH_HS256_SECRET, so
/// this fails with a JWKS alone and with both configured.
#[tokio::test]
async fn an_hs256_token_signed_with_the_rsa_public_key_is_refused() {
    let [rsa, _] = rsa_keys();
    let jwks = JwksServer::start(vec![rsa.jwk()]).await;
    let jwks_only = spawn_jwks_app(&jwks, &[("AUTH_HS256_SECRET", "")]).await;
    let both = spawn_jwks_app(&jwks, &[]).await;

    let components = RsaPublicKeyComponents::<Vec<u8>>::from(rsa.pair.public_key());
    let pem = {
        use base64::Engine as _;
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(rsa.public_der())
        )
    };
    let secrets: Vec<Vec<u8>> = vec![
        rsa.public_der(),
        pem.into_bytes(),
        components.n.clone(),
        rsa.jwk().to_string().into_bytes(),
    ];
    for app in [&jwks_only, &both] {
        // The RSA key itself works, so the JWKS is loaded.
        assert_eq!(sign_as(app, Some(&rsa.sign(&claims("acme", "alice")))).await.0, 200);
        for secret in &secrets {
            let forged = jwt(
                &json!({"alg": "HS256", "kid": rsa.kid}),
                &claims("acme", "alice"),
                |m| hmac(secret, m),
            );
            assert_eq!(sign_as(app, Some(&forged)).await, unauthenticated());
        }
    }
}

#[tokio::test]
async fn a_rotated_key_is_fetched_on_first_sight_and_the_old_one_stops_working() {
    let [old, new] = rsa_keys();
    let (jwks, app) = accepting(old, "0").await;
    assert_eq!(jwks.fetches(), 1);

    // The IdP rotates: the new key is published, tokens signed with it arrive.
    jwks.serve(vec![new.jwk()]);
    assert_eq!(
        sign_as(&app, Some(&new.sign(&claims("acme", "alice")))).await.0,
        200,
        "an unknown kid triggers a refetch"
    );
    assert_eq!(jwks.fetches(), 2);
    assert_eq!(sign_as(&app, Some(&new.sign(&claims("acme", "bob")))).await.0, 200);
    assert_eq!(jwks.fetches(), 2, "a known kid is served from the cache");

    // The retired key is gone from the JWKS, and so from the cache.
    assert_eq!(
        sign_as(&app, Some(&old.sign(&claims("acme", "alice")))).await,
        unauthenticated()
    );
}

#[tokio::test]
async fn unknown_kids_cannot_make_the_broker_hammer_the_idp() {
    let [known, unknown] = rsa_keys();
    let (jwks, app) = accepting(known, "300").await;
    for subject in ["a", "b", "c", "d", "e"] {
        assert_eq!(
            sign_as(&app, Some(&unknown.sign(&claims("acme", subject)))).await,
            unauthenticated()
        );
    }
    assert_eq!(jwks.fetches(), 1, "refetches on unknown kids are rate-limited");
}

#[tokio::test]
async fn an_unreachable_jwks_means_401_not_a_crash() {
    let [rsa, _] = rsa_keys();
    let closed = format!("http://127.0.0.1:{}/jwks", broker_testkit::free_port());
    let app = spawn_app_with(&[("AUTH_JWKS_URL", closed.as_str())]).await;
    assert_eq!(
        sign_as(&app, Some(&rsa.sign(&claims("acme", "alice")))).await,
        unauthenticated()
    );
    assert_eq!(
        sign_as(&app, Some(&token("acme", "alice"))).await.0,
        200,
        "HS256 does not depend on the JWKS"
    );
}

// ---- API keys ------------------------------------------------------------------

pub const BILLING_KEY: &str = "ak_live_7f3c2a9e4b1d8f6a0c5e3b9d7a1f4c2e";
const GLOBEX_KEY: &str = "ak_live_globex_0123456789abcdef0123456789";

fn sha256_hex(text: &str) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn api_keys_setting() -> String {
    format!(
        "acme:{}:billing,globex:{}",
        sha256_hex(BILLING_KEY),
        sha256_hex(GLOBEX_KEY)
    )
}

#[tokio::test]
async fn api_keys_authenticate_as_their_tenant() {
    let keys = api_keys_setting();
    let app = spawn_app_with(&[("API_KEYS", keys.as_str())]).await;
    let url = format!("{}{SIGN}", app.address);

    assert_eq!(
        sign_as(&app, Some(BILLING_KEY)).await,
        (200, "acme".into()),
        "as a bearer credential"
    );
    let response = sign_with_header(&app, "x-api-key", GLOBEX_KEY).await;
    let body: Value = response.json().await.expect("json");
    assert!(
        body["objectKey"].as_str().expect("key").starts_with("staging/globex/"),
        "as X-Api-Key: {body}"
    );
    // A key without a label is named by its hash (metadata is percent-encoded ASCII).
    let unlabelled = format!("apikey%3A{}", &sha256_hex(GLOBEX_KEY)[..12]);
    assert_eq!(body["fields"]["x-amz-meta-subject"], unlabelled.as_str());

    for (case, request) in [
        ("unknown key", app.http.post(&url).header("x-api-key", "ak_live_nope")),
        (
            "the hash instead of the key",
            app.http.post(&url).bearer_auth(sha256_hex(BILLING_KEY)),
        ),
        (
            "both headers",
            app.http
                .post(&url)
                .bearer_auth(BILLING_KEY)
                .header("x-api-key", BILLING_KEY),
        ),
        ("empty key", app.http.post(&url).header("x-api-key", "")),
    ] {
        let response = request.json(&sign_body()).send().await.expect("sent");
        assert_eq!(error_code(response).await, unauthenticated(), "{case}");
    }

    // An API key of one tenant cannot touch another tenant's objects.
    let foreign = "globex/uploads/2026/11/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.csv";
    app.put_object(foreign, b"a\n", "text/csv", "g.csv").await;
    let session = app.with_token(Some(BILLING_KEY));
    assert_eq!(
        error_code(session.download(foreign).await).await,
        (404, "not_found".into())
    );
    let staging = app
        .with_token(Some(GLOBEX_KEY))
        .sign("export", "a.csv", "text/csv")
        .await
        .object_key;
    assert_eq!(
        error_code(session.complete(&staging).await).await,
        (404, "not_found".into())
    );
}

/// A JWT cannot pass for an API key by naming it in `sub`: subjects are
/// namespaced by the source of the credential.
#[tokio::test]
async fn a_jwt_subject_cannot_pass_for_an_api_key() {
    let keys = api_keys_setting();
    let app = spawn_app_with(&[("API_KEYS", keys.as_str())]).await;
    let billing = app.with_token(Some(BILLING_KEY));
    let signed = billing.sign("export", "a.csv", "text/csv").await;
    assert_eq!(signed.fields["x-amz-meta-subject"], "apikey%3Abilling");
    let stored = post_form(&signed.url, &signed.fields, b"a,b\n1,2\n".to_vec(), "text/csv").await;
    assert!(stored.status().is_success());

    let impostor = app.as_user("acme", "apikey:billing");
    assert_eq!(
        error_code(impostor.complete(&signed.object_key).await).await,
        (404, "not_found".into()),
        "a JWT with sub=apikey:billing is not the key labelled billing"
    );
    assert!(
        app.object_exists(&signed.object_key).await,
        "and the upload is left alone"
    );
    assert_eq!(billing.complete(&signed.object_key).await.status(), 200);
}

#[tokio::test]
async fn without_auth_mode_none_there_is_no_anonymous_access() {
    let app = spawn_app_with(&[("AUTH_MODE", "none")]).await;
    assert!(app.token.is_none());
    assert_eq!(
        sign_as(&app, None).await,
        (200, "default".into()),
        "AUTH_MODE=none: the development principal"
    );
    // A credential changes nothing in development mode.
    assert_eq!(
        sign_as(&app, Some(&token("acme", "alice"))).await,
        (200, "default".into())
    );
    assert!(
        broker_testkit::captured_logs().contains("AUTHENTICATION IS DISABLED (AUTH_MODE=none)"),
        "starting without authentication is logged loudly"
    );
}

// ---- small tools -----------------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hmac(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
}

/// The same header and signature over other claims.
fn tamper(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], b64(claims.to_string().as_bytes()), parts[2])
}
