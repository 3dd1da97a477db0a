//! SigV4 presigned POST: the policy document and its signature.
//!
//! aws-sdk-s3 has no presigned-POST helper (awslabs/aws-sdk-rust#863), so we
//! build the policy JSON here and sign it with aws-sigv4's own signing-key and
//! signature primitives; no HMAC is hand-written. Every condition is an exact
//! `eq` except the size range, so the store itself refuses another key, another
//! content type, a missing or changed metadata field, or a body out of range.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Serialize;
use time::OffsetDateTime;

use crate::config::Encryption;
use crate::json;
use crate::keys::ObjectKey;
use crate::secret::Secret;
use crate::text::{push_date, push_iso, push_time};

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
const META_PREFIX: &str = "x-amz-meta-";

/// `parts` joined into a string of the right size (no formatting machinery:
/// the sign path runs this on every request, issue 15).
fn concat(parts: &[&str]) -> String {
    let mut text = String::with_capacity(parts.iter().map(|part| part.len()).sum());
    for part in parts {
        text.push_str(part);
    }
    text
}

/// Credentials as they are at signing time (the chain may rotate them).
#[derive(Debug, Clone)]
pub struct SigningCredentials {
    pub access_key: String,
    pub secret_key: Secret,
    pub session_token: Option<Secret>,
}

impl SigningCredentials {
    /// The example credentials of the AWS documentation, for the tests and the bench.
    #[doc(hidden)]
    pub fn example() -> Self {
        SigningCredentials {
            access_key: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        }
    }
}

/// Where a presigned upload sends the object: the bucket's base URL
/// (`http://host:port/bucket` path-style, or `https://bucket.host`
/// virtual-hosted), the region the signature is for, and the key.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    pub bucket_url: &'a str,
    pub region: &'a str,
    pub key: &'a ObjectKey,
}

/// What a presigned upload stores the object with, pinned by its signature.
#[derive(Debug, Clone, Copy)]
pub struct Stored<'a> {
    pub content_type: &'a str,
    pub encryption: Option<&'a Encryption>,
    /// `x-amz-meta-*` names (without the prefix) and ASCII values.
    pub metadata: &'a [(&'a str, String)],
}

impl Stored<'_> {
    /// The server-side encryption and `x-amz-meta-*` headers (a POST sends
    /// them as form fields); the content type is the caller's, whose name's
    /// case differs between a form and a header.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        if let Some(encryption) = self.encryption {
            headers.push((
                "x-amz-server-side-encryption".to_owned(),
                encryption.algorithm().to_owned(),
            ));
            if let Encryption::Kms { key_id: Some(key_id) } = encryption {
                headers.push(("x-amz-server-side-encryption-aws-kms-key-id".to_owned(), key_id.clone()));
            }
        }
        let metadata = self.metadata.iter();
        headers.extend(metadata.map(|(name, value)| (concat(&[META_PREFIX, name]), value.clone())));
        headers
    }
}

/// Everything the policy pins.
#[derive(Debug)]
pub struct PostPolicy<'a> {
    pub to: Destination<'a>,
    pub bucket: &'a str,
    pub object: Stored<'a>,
    pub max_bytes: u64,
    pub expires_in: Duration,
}

/// What the browser needs: POST `fields` then `file` (last) as multipart to `url`.
#[derive(Debug, Clone, Serialize)]
pub struct PresignedPost {
    pub url: String,
    pub fields: BTreeMap<String, String>,
}

/// A SigV4 signing key: four HMACs over the secret, the date, the region and
/// the service. It changes once a day, so callers that sign often keep it
/// (see [`SigningKeyCache`]) instead of deriving it per signature.
pub struct SigningKey {
    /// The UTC day it signs for, as `YYYYMMDD` and as days since the epoch.
    date: String,
    day: u64,
    access_key: String,
    region: String,
    key: Vec<u8>,
}

impl SigningKey {
    pub fn derive(credentials: &SigningCredentials, now: SystemTime, region: &str) -> Self {
        let key = aws_sigv4::sign::v4::generate_signing_key(credentials.secret_key.expose(), now, region, "s3");
        SigningKey {
            date: short_date(OffsetDateTime::from(now)),
            day: epoch_day(now),
            access_key: credentials.access_key.clone(),
            region: region.to_owned(),
            key: key.as_ref().to_vec(),
        }
    }

    fn fits(&self, credentials: &SigningCredentials, day: u64, region: &str) -> bool {
        self.day == day && self.access_key == credentials.access_key && self.region == region
    }
}

/// Keeps today's signing key for the current credentials, shared: a
/// signature borrows it without copying or formatting anything.
#[derive(Default)]
pub struct SigningKeyCache(RwLock<Option<Arc<SigningKey>>>);

impl SigningKeyCache {
    pub fn get(&self, credentials: &SigningCredentials, now: SystemTime, region: &str) -> Arc<SigningKey> {
        let day = epoch_day(now);
        if let Ok(cached) = self.0.read()
            && let Some(key) = cached.as_ref()
            && key.fits(credentials, day, region)
        {
            return Arc::clone(key);
        }
        let fresh = Arc::new(SigningKey::derive(credentials, now, region));
        if let Ok(mut cached) = self.0.write() {
            *cached = Some(Arc::clone(&fresh));
        }
        fresh
    }
}

/// The UTC day of `now`, counted from the epoch (0 before it: not a real clock).
fn epoch_day(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() / 86_400)
}

// SigV4's dates are fixed-width digits: written directly, without a
// format description to interpret per signature.

/// `YYYYMMDD`.
fn short_date(t: OffsetDateTime) -> String {
    let mut text = String::with_capacity(8);
    push_date(&mut text, t, "");
    text
}

/// `YYYYMMDDTHHMMSSZ` (`x-amz-date`).
fn amz_date(t: OffsetDateTime) -> String {
    let mut text = String::with_capacity(16);
    push_date(&mut text, t, "");
    push_time(&mut text, t, "");
    text.push('Z');
    text
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (the policy's `expiration`).
fn expiration(t: OffsetDateTime) -> String {
    let mut text = String::with_capacity(24);
    push_iso(&mut text, t, u32::from(t.millisecond()), 3);
    text
}

impl<'a> PostPolicy<'a> {
    /// The example of the tests and the bench: `object` to `key` in the
    /// bucket `uploads` of a local store (`us-east-1`), at most 2 MiB, for an hour.
    #[doc(hidden)]
    pub fn example(key: &'a ObjectKey, object: Stored<'a>) -> Self {
        PostPolicy {
            to: Destination {
                bucket_url: "http://127.0.0.1:9000/uploads",
                region: "us-east-1",
                key,
            },
            bucket: "uploads",
            object,
            max_bytes: 2_097_152,
            expires_in: Duration::from_secs(3600),
        }
    }

    pub fn sign(&self, credentials: &SigningCredentials, now: SystemTime) -> PresignedPost {
        self.sign_with(credentials, now, &SigningKey::derive(credentials, now, self.to.region))
    }

    /// Signs with a key derived for the same credentials, day and region.
    #[allow(clippy::expect_used, reason = "a policy of strings always serialises")]
    pub fn sign_with(
        &self,
        credentials: &SigningCredentials,
        now: SystemTime,
        signing_key: &SigningKey,
    ) -> PresignedPost {
        let now_utc = OffsetDateTime::from(now);
        let amz_date = amz_date(now_utc);
        let expiration = expiration(now_utc + self.expires_in);
        let credential = concat(&[
            &credentials.access_key,
            "/",
            &signing_key.date,
            "/",
            self.to.region,
            "/s3/aws4_request",
        ]);

        let mut fields = BTreeMap::new();
        fields.insert("key".to_owned(), self.to.key.as_str().to_owned());
        fields.insert("Content-Type".to_owned(), self.object.content_type.to_owned());
        fields.insert("x-amz-algorithm".to_owned(), ALGORITHM.to_owned());
        fields.insert("x-amz-credential".to_owned(), credential);
        fields.insert("x-amz-date".to_owned(), amz_date);
        if let Some(token) = &credentials.session_token {
            fields.insert("x-amz-security-token".to_owned(), token.expose().to_owned());
        }
        fields.extend(self.object.headers());

        let policy = policy_document(&expiration, self.bucket, self.max_bytes, &fields);
        let policy_b64 = BASE64.encode(policy);
        let signature = aws_sigv4::sign::v4::calculate_signature(&signing_key.key, policy_b64.as_bytes());
        fields.insert("policy".to_owned(), policy_b64);
        fields.insert("x-amz-signature".to_owned(), signature);

        PresignedPost {
            url: self.to.bucket_url.to_owned(),
            fields,
        }
    }
}

/// The policy JSON, written straight from the form fields: every field is
/// pinned with `eq`, plus the bucket and the size range.
/// `{"expiration":…,"conditions":[{"bucket":…},["content-length-range",1,max],["eq","$name",value],…]}`
fn policy_document(expiration: &str, bucket: &str, max_bytes: u64, fields: &BTreeMap<String, String>) -> Vec<u8> {
    // `,["eq","$` `",` `"` `"]` around each field; the rest is under 128 bytes.
    let pinned: usize = fields.iter().map(|(name, value)| name.len() + value.len() + 14).sum();
    let mut out = Vec::with_capacity(pinned + expiration.len() + bucket.len() + 128);
    out.push(b'{');
    json::push_name(&mut out, "expiration");
    json::push_str(&mut out, expiration);
    out.extend_from_slice(br#","conditions":[{"bucket":"#);
    json::push_str(&mut out, bucket);
    out.extend_from_slice(br#"},["content-length-range",1,"#);
    json::push_u64(&mut out, max_bytes);
    out.push(b']');
    for (name, value) in fields {
        out.extend_from_slice(br#",["eq","#);
        json::push_joined(&mut out, &["$", name]);
        out.push(b',');
        json::push_str(&mut out, value);
        out.push(b']');
    }
    out.extend_from_slice(b"]}");
    out
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn decoded_policy(post: &PresignedPost) -> Value {
        let raw = BASE64.decode(&post.fields["policy"]).expect("base64");
        serde_json::from_slice(&raw).expect("json")
    }

    #[test]
    fn sigv4_dates_are_fixed_width_utc() {
        // 2026-03-04T05:06:07.089Z
        let t = OffsetDateTime::from(SystemTime::UNIX_EPOCH + Duration::from_millis(1_772_600_767_089));
        assert_eq!(short_date(t), "20260304");
        assert_eq!(amz_date(t), "20260304T050607Z");
        assert_eq!(expiration(t), "2026-03-04T05:06:07.089Z");
        let late = OffsetDateTime::from(SystemTime::UNIX_EPOCH + Duration::from_millis(253_402_300_799_999));
        assert_eq!(expiration(late), "9999-12-31T23:59:59.999Z");
        assert_eq!(
            epoch_day(SystemTime::UNIX_EPOCH + Duration::from_secs(86_400 * 3 - 1)),
            2
        );
    }

    #[test]
    fn the_policy_document_is_exact_json_text() {
        let fields = BTreeMap::from([
            ("key".to_owned(), "staging/acme/a.png".to_owned()),
            ("x-amz-meta-filename".to_owned(), "we\"ird\\name\n.png".to_owned()),
        ]);
        let text = policy_document("2026-01-01T01:00:00.000Z", "uploads", 2_097_152, &fields);
        assert!(
            text.capacity() >= text.len() && text.capacity() < text.len() + 128,
            "sized once"
        );
        assert_eq!(
            String::from_utf8(text.clone()).expect("utf-8"),
            r#"{"expiration":"2026-01-01T01:00:00.000Z","conditions":[{"bucket":"uploads"},["content-length-range",1,2097152],["eq","$key","staging/acme/a.png"],["eq","$x-amz-meta-filename","we\"ird\\name\n.png"]]}"#
        );
        let parsed: Value = serde_json::from_slice(&text).expect("json");
        assert_eq!(parsed["conditions"][3][2], "we\"ird\\name\n.png");
    }

    #[test]
    fn the_policy_pins_key_type_size_metadata_and_expiry() {
        let key = ObjectKey::parse("staging/acme/avatar/0b5c").expect("key");
        let metadata = [("profile", "avatar".to_owned())];
        let encryption = Some(&Encryption::Aes256);
        let object = Stored {
            content_type: "image/png",
            encryption,
            metadata: &metadata,
        };
        let policy = PostPolicy::example(&key, object);
        // 2026-01-01T00:00:00Z
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
        let post = policy.sign(&SigningCredentials::example(), now);

        assert_eq!(post.fields["x-amz-date"], "20260101T000000Z");
        assert_eq!(
            post.fields["x-amz-credential"],
            "AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/s3/aws4_request"
        );
        let doc = decoded_policy(&post);
        assert_eq!(doc["expiration"], "2026-01-01T01:00:00.000Z");
        let conditions = doc["conditions"].as_array().expect("conditions");
        for expected in [
            json!({"bucket": "uploads"}),
            json!(["content-length-range", 1, 2_097_152]),
            json!(["eq", "$key", "staging/acme/avatar/0b5c"]),
            json!(["eq", "$Content-Type", "image/png"]),
            json!(["eq", "$x-amz-meta-profile", "avatar"]),
            json!(["eq", "$x-amz-server-side-encryption", "AES256"]),
        ] {
            assert!(conditions.contains(&expected), "{expected} missing from {conditions:?}");
        }
        // Every field the browser sends, except the signature and the policy itself, is pinned.
        for name in post
            .fields
            .keys()
            .filter(|n| !matches!(n.as_str(), "policy" | "x-amz-signature"))
        {
            assert!(
                conditions.iter().any(|c| c[1] == format!("${name}")),
                "{name} is not pinned"
            );
        }
        // The signature is deterministic for the same input and changes with the secret.
        assert_eq!(
            policy.sign(&SigningCredentials::example(), now).fields["x-amz-signature"],
            post.fields["x-amz-signature"]
        );
        let mut other = SigningCredentials::example();
        other.secret_key = Secret::new("another");
        assert_ne!(
            policy.sign(&other, now).fields["x-amz-signature"],
            post.fields["x-amz-signature"]
        );
    }
}
