//! `upload-broker migrate` from an embedded store, filled through the normal
//! upload flow, into Garage: a dry run copies nothing, a run copies every
//! object with its record, a second run skips them all.

use std::collections::BTreeMap;

use broker_core::record::ObjectRecord;
use broker_testkit::garage::Garage;
use broker_testkit::{post_form, spawn_app_with};
use broker_verifier::corpus;
use serde_json::Value;
use tempfile::TempDir;
use upload_broker::migrate::{self, CHECKSUM_FIELD, Options};

use crate::{broker, garage_vars, settings, text};

/// An embedded store in `data_dir` with a completed avatar upload, a staged
/// (never completed) CSV and an object written directly; returns each key and its bytes.
async fn fill_embedded_store(data_dir: &str) -> BTreeMap<String, Vec<u8>> {
    // `S3_ENABLED=false` keeps the embedded store in a Garage run of the suite too.
    let app = spawn_app_with(&[("S3_ENABLED", "false"), ("DATA_DIR", data_dir)]).await;
    let mut objects = BTreeMap::new();

    let photo = corpus::jpeg_with_metadata();
    let signed = app.sign("avatar", "me.jpg", "image/jpeg").await;
    assert!(
        post_form(&signed.url, &signed.fields, photo, "image/jpeg")
            .await
            .status()
            .is_success()
    );
    let completed = app.session().complete(&signed.object_key).await;
    assert_eq!(completed.status(), 200);
    let completed: Value = completed.json().await.expect("json");
    let avatar = completed["objectKey"].as_str().expect("objectKey").to_owned();

    let csv = b"name,amount\nalice,3\n".to_vec();
    let staged = app.sign("file", "data.csv", "text/csv").await;
    assert!(
        post_form(&staged.url, &staged.fields, csv.clone(), "text/csv")
            .await
            .status()
            .is_success()
    );

    let direct = "default/uploads/2026/11/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.pdf".to_owned();
    let pdf = corpus::pdf_ok();
    app.put_object(&direct, &pdf, "application/pdf", "report 2026.pdf")
        .await;

    for key in [&avatar, &staged.object_key, &direct] {
        let body = app
            .store
            .get(&broker_core::ObjectKey::parse(key).expect("key"))
            .await
            .expect("get");
        objects.insert(key.clone(), body.collect().await.expect("body").to_vec());
    }
    app.stop().await;
    objects
}

#[tokio::test]
async fn migrate_moves_the_embedded_store_into_garage_once() {
    let data = TempDir::new().expect("temp dir");
    let objects = fill_embedded_store(data.path().to_str().expect("utf-8")).await;
    let bytes: u64 = objects.values().map(|b| b.len() as u64).sum();
    let garage = Garage::start().await;
    let vars = garage_vars(&garage, data.path());
    let settings = settings(&vars);
    let listed = || async {
        garage
            .client()
            .list_objects_v2()
            .bucket(garage.bucket())
            .send()
            .await
            .expect("list")
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect::<Vec<_>>()
    };

    // A dry run lists, counts and copies nothing (the binary, as an operator runs it).
    let output = broker(&vars, data.path(), &["migrate", "--dry-run"]).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!("would copy 3 objects ({bytes} bytes), skipped 0")),
        "{out}"
    );
    for key in objects.keys() {
        assert!(out.contains("would copy") && out.contains(key.as_str()), "{key}: {out}");
    }
    assert!(listed().await.is_empty(), "a dry run wrote");

    let dry_run = Options {
        dry_run: true,
        source_bucket: migrate::DEFAULT_SOURCE_BUCKET.into(),
    };
    let run = Options {
        dry_run: false,
        ..dry_run.clone()
    };
    let mut lines = Vec::new();
    let report = migrate::run(&settings, &run, |line| lines.push(line))
        .await
        .expect("migrates");
    assert_eq!(report.failed, Vec::<(String, String)>::new());
    assert_eq!((report.copied.objects, report.copied.bytes), (3, bytes));
    assert_eq!(report.skipped.objects, 0);
    assert_eq!(lines.len(), 3, "{lines:?}");

    // Same keys, same bytes, same record, plus the checksum.
    let mut keys = listed().await;
    keys.sort();
    assert_eq!(keys, objects.keys().cloned().collect::<Vec<_>>());
    let source = spawn_app_with(&[
        ("S3_ENABLED", "false"),
        ("DATA_DIR", data.path().to_str().expect("utf-8")),
    ])
    .await;
    for (key, body) in &objects {
        let copy = garage
            .client()
            .get_object()
            .bucket(garage.bucket())
            .key(key)
            .send()
            .await
            .expect("copied");
        let original = source
            .store
            .head(&broker_core::ObjectKey::parse(key).expect("key"))
            .await
            .expect("head");
        assert_eq!(copy.content_type(), original.content_type.as_deref(), "{key}");
        assert_eq!(
            copy.content_disposition(),
            original.content_disposition.as_deref(),
            "{key}"
        );
        let metadata = copy.metadata().cloned().unwrap_or_default();
        assert_eq!(
            ObjectRecord::from_metadata(&metadata),
            ObjectRecord::from_metadata(&original.metadata),
            "{key}"
        );
        // Every object had a record (profile and subject, or the filename) to keep.
        assert_ne!(ObjectRecord::from_metadata(&metadata), ObjectRecord::default(), "{key}");
        assert_eq!(metadata.get(CHECKSUM_FIELD).map(String::len), Some(64), "{key}");
        assert_eq!(&copy.body.collect().await.expect("body").to_vec(), body, "{key}");
    }
    source.stop().await;

    // Again: nothing to copy, everything skipped, in a dry run and for real.
    let again = migrate::run(&settings, &dry_run, |_| {}).await.expect("dry run");
    assert_eq!((again.copied.objects, again.skipped.objects), (0, 3));
    let output = broker(&vars, data.path(), &["migrate"]).await;
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "copied 0 objects (0 bytes), skipped 3 ({bytes} bytes, already there), failed 0"
        )),
        "{out}"
    );

    // A copy that differs (here: truncated by hand) is copied again.
    let (key, body) = objects.iter().next().expect("an object");
    garage
        .client()
        .put_object()
        .bucket(garage.bucket())
        .key(key)
        .body(body[..body.len() / 2].to_vec().into())
        .send()
        .await
        .expect("overwrite");
    let report = migrate::run(&settings, &run, |_| {}).await.expect("migrates");
    assert_eq!((report.copied.objects, report.skipped.objects), (1, 2));
}

#[tokio::test]
async fn migrate_needs_an_s3_target_and_an_existing_source_bucket() {
    let data = TempDir::new().expect("temp dir");
    let embedded = settings(&crate::base_vars(data.path()));
    let options = Options {
        dry_run: true,
        source_bucket: "uploads".into(),
    };
    let error = migrate::run(&embedded, &options, |_| {}).await.expect_err("no target");
    assert!(error.contains("S3_ENABLED"), "{error}");

    let garage = Garage::start().await;
    let error = migrate::run(&settings(&garage_vars(&garage, data.path())), &options, |_| {})
        .await
        .expect_err("no source");
    assert!(error.contains("--source-bucket"), "{error}");
}
