//! Every bad input gets a JSON error with a stable code and the right status.

use serde_json::json;

use broker_testkit::{error_code, spawn_app, spawn_app_with_store_down};

#[tokio::test]
async fn sign_refuses_bad_requests_with_stable_codes() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"kind": "dossier", "filename": "a.pdf", "content_type": "application/pdf"}),
            400,
            "unknown_kind",
        ),
        (
            json!({"kind": "avatar", "filename": "a.gif", "content_type": "image/gif"}),
            400,
            "unsupported_type",
        ),
        (
            json!({"kind": "avatar", "filename": "a.png", "content_type": "image/jpeg"}),
            400,
            "extension_mismatch",
        ),
        (
            json!({"kind": "avatar", "filename": "a.jpg", "content_type": "image/jpeg", "size": 2_097_153}),
            400,
            "too_large",
        ),
        (
            json!({"kind": "export", "filename": "a.zip", "content_type": "application/zip", "size": 0}),
            400,
            "empty_file",
        ),
        (
            json!({"kind": "avatar", "filename": "", "content_type": "image/jpeg"}),
            400,
            "invalid_filename",
        ),
        (json!({"kind": "avatar", "filename": "a.jpg"}), 400, "invalid_request"),
        (
            json!({"kind": "avatar", "filename": "a.jpg", "content_type": 7}),
            400,
            "invalid_request",
        ),
    ];
    for (body, status, code) in cases {
        let response = app.post_json("/uploads/sign", &body).await;
        assert_eq!(error_code(response).await, (status, code.into()), "{body}");
    }
}

#[tokio::test]
async fn malformed_oversized_and_mistyped_bodies_get_json_errors() {
    let app = spawn_app().await;
    let malformed = app.post_body("/uploads/sign", "application/json", "{\"kind\":").await;
    assert_eq!(error_code(malformed).await, (400, "invalid_json".into()));

    let huge = json!({"kind": "avatar", "filename": "a".repeat(70 * 1024), "content_type": "image/png"});
    assert_eq!(
        error_code(app.post_json("/uploads/sign", &huge).await).await,
        (413, "payload_too_large".into())
    );

    let form = app.post_body("/uploads/sign", "text/plain", "kind=avatar").await;
    assert_eq!(error_code(form).await, (415, "unsupported_media_type".into()));

    let get = app.get("/uploads/sign").await;
    assert_eq!(error_code(get).await, (405, "method_not_allowed".into()));

    let unknown = app.get("/nope").await;
    assert_eq!(error_code(unknown).await, (404, "not_found".into()));
}

#[tokio::test]
async fn a_store_that_is_down_gives_503_but_signing_still_works() {
    let (app, closed) = spawn_app_with_store_down().await;
    let signed = app.sign("avatar", "me.jpg", "image/jpeg").await;
    assert!(signed.url.starts_with(&closed), "signing needs no store call");

    let response = app.download("default/avatars/2026/11/x.jpg").await;
    assert_eq!(error_code(response).await, (503, "store_unavailable".into()));
    let ready = app.get("/readyz").await;
    assert_eq!(error_code(ready).await, (503, "not_ready".into()));
}
