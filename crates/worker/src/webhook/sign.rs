//! The signature receivers check: HMAC-SHA256 over `"{timestamp}.{body}"`
//! with the endpoint's secret, sent as `Webhook-Signature: v1=<base64>` next
//! to `Webhook-Timestamp` (Unix seconds) and `Webhook-Id` (the event id,
//! the same on every attempt, for deduplication). The timestamp is the
//! attempt's, so a receiver can refuse anything outside a short window.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The `Webhook-Signature` value of `body` sent at `timestamp`.
pub fn signature(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut context = hmac::Context::with_key(&key);
    context.update(timestamp.to_string().as_bytes());
    context.update(b".");
    context.update(body);
    format!("v1={}", STANDARD.encode(context.sign().as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body_in_base64() {
        // echo -n '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec-test-0123456789' -binary | base64
        assert_eq!(
            signature("whsec-test-0123456789", 1_700_000_000, br#"{"a":1}"#),
            "v1=uo7H84xOB2qZF2ob+Yrp8vP04YQStGpZE93PVoWTLGo="
        );
    }

    #[test]
    fn the_timestamp_the_body_and_the_secret_all_change_it() {
        let base = signature("whsec-test-0123456789", 1_700_000_000, b"{}");
        assert_ne!(base, signature("whsec-test-0123456789", 1_700_000_001, b"{}"));
        assert_ne!(base, signature("whsec-test-0123456789", 1_700_000_000, b"{ }"));
        assert_ne!(base, signature("whsec-test-012345678X", 1_700_000_000, b"{}"));
    }
}
