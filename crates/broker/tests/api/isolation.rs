//! Two tenants and three users: no call can read, complete or export another
//! tenant's object or job, and only the signer completes an upload.
//!
//! Avatars are `tenant`-scoped by default (docs/objects.md): a colleague may
//! download alice's avatar, which is what a team page needs, but never
//! complete her upload. Files are `user`-scoped by default: private to
//! alice. Nobody outside the tenant may do either; every refusal of a key
//! that is not the caller's reads like a missing object.

use broker_verifier::corpus;
use serde_json::{Value, json};

use broker_testkit::{Session, error_code, principal, spawn_app, user_prefix};

async fn complete_ok(session: &Session<'_>, staging: &str) -> Value {
    let response = session.complete(staging).await;
    assert_eq!(response.status(), 200, "completion failed");
    response.json().await.expect("json")
}

fn forbidden_key() -> (u16, String) {
    (403, "forbidden_key".into())
}

fn not_found() -> (u16, String) {
    (404, "not_found".into())
}

#[tokio::test]
async fn no_one_completes_or_reads_what_is_not_theirs() {
    let app = spawn_app().await;
    let alice = app.as_user("acme", "alice");
    let bob = app.as_user("acme", "bob");
    let carol = app.as_user("globex", "carol");

    let avatar = alice
        .upload("avatar", "me.png", "image/png", corpus::png(16, 16, 8))
        .await;
    let document = alice.upload("export", "data.csv", "text/csv", corpus::csv_ok()).await;
    assert!(avatar.starts_with("staging/acme/shared/avatar/"), "{avatar}");
    assert!(
        document.starts_with(&format!("staging/{}file/", user_prefix("acme", "alice"))),
        "{document}"
    );

    // Neither a colleague nor another tenant may complete alice's uploads, and
    // trying does not destroy them.
    for (who, session) in [("bob", &bob), ("carol", &carol)] {
        for staging in [&avatar, &document] {
            assert_eq!(
                error_code(session.complete(staging).await).await,
                not_found(),
                "{who} completing {staging}"
            );
            assert!(
                app.object_exists(staging).await,
                "{who}'s attempt left {staging} in place"
            );
        }
    }

    let avatar_done = complete_ok(&alice, &avatar).await;
    let document_done = complete_ok(&alice, &document).await;
    let avatar_key = avatar_done["objectKey"].as_str().expect("key").to_owned();
    let document_key = document_done["objectKey"].as_str().expect("key").to_owned();
    assert!(avatar_key.starts_with("acme/shared/avatars/"), "{avatar_key}");
    assert!(
        document_key.starts_with(&format!("{}uploads/", user_prefix("acme", "alice"))),
        "{document_key}"
    );
    let head = app
        .store
        .head(&broker_core::ObjectKey::parse(&avatar_key).expect("key"))
        .await
        .expect("promoted");
    assert_eq!(
        head.metadata.get("subject").cloned(),
        Some(broker_core::record::encode_text(&principal("alice"))),
        "the final object records its owner"
    );

    // Completing again answers alice from the final object, and still nobody else.
    assert_eq!(
        complete_ok(&alice, &avatar).await["objectKey"],
        avatar_done["objectKey"]
    );
    for session in [&bob, &carol] {
        assert_eq!(error_code(session.complete(&avatar).await).await, not_found());
    }

    // Reading: the avatar is the tenant's, the file alice's own; never
    // across tenants, never staging.
    for key in [&avatar_key, &document_key] {
        assert_eq!(alice.download(key).await.status(), 200, "alice reads {key}");
        assert_eq!(
            error_code(carol.download(key).await).await,
            not_found(),
            "carol reads {key}"
        );
    }
    assert_eq!(
        bob.download(&avatar_key).await.status(),
        200,
        "bob (same tenant) reads the avatar"
    );
    assert_eq!(
        error_code(bob.download(&document_key).await).await,
        not_found(),
        "bob does not read alice's private file"
    );
    let staging_again = alice.upload("avatar", "b.png", "image/png", corpus::png(8, 8, 1)).await;
    for session in [&alice, &bob, &carol] {
        assert_eq!(
            error_code(session.download(&staging_again).await).await,
            forbidden_key()
        );
    }

    // carol's own work lives under her tenant and is just as closed to acme.
    let hers = carol.upload("avatar", "c.png", "image/png", corpus::png(8, 8, 2)).await;
    assert!(hers.starts_with("staging/globex/"), "{hers}");
    let hers_done = complete_ok(&carol, &hers).await;
    let hers_key = hers_done["objectKey"].as_str().expect("key");
    for session in [&alice, &bob] {
        assert_eq!(error_code(session.download(hers_key).await).await, not_found());
    }

    exports_are_tenant_scoped(&alice, &bob, &carol, &document_key).await;
}

/// Jobs belong to the tenant that created them; a job of another tenant reads
/// as "no such job" (403 or 404, never its data), and an export can only read
/// sources the caller may read.
async fn exports_are_tenant_scoped(alice: &Session<'_>, bob: &Session<'_>, carol: &Session<'_>, acme_source: &str) {
    let inline = json!({"format": "csv", "filename": "report.csv", "columns": ["a", "b"], "rows": [["1", "2"]]});
    let response = alice.post_json("/exports", &inline).await;
    assert_eq!(response.status(), 202, "alice queues an export");
    let job: Value = response.json().await.expect("json");
    let job_id = job["jobId"].as_str().expect("jobId").to_owned();
    let job_url = format!("{}/exports/{job_id}", alice.app.address);

    let get = |session: &Session<'_>| session.authorize(session.app.http.get(&job_url)).send();
    let status = get(bob).await.expect("sent").status();
    assert_eq!(status, 200, "bob (same tenant) reads the job");
    let response = get(carol).await.expect("sent");
    let (status, code) = error_code(response).await;
    assert!(matches!(status, 403 | 404), "carol reads acme's job: {status} {code}");
    let response = carol
        .authorize(carol.app.http.delete(&job_url))
        .send()
        .await
        .expect("sent");
    let (status, code) = error_code(response).await;
    assert!(matches!(status, 403 | 404), "carol cancels acme's job: {status} {code}");

    let from_source = |key: &str| json!({"format": "csv", "filename": "copy.csv", "source": key});
    let (status, code) = error_code(carol.post_json("/exports", &from_source(acme_source)).await).await;
    assert!(
        status == 400 || status == 403,
        "carol exports acme's upload: {status} {code}"
    );
    assert_eq!(
        error_code(bob.post_json("/exports", &from_source(acme_source)).await).await,
        (422, "source_not_found".into()),
        "bob exports alice's private upload: as if it did not exist"
    );
    assert_eq!(
        alice.post_json("/exports", &from_source(acme_source)).await.status(),
        202,
        "alice exports her tenant's upload"
    );

    // Without a credential there is no export at all.
    let anonymous = Session {
        app: alice.app,
        token: None,
    };
    assert_eq!(
        error_code(anonymous.post_json("/exports", &inline).await).await,
        (401, "unauthenticated".into())
    );
    let response = anonymous.app.http.get(&job_url).send().await.expect("sent");
    assert_eq!(error_code(response).await, (401, "unauthenticated".into()));
}
