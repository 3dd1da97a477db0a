//! The audit trail: one line per sign, complete, download and export, naming
//! who did what to which key and how it ended, and never a secret.

use broker_verifier::corpus;
use serde_json::{Value, json};

use broker_testkit::{
    JWT_SECRET, SECRET_KEY, captured_json_logs, captured_logs, claims, hs256, now, post_form, principal,
    spawn_app_with, token,
};

/// The audit lines of one tenant (tests share the log, tenants keep them apart).
fn audit_lines(tenant: &str) -> Vec<String> {
    let needle = format!("tenant=\"{tenant}\"");
    captured_logs()
        .lines()
        .filter(|l| l.contains(" audit: ") && l.contains(&needle))
        .map(str::to_owned)
        .collect()
}

fn has_line(lines: &[String], parts: &[&str]) -> bool {
    lines.iter().any(|line| parts.iter().all(|part| line.contains(part)))
}

/// Every line of the JSON log (`LOG_FORMAT=json`), each one JSON object.
fn json_lines() -> Vec<Value> {
    captured_json_logs()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}")))
        .collect()
}

/// The audit lines of one tenant in the JSON log.
fn json_audit_lines(tenant: &str) -> Vec<Value> {
    json_lines()
        .into_iter()
        .filter(|l| l["target"] == "audit" && l["tenant"] == tenant)
        .collect()
}

/// A JSON audit line with all of these `(field, value)`s.
fn has_json_line(lines: &[Value], fields: &[(&str, &str)]) -> bool {
    lines
        .iter()
        .any(|line| fields.iter().all(|(field, value)| line[*field] == *value))
}

/// The fields of the audit line of `subject`'s successful `action` on `key`.
fn ok_line<'a>(action: &'a str, subject: &'a str, key: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("action", action),
        ("subject", subject),
        ("key", key),
        ("outcome", "ok"),
    ]
}

#[tokio::test]
async fn every_action_leaves_one_audit_line_and_no_secret_reaches_the_logs() {
    let api_keys = crate::auth::api_keys_setting();
    let app = spawn_app_with(&[("API_KEYS", api_keys.as_str())]).await;
    let alice_token = token("audited", "alice");
    let alice = app.with_token(Some(&alice_token));

    let signed = alice.sign("avatar", "me.jpg", "image/jpeg").await;
    let stored = post_form(&signed.url, &signed.fields, corpus::jpeg_with_metadata(), "image/jpeg").await;
    assert!(stored.status().is_success());
    let done: Value = alice.complete(&signed.object_key).await.json().await.expect("json");
    let final_key = done["objectKey"].as_str().expect("key").to_owned();
    let download: Value = alice.download(&final_key).await.json().await.expect("json");
    let export = alice
        .post_json(
            "/exports",
            &json!({"format": "csv", "filename": "r.csv", "columns": ["a"], "rows": [["1"]]}),
        )
        .await;
    assert_eq!(export.status(), 202);
    let job: Value = export.json().await.expect("json");

    // Refusals are audited too: another tenant, a colleague, a bad token.
    assert_eq!(
        app.as_user("intruders", "mallory").download(&final_key).await.status(),
        404
    );
    assert_eq!(
        app.as_user("audited", "bob")
            .complete(&signed.object_key)
            .await
            .status(),
        404
    );
    let mut expired = claims("audited", "alice");
    expired["exp"] = json!(now() - 3600);
    let expired = hs256(JWT_SECRET.as_bytes(), &expired);
    assert_eq!(app.with_token(Some(&expired)).download(&final_key).await.status(), 401);
    let api_key_sign = app
        .with_token(Some(crate::auth::BILLING_KEY))
        .sign("export", "a.csv", "text/csv")
        .await;

    let lines = audit_lines("audited");
    let subject = |name: &str| format!("subject=\"{}\"", principal(name));
    let (as_alice, as_bob, as_mallory) = (subject("alice"), subject("bob"), subject("mallory"));
    let staging = format!("key=\"{}\"", signed.object_key);
    let served = format!("key=\"{final_key}\"");
    for (what, parts) in [
        (
            "sign",
            vec![
                "action=\"sign\"",
                as_alice.as_str(),
                staging.as_str(),
                "outcome=\"ok\"",
                "reason=\"ok\"",
            ],
        ),
        (
            "complete",
            vec![
                "action=\"complete\"",
                as_alice.as_str(),
                staging.as_str(),
                "outcome=\"ok\"",
            ],
        ),
        (
            "download",
            vec![
                "action=\"download\"",
                as_alice.as_str(),
                served.as_str(),
                "outcome=\"ok\"",
            ],
        ),
        ("export", vec!["action=\"export\"", as_alice.as_str(), "outcome=\"ok\""]),
        (
            "a colleague's completion",
            vec![
                "action=\"complete\"",
                as_bob.as_str(),
                "outcome=\"denied\"",
                "reason=\"not_found\"",
            ],
        ),
    ] {
        assert!(
            has_line(&lines, &parts),
            "no audit line for {what} ({parts:?}) in:\n{}",
            lines.join("\n")
        );
    }
    let job_id = job["jobId"].as_str().expect("jobId");
    assert!(
        has_line(&lines, &["action=\"export\"", job_id]),
        "the export line names the job: {}",
        lines.join("\n")
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("action=\"sign\"") && l.contains(as_alice.as_str()))
            .count(),
        1,
        "one line per action"
    );
    let intruders = audit_lines("intruders");
    assert!(
        has_line(
            &intruders,
            &[
                "action=\"download\"",
                as_mallory.as_str(),
                served.as_str(),
                "outcome=\"denied\""
            ]
        ),
        "{intruders:?}"
    );
    let anonymous = audit_lines("-");
    assert!(
        has_line(
            &anonymous,
            &["action=\"download\"", "outcome=\"denied\"", "reason=\"expired\""]
        ),
        "{anonymous:?}"
    );
    let acme = audit_lines("acme");
    assert!(
        has_line(
            &acme,
            &[
                "action=\"sign\"",
                "subject=\"apikey:billing\"",
                &api_key_sign.object_key
            ]
        ),
        "{acme:?}"
    );

    // The same lines in the JSON format, each one object with its fields.
    let json = json_audit_lines("audited");
    let (alice_principal, bob_principal) = (principal("alice"), principal("bob"));
    for (what, fields) in [
        (
            "sign",
            [
                ok_line("sign", &alice_principal, &signed.object_key),
                vec![("reason", "ok")],
            ]
            .concat(),
        ),
        ("complete", ok_line("complete", &alice_principal, &signed.object_key)),
        ("download", ok_line("download", &alice_principal, &final_key)),
        ("export", ok_line("export", &alice_principal, job_id)),
        (
            "a colleague's completion",
            vec![
                ("action", "complete"),
                ("subject", bob_principal.as_str()),
                ("outcome", "denied"),
                ("reason", "not_found"),
            ],
        ),
    ] {
        assert!(
            has_json_line(&json, &fields),
            "no JSON audit line for {what} ({fields:?}) in:\n{json:#?}"
        );
    }
    assert!(
        json.iter()
            .all(|l| l["request_id"].is_string() && l["route"].is_string()),
        "audit lines carry their request's id and route: {json:#?}"
    );
    assert_eq!(
        json.iter()
            .filter(|l| l["action"] == "sign" && l["subject"] == alice_principal.as_str())
            .count(),
        1,
        "one JSON line per action"
    );
    assert!(has_json_line(
        &json_audit_lines("-"),
        &[("action", "download"), ("outcome", "denied"), ("reason", "expired")]
    ));

    // Nothing secret anywhere in either log: not the tokens, not their
    // signatures, not the keys, not a presigned URL or form signature.
    let logs = captured_logs() + &captured_json_logs();
    let signature_of = |jwt: &str| jwt.rsplit('.').next().expect("signature").to_owned();
    let mut secrets = vec![
        alice_token.clone(),
        signature_of(&alice_token),
        expired.clone(),
        signature_of(&expired),
        JWT_SECRET.to_owned(),
        SECRET_KEY.to_owned(),
        crate::auth::BILLING_KEY.to_owned(),
        signed.fields["x-amz-signature"].clone(),
        signed.fields["policy"].clone(),
    ];
    for url in [&done["url"], &download["url"]] {
        let url = url.as_str().expect("url").to_owned();
        let signature = url
            .split("X-Amz-Signature=")
            .nth(1)
            .expect("a signed URL")
            .split('&')
            .next()
            .expect("value")
            .to_owned();
        secrets.push(signature);
        secrets.push(url);
    }
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret reached the logs: {secret}");
    }
    for marker in [
        "X-Amz-Signature",
        "x-amz-signature",
        "X-Amz-Credential",
        "Bearer ey",
        "eyJhbGciOi",
    ] {
        assert!(!logs.contains(marker), "{marker} appears in the logs");
    }
}

/// A request string with a line break must not become a log line of its own:
/// the audit trail is only worth something if nobody can write into it.
#[tokio::test]
async fn request_strings_cannot_forge_log_lines() {
    let app = spawn_app_with(&[]).await;
    // Only this test writes it; the log is shared by the tests of this binary.
    let forged = "INFO audit: audit action=\"download\" tenant=\"globex\" subject=\"log-forger\" key=\"-\" outcome=\"ok\" reason=\"ok\"";
    let injected = format!("x\n2026-01-01T00:00:00.000000Z  {forged}\n");
    for (path, body) in [
        ("/uploads/complete", json!({ "objectKey": injected })),
        ("/uploads/download", json!({ "objectKey": injected })),
        (
            "/uploads/sign",
            json!({"kind": injected, "filename": "a.csv", "content_type": "text/csv"}),
        ),
        (
            "/uploads/sign",
            json!({"kind": "avatar", "filename": "a.jpg", "content_type": injected}),
        ),
    ] {
        let status = app.post_json(path, &body).await.status();
        assert!(status.is_client_error(), "{path}: {status}");
    }
    // The job id comes from the path, where the router percent-decodes it.
    let encoded: String = injected
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    for status in [
        app.job(&encoded).await.status(),
        app.cancel_job(&encoded).await.status(),
    ] {
        assert!(status.is_client_error(), "/exports/{{job id}}: {status}");
    }

    let logs = captured_logs();
    let starts_with_timestamp = |line: &str| line.as_bytes().first().is_some_and(u8::is_ascii_digit);
    let standalone: Vec<&str> = logs
        .lines()
        .filter(|line| starts_with_timestamp(line) && line.contains(forged))
        .collect();
    assert!(standalone.is_empty(), "forged log lines: {standalone:#?}");
    assert!(
        !logs.lines().any(|line| line.contains(forged)),
        "the forged text appears unescaped"
    );

    // In JSON every line is still one object, and none is the forged one.
    let forged_json = json_lines()
        .into_iter()
        .filter(|l| l["subject"] == "log-forger")
        .collect::<Vec<_>>();
    assert!(forged_json.is_empty(), "forged JSON lines: {forged_json:#?}");
    assert!(
        !captured_json_logs().contains("\n2026-01-01T00:00:00"),
        "a line break from a request reached the JSON log unescaped"
    );
}
