//! Strip throughput against a plain memory copy of the same bytes, and the
//! cost of a cheap type rejection against a full image check.
//!
//! Each group reports bytes/second for `memcpy` and `strip` on the same
//! input, so the ratio (target: strip >= 0.5x memcpy) reads straight off the
//! report.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::hint::black_box;

use broker_verifier::{Format, Limits, check_image, check_type, corpus, strip_metadata};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TARGET_LEN: usize = 2 << 20;

fn strip_vs_memcpy(c: &mut Criterion) {
    for (name, format) in [("jpeg", Format::Jpeg), ("png", Format::Png), ("webp", Format::WebP)] {
        let bytes = corpus::large(format, TARGET_LEN);
        let mut group = c.benchmark_group(format!("strip_{name}"));
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function("memcpy", |b| b.iter(|| Vec::from(black_box(&bytes[..]))));
        group.bench_function("strip", |b| {
            b.iter(|| strip_metadata(format, black_box(&bytes)).expect("strippable"))
        });
        group.finish();
    }
}

fn cheap_rejection(c: &mut Criterion) {
    let fake = b"<html>\0\0";
    let jpeg = corpus::large(Format::Jpeg, TARGET_LEN);
    let limits = Limits::default();
    let mut group = c.benchmark_group("rejection");
    group.bench_function("check_type_8_byte_fake", |b| {
        b.iter(|| check_type(Format::Jpeg, black_box(fake)).expect_err("fake"))
    });
    group.sample_size(10);
    group.bench_function("check_image_2mib_jpeg", |b| {
        b.iter(|| check_image(Format::Jpeg, black_box(&jpeg), &limits).expect("real image"))
    });
    group.finish();
}

criterion_group!(benches, strip_vs_memcpy, cheap_rejection);
criterion_main!(benches);
