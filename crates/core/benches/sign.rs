//! Signing one POST policy in-process, against an HMAC-SHA256 of the same
//! policy text (the floor: one signature's worth of hashing) in the same run.
//!
//! `cargo bench -p broker-core --bench sign`

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::hint::black_box;
use std::time::SystemTime;

use broker_core::ObjectKey;
use broker_core::post_policy::{PostPolicy, SigningCredentials, SigningKey, Stored};
use criterion::{Criterion, criterion_group, criterion_main};

fn signing(c: &mut Criterion) {
    let key = ObjectKey::parse("staging/default/avatar/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.jpg").expect("key");
    let metadata = [
        ("profile", "avatar".to_owned()),
        ("tenant", "default".to_owned()),
        ("filename", "me.jpg".to_owned()),
    ];
    let object = Stored {
        content_type: "image/jpeg",
        encryption: None,
        metadata: &metadata,
    };
    let policy = PostPolicy::example(&key, object);
    let credentials = SigningCredentials::example();
    let now = SystemTime::now();
    let policy_text = policy.sign(&credentials, now).fields["policy"].clone();

    let mut group = c.benchmark_group("post_policy");
    group.bench_function("baseline_hmac_of_policy_text", |b| {
        b.iter(|| {
            aws_sigv4::sign::v4::calculate_signature(
                black_box(b"0123456789abcdef0123456789abcdef"),
                black_box(policy_text.as_bytes()),
            )
        })
    });
    group.bench_function("sign_policy", |b| {
        b.iter(|| black_box(policy.sign(black_box(&credentials), now)))
    });
    let signing_key = SigningKey::derive(&credentials, now, "us-east-1");
    group.bench_function("sign_policy_with_cached_key", |b| {
        b.iter(|| black_box(policy.sign_with(black_box(&credentials), now, &signing_key)))
    });
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
