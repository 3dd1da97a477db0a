//! `CDN_BASE_URL`: verified tenant-wide avatars also get a CDN URL, from
//! completion and download; nothing else does (other profiles, exports,
//! staging, an avatar of a user or a team scope), and nothing does without
//! the setting.

use broker_testkit::{TestApp, post_form, spawn_app, spawn_app_with};
use broker_verifier::corpus;
use serde_json::Value;

const CDN: &str = "https://cdn.example/assets";

async fn upload_and_complete(app: &TestApp, kind: &str, filename: &str, content_type: &str, bytes: Vec<u8>) -> Value {
    let signed = app.sign(kind, filename, content_type).await;
    let stored = post_form(&signed.url, &signed.fields, bytes, content_type).await;
    assert!(stored.status().is_success(), "{}", stored.status());
    let done = app.session().complete(&signed.object_key).await;
    assert_eq!(done.status(), 200);
    done.json().await.expect("json")
}

#[tokio::test]
async fn verified_avatars_get_a_cdn_url_and_nothing_else_does() {
    let app = spawn_app_with(&[("CDN_BASE_URL", "https://cdn.example/assets/")]).await;
    let avatar = upload_and_complete(&app, "avatar", "me.png", "image/png", corpus::png(16, 16, 8)).await;
    let key = avatar["objectKey"].as_str().expect("objectKey");
    assert_eq!(avatar["cdnUrl"], format!("{CDN}/{key}").as_str());
    assert_eq!(
        avatar["expiresIn"], 3600,
        "the signed URL is still there, with its lifetime"
    );
    let download: Value = app.download(key).await.json().await.expect("json");
    assert_eq!(download["cdnUrl"], avatar["cdnUrl"]);

    let file = upload_and_complete(&app, "file", "a.csv", "text/csv", b"a,b\n1,2\n".to_vec()).await;
    assert!(file.get("cdnUrl").is_none(), "{file}");
    let download: Value = app
        .download(file["objectKey"].as_str().expect("objectKey"))
        .await
        .json()
        .await
        .expect("json");
    assert!(download.get("cdnUrl").is_none(), "{download}");

    // A CDN URL is public: an avatar private to its user never gets one.
    let session = app.session();
    let staging = session
        .upload_in(Some("user"), "avatar", "me.png", "image/png", corpus::png(16, 16, 8))
        .await;
    let private: Value = session.complete(&staging).await.json().await.expect("json");
    assert!(
        private["objectKey"]
            .as_str()
            .is_some_and(|k| k.starts_with(&app.own_prefix())),
        "{private}"
    );
    assert!(private.get("cdnUrl").is_none(), "{private}");
}

#[tokio::test]
async fn without_a_cdn_avatars_have_no_cdn_url() {
    let app = spawn_app().await;
    let avatar = upload_and_complete(&app, "avatar", "me.png", "image/png", corpus::png(16, 16, 8)).await;
    assert!(avatar.get("cdnUrl").is_none(), "{avatar}");
}
