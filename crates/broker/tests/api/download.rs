//! Signed GETs: only served keys, with a safe Content-Disposition, and a URL
//! that the store refuses once tampered with.

use serde_json::Value;

use broker_testkit::{assert_error, error_code, post_form, spawn_app};

#[tokio::test]
async fn a_served_object_downloads_with_its_original_name() {
    let app = spawn_app().await;
    let key = "default/uploads/2026/11/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.csv";
    app.put_object(key, b"id,name\n1,Zo\xc3\xab\n", "text/csv", "Zoë \"report\".csv")
        .await;

    let response = app.download(key).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["expiresIn"], 3600);
    assert_eq!(body["filename"], "Zoë \"report\".csv");
    let url = body["url"].as_str().expect("url");

    let file = reqwest::get(url).await.expect("store answers");
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "text/csv");
    let disposition = file.headers()["content-disposition"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_eq!(
        disposition,
        "attachment; filename=\"Zo_ _report_.csv\"; filename*=UTF-8''Zo%C3%AB%20%22report%22.csv"
    );
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), b"id,name\n1,Zo\xc3\xab\n");
}

#[tokio::test]
async fn a_tampered_download_url_is_refused() {
    let app = spawn_app().await;
    let key = "default/avatars/2026/11/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.png";
    let other = "default/avatars/2026/11/00000000-1c55-4a53-9b1e-0c5f8a9b2d11.png";
    app.put_object(key, b"mine", "image/png", "a.png").await;
    app.put_object(other, b"other", "image/png", "b.png").await;
    let body: Value = app.download(key).await.json().await.expect("json");
    let url = body["url"].as_str().expect("url");

    let tampered = url.replace(key, other);
    assert_ne!(tampered, url);
    assert_eq!(reqwest::get(&tampered).await.expect("store answers").status(), 403);
    let longer = url.replace("X-Amz-Expires=3600", "X-Amz-Expires=604800");
    assert_ne!(longer, url);
    assert_eq!(reqwest::get(&longer).await.expect("store answers").status(), 403);
}

#[tokio::test]
async fn staging_and_other_tenants_and_missing_objects_are_not_served() {
    let app = spawn_app().await;
    let signed = app.sign("export", "a.csv", "text/csv").await;
    post_form(&signed.url, &signed.fields, b"a,b\n".to_vec(), "text/csv").await;
    let foreign = "acme/uploads/2026/11/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.csv";
    app.put_object(foreign, b"secret", "text/csv", "s.csv").await;
    let long = format!("default/uploads/2026/11/{}.csv", "a".repeat(600));
    for (key, status, code) in [
        (signed.object_key.as_str(), 403, "forbidden_key"),
        // Another tenant's object answers like a missing one.
        (foreign, 404, "not_found"),
        ("default/secrets/2026/11/x.csv", 403, "forbidden_key"),
        ("default/uploads/2026/11/missing.csv", 404, "not_found"),
        ("../default/uploads/x", 400, "invalid_key"),
        ("/default/uploads/2026/11/x.csv", 400, "invalid_key"),
        ("default/uploads/%2e%2e/x", 400, "invalid_key"),
        ("default//x", 400, "invalid_key"),
        (long.as_str(), 400, "invalid_key"),
    ] {
        assert_error(app.download(key).await, status, code, key).await;
    }
}

#[tokio::test]
async fn objects_survive_a_restart_of_the_app() {
    let key = "default/uploads/2026/11/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.json";
    let app = spawn_app().await;
    app.put_object(key, b"[1,2,3]", "application/json", "d.json").await;
    let app = app.restart().await;
    let body: Value = app.download(key).await.json().await.expect("json");
    let bytes = reqwest::get(body["url"].as_str().expect("url"))
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(bytes.as_ref(), b"[1,2,3]");
}

/// The GET form, without following redirects (as a test of the redirect itself).
async fn get_download(app: &broker_testkit::TestApp, query: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    app.authorize(client.get(format!("{}/uploads/download?{query}", app.address)))
        .send()
        .await
        .expect("request reaches the API")
}

#[tokio::test]
async fn the_get_form_redirects_to_a_url_that_fetches_the_object() {
    let app = spawn_app().await;
    let key = "default/uploads/2026/11/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.csv";
    app.put_object(key, b"id\n1\n", "text/csv", "r.csv").await;

    let response = get_download(&app, &format!("objectKey={key}")).await;
    assert_eq!(response.status(), 302);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let location = response.headers()["location"].to_str().expect("ascii").to_owned();
    let body: Value = response.json().await.expect("the POST form's reply");
    assert_eq!(body["url"], location.as_str());
    assert_eq!(body["expiresIn"], 3600);

    let file = reqwest::get(&location).await.expect("the store answers");
    assert_eq!(file.status(), 200);
    assert_eq!(file.headers()["content-type"], "text/csv");
    assert_eq!(file.bytes().await.expect("bytes").as_ref(), b"id\n1\n");
    assert!(
        !broker_testkit::captured_logs().contains("objectKey="),
        "query strings are never logged"
    );
}

#[tokio::test]
async fn the_get_form_refuses_exactly_as_the_post_form_does() {
    let app = spawn_app().await;
    let signed = app.sign("avatar", "a.png", "image/png").await;
    let foreign = "acme/uploads/2026/11/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.csv";
    app.put_object(foreign, b"secret", "text/csv", "s.csv").await;
    for key in [
        signed.object_key.as_str(),
        foreign,
        "default/secrets/2026/11/x.csv",
        "default/uploads/2026/11/missing.csv",
        "default/exports/01J9Z8Q4J6R6W5W6T7Y8Z9A0BC/r.csv",
        "../default/uploads/x",
        "default//x",
    ] {
        let get = error_code(get_download(&app, &format!("objectKey={}", key.replace('/', "%2F"))).await).await;
        let post = error_code(app.download(key).await).await;
        assert_eq!(get, post, "{key}");
    }
    assert_eq!(
        error_code(get_download(&app, "").await).await,
        (400, "invalid_request".into())
    );
    let anonymous = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/uploads/download?objectKey={foreign}", app.address))
        .send()
        .await
        .expect("sent");
    assert_eq!(error_code(anonymous).await, (401, "unauthenticated".into()));
}
