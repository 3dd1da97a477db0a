//! The store itself enforces what the policy pins.
//!
//! Stores refuse the same violations with different answers (docs/stores.md):
//! the embedded store (s3s) answers as AWS does for sizes and signatures, and
//! 400 `InvalidPolicyDocument` for a failed condition where AWS says 403
//! `AccessDenied`; Garage answers 400 `InvalidRequest` for every failed
//! condition and for an expired policy. Each test asserts that the upload is
//! refused, nothing is stored, and the answer the store is documented to give.

use std::time::{Duration, SystemTime};

use broker_core::ObjectKey;
use broker_core::Secret;
use broker_core::post_policy::{Destination, PostPolicy, SigningCredentials, Stored};

use broker_testkit::{TestApp, TestStore, post_form, s3_error_code, spawn_app, spawn_app_with, try_post_form};

const MAX_AVATAR: usize = 2_097_152;

#[tokio::test]
async fn a_signed_form_uploads_exactly_the_pinned_key() {
    let app = spawn_app().await;
    let signed = app.sign("avatar", "me.png", "image/png").await;

    assert_eq!(signed.body["expiresIn"], 3600);
    assert_eq!(signed.body["maxBytes"], MAX_AVATAR);
    assert_eq!(signed.body["method"], "POST");
    assert_eq!(signed.fields["key"], signed.object_key);
    assert_eq!(signed.fields["Content-Type"], "image/png");
    assert!(
        signed.object_key.starts_with("staging/default/shared/avatar/"),
        "{}",
        signed.object_key
    );
    assert!(
        !signed.object_key.contains("me.png"),
        "the client's filename never becomes a path"
    );

    let response = post_form(&signed.url, &signed.fields, vec![7u8; MAX_AVATAR], "image/png").await;
    assert!(response.status().is_success(), "{:?}", s3_error_code(response).await);
    let head = app
        .store
        .head(&ObjectKey::parse(&signed.object_key).expect("key"))
        .await
        .expect("stored");
    assert_eq!(head.size, MAX_AVATAR as u64);
    assert_eq!(head.content_type.as_deref(), Some("image/png"));
    assert_eq!(head.metadata.get("profile").map(String::as_str), Some("avatar"));
    assert_eq!(head.metadata.get("filename").map(String::as_str), Some("me.png"));
}

#[tokio::test]
async fn the_store_refuses_a_body_one_byte_over_the_maximum() {
    let app = spawn_app().await;
    let signed = app.sign("avatar", "me.png", "image/png").await;
    let response = try_post_form(&signed.url, &signed.fields, vec![7u8; MAX_AVATAR + 1], "image/png").await;
    match (app.store_kind(), response) {
        (TestStore::Embedded, Ok(response)) => {
            assert_eq!(s3_error_code(response).await, (400, "EntityTooLarge".into()))
        }
        (TestStore::Garage, Ok(response)) => {
            assert_eq!(s3_error_code(response).await, (400, "InvalidRequest".into()))
        }
        // Garage stops reading at the maximum and may close the connection
        // while the client still sends.
        (TestStore::Garage, Err(error)) => assert!(error.is_request() || error.is_body(), "{error}"),
        (TestStore::Embedded, Err(error)) => panic!("the embedded store answers: {error}"),
    }
    assert!(!app.object_exists(&signed.object_key).await, "nothing is stored");
}

#[tokio::test]
async fn the_store_refuses_an_empty_body() {
    let app = spawn_app().await;
    let signed = app.sign("avatar", "me.png", "image/png").await;
    let response = post_form(&signed.url, &signed.fields, Vec::new(), "image/png").await;
    let refused = expected(&app, (400, "EntityTooSmall"), (400, "InvalidRequest"));
    assert_refused(&app, response, refused, &signed.object_key).await;
}

#[tokio::test]
async fn the_store_refuses_another_content_type_or_another_key() {
    let app = spawn_app().await;
    let signed = app.sign("avatar", "me.png", "image/png").await;

    let mut fields = signed.fields.clone();
    fields.insert("Content-Type".into(), "text/html".into());
    let refused = expected(&app, (400, "InvalidPolicyDocument"), (400, "InvalidRequest"));
    let response = post_form(&signed.url, &fields, b"<script>".to_vec(), "text/html").await;
    assert_refused(&app, response, refused.clone(), &signed.object_key).await;

    let mut fields = signed.fields.clone();
    fields.insert("key".into(), "default/avatars/2026/01/planted.png".into());
    let response = post_form(&signed.url, &fields, vec![1u8; 10], "image/png").await;
    assert_refused(&app, response, refused, "default/avatars/2026/01/planted.png").await;
}

#[tokio::test]
async fn the_store_refuses_a_tampered_policy() {
    let app = spawn_app().await;
    let signed = app.sign("avatar", "me.png", "image/png").await;
    // A policy the attacker rewrote to allow 1 GiB, under the original signature.
    let mut fields = signed.fields.clone();
    let original = String::from_utf8(base64_decode(&fields["policy"])).expect("utf-8");
    let widened = original.replace(&MAX_AVATAR.to_string(), "1073741824");
    assert_ne!(original, widened);
    fields.insert("policy".into(), base64_encode(widened.as_bytes()));
    let response = try_post_form(&signed.url, &fields, vec![7u8; MAX_AVATAR + 10], "image/png").await;
    match (app.store_kind(), response) {
        (_, Ok(response)) => assert_eq!(
            s3_error_code(response).await,
            expected(&app, (403, "SignatureDoesNotMatch"), (403, "AccessDenied"))
        ),
        // Garage refuses the signature before the body is read, and may close
        // the connection while the client still sends it.
        (TestStore::Garage, Err(error)) => assert!(error.is_request() || error.is_body(), "{error}"),
        (TestStore::Embedded, Err(error)) => panic!("the embedded store answers: {error}"),
    }
    assert!(!app.object_exists(&signed.object_key).await, "nothing is stored");
}

#[tokio::test]
async fn the_store_refuses_an_expired_policy() {
    let app = spawn_app_with(&[("S3_PRESIGN_TTL", "1")]).await;
    let signed = app.sign("avatar", "me.png", "image/png").await;
    assert_eq!(signed.body["expiresIn"], 1);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = post_form(&signed.url, &signed.fields, vec![7u8; 10], "image/png").await;
    let refused = expected(&app, (403, "AccessDenied"), (400, "InvalidRequest"));
    assert_refused(&app, response, refused, &signed.object_key).await;
}

/// s3s alone would refuse an `x-amz-date` older than 15 minutes; the embedded
/// store honours the whole TTL, as AWS (and Garage) do.
#[tokio::test]
async fn a_form_signed_twenty_minutes_ago_is_still_accepted_within_its_ttl() {
    let app = spawn_app().await;
    let key = ObjectKey::parse("staging/default/avatar/0f8fad5b-d9cb-469f-a165-70867728950e").expect("key");
    let url = format!("{}/{}", app.store_endpoint, app.store.bucket());
    let policy = PostPolicy {
        to: Destination {
            bucket_url: &url,
            region: app.store.region(),
            key: &key,
        },
        bucket: app.store.bucket(),
        object: Stored {
            content_type: "image/png",
            encryption: None,
            metadata: &[],
        },
        max_bytes: MAX_AVATAR as u64,
        expires_in: Duration::from_secs(3600),
    };
    let credentials = SigningCredentials {
        access_key: app.vars["S3_ACCESS_KEY"].clone(),
        secret_key: Secret::new(app.vars["S3_SECRET_KEY"].clone()),
        session_token: None,
    };
    let signed_at = SystemTime::now() - Duration::from_secs(20 * 60);
    let post = policy.sign(&credentials, signed_at);
    let response = post_form(&post.url, &post.fields, vec![1u8; 100], "image/png").await;
    assert!(response.status().is_success(), "{:?}", s3_error_code(response).await);
    assert!(app.object_exists(key.as_str()).await);
}

/// The `(status, code)` the app's store is documented to answer.
fn expected(app: &TestApp, embedded: (u16, &str), garage: (u16, &str)) -> (u16, String) {
    let (status, code) = match app.store_kind() {
        TestStore::Embedded => embedded,
        TestStore::Garage => garage,
    };
    (status, code.to_owned())
}

/// Asserts that the store refused the upload with `refused` (status and S3
/// code) and stored nothing at `key`.
async fn assert_refused(app: &TestApp, response: reqwest::Response, refused: (u16, String), key: &str) {
    assert_eq!(s3_error_code(response).await, refused);
    assert!(!app.object_exists(key).await, "nothing is stored");
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).expect("base64")
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn a_streamed_write_lands_only_with_the_sha256_signed_into_it() {
    use broker_core::store::{BodyDigest, ByteStream, PutOptions};
    // How a completion writes an image's stripped copy (a body it streams).
    let app = spawn_app().await;
    let body = b"a verified, stripped copy".to_vec();
    let put = async |key: &str, digest: String| {
        let key = ObjectKey::parse(key).expect("a key");
        let options = PutOptions {
            content_type: "image/png",
            content_disposition: "",
            metadata: Default::default(),
            create_only: true,
        };
        let size = body.len() as u64;
        let written = app
            .store
            .put_checked(
                &key,
                ByteStream::from(body.clone()),
                size,
                BodyDigest::Sha256(&digest),
                options,
            )
            .await;
        (written, app.store.head(&key).await.ok().map(|head| head.size))
    };
    let (written, stored) = put("default/shared/avatar/right.png", crate::large::sha256(&body)).await;
    assert!(written.is_ok(), "{written:?}");
    assert_eq!(stored, Some(body.len() as u64));
    let (written, stored) = put("default/shared/avatar/wrong.png", crate::large::sha256(b"other bytes")).await;
    assert!(written.is_err(), "the store kept a body that is not the one signed");
    assert_eq!(stored, None, "nothing was stored");
}
