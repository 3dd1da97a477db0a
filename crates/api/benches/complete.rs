//! The completion request for a 2 MiB JPEG avatar over loopback, against its
//! baseline in the same run: decoding and re-encoding the same image with the
//! image crate (what a re-encoding sanitiser pays). Also: how cheaply an
//! over-limit object and an 8-byte fake are refused.
//!
//! `cargo bench -p broker-api --bench complete`

use std::collections::HashMap;
use std::hint::black_box;
use std::io::Cursor;

use broker_api::Application;
use broker_core::Settings;
use broker_core::store::{Store, StoreEndpoint};
use broker_verifier::corpus;
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

const AVATAR_MAX: usize = 2 * 1024 * 1024;

struct Bench {
    runtime: tokio::runtime::Runtime,
    api: String,
    http: reqwest::Client,
    store: Store,
    _data: tempfile::TempDir,
}

impl Bench {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let data = tempfile::TempDir::new().expect("temp dir");
        let vars: HashMap<&str, String> = HashMap::from([
            ("BIND_ADDR", "127.0.0.1:0".to_owned()),
            ("DEVSTORE_BIND_ADDR", "127.0.0.1:0".to_owned()),
            ("S3_ACCESS_KEY", "bench".to_owned()),
            ("S3_SECRET_KEY", "bench-secret".to_owned()),
            ("DATA_DIR", data.path().display().to_string()),
            // The bench measures completion, not authentication or rate limits.
            ("AUTH_MODE", "none".to_owned()),
            ("RATE_LIMIT_RATE", "0".to_owned()),
        ]);
        let settings = Settings::from_lookup(|name| vars.get(name).cloned()).expect("settings");
        let (api, store) = runtime.block_on(async {
            let app = Application::build(settings.clone()).await.expect("app");
            let api = format!("http://127.0.0.1:{}", app.port());
            let endpoint = StoreEndpoint {
                endpoint: app.devstore_endpoint(),
                force_path_style: true,
                credentials: settings.store.credentials.clone(),
            };
            tokio::spawn(app.run_until_stopped());
            (api, Store::connect(&settings.store, endpoint).await)
        });
        Bench {
            runtime,
            api,
            http: reqwest::Client::new(),
            store,
            _data: data,
        }
    }

    /// Signs and uploads through the store's form POST (not timed); returns the staging key.
    fn upload(&self, bytes: &[u8]) -> String {
        self.runtime.block_on(async {
            let signed: Value = self
                .http
                .post(format!("{}/uploads/sign", self.api))
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
            self.store
                .client()
                .put_object()
                .bucket(self.store.bucket())
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
                .http
                .post(format!("{}/uploads/complete", self.api))
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
