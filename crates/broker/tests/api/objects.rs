//! Scopes, tried as a new user would: two tenants, two teams, three users.
//! A `user`-scoped upload is invisible to a teammate, a `team` one visible to
//! its members only, listing shows exactly what each may read, deleting frees
//! quota, keys signed before scopes still work, and no cursor, area or scope
//! leaves the caller's prefixes (docs/objects.md).

use std::collections::BTreeSet;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use broker_core::UploadId;
use broker_core::record::ObjectRecord;
use broker_verifier::corpus;
use reqwest::Method;
use serde_json::{Value, json};

use broker_testkit::{LONG, Session, TestApp, error_code, principal, spawn_app_with, user_prefix};

const QUOTA: &str = "10000000";

async fn app() -> TestApp {
    let keys = crate::auth::api_keys_setting();
    spawn_app_with(&[
        ("API_KEYS", keys.as_str()),
        ("TENANT_QUOTA_BYTES", QUOTA),
        ("STORAGE_USAGE_TTL", "0"),
    ])
    .await
}

/// Signs (with `size`, for the quota) into `scope`, uploads and completes; the served key.
async fn stored(
    session: &Session<'_>,
    scope: Option<&str>,
    kind: &str,
    name: &str,
    ct: &str,
    bytes: Vec<u8>,
) -> String {
    let body = json!({"kind": kind, "filename": name, "content_type": ct, "size": bytes.len(), "scope": scope});
    let signed = session.sign_body(&body).await;
    let posted = broker_testkit::post_form(&signed.url, &signed.fields, bytes, ct).await;
    assert!(posted.status().is_success(), "the store takes {name}");
    let response = session.complete(&signed.object_key).await;
    assert_eq!(response.status(), 200, "complete {name}");
    let done: Value = response.json().await.expect("json");
    done["objectKey"].as_str().expect("objectKey").to_owned()
}

async fn json_of(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200, "{:?}", response.url().path());
    response.json().await.expect("json")
}

/// Every key of every page of `GET /objects?{query}`, following `nextCursor`.
async fn listed(session: &Session<'_>, query: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/objects?{query}&cursor={cursor}"),
            None => format!("/objects?{query}"),
        };
        let page = json_of(session.send(Method::GET, &path).await).await;
        assert_eq!(page["expiresIn"], 0);
        keys.extend(
            page["objects"]
                .as_array()
                .expect("objects")
                .iter()
                .map(|o| o["objectKey"].as_str().expect("objectKey").to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return keys,
        }
    }
}

fn set<'a>(keys: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    keys.into_iter().cloned().collect()
}

fn not_found() -> (u16, String) {
    (404, "not_found".into())
}

#[tokio::test]
async fn scopes_decide_who_reads_lists_exports_and_deletes() {
    let app = app().await;
    // acme: alice and bob in team red, carol in team blue; globex: dave, also in a team "red".
    let alice = app.as_member("acme", "alice", &["red"]);
    let bob = app.as_member("acme", "bob", &["red"]);
    let carol = app.as_member("acme", "carol", &["blue"]);
    let dave = app.as_member("globex", "dave", &["red"]);
    let backend = app.with_token(Some(crate::auth::BILLING_KEY));

    let csv = corpus::csv_ok();
    let private = stored(&alice, None, "file", "mine.csv", "text/csv", csv.clone()).await;
    let red = stored(&alice, Some("team:red"), "file", "red.csv", "text/csv", csv.clone()).await;
    let shared = stored(&alice, Some("tenant"), "file", "all.csv", "text/csv", csv.clone()).await;
    let avatar = stored(&alice, None, "avatar", "me.png", "image/png", corpus::png(16, 16, 8)).await;
    assert!(
        private.starts_with(&user_prefix("acme", "alice")),
        "file defaults to user: {private}"
    );
    assert!(!private.contains("alice"), "no id in a key: {private}");
    assert!(red.starts_with("acme/teams/red/uploads/"), "{red}");
    assert!(shared.starts_with("acme/shared/uploads/"), "{shared}");
    assert!(
        avatar.starts_with("acme/shared/avatars/"),
        "avatar defaults to tenant: {avatar}"
    );

    // Signing into a team needs membership; a scope is one of three forms.
    let sign = |scope: &str| json!({"kind": "file", "filename": "a.csv", "content_type": "text/csv", "size": 4, "scope": scope});
    assert_eq!(
        error_code(carol.post_json("/uploads/sign", &sign("team:red")).await).await,
        (403, "forbidden_scope".into())
    );
    for bad in ["team:../blue", "everyone", "team:"] {
        assert_eq!(
            error_code(alice.post_json("/uploads/sign", &sign(bad)).await).await,
            (400, "invalid_scope".into()),
            "{bad}"
        );
    }
    assert_eq!(
        backend.post_json("/uploads/sign", &sign("team:blue")).await.status(),
        200,
        "an API key signs into any team"
    );
    // The multipart and Companion routes take the same scope.
    let multipart = json!({"profile": "document", "filename": "big.csv", "content_type": "text/csv", "size": 10, "scope": "team:red"});
    let created = alice.post_json("/uploads/multipart", &multipart).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    let key = created["key"].as_str().expect("key");
    assert!(key.starts_with("staging/acme/teams/red/document/"), "{key}");
    assert_eq!(
        error_code(carol.post_json("/uploads/multipart", &multipart).await).await,
        (403, "forbidden_scope".into())
    );
    let params = "/s3/params?filename=a.csv&type=text%2Fcsv&metadata%5Bkind%5D=file&metadata%5Bsize%5D=4&metadata%5Bscope%5D=team%3Ared";
    let companion = json_of(bob.send(Method::GET, params).await).await;
    let key = companion["objectKey"].as_str().expect("objectKey");
    assert!(key.starts_with("staging/acme/teams/red/file/"), "{key}");
    assert_eq!(
        error_code(carol.send(Method::GET, params).await).await,
        (403, "forbidden_scope".into())
    );

    // Reading: who sees what, in both download forms; the rest is a missing object.
    let readers: [(&str, &Session<'_>, [bool; 4]); 5] = [
        ("alice", &alice, [true, true, true, true]),
        ("bob", &bob, [false, true, true, true]),
        ("carol", &carol, [false, false, true, true]),
        ("dave", &dave, [false, false, false, false]),
        ("the acme API key", &backend, [true, true, true, true]),
    ];
    let keys = [&private, &red, &shared, &avatar];
    for (who, session, may) in &readers {
        for (key, may) in keys.iter().zip(may) {
            let response = session.download(key).await;
            if *may {
                assert_eq!(response.status(), 200, "{who} reads {key}");
            } else {
                assert_eq!(error_code(response).await, not_found(), "{who} reads {key}");
                let redirect = session
                    .send(Method::GET, &format!("/uploads/download?objectKey={key}"))
                    .await;
                assert_eq!(error_code(redirect).await, not_found(), "{who} GETs {key}");
            }
        }
        // Listing shows exactly the same objects.
        let expected = set(keys.iter().zip(may).filter(|(_, may)| **may).map(|(key, _)| *key));
        assert_eq!(set(&listed(session, "limit=50").await), expected, "{who} lists");
    }

    // One scope, one area; a team one is not in is refused, not emptied.
    assert_eq!(listed(&bob, "scope=team:red").await, std::slice::from_ref(&red));
    assert_eq!(listed(&bob, "scope=user").await, Vec::<String>::new());
    assert_eq!(
        listed(&alice, "scope=tenant&area=avatars").await,
        std::slice::from_ref(&avatar)
    );
    assert_eq!(
        error_code(carol.send(Method::GET, "/objects?scope=team:red").await).await,
        (403, "forbidden_scope".into())
    );
    let page = json_of(alice.send(Method::GET, "/objects?scope=team:red").await).await;
    let entry = &page["objects"][0];
    assert_eq!(
        (
            &entry["filename"],
            &entry["contentType"],
            &entry["size"],
            &entry["scope"],
            &entry["area"]
        ),
        (
            &json!("red.csv"),
            &json!("text/csv"),
            &json!(csv.len()),
            &json!("team:red"),
            &json!("uploads")
        )
    );
    assert!(entry["created"].as_str().is_some_and(|c| c.ends_with('Z')), "{entry}");

    // Exports read only sources the caller may read; the output keeps the source's scope.
    let from = |key: &str| json!({"format": "csv", "filename": "copy.csv", "source": key});
    assert_eq!(
        error_code(bob.post_json("/exports", &from(&private)).await).await,
        (422, "source_not_found".into()),
        "bob exports alice's private file"
    );
    let response = bob.post_json("/exports", &from(&red)).await;
    assert_eq!(response.status(), 202);
    let job_id = response.json::<Value>().await.expect("json")["jobId"]
        .as_str()
        .expect("jobId")
        .to_owned();
    let job = wait_done(&bob, &job_id).await;
    let output = job["objectKey"].as_str().expect("objectKey").to_owned();
    assert!(output.starts_with("acme/teams/red/exports/"), "{output}");
    assert_eq!(bob.download(&output).await.status(), 200);
    assert_eq!(error_code(carol.download(&output).await).await, not_found());
    assert_eq!(
        error_code(carol.job(&job_id).await).await,
        (404, "job_not_found".into())
    );

    // Deleting: the signer (or the owner of a user scope, or an API key);
    // a teammate who may read is refused; anyone else finds nothing.
    let before = json_of(alice.send(Method::GET, "/usage").await).await;
    assert_eq!(
        before["scopes"]["team:red"]["areas"]["uploads"]["objects"], 1,
        "{before}"
    );
    // The totals are the tenant's; the scopes, only those the caller may read.
    let carols = json_of(carol.send(Method::GET, "/usage").await).await;
    assert_eq!(carols["bytes"], before["bytes"]);
    let names =
        |usage: &Value| -> Vec<String> { usage["scopes"].as_object().expect("scopes").keys().cloned().collect() };
    assert_eq!(names(&carols), ["tenant"], "{carols}");
    assert_eq!(names(&before).len(), 3, "alice: her own, red and tenant: {before}");
    let delete = |key: &str| json!({"objectKey": key});
    assert_eq!(
        error_code(bob.post_json("/objects/delete", &delete(&red)).await).await,
        (403, "forbidden_key".into())
    );
    assert_eq!(
        error_code(carol.post_json("/objects/delete", &delete(&red)).await).await,
        not_found()
    );
    assert_eq!(
        error_code(dave.post_json("/objects/delete", &delete(&private)).await).await,
        not_found()
    );
    assert_eq!(
        error_code(alice.post_json("/objects/delete", &delete(&output)).await).await,
        (403, "forbidden_key".into()),
        "exports belong to their jobs"
    );
    let deleted = json_of(alice.post_json("/objects/delete", &delete(&red)).await).await;
    assert_eq!(deleted["size"], csv.len());
    assert!(!app.object_exists(&red).await);
    assert_eq!(
        error_code(alice.post_json("/objects/delete", &delete(&red)).await).await,
        not_found()
    );
    let after = json_of(alice.send(Method::GET, "/usage").await).await;
    let used = |usage: &Value| usage["quota"]["usedBytes"].as_u64().expect("usedBytes");
    let remaining = |usage: &Value| usage["quota"]["remainingBytes"].as_u64().expect("remainingBytes");
    assert_eq!(used(&before) - used(&after), csv.len() as u64, "deleting frees quota");
    assert_eq!(remaining(&after) - remaining(&before), csv.len() as u64);
    assert!(after["scopes"]["team:red"]["areas"].get("uploads").is_none(), "{after}");
    assert_eq!(listed(&bob, "scope=team:red&area=uploads").await, Vec::<String>::new());
    let by_key = json_of(backend.post_json("/objects/delete", &delete(&private)).await).await;
    assert_eq!(by_key["size"], csv.len(), "an API key deletes any of its tenant's");
    let audit = broker_testkit::captured_logs();
    assert!(
        audit.lines().any(|l| l.contains("action=\"delete\"")
            && l.contains(&format!("key=\"{red}\""))
            && l.contains("outcome=\"ok\"")),
        "a delete leaves an audit line"
    );
}

async fn wait_done(session: &Session<'_>, job_id: &str) -> Value {
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let job = json_of(session.job(job_id).await).await;
        if job["status"] == "done" {
            return job;
        }
        assert!(
            job["status"] != "failed" && std::time::Instant::now() < deadline,
            "{job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// An upload signed before scopes existed: staged at
/// `staging/{tenant}/{profile}/{id}.{ext}` with its signed record.
async fn legacy_staged(app: &TestApp, tenant: &str, subject: &str, bytes: &[u8]) -> String {
    let key = format!("staging/{tenant}/file/{}.csv", UploadId::new());
    let record = ObjectRecord::signed("file", tenant, "old.csv", &principal(subject));
    let mut put = app
        .store
        .client()
        .put_object()
        .bucket(app.store.bucket())
        .key(&key)
        .content_type("text/csv")
        .body(bytes.to_vec().into());
    for (name, value) in record.to_metadata() {
        put = put.metadata(name, value);
    }
    put.send().await.expect("put");
    key
}

#[tokio::test]
async fn keys_signed_before_scopes_are_the_tenant_scope() {
    let app = app().await;
    let alice = app.as_user("acme", "alice");
    let bob = app.as_user("acme", "bob");
    let dave = app.as_user("globex", "dave");
    let csv = corpus::csv_ok();

    let staging = legacy_staged(&app, "acme", "alice", &csv).await;
    assert_eq!(
        error_code(bob.complete(&staging).await).await,
        not_found(),
        "only its signer completes it"
    );
    let done = json_of(alice.complete(&staging).await).await;
    let served = done["objectKey"].as_str().expect("objectKey").to_owned();
    assert!(
        served.starts_with("acme/uploads/"),
        "a legacy upload stays legacy: {served}"
    );
    let again = json_of(alice.complete(&staging).await).await;
    assert_eq!(again["objectKey"], done["objectKey"], "completing again finds it");

    // Read, listed and exported as the tenant's; never another tenant's.
    assert_eq!(bob.download(&served).await.status(), 200);
    assert_eq!(error_code(dave.download(&served).await).await, not_found());
    assert_eq!(
        listed(&bob, "scope=tenant&area=uploads").await,
        std::slice::from_ref(&served)
    );
    assert!(listed(&bob, "").await.contains(&served));
    assert!(listed(&dave, "").await.is_empty());
    let from = json!({"format": "csv", "filename": "copy.csv", "source": served});
    assert_eq!(bob.post_json("/exports", &from).await.status(), 202);
    let usage = json_of(bob.send(Method::GET, "/usage").await).await;
    assert_eq!(
        usage["scopes"]["tenant"]["areas"]["uploads"]["bytes"],
        csv.len(),
        "{usage}"
    );

    // Its signer deletes it.
    let delete = json!({"objectKey": served});
    assert_eq!(
        error_code(bob.post_json("/objects/delete", &delete).await).await,
        (403, "forbidden_key".into())
    );
    assert_eq!(
        json_of(alice.post_json("/objects/delete", &delete).await).await["size"],
        csv.len()
    );
}

#[tokio::test]
async fn listing_is_paginated_and_no_cursor_area_or_scope_leaves_the_callers_prefixes() {
    let app = app().await;
    let alice = app.as_user("acme", "alice");
    let mine = user_prefix("acme", "alice");
    let id = |n: u32| format!("019ab0c5-8f35-7c47-9d0a-4d2f0e3b{n:04}");
    let mut expected = BTreeSet::new();
    for n in 0..5 {
        let key = format!("{mine}uploads/2026/11/{}.csv", id(n));
        app.put_object(&key, b"a\n", "text/csv", "a.csv").await;
        expected.insert(key);
    }
    for (n, key) in [
        format!("acme/shared/avatars/2026/11/{}.png", id(10)),
        format!("acme/avatars/2026/11/{}.png", id(11)),
    ]
    .into_iter()
    .enumerate()
    {
        app.put_object(&key, b"png", "image/png", &format!("{n}.png")).await;
        expected.insert(key);
    }
    // Neighbours nobody here may list.
    let bobs = format!("{}uploads/2026/11/{}.csv", user_prefix("acme", "bob"), id(20));
    let globex = format!("globex/shared/uploads/2026/11/{}.csv", id(21));
    let team = format!("acme/teams/blue/uploads/2026/11/{}.csv", id(22));
    for key in [&bobs, &globex, &team] {
        app.put_object(key, b"a\n", "text/csv", "x.csv").await;
    }

    for limit in [1, 2, 3, 50] {
        let keys = listed(&alice, &format!("limit={limit}")).await;
        assert_eq!(keys.len(), expected.len(), "limit {limit}: no key twice: {keys:?}");
        assert_eq!(set(&keys), expected, "limit {limit}");
    }
    let first = json_of(alice.send(Method::GET, "/objects?scope=user&limit=2").await).await;
    assert_eq!(first["objects"].as_array().map(Vec::len), Some(2));
    let cursor = first["nextCursor"].as_str().expect("more follow").to_owned();

    let encode = |key: &str| URL_SAFE_NO_PAD.encode(key.as_bytes());
    let refused = [
        // A cursor that names a key of another user, tenant or team.
        format!("scope=user&cursor={}", encode(&bobs)),
        format!("cursor={}", encode(&globex)),
        format!("cursor={}", encode(&team)),
        format!("cursor={}", encode("acme/../globex/shared/uploads/x.csv")),
        // A cursor of another listing (another scope, another area).
        format!("scope=tenant&cursor={cursor}"),
        format!("scope=user&area=avatars&cursor={cursor}"),
        "cursor=not-base64!".to_owned(),
        "area=staging".to_owned(),
        "area=secrets".to_owned(),
        "limit=0".to_owned(),
        "limit=201".to_owned(),
        "prefix=acme/".to_owned(),
    ];
    for query in &refused {
        let response = alice.send(Method::GET, &format!("/objects?{query}")).await;
        assert_eq!(error_code(response).await, (400, "invalid_request".into()), "{query}");
    }
    for query in ["scope=team:../blue", "scope=users"] {
        let response = alice.send(Method::GET, &format!("/objects?{query}")).await;
        assert_eq!(error_code(response).await, (400, "invalid_scope".into()), "{query}");
    }
    let anonymous = app.with_token(None);
    assert_eq!(
        error_code(anonymous.send(Method::GET, "/objects").await).await,
        (401, "unauthenticated".into())
    );
}
