//! Multipart uploads through the real flow: create, sign parts, PUT them to
//! the store as a browser does, list (resume), complete (verify and promote),
//! abort; bound to the principal that created them; and the Companion routes
//! `@uppy/aws-s3` calls. Parts are 5 MiB (`MULTIPART_PART_SIZE`), the smallest
//! S3 (and Garage, and the embedded store) accepts but for the last.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use broker_api::uploads::multipart::SessionRegistry;
use broker_api::uploads::multipart::sessions::SESSION_LIFETIME;
use broker_core::store::PutOptions;
use broker_core::{ObjectKey, Settings};
use broker_testkit::{Redis, Session, TestApp, error_code, retry_after, s3_error_code, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const PART: usize = 5 * 1024 * 1024;

async fn spawn() -> TestApp {
    spawn_app_with(&[("MULTIPART_PART_SIZE", "5242880")]).await
}

/// A valid CSV of a little more than `parts - 1` parts.
fn csv(parts: usize) -> Vec<u8> {
    let mut csv = b"id,name,amount\n".to_vec();
    let target = (parts - 1) * PART + 12_345;
    let mut i = 0u64;
    while csv.len() < target {
        csv.extend_from_slice(format!("{i},name-{i},{}\n", i * 3).as_bytes());
        i += 1;
    }
    csv
}

async fn create(session: &Session<'_>, size: usize) -> Value {
    create_with(
        session,
        &json!({"profile": "document", "filename": "ledger.csv", "contentType": "text/csv", "size": size}),
    )
    .await
}

/// A CSV of `parts` parts, its started multipart upload and the upload's id.
pub(crate) async fn started(session: &Session<'_>, parts: usize) -> (Vec<u8>, Value, String) {
    let data = csv(parts);
    let created = create(session, data.len()).await;
    let upload_id = upload_id_of(&created).to_owned();
    (data, created, upload_id)
}

/// `POST /uploads/multipart` with `body`, which must be accepted (201).
async fn create_with(session: &Session<'_>, body: &Value) -> Value {
    let response = session.post_json("/uploads/multipart", body).await;
    assert_eq!(response.status(), 201, "create refused: {:?}", response.text().await);
    response.json().await.expect("json")
}

/// `POST /uploads/multipart` with `body`, which must be refused with `status` and `code`.
async fn create_refused(session: &Session<'_>, body: &Value, status: u16, code: &str) {
    let response = session.post_json("/uploads/multipart", body).await;
    assert_eq!(error_code(response).await, (status, code.to_owned()), "{body}");
}

async fn sign_parts(session: &Session<'_>, upload_id: &str, numbers: &[u32]) -> reqwest::Response {
    session
        .post_json(
            &format!("/uploads/multipart/{upload_id}/parts"),
            &json!({ "partNumbers": numbers }),
        )
        .await
}

/// Signs part `number` and returns its URL and headers.
async fn signed_part(session: &Session<'_>, upload_id: &str, number: u32) -> (String, BTreeMap<String, String>) {
    let response = sign_parts(session, upload_id, &[number]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert!(body["expiresIn"].as_u64().is_some_and(|s| s > 0));
    let part = &body["parts"][0];
    assert_eq!(part["partNumber"], number);
    assert_eq!(part["method"], "PUT");
    let headers = serde_json::from_value(part["headers"].clone()).expect("headers");
    (part["url"].as_str().expect("url").to_owned(), headers)
}

async fn put(url: &str, headers: &BTreeMap<String, String>, bytes: &[u8]) -> reqwest::Response {
    let mut request = reqwest::Client::new().put(url).body(bytes.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.expect("the store answers")
}

/// PUTs parts `numbers` of `data`, one after the other, and returns their ETags.
pub(crate) async fn upload_parts(
    session: &Session<'_>,
    upload_id: &str,
    data: &[u8],
    numbers: std::ops::RangeInclusive<u32>,
) -> Vec<String> {
    let mut etags = Vec::new();
    for number in numbers {
        etags.push(upload_part(session, upload_id, data, number).await);
    }
    etags
}

/// PUTs part `number` of `data` and returns its ETag.
async fn upload_part(session: &Session<'_>, upload_id: &str, data: &[u8], number: u32) -> String {
    let (url, headers) = signed_part(session, upload_id, number).await;
    let start = (number as usize - 1) * PART;
    let response = put(&url, &headers, &data[start..(start + PART).min(data.len())]).await;
    assert_eq!(
        response.status(),
        200,
        "part {number} refused: {:?}",
        response.text().await
    );
    response.headers()["etag"].to_str().expect("ascii").to_owned()
}

/// `GET /uploads/multipart/{upload_id}`: the upload's layout and stored parts.
async fn status_of(session: &Session<'_>, upload_id: &str) -> Value {
    let response = session
        .send(Method::GET, &format!("/uploads/multipart/{upload_id}"))
        .await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

pub(crate) fn parts_body(etags: &[String]) -> Value {
    let parts: Vec<Value> = etags
        .iter()
        .enumerate()
        .map(|(i, etag)| json!({"partNumber": i + 1, "etag": etag}))
        .collect();
    json!({ "parts": parts })
}

async fn open_uploads(app: &TestApp) -> Vec<String> {
    let prefix = app.store.layout().staging_prefix();
    app.store
        .list_multipart_uploads(&prefix)
        .await
        .expect("ListMultipartUploads")
        .into_iter()
        .map(|upload| upload.upload_id)
        .collect()
}

#[tokio::test]
async fn a_multipart_upload_resumes_completes_verifies_and_downloads() {
    let app = spawn().await;
    let session = app.session();
    let (data, created, upload_id) = started(&session, 4).await;
    assert_eq!(created["partSize"], PART);
    assert_eq!(created["partCount"], 4);
    assert!(created["expiresIn"].as_u64().is_some_and(|s| s > 0));
    let key = created["key"].as_str().expect("key");
    assert!(
        key.starts_with(&format!("staging/{}document/", app.own_prefix())) && key.ends_with(".csv"),
        "{key}"
    );
    assert!(open_uploads(&app).await.contains(&upload_id.to_owned()));

    // Two parts, then a "reload": the list says which are there.
    let mut etags = upload_parts(&session, &upload_id, &data, 1..=2).await;
    let listed = status_of(&session, &upload_id).await;
    assert_eq!(listed["partCount"], 4);
    assert_eq!(listed["key"], key);
    let parts = listed["parts"].as_array().expect("parts");
    assert_eq!(parts.len(), 2, "{listed}");
    for (part, etag) in parts.iter().zip(&etags) {
        assert_eq!(part["size"], PART);
        assert_eq!(
            part["etag"].as_str().map(|e| e.trim_matches('"')),
            Some(etag.trim_matches('"'))
        );
    }
    etags.extend(upload_parts(&session, &upload_id, &data, 3..=4).await);

    let response = session
        .post_json(&format!("/uploads/multipart/{upload_id}/complete"), &parts_body(&etags))
        .await;
    assert_eq!(response.status(), 200, "complete refused: {:?}", response.text().await);
    let done: Value = response.json().await.expect("json");
    let served = done["objectKey"].as_str().expect("objectKey");
    assert!(
        served.starts_with(&format!("{}documents/", app.own_prefix())),
        "{served}"
    );
    assert_eq!(done["size"], data.len());
    assert_eq!(done["sha256"], crate::large::sha256(&data));
    assert_eq!(done["contentType"], "text/csv");
    assert!(!app.object_exists(key).await, "staging is emptied");
    assert!(!open_uploads(&app).await.contains(&upload_id.to_owned()));

    let url = done["url"].as_str().expect("url");
    let downloaded = reqwest::get(url).await.expect("GET").bytes().await.expect("bytes");
    assert!(downloaded == data, "the downloaded object is the uploaded file");

    // The session is over.
    let (status, code) = error_code(sign_parts(&session, &upload_id, &[1]).await).await;
    assert_eq!((status, code.as_str()), (404, "upload_not_found"));
}

#[tokio::test]
async fn another_principal_cannot_sign_list_complete_or_abort() {
    let app = spawn().await;
    let owner = app.session();
    let (data, created, upload_id) = started(&owner, 2).await;
    let etags = upload_parts(&owner, &upload_id, &data, 1..=2).await;

    for (tenant, subject) in [("other-tenant", "user-1"), ("default", "user-2")] {
        let intruder = app.as_user(tenant, subject);
        let attempts = [
            sign_parts(&intruder, &upload_id, &[1]).await,
            intruder
                .send(Method::GET, &format!("/uploads/multipart/{upload_id}"))
                .await,
            intruder
                .post_json(&format!("/uploads/multipart/{upload_id}/complete"), &parts_body(&etags))
                .await,
            intruder
                .send(Method::DELETE, &format!("/uploads/multipart/{upload_id}"))
                .await,
        ];
        for response in attempts {
            let (status, code) = error_code(response).await;
            assert_eq!((status, code.as_str()), (404, "upload_not_found"), "{tenant}/{subject}");
        }
        let key = created["key"].as_str().expect("key");
        let companion = intruder
            .send(Method::DELETE, &format!("/s3/multipart/{upload_id}?key={key}"))
            .await;
        assert_eq!(error_code(companion).await, (404, "upload_not_found".to_owned()));
    }
    assert!(
        open_uploads(&app).await.contains(&upload_id.to_owned()),
        "nothing was aborted"
    );

    let response = owner
        .post_json(&format!("/uploads/multipart/{upload_id}/complete"), &parts_body(&etags))
        .await;
    assert_eq!(response.status(), 200, "the owner still completes it");
}

#[tokio::test]
async fn a_part_url_is_bound_to_its_upload_part_number_and_length() {
    let app = spawn().await;
    let session = app.session();
    let data = csv(3);
    let first = create(&session, data.len()).await;
    let second = create(&session, data.len()).await;
    let (a, b) = (upload_id_of(&first), upload_id_of(&second));
    let (url, headers) = signed_part(&session, a, 1).await;
    let part = &data[..PART];

    let encode = |id: &str| {
        let mut encoded = String::new();
        for byte in id.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
                encoded.push(byte as char);
            } else {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
        encoded
    };
    let other_part = url.replace("partNumber=1&", "partNumber=2&");
    let other_upload = url.replace(&format!("uploadId={}", encode(a)), &format!("uploadId={}", encode(b)));
    assert!(other_part != url && other_upload != url, "{url}");
    for (what, edited, body) in [
        ("another part number", &other_part, part),
        ("another upload id", &other_upload, part),
        ("a shorter part", &url, &part[1..]),
    ] {
        refused(edited, &headers, body, what).await;
    }
    for (created, upload_id, which) in [(&first, a, "the upload"), (&second, b, "the other upload")] {
        let parts = app
            .store
            .list_parts(&key_of(created), upload_id)
            .await
            .expect("list parts");
        assert!(parts.is_empty(), "nothing reached {which}");
    }
    let response = put(&url, &headers, part).await;
    assert_eq!(response.status(), 200, "the URL as signed works");
}

/// The store refuses the PUT: 403 `SignatureDoesNotMatch` (the embedded
/// store, AWS) or `AccessDenied` (Garage), which Garage may answer before
/// reading the body, closing the connection under it. A request without a
/// header its URL signed, Garage sometimes refuses as malformed instead:
/// 400 `InvalidRequest` (seen under load in the test suite).
async fn refused(url: &str, headers: &BTreeMap<String, String>, body: &[u8], what: &str) {
    let mut request = reqwest::Client::new().put(url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    match request.send().await {
        Ok(response) => {
            let (status, code) = s3_error_code(response).await;
            assert!(
                matches!(
                    (status, code.as_str()),
                    (403, "SignatureDoesNotMatch" | "AccessDenied") | (400, "InvalidRequest")
                ),
                "{what}: {status} {code}"
            );
        }
        Err(error) => assert!(error.is_request() && !error.is_connect(), "{what}: {error}"),
    }
}

pub(crate) fn upload_id_of(created: &Value) -> &str {
    created["uploadId"].as_str().expect("uploadId")
}

fn key_of(created: &Value) -> ObjectKey {
    ObjectKey::parse(created["key"].as_str().expect("key")).expect("a valid key")
}

#[tokio::test]
async fn abort_discards_the_upload() {
    let app = spawn().await;
    let session = app.session();
    let (data, _, upload_id) = started(&session, 2).await;
    upload_part(&session, &upload_id, &data, 1).await;

    let response = session
        .send(Method::DELETE, &format!("/uploads/multipart/{upload_id}"))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["aborted"], true);
    assert!(body["expiresIn"].is_u64());
    assert!(!open_uploads(&app).await.contains(&upload_id.to_owned()));
    let (status, code) = error_code(sign_parts(&session, &upload_id, &[2]).await).await;
    assert_eq!((status, code.as_str()), (404, "upload_not_found"));
}

/// The app's own multipart session registry, opened as `cleanup` opens it.
async fn registry(app: &TestApp) -> std::sync::Arc<dyn SessionRegistry> {
    let settings = Settings::from_lookup(|name| app.vars.get(name).cloned()).expect("settings");
    upload_broker::sessions::open(&settings).await.expect("registry")
}

/// `others`: the uploads the app already has open, which expire too.
async fn cleanup_aborts_abandoned_uploads(app: &TestApp, others: usize) {
    let session = app.session();
    let (data, _, upload_id) = started(&session, 2).await;
    upload_part(&session, &upload_id, &data, 1).await;
    // One the registry never knew (a crash between create and record).
    let stray_key = ObjectKey::parse(&format!(
        "{}default/document/0190c3a0-0000-7000-8000-000000000000.csv",
        app.store.layout().staging_prefix()
    ))
    .expect("key");
    let options = PutOptions {
        content_type: "text/csv",
        content_disposition: "",
        metadata: Default::default(),
        create_only: false,
    };
    let stray = app
        .store
        .create_multipart(&stray_key, options, false)
        .await
        .expect("create");
    let sessions = registry(app).await;
    let grace = Duration::from_secs(3600);

    let now = SystemTime::now();
    let aborted = upload_broker::cleanup::abort_abandoned(&app.store, &*sessions, now, grace)
        .await
        .expect("cleanup");
    assert_eq!(aborted, 0, "fresh uploads are kept");
    let open = open_uploads(app).await;
    assert!(open.contains(&upload_id) && open.contains(&stray), "{open:?}");

    let later = now + SESSION_LIFETIME + grace + Duration::from_secs(60);
    let aborted = upload_broker::cleanup::abort_abandoned(&app.store, &*sessions, later, grace)
        .await
        .expect("cleanup");
    assert_eq!(aborted, 2 + others);
    let open = open_uploads(app).await;
    assert!(!open.contains(&upload_id) && !open.contains(&stray), "{open:?}");
    assert!(
        sessions.get(&upload_id).await.expect("registry").is_none(),
        "the session is forgotten"
    );
}

#[tokio::test]
async fn cleanup_aborts_expired_and_unrecorded_uploads() {
    cleanup_aborts_abandoned_uploads(&spawn().await, 0).await;
}

#[tokio::test]
async fn sessions_live_in_redis_when_it_is_configured() {
    let redis = Redis::start();
    let url = redis.url();
    let app = spawn_app_with(&[("MULTIPART_PART_SIZE", "5242880"), ("REDIS_URL", &url)]).await;
    let (_, created, upload_id) = started(&app.session(), 2).await;
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut connection = client.get_multiplexed_async_connection().await.expect("redis");
    let stored: Option<String> = redis::cmd("GET")
        .arg(format!("broker:multipart:{upload_id}"))
        .query_async(&mut connection)
        .await
        .expect("GET");
    let stored: Value = serde_json::from_str(&stored.expect("the session is in Redis")).expect("json");
    assert_eq!(stored["tenant"], "default");
    assert_eq!(stored["key"], created["key"]);
    let (status, code) = error_code(sign_parts(&app.as_user("default", "user-2"), &upload_id, &[1]).await).await;
    assert_eq!((status, code.as_str()), (404, "upload_not_found"));
    cleanup_aborts_abandoned_uploads(&app, 1).await;
}

#[tokio::test]
async fn companion_routes_round_trip_then_complete_verifies() {
    let app = spawn().await;
    let session = app.session();
    let data = csv(3);

    let response = session
        .post_json(
            "/s3/multipart",
            &json!({"filename": "ledger.csv", "type": "text/csv", "metadata": {"kind": "document", "name": "ledger.csv"}}),
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let created: Value = response.json().await.expect("json");
    let (key, upload_id) = (created["key"].as_str().expect("key"), upload_id_of(&created));
    let get = |path: String| {
        let session = &session;
        async move { session.send(Method::GET, &path).await }
    };

    let mut parts = Vec::new();
    for number in 1..=3u32 {
        let response = get(format!("/s3/multipart/{upload_id}/{number}?key={key}")).await;
        assert_eq!(response.status(), 200);
        let signed: Value = response.json().await.expect("json");
        assert!(signed["expires"].as_u64().is_some_and(|s| s > 0));
        let headers = serde_json::from_value(signed["headers"].clone()).expect("headers");
        let start = (number as usize - 1) * PART;
        let body = &data[start..(start + PART).min(data.len())];
        let response = put(signed["url"].as_str().expect("url"), &headers, body).await;
        assert_eq!(response.status(), 200);
        let etag = response.headers()["etag"].to_str().expect("etag").to_owned();
        parts.push(json!({"PartNumber": number, "ETag": etag}));
        if number == 2 {
            let listed: Value = get(format!("/s3/multipart/{upload_id}?key={key}"))
                .await
                .json()
                .await
                .expect("json");
            assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
            assert_eq!(listed[1]["PartNumber"], 2);
            assert_eq!(listed[1]["Size"], PART);
            assert!(listed[1]["ETag"].is_string());
        }
    }
    // The key in the query must be the upload's.
    let response = get(format!(
        "/s3/multipart/{upload_id}/1?key=staging/default/document/other.csv"
    ))
    .await;
    assert_eq!(error_code(response).await, (404, "upload_not_found".to_owned()));

    let response = session
        .post_json(
            &format!("/s3/multipart/{upload_id}/complete?key={key}"),
            &json!({ "parts": parts }),
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let assembled: Value = response.json().await.expect("json");
    assert_eq!(assembled["location"], key);
    assert!(app.object_exists(key).await, "assembled in staging, not yet verified");

    let response = app.complete(key).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let done: Value = response.json().await.expect("json");
    assert_eq!(done["sha256"], crate::large::sha256(&data));
    assert!(
        done["objectKey"]
            .as_str()
            .is_some_and(|k| k.starts_with(&format!("{}documents/", app.own_prefix())))
    );
}

#[tokio::test]
async fn companion_params_sign_a_single_upload() {
    let app = spawn().await;
    let response = app
        .session()
        .send(
            Method::GET,
            "/s3/params?filename=ledger.csv&type=text%2Fcsv&metadata%5Bkind%5D=file",
        )
        .await;
    assert_eq!(response.status(), 200);
    let signed: Value = response.json().await.expect("json");
    assert_eq!(signed["method"], "POST");
    let key = signed["fields"]["key"].as_str().expect("fields.key");
    assert!(key.starts_with(&format!("staging/{}file/", app.own_prefix())), "{key}");
    assert!(signed["expiresIn"].as_u64().is_some_and(|s| s > 0));
}

#[tokio::test]
async fn bad_multipart_requests_get_json_errors() {
    let app = spawn().await;
    let session = app.session();
    let created = create(&session, 3 * PART).await;
    let upload_id = upload_id_of(&created);

    let many: Vec<u32> = (1..=101).collect();
    for (numbers, expected) in [
        (vec![0], "invalid_part_number"),
        (vec![4], "invalid_part_number"),
        (vec![], "invalid_part_number"),
        (many, "too_many_parts"),
    ] {
        let (status, code) = error_code(sign_parts(&session, upload_id, &numbers).await).await;
        assert_eq!((status, code.as_str()), (400, expected), "{numbers:?}");
    }
    let (status, code) = error_code(sign_parts(&session, "no-such-upload", &[1]).await).await;
    assert_eq!((status, code.as_str()), (404, "upload_not_found"));

    for (body, code) in [
        (
            json!({"profile": "document", "filename": "big.csv", "contentType": "text/csv", "size": 5_368_709_121_u64}),
            "too_large",
        ),
        (
            json!({"profile": "document", "filename": "a.jpg", "contentType": "image/jpeg", "size": 10}),
            "unsupported_type",
        ),
    ] {
        create_refused(&session, &body, 400, code).await;
    }

    // Completing with a part that was never uploaded.
    let response = session
        .post_json(
            &format!("/uploads/multipart/{upload_id}/complete"),
            &json!({"parts": [{"partNumber": 1, "etag": "\"abc\""}]}),
        )
        .await;
    assert_eq!(error_code(response).await, (400, "invalid_parts".to_owned()));
    let key = created["key"].as_str().expect("key");
    let response = session
        .send(Method::GET, &format!("/s3/multipart/{upload_id}/x?key={key}"))
        .await;
    assert_eq!(error_code(response).await, (400, "invalid_part_number".to_owned()));
}

#[tokio::test]
async fn a_multipart_upload_whose_bytes_are_not_the_declared_sha256_is_refused() {
    let app = spawn().await;
    let session = app.session();
    let data = csv(2);
    let created = create_with(
        &session,
        &json!({"profile": "document", "filename": "ledger.csv", "contentType": "text/csv",
                "size": data.len(), "sha256": crate::large::sha256(b"another file")}),
    )
    .await;
    let upload_id = upload_id_of(&created);
    let etags = upload_parts(&session, upload_id, &data, 1..=2).await;
    let response = session
        .post_json(&format!("/uploads/multipart/{upload_id}/complete"), &parts_body(&etags))
        .await;
    assert_eq!(error_code(response).await, (422, "checksum_mismatch".to_owned()));
    assert!(
        !app.object_exists(created["key"].as_str().expect("key")).await,
        "the upload is deleted"
    );

    let malformed = json!({"profile": "document", "filename": "ledger.csv", "contentType": "text/csv", "size": 10, "sha256": "abc"});
    create_refused(&session, &malformed, 400, "invalid_checksum").await;
}

fn base64_sha256(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

/// Signs part `number` of `upload_id` with `checksum` as its SHA-256.
async fn sign_checksummed(session: &Session<'_>, upload_id: &str, number: u32, checksum: &str) -> reqwest::Response {
    session
        .post_json(
            &format!("/uploads/multipart/{upload_id}/parts"),
            &json!({ "partNumbers": [number], "checksumSha256": { number.to_string(): checksum } }),
        )
        .await
}

/// The URL and headers of a part signed with `checksum`.
async fn checksummed_part(
    session: &Session<'_>,
    upload_id: &str,
    number: u32,
    checksum: &str,
) -> (String, BTreeMap<String, String>) {
    let response = sign_checksummed(session, upload_id, number, checksum).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let body: Value = response.json().await.expect("json");
    let part = &body["parts"][0];
    let headers: BTreeMap<String, String> = serde_json::from_value(part["headers"].clone()).expect("headers");
    assert_eq!(headers.get("x-amz-checksum-sha256").map(String::as_str), Some(checksum));
    (part["url"].as_str().expect("url").to_owned(), headers)
}

/// The store refuses a part whose bytes are not the checksum it carries:
/// 400 `BadDigest` (S3, the embedded store) or `InvalidDigest` (Garage).
async fn refused_digest(response: reqwest::Response, what: &str) {
    let (status, code) = s3_error_code(response).await;
    assert_eq!(status, 400, "{what}");
    assert!(matches!(code.as_str(), "BadDigest" | "InvalidDigest"), "{what}: {code}");
}

#[tokio::test]
async fn part_checksums_are_signed_in_and_checked_by_the_store() {
    let app = spawn().await;
    let session = app.session();
    let data = csv(3);
    let chunk = |n: usize| &data[(n - 1) * PART..(n * PART).min(data.len())];
    let created = create_with(
        &session,
        &json!({"profile": "document", "filename": "ledger.csv", "contentType": "text/csv",
                "size": data.len(), "checksumAlgorithm": "SHA256"}),
    )
    .await;
    assert_eq!(created["checksumAlgorithm"], "SHA256");
    let upload_id = upload_id_of(&created);

    // Every part needs its SHA-256, as 32 bytes in base64.
    for (body, what) in [
        (json!({"partNumbers": [1]}), "no checksum"),
        (
            json!({"partNumbers": [1], "checksumSha256": {"1": "bm90IGEgZGlnZXN0"}}),
            "not 32 bytes",
        ),
        (
            json!({"partNumbers": [1], "checksumSha256": {"1": "%%%"}}),
            "not base64",
        ),
        (
            json!({"partNumbers": [1, 2], "checksumSha256": {"1": base64_sha256(chunk(1))}}),
            "one missing",
        ),
    ] {
        let response = session
            .post_json(&format!("/uploads/multipart/{upload_id}/parts"), &body)
            .await;
        assert_eq!(error_code(response).await, (400, "invalid_checksum".into()), "{what}");
    }
    // An upload without checksumAlgorithm takes none.
    let plain = create(&session, data.len()).await;
    let response = sign_checksummed(&session, upload_id_of(&plain), 1, &base64_sha256(chunk(1))).await;
    assert_eq!(error_code(response).await, (400, "invalid_checksum".into()));

    // The right checksum: accepted.
    let (url, headers) = checksummed_part(&session, upload_id, 1, &base64_sha256(chunk(1))).await;
    assert_eq!(put(&url, &headers, chunk(1)).await.status(), 200);

    // A wrong checksum (another part's): the store refuses the bytes.
    let (url, headers) = checksummed_part(&session, upload_id, 2, &base64_sha256(chunk(1))).await;
    refused_digest(put(&url, &headers, chunk(2)).await, "a wrong checksum").await;

    // A URL signed with part 2's checksum cannot carry other bytes of the
    // same length: as they are, with their own checksum, or without one.
    let (url, headers) = checksummed_part(&session, upload_id, 2, &base64_sha256(chunk(2))).await;
    let other = chunk(1);
    refused_digest(put(&url, &headers, other).await, "other bytes").await;
    let mut theirs = headers.clone();
    theirs.insert("x-amz-checksum-sha256".into(), base64_sha256(other));
    refused(&url, &theirs, other, "other bytes with their own checksum").await;
    refused(&url, &BTreeMap::new(), other, "other bytes without the checksum").await;
    let parts = app
        .store
        .list_parts(&key_of(&created), upload_id)
        .await
        .expect("list parts");
    assert_eq!(parts.len(), 1, "only part 1 reached the store: {parts:?}");

    // The URL as signed works, and completion passes the checksums on.
    assert_eq!(put(&url, &headers, chunk(2)).await.status(), 200);
    let (url, headers) = checksummed_part(&session, upload_id, 3, &base64_sha256(chunk(3))).await;
    assert_eq!(put(&url, &headers, chunk(3)).await.status(), 200);
    let listed = status_of(&session, upload_id).await;
    assert_eq!(listed["checksumAlgorithm"], "SHA256", "a client resuming learns it");
    let mut etags = Vec::new();
    for (n, part) in listed["parts"].as_array().expect("parts").iter().enumerate() {
        assert_eq!(part["checksumSha256"], base64_sha256(chunk(n + 1)), "{listed}");
        etags.push(part["etag"].as_str().expect("etag").to_owned());
    }
    assert_eq!(etags.len(), 3);
    let response = session
        .post_json(&format!("/uploads/multipart/{upload_id}/complete"), &parts_body(&etags))
        .await;
    assert_eq!(response.status(), 200, "complete refused: {:?}", response.text().await);
    let done: Value = response.json().await.expect("json");
    assert_eq!(done["sha256"], crate::large::sha256(&data));
}

#[tokio::test]
async fn part_signing_is_rate_limited_per_part() {
    // Part signing has a bucket of its own: RATE_LIMIT_BURST × 100 parts.
    let app = spawn_app_with(&[
        ("MULTIPART_PART_SIZE", "5242880"),
        ("RATE_LIMIT_RATE", "0.001"),
        ("RATE_LIMIT_BURST", "1"),
    ])
    .await;
    let alice = app.as_user("acme", "alice");
    let created = create(&alice, 150 * PART).await;
    let upload_id = upload_id_of(&created);
    let all: Vec<u32> = (1..=100).collect();
    assert_eq!(sign_parts(&alice, upload_id, &all).await.status(), 200, "100 parts");
    let response = sign_parts(&alice, upload_id, &[101]).await;
    let retry_after = retry_after(&response);
    assert!((9..=10).contains(&retry_after), "a part every 10 s: {retry_after}");
    assert_eq!(error_code(response).await, (429, "rate_limited".into()));
    let key = created["key"].as_str().expect("key");
    let companion = alice
        .send(Method::GET, &format!("/s3/multipart/{upload_id}/101?key={key}"))
        .await;
    assert_eq!(
        error_code(companion).await,
        (429, "rate_limited".into()),
        "the same bucket"
    );
    // Listing is not part signing; bob has his own bucket.
    status_of(&alice, upload_id).await;
    let bob = app.as_user("acme", "bob");
    let bobs = create(&bob, 2 * PART).await;
    assert_eq!(sign_parts(&bob, upload_id_of(&bobs), &[1, 2]).await.status(), 200);
}

#[tokio::test]
async fn the_default_budget_signs_a_5_gib_upload_part_by_part_and_in_batches() {
    let app = spawn().await;
    let session = app.session();
    let size = 1024 * PART as u64;
    // Uppy signs one part per call (the Companion route)…
    let response = session
        .post_json(
            "/s3/multipart",
            &json!({"filename": "big.csv", "type": "text/csv",
                    "metadata": {"kind": "document", "size": size.to_string()}}),
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let created: Value = response.json().await.expect("json");
    let (key, upload_id) = (created["key"].as_str().expect("key"), upload_id_of(&created));
    for number in 1..=1024u32 {
        let response = session
            .send(Method::GET, &format!("/s3/multipart/{upload_id}/{number}?key={key}"))
            .await;
        assert_eq!(response.status(), 200, "part {number}");
    }
    // …the broker's own route signs up to 100 per call.
    let created = create(&session, size as usize).await;
    assert_eq!(created["partCount"], 1024);
    let numbers: Vec<u32> = (1..=1024).collect();
    for batch in numbers.chunks(100) {
        assert_eq!(sign_parts(&session, upload_id_of(&created), batch).await.status(), 200);
    }
}
