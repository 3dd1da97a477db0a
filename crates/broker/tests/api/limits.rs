//! Rate limits (per subject, in-process or shared through Redis) and storage
//! quotas (reached exactly, enforced again at completion with the real size).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use broker_testkit::{Redis, Session, TestApp, error_code, post_form, principal, retry_after, spawn_app_with};

async fn sign_status(session: &Session<'_>) -> u16 {
    session
        .post_json(
            "/uploads/sign",
            &json!({"kind": "avatar", "filename": "a.png", "content_type": "image/png"}),
        )
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn signing_is_rate_limited_per_subject_with_retry_after() {
    let app = spawn_app_with(&[("RATE_LIMIT_RATE", "0.01"), ("RATE_LIMIT_BURST", "2")]).await;
    let alice = app.as_user("acme", "alice");
    assert_eq!(
        (sign_status(&alice).await, sign_status(&alice).await),
        (200, 200),
        "the burst"
    );
    let response = alice
        .post_json(
            "/uploads/sign",
            &json!({"kind": "avatar", "filename": "a.png", "content_type": "image/png"}),
        )
        .await;
    let retry_after = retry_after(&response);
    assert!((1..=100).contains(&retry_after), "one token every 100 s: {retry_after}");
    assert_eq!(error_code(response).await, (429, "rate_limited".into()));
    // Buckets are per subject, and a subject is per tenant.
    assert_eq!(sign_status(&app.as_user("acme", "bob")).await, 200);
    assert_eq!(sign_status(&app.as_user("globex", "alice")).await, 200);
}

#[tokio::test]
async fn exports_are_rate_limited_per_subject() {
    let app = spawn_app_with(&[("RATE_LIMIT_RATE", "0.01"), ("RATE_LIMIT_BURST", "1")]).await;
    let alice = app.as_user("acme", "alice");
    let inline = json!({"format": "csv", "filename": "r.csv", "columns": ["a"], "rows": [["1"]]});
    assert_eq!(alice.post_json("/exports", &inline).await.status(), 202);
    let response = alice.post_json("/exports", &inline).await;
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(error_code(response).await, (429, "rate_limited".into()));
    // Signing has its own bucket.
    assert_eq!(sign_status(&alice).await, 200);
}

#[tokio::test]
async fn a_burst_of_completions_is_rate_limited_per_subject() {
    // No refill to speak of: the default completion bucket is all there is.
    let app = spawn_app_with(&[("RATE_LIMIT_RATE", "0.01")]).await;
    let alice = app.as_user("acme", "alice");
    // Signed, never uploaded: each completion is a cheap 404, yet takes a token.
    let staging = alice.sign("avatar", "a.png", "image/png").await.object_key;
    for attempt in 1..=10 {
        assert_eq!(
            error_code(alice.complete(&staging).await).await,
            (404, "not_found".into()),
            "completion {attempt} is within the burst"
        );
    }
    let response = alice.complete(&staging).await;
    let retry_after = retry_after(&response);
    assert!(retry_after >= 1, "{retry_after}");
    assert_eq!(error_code(response).await, (429, "rate_limited".into()));
    // Signing has its own bucket, and bob his own.
    assert_eq!(sign_status(&alice).await, 200);
    let bob = app.as_user("acme", "bob");
    let bobs = bob.sign("avatar", "b.png", "image/png").await.object_key;
    assert_eq!(error_code(bob.complete(&bobs).await).await.0, 404);
}

#[tokio::test]
async fn two_api_instances_share_one_bucket_through_redis() {
    let redis = Redis::start();
    let url = redis.url();
    let vars = [
        ("REDIS_URL", url.as_str()),
        ("RATE_LIMIT_RATE", "0.01"),
        ("RATE_LIMIT_BURST", "3"),
    ];
    let a = spawn_app_with(&vars).await;
    let b = spawn_app_with(&vars).await;
    let (alice_a, alice_b) = (a.as_user("acme", "alice"), b.as_user("acme", "alice"));

    assert_eq!(sign_status(&alice_a).await, 200);
    assert_eq!(sign_status(&alice_b).await, 200);
    assert_eq!(sign_status(&alice_a).await, 200);
    assert_eq!(
        sign_status(&alice_b).await,
        429,
        "the third token was the last, whichever instance took it"
    );
    assert_eq!(sign_status(&alice_a).await, 429);
    assert_eq!(
        sign_status(&b.as_user("acme", "bob")).await,
        200,
        "bob has his own bucket"
    );

    let client = redis::Client::open(redis.url().as_str()).expect("client");
    let mut connection = client.get_multiplexed_async_connection().await.expect("redis");
    let exists: bool = redis::cmd("EXISTS")
        .arg(format!("broker:ratelimit:sign:acme:{}", principal("alice")))
        .query_async(&mut connection)
        .await
        .expect("exists");
    assert!(exists, "the bucket lives in Redis");
}

// ---- quotas ------------------------------------------------------------------

const FIRST: &[u8] = b"id,name\n1,alpha\n2,beta\n";
const SECOND: &[u8] = b"x,y\n3,4\n";

async fn sign_sized(session: &Session<'_>, size: Option<u64>) -> reqwest::Response {
    let mut body = json!({"kind": "export", "filename": "d.csv", "content_type": "text/csv"});
    if let Some(size) = size {
        body["size"] = json!(size);
    }
    session.post_json("/uploads/sign", &body).await
}

/// Signs `declared` bytes, uploads `bytes` (which may be more), and returns the staging key.
async fn upload_sized(session: &Session<'_>, declared: usize, bytes: &[u8]) -> String {
    let response = sign_sized(session, Some(declared as u64)).await;
    assert_eq!(response.status(), 200, "sign");
    let signed: Value = response.json().await.expect("json");
    let fields = serde_json::from_value(signed["fields"].clone()).expect("fields");
    let stored = post_form(
        signed["url"].as_str().expect("url"),
        &fields,
        bytes.to_vec(),
        "text/csv",
    )
    .await;
    assert!(stored.status().is_success(), "{}", stored.status());
    signed["objectKey"].as_str().expect("key").to_owned()
}

/// [`upload_sized`], then completes.
async fn upload_and_complete(session: &Session<'_>, declared: usize, bytes: &[u8]) -> reqwest::Response {
    let key = upload_sized(session, declared, bytes).await;
    session.complete(&key).await
}

async fn code(response: reqwest::Response) -> (u16, String) {
    error_code(response).await
}

fn quota_exceeded() -> (u16, String) {
    (403, "quota_exceeded".into())
}

async fn staging_is_empty(app: &TestApp) -> bool {
    app.store.list("staging/").await.expect("list").is_empty()
}

#[tokio::test]
async fn a_quota_is_reached_exactly_and_never_passed() {
    let quota = (FIRST.len() + SECOND.len()).to_string();
    let app = spawn_app_with(&[
        ("TENANT_QUOTA_BYTES", quota.as_str()),
        ("TENANT_QUOTAS", "big:unlimited"),
    ])
    .await;
    let alice = app.as_user("acme", "alice");
    let quota: u64 = quota.parse().expect("number");

    assert_eq!(
        code(sign_sized(&alice, None).await).await,
        (400, "invalid_request".into()),
        "size is required under a quota"
    );
    assert_eq!(code(sign_sized(&alice, Some(quota + 1)).await).await, quota_exceeded());
    assert_eq!(
        sign_sized(&alice, Some(quota)).await.status(),
        200,
        "exactly the quota fits"
    );

    assert_eq!(upload_and_complete(&alice, FIRST.len(), FIRST).await.status(), 200);
    let left = SECOND.len() as u64;
    assert_eq!(
        code(sign_sized(&alice, Some(left + 1)).await).await,
        quota_exceeded(),
        "one byte over"
    );
    assert_eq!(
        sign_sized(&alice, Some(left)).await.status(),
        200,
        "exactly what is left"
    );

    // A declared size is only a promise: completion charges the real size.
    let mut larger = SECOND.to_vec();
    larger.extend_from_slice(b"5,6\n");
    let response = upload_and_complete(&app.as_user("acme", "bob"), 1, &larger).await;
    assert_eq!(code(response).await, quota_exceeded(), "the real size does not fit");
    assert!(staging_is_empty(&app).await, "the refused upload is deleted");

    assert_eq!(
        upload_and_complete(&alice, SECOND.len(), SECOND).await.status(),
        200,
        "the last byte of the quota"
    );
    assert_eq!(
        code(sign_sized(&alice, Some(1)).await).await,
        quota_exceeded(),
        "a full tenant cannot sign another byte"
    );
    let response = sign_sized(&alice, Some(1)).await;
    let body: Value = response.json().await.expect("json");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(
        message.contains(&format!("{quota} bytes")) && message.contains(&format!("{quota} bytes used")),
        "{message}"
    );

    // Other tenants are unaffected; an unlimited tenant needs no size.
    assert_eq!(
        sign_sized(&app.as_user("globex", "carol"), Some(quota)).await.status(),
        200
    );
    assert_eq!(sign_sized(&app.as_user("big", "dave"), None).await.status(), 200);
}

#[tokio::test]
async fn usage_starts_from_what_the_store_holds() {
    let app = spawn_app_with(&[("TENANT_QUOTA_BYTES", "15")]).await;
    // Ten bytes verified before this process started, and an export that does not count.
    app.put_object(
        "acme/uploads/2026/01/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.csv",
        b"a,b\n1,2\n3\n",
        "text/csv",
        "x.csv",
    )
    .await;
    app.put_object(
        "acme/exports/01J9Z8Q4J6R6W5W6T7Y8Z9A0BC/r.csv",
        &[b'x'; 100],
        "text/csv",
        "r.csv",
    )
    .await;
    // Nor does an object deeper than the layout puts one (another deployment
    // with a nested prefix, `S3_PREFIX=acme/uploads`, say).
    app.put_object(
        "acme/uploads/other/uploads/2026/01/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.csv",
        &[b'x'; 100],
        "text/csv",
        "n.csv",
    )
    .await;
    let alice = app.as_user("acme", "alice");
    assert_eq!(code(sign_sized(&alice, Some(6)).await).await, quota_exceeded());
    assert_eq!(sign_sized(&alice, Some(5)).await.status(), 200);
}

#[tokio::test]
async fn the_quota_counter_is_shared_through_redis() {
    let redis = Redis::start();
    let quota = FIRST.len().to_string();
    let url = redis.url();
    let vars = [("REDIS_URL", url.as_str()), ("TENANT_QUOTA_BYTES", quota.as_str())];
    let a = spawn_app_with(&vars).await;
    // Both instances use one store, as a real deployment would.
    let b = a.spawn_sibling(&[]).await;

    assert_eq!(
        sign_sized(&b.as_user("acme", "alice"), Some(FIRST.len() as u64))
            .await
            .status(),
        200,
        "b counts zero"
    );
    assert_eq!(
        upload_and_complete(&a.as_user("acme", "alice"), FIRST.len(), FIRST)
            .await
            .status(),
        200
    );
    assert_eq!(
        code(sign_sized(&b.as_user("acme", "bob"), Some(1)).await).await,
        quota_exceeded(),
        "b sees a's charge"
    );

    let client = redis::Client::open(redis.url().as_str()).expect("client");
    let mut connection = client.get_multiplexed_async_connection().await.expect("redis");
    let used: u64 = redis::cmd("GET")
        .arg("broker:quota:uploads:acme/bytes/")
        .query_async(&mut connection)
        .await
        .expect("counter");
    assert_eq!(used, FIRST.len() as u64);
}

/// Two concurrent completes of one upload charge its bytes once, also on
/// stores whose create-only write is check-then-write (embedded) or ignored
/// (Garage).
#[tokio::test]
async fn concurrent_completes_of_one_upload_charge_the_quota_once() {
    let quota = (2 * FIRST.len()).to_string();
    let app = spawn_app_with(&[("TENANT_QUOTA_BYTES", quota.as_str())]).await;
    let alice = app.as_user("acme", "alice");
    let key = upload_sized(&alice, FIRST.len(), FIRST).await;

    let (a, b) = tokio::join!(alice.complete(&key), alice.complete(&key));
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    // Charged once: exactly one more upload of the same size still fits.
    assert_eq!(
        sign_sized(&alice, Some(FIRST.len() as u64)).await.status(),
        200,
        "the second complete charged the quota again"
    );
    assert_eq!(
        code(sign_sized(&alice, Some(FIRST.len() as u64 + 1)).await).await,
        quota_exceeded()
    );
}

/// A loopback TCP proxy to `upstream` that swallows the store's answer to the
/// first create-only PUT (`If-None-Match: *`) once the store has written it,
/// and closes the connection: the SDK sees a lost answer and retries a write
/// that already landed. Returns its URL and how many answers it swallowed.
async fn losing_the_first_create_only_answer(upstream: &str) -> (String, Arc<AtomicUsize>) {
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let swallowed = Arc::new(AtomicUsize::new(0));
    let armed = Arc::new(AtomicBool::new(true));
    let counter = swallowed.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                continue;
            };
            let (armed, counter) = (armed.clone(), counter.clone());
            tokio::spawn(async move {
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let doomed = Arc::new(AtomicBool::new(false));
                let marked = doomed.clone();
                let requests = tokio::spawn(async move {
                    let mut buf = vec![0; 64 * 1024];
                    let mut tail = String::new();
                    while let Ok(n @ 1..) = client_read.read(&mut buf).await {
                        let seen = format!("{tail}{}", String::from_utf8_lossy(&buf[..n])).to_ascii_lowercase();
                        if seen.contains("if-none-match: *") && armed.swap(false, Ordering::SeqCst) {
                            marked.store(true, Ordering::SeqCst);
                        }
                        tail = seen
                            .chars()
                            .rev()
                            .take(32)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .rev()
                            .collect();
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = server_read.read(&mut buf).await {
                    if doomed.load(Ordering::SeqCst) {
                        // The store has answered the create-only PUT: it landed.
                        counter.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                requests.abort();
            });
        }
    });
    (url, swallowed)
}

/// L6: an SDK retry of a promotion that had landed meets the store's 412
/// (the object is there); the completion must see that the object is its own
/// write and keep the quota charge, not refund it as a lost race would.
#[tokio::test]
async fn a_retried_promotion_that_had_landed_keeps_its_quota_charge() {
    // The embedded store in every run: it honours `If-None-Match: *` on PUT
    // (Garage ignores it, so there a retried write simply succeeds again).
    let store = spawn_app_with(&[("S3_ENABLED", "false")]).await;
    let (proxy, swallowed) = losing_the_first_create_only_answer(&store.store_endpoint).await;
    let quota = (2 * FIRST.len()).to_string();
    let app = store
        .spawn_sibling(&[("S3_ENDPOINT", proxy.as_str()), ("TENANT_QUOTA_BYTES", quota.as_str())])
        .await;
    let alice = app.as_user("acme", "alice");

    let response = upload_and_complete(&alice, FIRST.len(), FIRST).await;
    assert_eq!(response.status(), 200);
    let done: Value = response.json().await.expect("json");
    assert_eq!(
        swallowed.load(Ordering::SeqCst),
        1,
        "the store's answer to the promotion was lost once"
    );
    assert!(app.object_exists(done["objectKey"].as_str().expect("key")).await);
    // Still charged: only what is left of the quota fits.
    assert_eq!(
        code(sign_sized(&alice, Some(FIRST.len() as u64 + 1)).await).await,
        quota_exceeded(),
        "the retried write's 412 refunded an object that is stored"
    );
    assert_eq!(sign_sized(&alice, Some(FIRST.len() as u64)).await.status(), 200);
}
