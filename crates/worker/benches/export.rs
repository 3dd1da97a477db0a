//! Export throughput.
//!
//! * `csv_100k_x8`: [`CsvExport`] against the bare csv crate writing the same
//!   100k rows x 8 columns to `io::sink()` in the same run, so the ratio of
//!   the two rows/s figures is the cost of row checks and formula
//!   neutralisation. (The lead also runs this with 1M rows.)
//! * `pdf_10k_x6`: rows turned into laid-out PDF pages; the page count is
//!   printed once before measuring.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::hint::black_box;
use std::io;

use broker_worker::{CsvExport, CsvOptions, PdfExport};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CSV_ROWS: usize = 100_000;
const PDF_ROWS: usize = 10_000;

fn columns(n: usize) -> Vec<String> {
    [
        "id", "created", "customer", "email", "amount", "currency", "status", "note",
    ]
    .iter()
    .take(n)
    .map(|c| (*c).to_owned())
    .collect()
}

/// Realistic rows: ids, dates, names with accents, negative amounts (which
/// trigger neutralisation) and free text that needs quoting now and then.
fn rows(n: usize) -> Vec<[String; 8]> {
    (0..n)
        .map(|i| {
            [
                i.to_string(),
                format!("2024-{:02}-{:02}T12:{:02}:00Z", i % 12 + 1, i % 28 + 1, i % 60),
                format!("Zoë Ångström {i}"),
                format!("user{i}@example.com"),
                if i % 5 == 0 {
                    format!("-{}.{:02}", i % 900, i % 100)
                } else {
                    format!("{}.{:02}", i % 900, i % 100)
                },
                "EUR".to_owned(),
                ["paid", "open", "refunded"][i % 3].to_owned(),
                if i % 7 == 0 {
                    "said \"hello\", then left".to_owned()
                } else {
                    "regular order".to_owned()
                },
            ]
        })
        .collect()
}

fn csv(c: &mut Criterion) {
    let columns = columns(8);
    let rows = rows(CSV_ROWS);
    let mut group = c.benchmark_group("csv_100k_x8");
    group.throughput(Throughput::Elements(CSV_ROWS as u64));
    group.sample_size(10);
    group.bench_function("CsvExport", |b| {
        b.iter(|| {
            let mut csv = CsvExport::new(io::sink(), &columns, CsvOptions::default()).unwrap();
            for row in &rows {
                csv.write_row(row).unwrap();
            }
            black_box(csv.finish().unwrap());
        })
    });
    group.bench_function("raw csv crate", |b| {
        b.iter(|| {
            let mut csv = csv::Writer::from_writer(io::sink());
            csv.write_record(&columns).unwrap();
            for row in &rows {
                csv.write_record(row).unwrap();
            }
            black_box(csv.into_inner().unwrap());
        })
    });
    group.finish();
}

fn pdf(c: &mut Criterion) {
    let columns = columns(6);
    let rows: Vec<Vec<String>> = rows(PDF_ROWS).into_iter().map(|r| r[..6].to_vec()).collect();
    let export = || {
        let mut pdf = PdfExport::new(Some("Orders"), &columns).unwrap();
        for row in &rows {
            pdf.write_row(row).unwrap();
        }
        pdf.finish().unwrap()
    };
    let sample = export();
    println!(
        "pdf_10k_x6: {PDF_ROWS} rows -> {} pages, {} bytes",
        sample.pages,
        sample.bytes.len()
    );
    let mut group = c.benchmark_group("pdf_10k_x6");
    group.throughput(Throughput::Elements(PDF_ROWS as u64));
    group.sample_size(10);
    group.bench_function("PdfExport", |b| b.iter(|| black_box(export())));
    group.finish();
}

criterion_group!(benches, csv, pdf);
criterion_main!(benches);
