//! The completion request for a 2 MiB JPEG avatar over loopback, against its
//! baseline in the same run: decoding and re-encoding the same image with the
//! image crate (what a re-encoding sanitiser pays). Also: how cheaply an
//! over-limit object and an 8-byte fake are refused.
//!
//! `cargo bench -p upload-broker --bench complete`

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::hint::black_box;
use std::io::Cursor;

use broker_testkit::{TestApp, spawn_app_with};
use broker_verifier::corpus;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

const AVATAR_MAX: usize = 2 * 1024 * 1024;

struct Bench {
    runtime: tokio::runtime::Runtime,
    app: TestApp,
}

impl Bench {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        // The bench measures completion, not authentication or rate limits.
        let app = runtime.block_on(spawn_app_with(&[("AUTH_MODE", "none"), ("RATE_LIMIT_RATE", "0")]));
        Bench { runtime, app }
    }

    /// Signs and uploads through the store's form POST (not timed); returns the staging key.
    fn upload(&self, bytes: &[u8]) -> String {
        self.runtime.block_on(async {
            let signed: Value = self
                .app
                .http
                .post(format!("{}/uploads/sign", self.app.address))
                .json(&json!({"kind": "avatar", "filename": "photo.jpg", "content_type": "image/jpeg"}))
                .send()
                .await
                .expect("sign")
                .json()
                .await
                .expect("json");
            let mut form = reqwest::multipart::Form::new();
            for (name, value) in signed["fields"].as_object().expect("fields") {
                form = form.text(name.clone(), value.as_str().expect("string").to_owned());
            }
            form = form.part(
                "file",
                reqwest::multipart::Part::bytes(bytes.to_vec())
                    .mime_str("image/jpeg")
                    .expect("mime"),
            );
            let stored = self
                .app
                .http
                .post(signed["url"].as_str().expect("url"))
                .multipart(form)
                .send()
                .await
                .expect("post");
            assert!(stored.status().is_success(), "upload refused: {}", stored.status());
            signed["objectKey"].as_str().expect("key").to_owned()
        })
    }

    /// Writes a staging object with its signed metadata directly (for shapes a policy would refuse).
    fn plant(&self, bytes: Vec<u8>) -> String {
        let staging = self.upload(&corpus::jpeg(8, 8, 1));
        self.runtime.block_on(async {
            self.app
                .store
                .client()
                .put_object()
                .bucket(self.app.store.bucket())
                .key(&staging)
                .body(bytes.into())
                .content_type("image/jpeg")
                .metadata("profile", "avatar")
                .metadata("tenant", "default")
                .metadata("filename", "photo.jpg")
                .send()
                .await
                .expect("put");
        });
        staging
    }

    fn complete(&self, key: &str) -> u16 {
        self.runtime.block_on(async {
            let response = self
                .app
                .http
                .post(format!("{}/uploads/complete", self.app.address))
                .json(&json!({ "objectKey": key }))
                .send()
                .await
                .expect("complete");
            let status = response.status().as_u16();
            black_box(response.bytes().await.expect("body"));
            status
        })
    }
}

fn completion(c: &mut Criterion) {
    let bench = Bench::start();
    let photo = phone_photo();
    let mut over_limit = photo.clone();
    over_limit.resize(AVATAR_MAX + 1, 0);
    let mut fake = b"\xFF\xD8\xFF\xE0<htm".to_vec();
    fake.truncate(8);

    let mut group = c.benchmark_group("complete_2mib_jpeg");
    group.sample_size(20);
    group.bench_function("baseline_image_crate_decode_reencode", |b| {
        b.iter(|| {
            let image =
                image::load_from_memory_with_format(black_box(&photo), image::ImageFormat::Jpeg).expect("decode");
            let mut out = Cursor::new(Vec::with_capacity(photo.len()));
            image.write_to(&mut out, image::ImageFormat::Jpeg).expect("encode");
            black_box(out.into_inner().len())
        })
    });
    group.bench_function("complete_request_real_photo", |b| {
        b.iter_batched(
            || bench.upload(&photo),
            |key| assert_eq!(bench.complete(&key), 200),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("complete_request_one_byte_over_limit", |b| {
        b.iter_batched(
            || bench.plant(over_limit.clone()),
            |key| assert_eq!(bench.complete(&key), 422),
            BatchSize::PerIteration,
        )
    });
    group.bench_function("complete_request_8_byte_fake", |b| {
        b.iter_batched(
            || bench.plant(fake.clone()),
            |key| assert_eq!(bench.complete(&key), 422),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// A noisy JPEG carrying EXIF with GPS and a thumbnail, as large as fits the
/// avatar profile (just under 2 MiB).
fn phone_photo() -> Vec<u8> {
    let exif = [b"Exif\0\0".as_slice(), &corpus::exif_tiff(1, true, true)].concat();
    let build = |side: u32| corpus::splice_jpeg(&corpus::jpeg(side, side, 255), &[corpus::jpeg_segment(0xE1, &exif)]);
    let (mut low, mut high) = (256u32, 4096u32);
    while high - low > 8 {
        let mid = (low + high) / 2;
        if build(mid).len() <= AVATAR_MAX {
            low = mid
        } else {
            high = mid
        }
    }
    let photo = build(low);
    assert!(
        photo.len() <= AVATAR_MAX && photo.len() > AVATAR_MAX * 9 / 10,
        "{} bytes",
        photo.len()
    );
    photo
}

criterion_group!(benches, completion);
criterion_main!(benches);
