//! `upload-broker doctor` on a correct Garage bucket, on one without CORS,
//! and on the embedded store.

use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleFilter,
};
use broker_testkit::garage::{Garage, answered};
use serde_json::Value;
use tempfile::TempDir;
use upload_broker::doctor::CHECKS;

use crate::{ORIGIN, base_vars, broker, garage_vars, text};

/// The rules of deploy/s3-lifecycle.json, put through the S3 API as an operator would.
async fn apply_deploy_lifecycle(garage: &Garage) {
    let deploy: Value = serde_json::from_str(include_str!("../../../../deploy/s3-lifecycle.json")).expect("json");
    let mut rules = Vec::new();
    for rule in deploy["Rules"].as_array().expect("rules") {
        let mut built = LifecycleRule::builder()
            .id(rule["ID"].as_str().expect("id"))
            .status(ExpirationStatus::Enabled)
            .filter(
                LifecycleRuleFilter::builder()
                    .prefix(rule["Filter"]["Prefix"].as_str().expect("prefix"))
                    .build(),
            );
        if let Some(days) = rule["Expiration"]["Days"].as_i64() {
            built = built.expiration(LifecycleExpiration::builder().days(days as i32).build());
        }
        if let Some(days) = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"].as_i64() {
            built = built.abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(days as i32)
                    .build(),
            );
        }
        rules.push(built.build().expect("a rule"));
    }
    let configuration = BucketLifecycleConfiguration::builder()
        .set_rules(Some(rules))
        .build()
        .expect("rules");
    let request = garage.client().put_bucket_lifecycle_configuration();
    let request = request.bucket(garage.bucket()).lifecycle_configuration(configuration);
    answered("PutBucketLifecycleConfiguration", request.send()).await;
}

fn statuses(report: &Value) -> Vec<(String, String, String)> {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().expect("name").to_owned(),
                c["status"].as_str().expect("status").to_owned(),
                c["detail"].as_str().expect("detail").to_owned(),
            )
        })
        .collect()
}

fn status_of<'a>(checks: &'a [(String, String, String)], name: &str) -> &'a str {
    checks
        .iter()
        .find(|(n, _, _)| n == name)
        .map(|(_, s, _)| s.as_str())
        .unwrap_or_else(|| panic!("no check {name} in {checks:?}"))
}

/// Asserts the status of every check of the doctor but those in `unasserted`:
/// `warn` for those in `warned`, `pass` for the others.
fn assert_statuses(checks: &[(String, String, String)], warned: &[&str], unasserted: &[&str], context: &str) {
    for name in CHECKS.iter().filter(|name| !unasserted.contains(name)) {
        let expected = if warned.contains(name) { "warn" } else { "pass" };
        assert_eq!(status_of(checks, name), expected, "{context}: {name}: {checks:#?}");
    }
}

#[tokio::test]
async fn doctor_passes_on_a_correct_garage_bucket() {
    let garage = Garage::start().await;
    garage.set_cors(&[ORIGIN]).await;
    apply_deploy_lifecycle(&garage).await;
    let dir = TempDir::new().expect("temp dir");

    for mode in ["post", "put"] {
        let mut vars = garage_vars(&garage, dir.path());
        vars.insert("S3_UPLOAD_MODE".into(), mode.into());
        let output = broker(&vars, dir.path(), &["doctor", "--json"]).await;
        let report: Value = serde_json::from_slice(&output.stdout)
            .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}): {}", text(&output)));
        let checks = statuses(&report);
        assert_eq!(output.status.code(), Some(0), "{mode}: {checks:#?}");
        assert_eq!(report["ok"], true);
        assert_eq!(report["uploadMode"], mode);
        assert_eq!(checks.len(), 11, "{checks:#?}");
        for (name, status, detail) in &checks {
            assert!(
                status == "pass" || status == "warn",
                "{mode}: {name} {status}: {detail}"
            );
        }
        // Garage has no Block Public Access: a warning that says so, not a failure.
        assert_statuses(&checks, &["public-access-block"], &[], mode);
    }
    // The round trip cleans up after itself.
    let list = garage.client().list_objects_v2().bucket(garage.bucket());
    let left = answered("ListObjectsV2", list.send()).await;
    assert_eq!(left.key_count(), Some(0), "{:?}", left.contents());
}

#[tokio::test]
async fn doctor_fails_and_names_cors_on_a_bucket_without_it() {
    let garage = Garage::start().await;
    let dir = TempDir::new().expect("temp dir");
    let vars = garage_vars(&garage, dir.path());

    let output = broker(&vars, dir.path(), &["doctor"]).await;
    let table = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let cors_line = table
        .lines()
        .find(|l| l.contains(" cors "))
        .unwrap_or_else(|| panic!("no cors line in\n{table}"));
    assert!(cors_line.starts_with("FAIL"), "{cors_line}");
    assert!(
        cors_line.contains("CORS: the bucket has no CORS configuration"),
        "{cors_line}"
    );
    assert!(table.contains("pass  round-trip"), "{table}");
    assert!(table.ends_with("failed\n") && table.contains(", 1 failed"), "{table}");

    // With CORS that does not expose the headers browsers read, it still fails.
    garage.set_cors(&["https://other.example"]).await;
    let output = broker(&vars, dir.path(), &["doctor", "--json"]).await;
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    let checks = statuses(&report);
    let (_, status, detail) = checks.iter().find(|(n, _, _)| n == "cors").expect("cors");
    assert_eq!(status, "fail");
    assert!(detail.contains("no rule lets https://app.example POST"), "{detail}");
    assert!(
        detail.contains("preflight from https://app.example is refused"),
        "{detail}"
    );
}

#[tokio::test]
async fn doctor_runs_on_the_embedded_store() {
    let dir = TempDir::new().expect("temp dir");
    let vars = base_vars(dir.path());
    let output = broker(&vars, dir.path(), &["doctor", "--json"]).await;
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}): {}", text(&output)));
    let checks = statuses(&report);
    assert!(
        report["store"].as_str().is_some_and(|s| s.starts_with("embedded")),
        "{report}"
    );
    assert_eq!(output.status.code(), Some(0), "{checks:#?}");
    // The embedded store has no lifecycle rules and no Block Public Access.
    let warned = ["lifecycle", "public-access-block"];
    assert_statuses(
        &checks,
        &warned,
        &["encryption", "versioning", "presign-ttl"],
        "embedded",
    );
}

#[tokio::test]
async fn doctor_refuses_unknown_options() {
    let dir = TempDir::new().expect("temp dir");
    let output = broker(&base_vars(dir.path()), dir.path(), &["doctor", "--yaml"]).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).contains("usage: upload-broker"), "{}", text(&output));
}
