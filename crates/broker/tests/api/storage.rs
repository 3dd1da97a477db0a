//! The operators' routes: who may call them (admins only), what
//! `/storage/info` says (the health shape, never a secret), what
//! `/storage/usage` counts (every tenant and area, paginated, cached), and a
//! tenant's own `/usage` with its quota.

use broker_testkit::{
    JWT_SECRET, SECRET_KEY, Session, TestApp, TestStore, claims, error_code, hs256, post_form, spawn_app_with,
};
use broker_verifier::corpus;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const ADMIN_KEY: &str = "ak_admin_0123456789";
const PLAIN_KEY: &str = "ak_plain_0123456789";

fn sha256_hex(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An app whose admins are `ADMIN_KEY` and tokens with `role: admin`.
async fn app_with_admins(extra: &[(&str, &str)]) -> TestApp {
    let admin_keys = format!("ops:{}:ops", sha256_hex(ADMIN_KEY));
    let keys = format!("default:{}:billing", sha256_hex(PLAIN_KEY));
    let mut vars = vec![
        ("ADMIN_API_KEYS", admin_keys.as_str()),
        ("API_KEYS", keys.as_str()),
        ("AUTH_ADMIN_CLAIM", "role"),
        ("AUTH_ADMIN_VALUE", "admin"),
    ];
    vars.extend_from_slice(extra);
    spawn_app_with(&vars).await
}

fn token_with_role(role: Value) -> String {
    let mut claims = claims("default", "root");
    claims["role"] = role;
    hs256(JWT_SECRET.as_bytes(), &claims)
}

async fn get(app: &TestApp, path: &str, auth: Option<(&str, &str)>) -> reqwest::Response {
    let mut request = app.http.get(format!("{}{path}", app.address));
    if let Some((name, value)) = auth {
        request = request.header(name, value);
    }
    request.send().await.expect("request reaches the API")
}

async fn admin_get(app: &TestApp, path: &str) -> Value {
    let response = get(app, path, Some(("x-api-key", ADMIN_KEY))).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.expect("json")
}

/// Signs (with its size), uploads and completes a PNG avatar; returns the completion's reply.
async fn upload_avatar(session: &Session<'_>, bytes: Vec<u8>) -> Value {
    let sign = session
        .post_json(
            "/uploads/sign",
            &json!({"kind": "avatar", "filename": "me.png", "content_type": "image/png", "size": bytes.len()}),
        )
        .await;
    assert_eq!(sign.status(), 200);
    let sign: Value = sign.json().await.expect("json");
    let fields = serde_json::from_value(sign["fields"].clone()).expect("fields");
    let stored = post_form(sign["url"].as_str().expect("url"), &fields, bytes, "image/png").await;
    assert!(stored.status().is_success(), "{}", stored.status());
    let done = session.complete(sign["objectKey"].as_str().expect("key")).await;
    assert_eq!(done.status(), 200);
    done.json().await.expect("json")
}

#[tokio::test]
async fn only_admins_may_call_the_operators_routes() {
    let app = app_with_admins(&[]).await;
    let user = format!("Bearer {}", app.token.clone().expect("token"));
    let user_role = format!("Bearer {}", token_with_role(json!("user")));
    let admin_role = format!("Bearer {}", token_with_role(json!("admin")));
    let admin_in_list = format!("Bearer {}", token_with_role(json!(["reader", "admin"])));
    for path in ["/storage/info", "/storage/usage"] {
        for (who, auth) in [
            ("a user's token", ("authorization", user.as_str())),
            ("a token of another role", ("authorization", user_role.as_str())),
            ("a plain API key", ("x-api-key", PLAIN_KEY)),
        ] {
            assert_eq!(
                error_code(get(&app, path, Some(auth)).await).await,
                (403, "admin_required".into()),
                "{path}, {who}"
            );
        }
        assert_eq!(
            error_code(get(&app, path, None).await).await,
            (401, "unauthenticated".into())
        );
        for (who, auth) in [
            ("an admin key", ("x-api-key", ADMIN_KEY)),
            ("an admin token", ("authorization", admin_role.as_str())),
            (
                "a token with admin among its roles",
                ("authorization", admin_in_list.as_str()),
            ),
        ] {
            assert_eq!(get(&app, path, Some(auth)).await.status(), 200, "{path}, {who}");
        }
        let post = app
            .http
            .post(format!("{}{path}", app.address))
            .header("x-api-key", ADMIN_KEY);
        assert_eq!(
            error_code(post.send().await.expect("sent")).await,
            (405, "method_not_allowed".into())
        );
    }
    // Everyone may see their own tenant's usage; an admin key is a caller of its tenant too.
    assert_eq!(
        get(&app, "/usage", Some(("authorization", user.as_str())))
            .await
            .status(),
        200
    );
    let own: Value = get(&app, "/usage", Some(("x-api-key", ADMIN_KEY)))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(own["tenant"], "ops");
    let logs = broker_testkit::captured_logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("action=\"storage_info\"") && l.contains("reason=\"admin_required\"")),
        "a refusal leaves an audit line"
    );
}

#[tokio::test]
async fn without_authentication_on_loopback_the_local_caller_is_the_admin() {
    let app = spawn_app_with(&[("AUTH_MODE", "none")]).await;
    for path in ["/storage/info", "/storage/usage", "/usage"] {
        assert_eq!(get(&app, path, None).await.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn storage_info_has_the_health_shape_and_no_secret() {
    let app = app_with_admins(&[]).await;
    let info = admin_get(&app, "/storage/info").await;
    let mut fields: Vec<&str> = info.as_object().expect("object").keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "bucket",
            "capabilities",
            "configured",
            "endpoint",
            "healthy",
            "lastCheck",
            "prefix",
            "provider",
            "region",
            "uploadMode"
        ]
    );
    let provider = match app.store_kind() {
        TestStore::Embedded => "embedded",
        TestStore::Garage => "s3-compatible",
    };
    assert_eq!(info["provider"], provider);
    assert_eq!((&info["configured"], &info["healthy"]), (&json!(true), &json!(true)));
    let last_check = info["lastCheck"].as_str().expect("lastCheck");
    assert!(last_check.len() == 20 && last_check.ends_with('Z'), "{last_check}");
    assert_eq!(info["bucket"], app.store.bucket());
    assert_eq!(info["region"], app.store.region());
    assert_eq!(info["endpoint"], app.store_endpoint.as_str());
    assert_eq!((&info["uploadMode"], &info["prefix"]), (&json!("post"), &json!("")));
    let capabilities: Vec<&str> = broker_testkit::strings(&info["capabilities"], "capabilities");
    assert!(
        capabilities.contains(&"presigned_post") && capabilities.contains(&"multipart"),
        "{capabilities:?}"
    );
    let text = info.to_string();
    for secret in [
        SECRET_KEY,
        app.vars["S3_SECRET_KEY"].as_str(),
        app.vars["S3_ACCESS_KEY"].as_str(),
    ] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test]
async fn storage_info_says_unhealthy_without_saying_why() {
    let closed = broker_testkit::closed_endpoint();
    let mut vars = broker_testkit::store_vars_for(&closed);
    vars.extend([("S3_PREFIX", "prod"), ("S3_UPLOAD_MODE", "put"), ("S3_SSE", "AES256")]);
    let app = app_with_admins(&vars).await;
    let info = admin_get(&app, "/storage/info").await;
    assert_eq!(info["healthy"], false);
    assert_eq!(info["configured"], true);
    assert_eq!(
        (&info["provider"], &info["endpoint"]),
        (&json!("s3-compatible"), &json!(closed))
    );
    assert_eq!((&info["uploadMode"], &info["prefix"]), (&json!("put"), &json!("prod")));
    let capabilities = info["capabilities"].to_string();
    assert!(
        capabilities.contains("presigned_put") && capabilities.contains("sse_s3"),
        "{capabilities}"
    );
    let text = info.to_string().to_lowercase();
    for leak in ["error", "refused", "connect", "dispatch"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
}

#[tokio::test]
async fn storage_usage_counts_every_tenant_and_area_by_listing() {
    let app = app_with_admins(&[("STORAGE_USAGE_TTL", "0")]).await;
    let avatar = corpus::png(16, 16, 8);
    let done = upload_avatar(&app.as_user("acme", "alice"), avatar).await;
    let size = done["size"].as_u64().expect("size");
    // An upload signed and stored, not completed: still in staging.
    let staged = app.as_user("acme", "alice").sign("file", "a.csv", "text/csv").await;
    post_form(&staged.url, &staged.fields, b"a,b\n".to_vec(), "text/csv").await;
    // And an object the layout does not know.
    app.put_object("acme/secrets/x", b"12345", "text/plain", "x").await;

    let usage = admin_get(&app, "/storage/usage").await;
    let acme = usage["tenants"]
        .as_array()
        .expect("tenants")
        .iter()
        .find(|t| t["tenant"] == "acme")
        .unwrap_or_else(|| panic!("acme is listed: {usage}"));
    assert_eq!(acme["areas"]["avatars"], json!({"bytes": size, "objects": 1}));
    assert_eq!(acme["areas"]["staging"], json!({"bytes": 4, "objects": 1}));
    assert_eq!((&acme["bytes"], &acme["objects"]), (&json!(size + 4), &json!(2)));
    assert_eq!(usage["unclassified"], json!({"bytes": 5, "objects": 1}));
    assert_eq!(usage["nextCursor"], Value::Null);
    assert_eq!(usage["maxAge"], 0);
}

#[tokio::test]
async fn storage_usage_is_paginated_by_tenant_and_cached() {
    let app = app_with_admins(&[]).await;
    for tenant in ["t1", "t2", "t3"] {
        let key = format!("{tenant}/uploads/2026/11/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.csv");
        app.put_object(&key, b"a,b\n", "text/csv", "a.csv").await;
    }
    let first = admin_get(&app, "/storage/usage?limit=2").await;
    let names = |page: &Value| -> Vec<String> {
        page["tenants"]
            .as_array()
            .expect("tenants")
            .iter()
            .map(|t| t["tenant"].as_str().expect("tenant").to_owned())
            .collect()
    };
    assert_eq!(names(&first), ["t1", "t2"]);
    assert_eq!(first["nextCursor"], "t2");
    let second = admin_get(&app, "/storage/usage?limit=2&cursor=t2").await;
    assert_eq!(names(&second), ["t3"]);
    assert_eq!(second["nextCursor"], Value::Null);
    assert_eq!(
        second["computedAt"], first["computedAt"],
        "one listing answers both pages"
    );

    // Within STORAGE_USAGE_TTL (60 s by default) a new object is not listed yet.
    app.put_object(
        "t4/uploads/2026/11/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.csv",
        b"a,b\n",
        "text/csv",
        "a.csv",
    )
    .await;
    let cached = admin_get(&app, "/storage/usage").await;
    assert_eq!(names(&cached), ["t1", "t2", "t3"]);
    assert_eq!(cached["maxAge"], 60);

    for bad in ["limit=0", "limit=1001", "limit=many", "cursor=..%2Fx", "offset=3"] {
        let response = get(&app, &format!("/storage/usage?{bad}"), Some(("x-api-key", ADMIN_KEY))).await;
        assert_eq!(error_code(response).await, (400, "invalid_request".into()), "{bad}");
    }
}

#[tokio::test]
async fn usage_shows_the_callers_tenant_and_quota() {
    let app = spawn_app_with(&[("TENANT_QUOTA_BYTES", "100000"), ("TENANT_QUOTAS", "big:unlimited")]).await;
    let done = upload_avatar(&app.session(), corpus::png(16, 16, 8)).await;
    let size = done["size"].as_u64().expect("size");
    app.put_object(
        "acme/uploads/2026/11/5f3a8f0c-1c55-4a53-9b1e-0c5f8a9b2d11.csv",
        b"not mine",
        "text/csv",
        "a.csv",
    )
    .await;

    let response = app
        .authorize(app.http.get(format!("{}/usage", app.address)))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200);
    let usage: Value = response.json().await.expect("json");
    assert_eq!(usage["tenant"], "default");
    assert_eq!((&usage["bytes"], &usage["objects"]), (&json!(size), &json!(1)));
    assert_eq!(usage["areas"], json!({"avatars": {"bytes": size, "objects": 1}}));
    assert_eq!(
        usage["quota"],
        json!({"limitBytes": 100000, "usedBytes": size, "remainingBytes": 100000 - size})
    );

    let big: Value = app
        .as_user("big", "bob")
        .authorize(app.http.get(format!("{}/usage", app.address)))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert_eq!(
        (&big["tenant"], &big["objects"], &big["areas"]),
        (&json!("big"), &json!(0), &json!({}))
    );
    assert_eq!(
        big["quota"],
        json!({"limitBytes": null, "usedBytes": 0, "remainingBytes": null})
    );
}
