//! `GET /openapi.json`: the running app serves the document its code
//! generates (which `docs/openapi.yaml` must equal: broker-api's unit test),
//! and every operation it lists is served, with the credentials it says.
//! That the app serves nothing the document lacks is broker-api's route test.

use reqwest::Method;
use serde_json::Value;

use broker_testkit::spawn_app;

#[tokio::test]
async fn openapi_json_is_the_generated_document_and_lists_every_route() {
    let app = spawn_app().await;
    // No credential: the document is public.
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().expect("ASCII"),
        "application/json"
    );
    let served: Value = response.json().await.expect("json");
    let generated = serde_json::to_value(broker_api::openapi::document()).expect("JSON");
    assert_eq!(served, generated, "the served document is the generated one");

    let mut operations = 0;
    for (path, item) in served["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
            // A job id that parses, of no job.
            let uri = path.replace("{jobId}", "01JDQ8Z3M4W5X6Y7Z8A9B0C1D2");
            let response = app
                .http
                .request(method.clone(), format!("{}{uri}", app.address))
                .send()
                .await
                .expect("sent");
            let status = response.status().as_u16();
            let body = response.bytes().await.expect("body");
            let code = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v["error"]["code"].as_str().map(str::to_owned));
            let what = format!("{method} {path}: {status} {code:?}");
            assert_ne!(status, 405, "{what}: documented but the method is not routed");
            assert_ne!(code.as_deref(), Some("not_found"), "{what}: documented but not routed");
            // Operations without a requirement (`security: [{}]`) are public.
            let public = operation["security"] == serde_json::json!([{}]);
            if public {
                assert!(status == 200 || status == 503, "{what}: a public route");
            } else {
                assert_eq!(
                    (status, code.as_deref()),
                    (401, Some("unauthenticated")),
                    "{what}: the document requires a credential"
                );
            }
            operations += 1;
        }
    }
    assert!(operations >= 9, "only {operations} operations");
    for (method, path) in [
        ("post", "/uploads/sign"),
        ("post", "/uploads/complete"),
        ("post", "/uploads/download"),
        ("post", "/exports"),
        ("get", "/exports/{jobId}"),
        ("delete", "/exports/{jobId}"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/openapi.json"),
    ] {
        assert!(
            served["paths"][path][method].is_object(),
            "{method} {path} is documented"
        );
    }
}
