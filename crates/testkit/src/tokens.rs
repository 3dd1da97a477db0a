//! JWTs for the test issuer, and any hand-made token a test needs.

use broker_core::SubjectHash;
use serde_json::{Value, json};

/// Every test app verifies HS256 tokens with this secret unless told otherwise.
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789-abcdefghijklmnop";
pub const ISSUER: &str = "https://issuer.test";
pub const AUDIENCE: &str = "upload-broker";
/// The principal of the default token a [`crate::TestApp`] sends.
pub const DEFAULT_TENANT: &str = "default";
pub const DEFAULT_SUBJECT: &str = "user-1";

/// Seconds since the epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .expect("after 1970")
}

/// The principal the broker names a token of the test issuer with `sub` = `subject`.
pub fn principal(subject: &str) -> String {
    format!("jwt:{ISSUER}#{subject}")
}

/// Where the `user`-scoped objects of `tenant`/`subject` (of the test
/// issuer) are served: `{tenant}/users/{subject hash}/`.
pub fn user_prefix(tenant: &str, subject: &str) -> String {
    format!("{tenant}/users/{}/", SubjectHash::of(&principal(subject)))
}

/// Valid claims for `tenant`/`subject` (ten minutes, the test issuer and audience).
pub fn claims(tenant: &str, subject: &str) -> Value {
    json!({ "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "tenant": tenant, "iat": now(), "exp": now() + 600 })
}

/// A compact JWS with any header, any claims and any signature.
pub fn jwt(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    use base64::Engine as _;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let message = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let signature = sign(message.as_bytes());
    format!("{message}.{}", b64(&signature))
}

/// An HS256 token signed with `secret`.
pub fn hs256(secret: &[u8], claims: &Value) -> String {
    jwt(&json!({"alg": "HS256", "typ": "JWT"}), claims, |message| {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        aws_lc_rs::hmac::sign(&key, message).as_ref().to_vec()
    })
}

/// A valid token for `tenant`/`subject` under the test apps' HS256 secret.
pub fn token(tenant: &str, subject: &str) -> String {
    hs256(JWT_SECRET.as_bytes(), &claims(tenant, subject))
}

/// A valid token for `tenant`/`subject`, a member of `teams` (the default `teams` claim).
pub fn member_token(tenant: &str, subject: &str, teams: &[&str]) -> String {
    let mut claims = claims(tenant, subject);
    claims["teams"] = json!(teams);
    hs256(JWT_SECRET.as_bytes(), &claims)
}
