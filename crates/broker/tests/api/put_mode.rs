//! `S3_UPLOAD_MODE=put`, for stores without POST Object: the sign reply is a
//! presigned PUT whose signed headers pin the content type, the exact size
//! and the metadata record; the store refuses anything else, and completion
//! verifies as in POST mode. Runs against both stores, like every test.

use std::collections::BTreeMap;

use broker_verifier::corpus;
use serde_json::{Value, json};

use broker_testkit::{TestApp, error_code, removed, s3_error_code, spawn_app_with};

async fn put_app() -> TestApp {
    spawn_app_with(&[("S3_UPLOAD_MODE", "put")]).await
}

/// Signs a PUT for `size` bytes; returns the reply.
async fn sign_put(app: &TestApp, kind: &str, filename: &str, content_type: &str, size: usize) -> Value {
    let response = app
        .post_json(
            "/uploads/sign",
            &json!({"kind": kind, "filename": filename, "content_type": content_type, "size": size}),
        )
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// PUTs `bytes` to the signed URL with the signed headers, changed by `tamper`.
async fn put(signed: &Value, bytes: Vec<u8>, tamper: impl FnOnce(&mut BTreeMap<String, String>)) -> reqwest::Response {
    let mut headers: BTreeMap<String, String> =
        serde_json::from_value(signed["headers"].clone()).expect("headers are a string map");
    tamper(&mut headers);
    let mut request = reqwest::Client::new()
        .put(signed["url"].as_str().expect("url"))
        .body(bytes);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    request.send().await.expect("the store answers")
}

#[tokio::test]
async fn a_put_upload_is_signed_stored_and_completed() {
    let app = put_app().await;
    let photo = corpus::jpeg_with_metadata();
    let signed = sign_put(&app, "avatar", "me.jpg", "image/jpeg", photo.len()).await;
    assert_eq!(signed["method"], "PUT");
    assert!(signed.get("fields").is_none(), "{signed}");
    assert_eq!(signed["headers"]["content-type"], "image/jpeg");
    assert_eq!(signed["headers"]["x-amz-meta-profile"], "avatar");
    assert_eq!(signed["headers"]["x-amz-meta-tenant"], "default");
    assert_eq!(signed["expiresIn"], 3600);
    let key = signed["objectKey"].as_str().expect("objectKey");
    assert!(key.starts_with("staging/default/shared/avatar/"), "{key}");

    let stored = put(&signed, photo, |_| {}).await;
    assert_eq!(stored.status(), 200);
    assert!(stored.headers().contains_key("etag"), "Uppy reads the ETag");

    let response = app.post_json("/uploads/complete", &json!({ "objectKey": key })).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert!(
        body["objectKey"]
            .as_str()
            .is_some_and(|k| k.starts_with("default/shared/avatars/"))
    );
    assert!(removed(&body).contains(&"gps"), "{body}");
    assert!(!app.object_exists(key).await, "staging is gone");
}

#[tokio::test]
async fn put_mode_requires_the_size_and_refuses_an_oversized_one_at_signing() {
    let app = put_app().await;
    let missing = app
        .post_json(
            "/uploads/sign",
            &json!({"kind": "avatar", "filename": "me.jpg", "content_type": "image/jpeg"}),
        )
        .await;
    assert_eq!(error_code(missing).await, (400, "size_required".into()));
    let oversized = app
        .post_json(
            "/uploads/sign",
            &json!({"kind": "avatar", "filename": "me.jpg", "content_type": "image/jpeg", "size": 2_097_153}),
        )
        .await;
    assert_eq!(error_code(oversized).await, (400, "too_large".into()));
}

#[tokio::test]
async fn the_store_refuses_another_size_type_or_record_than_was_signed() {
    let app = put_app().await;
    let signed = sign_put(&app, "export", "d.csv", "text/csv", 10).await;
    let key = signed["objectKey"].as_str().expect("objectKey");

    // A longer body than signed: the size is pinned by the signed Content-Length.
    let longer = put(&signed, vec![b'a'; 11], |_| {}).await;
    assert_eq!(s3_error_code(longer).await.0, 403);
    // Another content type.
    let retyped = put(&signed, vec![b'a'; 10], |h| {
        h.insert("content-type".into(), "text/html".into());
    })
    .await;
    assert_eq!(s3_error_code(retyped).await.0, 403);
    // Another metadata record (another tenant).
    let moved = put(&signed, vec![b'a'; 10], |h| {
        h.insert("x-amz-meta-tenant".into(), "globex".into());
    })
    .await;
    assert_eq!(s3_error_code(moved).await.0, 403);
    // Without the record at all.
    let bare = put(&signed, vec![b'a'; 10], |h| {
        h.retain(|name, _| !name.starts_with("x-amz-meta-"));
    })
    .await;
    let (status, _) = s3_error_code(bare).await;
    assert!(status == 400 || status == 403, "{status}");
    assert!(!app.object_exists(key).await, "nothing was stored");

    // Exactly as signed: accepted.
    let exact = put(&signed, b"a,b\n1,2\n3,".to_vec(), |_| {}).await;
    assert_eq!(exact.status(), 200);
    assert!(app.object_exists(key).await);
}
