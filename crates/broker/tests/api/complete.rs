//! Completion through the real flow: sign, a browser-style form POST to the
//! embedded store, then complete, exactly as a frontend would.

use broker_verifier::corpus;
use serde_json::{Value, json};

use broker_core::ObjectKey;
use broker_core::store::{PutOptions, StoreError};
use broker_testkit::{assert_error, error_code, removed, spawn_app, spawn_app_with};

async fn fetch(url: &str) -> Vec<u8> {
    let response = reqwest::get(url).await.expect("the store answers");
    assert_eq!(response.status(), 200);
    response.bytes().await.expect("bytes").to_vec()
}

fn exif_fields(bytes: &[u8]) -> Vec<String> {
    match exif::Reader::new().read_from_container(&mut std::io::Cursor::new(bytes)) {
        Ok(exif) => exif.fields().map(|f| f.tag.to_string()).collect(),
        Err(_) => Vec::new(),
    }
}

fn pixels(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory(bytes).expect("decodes")
}

#[tokio::test]
async fn a_jpeg_avatar_is_stripped_losslessly_and_promoted() {
    let app = spawn_app().await;
    let original = corpus::jpeg_with_metadata();
    assert!(
        exif_fields(&original).iter().any(|t| t.contains("GPS")),
        "the fixture carries GPS"
    );
    let staging = app
        .upload("avatar", "phone photo.jpg", "image/jpeg", original.clone())
        .await;

    let response = app.complete(&staging).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    let final_key = body["objectKey"].as_str().expect("objectKey");
    assert!(final_key.starts_with("default/shared/avatars/"), "{final_key}");
    assert!(final_key.ends_with(".jpg"));
    assert_eq!(body["contentType"], "image/jpeg");
    assert_eq!(body["expiresIn"], 3600);
    let removed = removed(&body);
    for expected in ["exif", "gps", "xmp", "iptc", "comment", "thumbnail"] {
        assert!(removed.contains(&expected), "{expected} not in {removed:?}");
    }

    let served = fetch(body["url"].as_str().expect("url")).await;
    assert_eq!(served.len() as u64, body["size"].as_u64().expect("size"));
    assert!(
        exif_fields(&served).is_empty(),
        "no EXIF remains: {:?}",
        exif_fields(&served)
    );
    for secret in [
        corpus::SECRET_MAKE,
        corpus::SECRET_XMP,
        corpus::SECRET_IPTC,
        corpus::SECRET_COMMENT,
    ] {
        assert!(
            !served.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} leaked"
        );
    }
    assert_eq!(pixels(&served), pixels(&original), "pixel-identical");
    assert!(!app.object_exists(&staging).await, "staging is deleted after promotion");

    // The served key is downloadable; the staging key never is.
    assert_eq!(app.download(final_key).await.status(), 200);
}

#[tokio::test]
async fn a_portrait_photo_keeps_only_its_orientation() {
    let app = spawn_app().await;
    let staging = app
        .upload("avatar", "portrait.jpg", "image/jpeg", corpus::jpeg_with_orientation(6))
        .await;
    let body: Value = app.complete(&staging).await.json().await.expect("json");
    let served = fetch(body["url"].as_str().expect("url")).await;
    assert_eq!(exif_fields(&served), ["Orientation"], "only Orientation survives");
    let exif = exif::Reader::new()
        .read_from_container(&mut std::io::Cursor::new(&served))
        .expect("exif");
    let orientation = exif
        .get_field(exif::Tag::Orientation, exif::In::PRIMARY)
        .and_then(|f| f.value.get_uint(0));
    assert_eq!(orientation, Some(6), "the photo still displays upright");
}

#[tokio::test]
async fn png_and_webp_avatars_are_stripped() {
    let app = spawn_app().await;
    for (filename, content_type, original) in [
        ("a.png", "image/png", corpus::png_with_metadata()),
        ("a.webp", "image/webp", corpus::webp_with_metadata()),
    ] {
        let staging = app.upload("avatar", filename, content_type, original.clone()).await;
        let response = app.complete(&staging).await;
        assert_eq!(response.status(), 200, "{filename}");
        let body: Value = response.json().await.expect("json");
        let removed = removed(&body);
        assert!(
            removed.contains(&"exif") && (removed.contains(&"xmp") || removed.contains(&"text")),
            "{filename}: {removed:?}"
        );
        let served = fetch(body["url"].as_str().expect("url")).await;
        assert!(exif_fields(&served).is_empty(), "{filename}");
        assert!(
            !served
                .windows(corpus::SECRET_MAKE.len())
                .any(|w| w == corpus::SECRET_MAKE.as_bytes()),
            "{filename}"
        );
        assert_eq!(pixels(&served), pixels(&original), "{filename} is pixel-identical");
    }
}

#[tokio::test]
async fn hostile_uploads_are_refused_with_their_code_and_leave_nothing_behind() {
    let app = spawn_app().await;
    let cases: Vec<(&str, &str, &str, Vec<u8>, &str)> = vec![
        (
            "avatar",
            "t.jpg",
            "image/jpeg",
            corpus::truncated_jpeg(),
            "corrupt_file",
        ),
        // Strips (so its write to the served key starts), then fails its decode.
        (
            "avatar",
            "bad.png",
            "image/png",
            corpus::png_with_bad_pixels(),
            "corrupt_file",
        ),
        ("avatar", "p.jpg", "image/jpeg", corpus::png(16, 16, 8), "type_mismatch"),
        ("avatar", "h.jpg", "image/jpeg", corpus::html_page(), "not_an_image"),
        (
            "avatar",
            "bomb.png",
            "image/png",
            corpus::png_bomb(30_000, 30_000),
            "dimensions_too_large",
        ),
        (
            "export",
            "t.zip",
            "application/zip",
            corpus::zip_with_traversal(),
            "unsafe_content",
        ),
        (
            "export",
            "b.zip",
            "application/zip",
            corpus::zip_bomb(),
            "unsafe_content",
        ),
        ("export", "f.zip", "application/zip", corpus::fake_zip(), "corrupt_file"),
        (
            "export",
            "js.pdf",
            "application/pdf",
            corpus::pdf_with_javascript(),
            "unsafe_content",
        ),
        (
            "export",
            "m.json",
            "application/json",
            corpus::json_malformed(),
            "corrupt_file",
        ),
        ("export", "l.csv", "text/csv", corpus::csv_not_utf8(), "corrupt_file"),
    ];
    for (kind, filename, content_type, bytes, expected) in cases {
        let staging = app.upload(kind, filename, content_type, bytes).await;
        let (status, code) = error_code(app.complete(&staging).await).await;
        assert_eq!((status, code.as_str()), (422, expected), "{filename}");
        assert!(
            !app.object_exists(&staging).await,
            "{filename}: the refused upload is deleted"
        );
    }
    let served = app.store.list("default/").await.expect("list");
    assert!(
        served.is_empty(),
        "nothing was promoted: {:?}",
        served.iter().map(|o| &o.key).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_script_after_the_image_is_cut_off() {
    let app = spawn_app().await;
    let staging = app
        .upload(
            "avatar",
            "polyglot.jpg",
            "image/jpeg",
            corpus::jpeg_with_trailing_script(),
        )
        .await;
    let body: Value = app.complete(&staging).await.json().await.expect("json");
    assert!(removed(&body).contains(&"trailing_data"), "{body}");
    let served = fetch(body["url"].as_str().expect("url")).await;
    assert!(served.ends_with(&[0xFF, 0xD9]), "the file ends at EOI");
    assert!(!String::from_utf8_lossy(&served).contains("<script"));
}

/// The `file` profile by its name; the tests that sign `export` use its former
/// name, which stays accepted.
#[tokio::test]
async fn the_file_profile_is_signed_by_its_name_and_keyed_under_it() {
    let app = spawn_app().await;
    let signed = app.sign("file", "data.csv", "text/csv").await;
    assert!(
        signed
            .object_key
            .starts_with(&format!("staging/{}file/", app.own_prefix())),
        "{}",
        signed.object_key
    );
    assert_eq!(signed.fields["x-amz-meta-profile"], "file");
    let legacy = app.sign("export", "data.csv", "text/csv").await;
    assert!(
        legacy
            .object_key
            .starts_with(&format!("staging/{}file/", app.own_prefix())),
        "the former name signs the same profile"
    );
    let staging = app.upload("file", "data.csv", "text/csv", corpus::csv_ok()).await;
    let body: Value = app.complete(&staging).await.json().await.expect("json");
    assert!(
        body["objectKey"]
            .as_str()
            .expect("key")
            .starts_with(&format!("{}uploads/", app.own_prefix())),
        "{body}"
    );
}

#[tokio::test]
async fn file_uploads_are_promoted_byte_for_byte() {
    let app = spawn_app().await;
    for (filename, content_type, bytes) in [
        ("data.csv", "text/csv", corpus::csv_ok()),
        ("data.json", "application/json", corpus::json_ok()),
        ("doc.pdf", "application/pdf", corpus::pdf_ok()),
        ("bundle.zip", "application/zip", corpus::zip_ok()),
    ] {
        let staging = app.upload("export", filename, content_type, bytes.clone()).await;
        let response = app.complete(&staging).await;
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert_eq!(status, 200, "{filename}: {body}");
        assert!(
            body["objectKey"]
                .as_str()
                .expect("key")
                .starts_with(&format!("{}uploads/", app.own_prefix()))
        );
        assert_eq!(body["contentType"], content_type);
        assert_eq!(body["removed"], json!([]));
        assert_eq!(body["filename"], filename);
        let served = fetch(body["url"].as_str().expect("url")).await;
        assert_eq!(served, bytes, "{filename} is unchanged");
        let expected_sha: String = {
            use sha2::Digest as _;
            sha2::Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        };
        assert_eq!(body["sha256"], expected_sha.as_str());
    }
}

#[tokio::test]
async fn completing_twice_or_concurrently_gives_one_object_and_the_same_answer() {
    let app = spawn_app().await;
    let staging = app
        .upload("avatar", "me.jpg", "image/jpeg", corpus::jpeg_with_metadata())
        .await;
    let (a, b) = tokio::join!(app.complete(&staging), app.complete(&staging));
    assert_eq!(
        (a.status().as_u16(), b.status().as_u16()),
        (200, 200),
        "no error for the loser"
    );
    let a: Value = a.json().await.expect("json");
    let b: Value = b.json().await.expect("json");
    let again: Value = app.complete(&staging).await.json().await.expect("json");
    for body in [&b, &again] {
        for field in ["objectKey", "sha256", "size", "removed", "contentType"] {
            assert_eq!(body[field], a[field], "{field}");
        }
    }
    let served = app.store.list("default/shared/avatars/").await.expect("list");
    assert_eq!(served.len(), 1, "exactly one final object");
}

/// Two API instances over one embedded store complete the same upload at
/// once (L6): the store's create-only write must let exactly one of them
/// write, or both would be charged. Concurrent create-only PUTs of one key,
/// each a different body: one wins, the others get `AlreadyExists`, and the
/// object is the winner's bytes.
#[tokio::test]
async fn concurrent_create_only_writes_to_the_embedded_store_let_exactly_one_win() {
    // The embedded store in every run (Garage ignores `If-None-Match`).
    let app = spawn_app_with(&[("S3_ENABLED", "false")]).await;
    for round in 0..5 {
        let key = ObjectKey::parse(&format!("default/uploads/2026/11/race-{round}.csv")).expect("key");
        let writes = (0..8u8).map(|writer| {
            let (store, key) = (&app.store, &key);
            async move {
                let options = PutOptions {
                    content_type: "text/csv",
                    content_disposition: "",
                    metadata: std::collections::HashMap::new(),
                    create_only: true,
                };
                let body = vec![b'a' + writer; 1 << 20];
                (writer, store.put(key, body.into(), options).await)
            }
        });
        let results = futures_util::future::join_all(writes).await;
        let winners: Vec<u8> = results.iter().filter(|(_, r)| r.is_ok()).map(|(w, _)| *w).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        assert!(
            results
                .iter()
                .all(|(_, r)| matches!(r, Ok(()) | Err(StoreError::AlreadyExists))),
            "{results:?}"
        );
        let stored = app
            .store
            .get(&key)
            .await
            .expect("get")
            .collect()
            .await
            .expect("body")
            .into_bytes();
        assert_eq!(stored.len(), 1 << 20);
        assert!(
            stored.iter().all(|b| *b == b'a' + winners[0]),
            "round {round}: the winner's bytes"
        );
    }
}

#[tokio::test]
async fn completion_refuses_foreign_missing_and_malformed_keys() {
    let app = spawn_app().await;
    let never_uploaded = app.sign("avatar", "a.png", "image/png").await.object_key;
    let other_tenant = never_uploaded.replacen("staging/default/", "staging/acme/", 1);
    for (key, status, code) in [
        (never_uploaded.as_str(), 404, "not_found"),
        // Another tenant's upload answers like one never made.
        (other_tenant.as_str(), 404, "not_found"),
        ("default/avatars/2026/11/x.png", 403, "forbidden_key"),
        ("staging/../x", 400, "invalid_key"),
    ] {
        assert_error(app.complete(key).await, status, code, key).await;
    }
}

#[tokio::test]
async fn an_object_that_was_not_written_under_its_policy_is_not_signed_for_the_profile() {
    let app = spawn_app().await;
    let staging = app.sign("avatar", "a.png", "image/png").await.object_key;
    // Written around the policy: no signed metadata.
    app.store
        .client()
        .put_object()
        .bucket(app.store.bucket())
        .key(&staging)
        .body(corpus::png(8, 8, 1).into())
        .content_type("image/png")
        .send()
        .await
        .expect("put");
    assert_eq!(
        error_code(app.complete(&staging).await).await,
        (422, "not_signed_for_profile".into())
    );
    assert!(!app.object_exists(&staging).await);
}

#[tokio::test]
async fn cleanup_removes_only_stale_staging_objects() {
    let app = spawn_app_with(&[]).await;
    let staging = app.upload("export", "a.csv", "text/csv", corpus::csv_ok()).await;
    let served = "default/uploads/2026/11/keep.csv";
    app.put_object(served, b"a\n", "text/csv", "keep.csv").await;

    let past = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let report = broker_core::cleanup::remove_stale_staging(&app.store, past)
        .await
        .expect("cleanup");
    assert_eq!((report.deleted, report.kept), (0, 1), "a fresh upload is kept");

    let future = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
    let report = broker_core::cleanup::remove_stale_staging(&app.store, future)
        .await
        .expect("cleanup");
    assert_eq!(report.deleted, 1);
    assert!(!app.object_exists(&staging).await);
    assert!(app.object_exists(served).await, "served objects are never touched");
}
