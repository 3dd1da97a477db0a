//! The `document` profile: the multipart threshold at sign, a declared
//! SHA-256 bound to the upload and checked at completion, and large
//! documents put in staging by a multipart upload (as a finished browser
//! multipart upload leaves them) verified streamed and promoted by a copy.

use std::collections::HashMap;

use broker_core::ObjectKey;
use broker_core::store::PutOptions;
use broker_testkit::{TestApp, TestStore, error_code, post_form, spawn_app, spawn_app_with, try_post_form};
use broker_verifier::corpus;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;
/// The part size of the test's multipart uploads (S3's smallest is 5 MiB).
const PART: usize = 16 * MIB;

/// Hex SHA-256, as the broker writes it.
pub(crate) fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// A well-formed CSV of at least `len` bytes.
fn large_csv(len: usize) -> Vec<u8> {
    let mut csv = b"id,name,amount\n".to_vec();
    let mut row = 0u64;
    while csv.len() < len {
        csv.extend_from_slice(
            format!("{row},\"customer {row}, Z\u{fc}rich\",{}.{:02}\n", row * 7, row % 100).as_bytes(),
        );
        row += 1;
    }
    csv
}

/// Signs a `document` upload (with `sha256` when given) and returns the reply.
async fn sign(app: &TestApp, filename: &str, content_type: &str, extra: Value) -> reqwest::Response {
    let mut request = json!({"kind": "document", "filename": filename, "content_type": content_type});
    if let (Some(request), Some(extra)) = (request.as_object_mut(), extra.as_object()) {
        request.extend(extra.clone());
    }
    app.post_json("/uploads/sign", &request).await
}

/// Signs, then puts `bytes` in staging by an S3 multipart upload in 16 MiB
/// parts carrying the signed record, as a finished multipart upload does.
/// Returns the staging key.
async fn staged_in_parts(
    app: &TestApp,
    filename: &str,
    content_type: &str,
    bytes: &[u8],
    declared: Option<&str>,
) -> String {
    let response = sign(app, filename, content_type, json!({"sha256": declared})).await;
    assert_eq!(response.status(), 200);
    let signed: Value = response.json().await.expect("json");
    let key = ObjectKey::parse(signed["objectKey"].as_str().expect("objectKey")).expect("a key");
    let metadata: HashMap<String, String> = signed["fields"]
        .as_object()
        .expect("fields")
        .iter()
        .filter_map(|(name, value)| Some((name.strip_prefix("x-amz-meta-")?.to_owned(), value.as_str()?.to_owned())))
        .collect();
    assert_eq!(metadata.get("sha256").map(String::as_str), declared);
    let options = PutOptions {
        content_type,
        content_disposition: "",
        metadata,
        create_only: false,
    };
    let upload_id = app.store.create_multipart(&key, options, false).await.expect("create");
    let mut parts = Vec::new();
    for (index, chunk) in bytes.chunks(PART).enumerate() {
        let number = i32::try_from(index + 1).expect("part number");
        let etag = app
            .store
            .upload_part(&key, &upload_id, number, chunk.to_vec())
            .await
            .expect("part");
        parts.push((number, etag));
    }
    app.store
        .complete_multipart(&key, &upload_id, &parts)
        .await
        .expect("complete");
    let head = app.store.head(&key).await.expect("staged");
    let etag = head.etag.expect("an ETag");
    assert!(
        etag.trim_matches('"').ends_with(&format!("-{}", parts.len())),
        "a multipart ETag, no content hash: {etag}"
    );
    key.to_string()
}

#[tokio::test]
async fn sign_sends_large_files_to_multipart_and_checks_the_digest() {
    let app = spawn_app().await;
    let digest = sha256(b"x");
    let cases = [
        (json!({"size": 104_857_601u64}), 400, "multipart_required"),
        (json!({"size": 5_368_709_121u64}), 400, "too_large"),
        (json!({"sha256": "abc"}), 400, "invalid_checksum"),
        (
            json!({"sha256": format!("{}zz", &digest[2..])}),
            400,
            "invalid_checksum",
        ),
    ];
    for (extra, status, code) in cases {
        let response = sign(&app, "big.zip", "application/zip", extra.clone()).await;
        assert_eq!(error_code(response).await, (status, code.to_owned()), "{extra}");
    }
    // At the threshold a single POST is signed, and never for more.
    let response = sign(
        &app,
        "big.zip",
        "application/zip",
        json!({"size": 104_857_600u64, "sha256": digest}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["maxBytes"], 104_857_600u64);
    assert_eq!(body["fields"]["x-amz-meta-sha256"], digest.as_str());
    assert_eq!(body["expiresIn"], 3600);
}

#[tokio::test]
async fn a_single_post_is_bounded_by_the_multipart_threshold() {
    let app = spawn_app_with(&[("MULTIPART_THRESHOLD", "1048576")]).await;
    let response = sign(&app, "d.csv", "text/csv", json!({})).await;
    let signed: Value = response.json().await.expect("json");
    assert_eq!(signed["maxBytes"], 1_048_576);
    let fields = serde_json::from_value(signed["fields"].clone()).expect("fields");
    let url = signed["url"].as_str().expect("url");
    // Garage cuts the connection on a body past the policy's maximum.
    let refused = try_post_form(url, &fields, large_csv(MIB + 1024), "text/csv").await;
    if let Ok(response) = refused {
        assert!(
            !response.status().is_success(),
            "the store took more than the threshold"
        );
    }
    let key = signed["objectKey"].as_str().expect("objectKey");
    assert!(!app.object_exists(key).await);
}

#[tokio::test]
async fn a_document_completes_with_its_declared_sha256_and_not_with_another() {
    let app = spawn_app().await;
    let csv = corpus::csv_ok();

    let response = sign(
        &app,
        "right.csv",
        "text/csv",
        json!({"sha256": sha256(&csv).to_uppercase()}),
    )
    .await;
    let signed: Value = response.json().await.expect("json");
    let fields = serde_json::from_value(signed["fields"].clone()).expect("fields");
    let staging = signed["objectKey"].as_str().expect("objectKey");
    assert!(
        post_form(signed["url"].as_str().expect("url"), &fields, csv.clone(), "text/csv")
            .await
            .status()
            .is_success()
    );
    let response = app.complete(staging).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["sha256"], sha256(&csv));
    assert!(
        body["objectKey"]
            .as_str()
            .expect("objectKey")
            .starts_with(&format!("{}documents/", app.own_prefix()))
    );

    // The browser cannot change the signed digest: the policy pins it.
    let response = sign(&app, "wrong.csv", "text/csv", json!({"sha256": sha256(b"other bytes")})).await;
    let signed: Value = response.json().await.expect("json");
    let fields: std::collections::BTreeMap<String, String> =
        serde_json::from_value(signed["fields"].clone()).expect("fields");
    let url = signed["url"].as_str().expect("url").to_owned();
    let staging = signed["objectKey"].as_str().expect("objectKey").to_owned();
    let mut tampered = fields.clone();
    tampered.insert("x-amz-meta-sha256".into(), sha256(&csv));
    assert!(
        !post_form(&url, &tampered, csv.clone(), "text/csv")
            .await
            .status()
            .is_success()
    );

    // Stored bytes with another digest are refused, deleted, and never served.
    assert!(
        post_form(&url, &fields, csv.clone(), "text/csv")
            .await
            .status()
            .is_success()
    );
    let response = app.complete(&staging).await;
    assert_eq!(error_code(response).await, (422, "checksum_mismatch".to_owned()));
    assert!(!app.object_exists(&staging).await, "the refused upload is deleted");
    assert_eq!(
        app.keys_under(&format!("{}documents/", app.own_prefix())).await.len(),
        1,
        "only the right one is served"
    );
}

#[tokio::test]
async fn large_documents_staged_in_parts_are_verified_and_promoted() {
    let app = spawn_app().await;
    let csv = large_csv(48 * MIB);
    let digest = sha256(&csv);
    let staging = staged_in_parts(&app, "ledger.csv", "text/csv", &csv, Some(&digest)).await;
    let response = app.complete(&staging).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["sha256"], digest.as_str());
    assert_eq!(body["size"], csv.len() as u64);
    let served = reqwest::get(body["url"].as_str().expect("url")).await.expect("GET");
    assert_eq!(served.status(), 200);
    let disposition = served.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        disposition.starts_with("attachment") && disposition.contains("ledger.csv"),
        "{disposition}"
    );
    assert_eq!(
        sha256(&served.bytes().await.expect("body")),
        digest,
        "the stored bytes are served"
    );
    assert!(!app.object_exists(&staging).await);
    // The served object carries its own record, not the staging one's.
    let final_key = ObjectKey::parse(body["objectKey"].as_str().expect("objectKey")).expect("key");
    let head = app.store.head(&final_key).await.expect("served");
    assert_eq!(head.metadata.get("sha256"), Some(&digest));
    assert_eq!(head.metadata.get("tenant"), None);

    // A ZIP, without a declared digest, completes too.
    let entries: Vec<(String, Vec<u8>)> = (0..4).map(|i| (format!("part-{i}.csv"), large_csv(10 * MIB))).collect();
    let refs: Vec<(&str, &[u8])> = entries.iter().map(|(n, c)| (n.as_str(), c.as_slice())).collect();
    let zip = corpus::zip_stored(&refs);
    let staging = staged_in_parts(&app, "bundle.zip", "application/zip", &zip, None).await;
    let response = app.complete(&staging).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["sha256"], sha256(&zip));
    assert_eq!(body["contentType"], "application/zip");
}

#[tokio::test]
async fn a_corrupt_or_mismatched_large_document_is_refused_and_deleted() {
    let app = spawn_app().await;
    let mut csv = large_csv(40 * MIB);
    csv.extend_from_slice(b"ragged,row\n");
    let staging = staged_in_parts(&app, "broken.csv", "text/csv", &csv, None).await;
    assert_eq!(
        error_code(app.complete(&staging).await).await,
        (422, "corrupt_file".to_owned())
    );
    assert!(!app.object_exists(&staging).await);

    let csv = large_csv(24 * MIB);
    let staging = staged_in_parts(&app, "swapped.csv", "text/csv", &csv, Some(&sha256(b"another file"))).await;
    assert_eq!(
        error_code(app.complete(&staging).await).await,
        (422, "checksum_mismatch".to_owned())
    );
    assert!(!app.object_exists(&staging).await);
    assert!(
        app.keys_under(&format!("{}documents/", app.own_prefix()))
            .await
            .is_empty(),
        "nothing is served"
    );
}

/// What the store does with a part's (or a PUT's) `x-amz-checksum-sha256`
/// (docs/stores.md): both refuse a wrong one, Garage with `InvalidDigest`, the
/// embedded store with S3's `BadDigest` (vendor/s3s-fs/PATCHED.md §4).
#[tokio::test]
async fn both_stores_check_a_parts_sha256() {
    use aws_sdk_s3::error::ProvideErrorMetadata as _;
    use base64::Engine as _;
    let app = spawn_app().await;
    let key = ObjectKey::parse("staging/default/document/checksum-probe.csv").expect("key");
    let client = app.store.client();
    let upload = client
        .create_multipart_upload()
        .bucket(app.store.bucket())
        .key(key.as_str())
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .expect("create");
    let upload_id = upload.upload_id().expect("upload id");
    let part = b"a,b\n1,2\n".to_vec();
    let base64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes));
    let send = |checksum: String| {
        client
            .upload_part()
            .bucket(app.store.bucket())
            .key(key.as_str())
            .upload_id(upload_id)
            .part_number(1)
            .checksum_sha256(checksum)
            .body(part.clone().into())
            .send()
    };
    let wrong = send(base64(b"another part")).await;
    let code = wrong.as_ref().err().and_then(|e| e.code());
    let expected = match app.store_kind() {
        TestStore::Garage => "InvalidDigest",
        TestStore::Embedded => "BadDigest",
    };
    assert_eq!(code, Some(expected), "a wrong part digest is refused");
    assert!(send(base64(&part)).await.is_ok(), "a right part digest is taken");
    app.store.abort_multipart(&key, upload_id).await.expect("abort");

    // A PUT with a wrong digest is refused the same way and leaves nothing.
    let put = client
        .put_object()
        .bucket(app.store.bucket())
        .key(key.as_str())
        .checksum_sha256(base64(b"another file"))
        .body(part.clone().into())
        .send()
        .await;
    assert_eq!(put.as_ref().err().and_then(|e| e.code()), Some(expected));
    assert!(!app.object_exists(key.as_str()).await, "a refused PUT leaves no object");
}
