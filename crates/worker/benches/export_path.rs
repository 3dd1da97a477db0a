//! Export path benchmarks, each against a baseline measured in the same run
//! (machines are noisy; only ratios are recorded in docs/benchmarks.md).
//!
//! ```text
//! cargo bench -p broker-worker --bench export_path                 # throughput + PDF
//! cargo bench -p broker-worker --bench export_path -- rss 100000   # peak RSS of one export, in a fresh process
//! ```
//!
//! * **CSV throughput**: 1,000,000 rows × 8 columns through the export path
//!   (rows → `ExportSink` → `CsvExport` with formula neutralisation →
//!   `PartWriter` 5 MiB parts → a consumer thread standing in for the upload)
//!   against the raw csv crate writing the same rows into a `Vec<u8>`; and the
//!   same from a CSV *source* (parse + write) against csv reader → writer.
//! * **PDF**: pages/s for 10,000 rows, against CSV of the same rows.
//! * **RSS**: the export path streaming N generated source rows (never held
//!   in memory) to discarded parts; prints the process's peak RSS (VmHWM).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use broker_jobs::job::ExportFormat;
use broker_worker::CsvOptions;
use broker_worker::multipart::{PART_SIZE, PartWriter};
use broker_worker::pipeline::{ExportSink, OutputSpec, Progress, feed_csv, feed_inline};

const COLUMNS: usize = 8;

fn row(n: usize) -> Vec<String> {
    vec![
        n.to_string(),
        format!("user{n}@example.com"),
        format!("Name {n}"),
        if n.is_multiple_of(7) {
            "=SUM(A1:A2)".into()
        } else {
            "plain text".into()
        },
        format!("{}.{:02}", n % 10_000, n % 100),
        "2026-01-01".into(),
        if n.is_multiple_of(3) {
            "a, \"quoted\" cell".into()
        } else {
            "b".into()
        },
        format!("{}", n * 31 % 997),
    ]
}

fn header() -> Vec<String> {
    (0..COLUMNS).map(|i| format!("col{i}")).collect()
}

/// Runs `f` `runs` times and returns the median duration and its last output.
fn median<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let started = Instant::now();
        last = Some(std::hint::black_box(f()));
        times.push(started.elapsed());
    }
    times.sort();
    (times[runs / 2], last.expect("at least one run"))
}

/// The export path into memory: parts are collected by a consumer thread.
fn export_path(format: ExportFormat, feed: impl FnOnce(&mut ExportSink<'_, PartWriter>)) -> (u64, usize) {
    let progress = Progress::default();
    let (writer, mut parts) = PartWriter::new(PART_SIZE);
    let consumer = std::thread::spawn(move || {
        let mut total = 0usize;
        let mut count = 0usize;
        while let Some(part) = parts.blocking_recv() {
            total += part.len();
            count += 1;
        }
        (total, count)
    });
    let spec = OutputSpec {
        format,
        title: Some("Benchmark".into()),
        csv: CsvOptions::default(),
        max_pdf_pages: usize::MAX,
    };
    let mut sink = ExportSink::new(spec, writer, &progress);
    feed(&mut sink);
    let (writer, rows) = sink.finish().expect("finish");
    writer.finish().expect("parts");
    let (bytes, _parts) = consumer.join().expect("consumer");
    (rows, bytes)
}

/// Rows in memory, for the baselines.
struct Table {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// The rows as a `POST /exports` body carries them, which is what a job stores and the worker reads.
    fn inline_body(&self) -> Vec<u8> {
        let body =
            serde_json::json!({"format": "csv", "filename": "b.csv", "columns": self.columns, "rows": self.rows});
        serde_json::to_vec(&body).expect("json")
    }

    /// The rows as a CSV file, written by the csv crate alone into a buffer of `capacity` bytes.
    fn csv(&self, capacity: usize) -> Vec<u8> {
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(capacity));
        writer.write_record(&self.columns).expect("header");
        for row in &self.rows {
            writer.write_record(row).expect("row");
        }
        writer.into_inner().expect("flush")
    }
}

/// One line of the report: the raw csv crate's time and the export path's, and their ratio.
fn print_ratio(label: &str, (raw, raw_note): (Duration, &str), (path, ours, ours_note): (&str, Duration, &str)) {
    println!(
        "{label}: raw csv crate {:>7.0} ms{raw_note} | {path} {:>7.0} ms{ours_note} | ratio {:.2}x",
        raw.as_secs_f64() * 1e3,
        ours.as_secs_f64() * 1e3,
        ours.as_secs_f64() / raw.as_secs_f64()
    );
}

fn throughput() {
    let rows_n = 1_000_000;
    let data = Table {
        columns: header(),
        rows: (0..rows_n).map(row).collect(),
    };
    let body = data.inline_body();

    let (raw, raw_bytes) = median(3, || data.csv(64 << 20).len());
    let (ours, (rows, bytes)) = median(3, || {
        export_path(ExportFormat::Csv, |sink| feed_inline(&body, sink).expect("rows"))
    });
    assert_eq!(rows, rows_n as u64);
    print_ratio(
        "csv rows->file   1M x 8",
        (raw, &format!(" ({raw_bytes} B)")),
        ("export path from the stored body", ours, &format!(" ({bytes} B)")),
    );

    // From a CSV source: parse + write, both sides.
    let source = data.csv(0);
    drop((data, body));
    let (raw, _) = median(3, || {
        let mut reader = csv::Reader::from_reader(&source[..]);
        let mut writer = csv::Writer::from_writer(Vec::with_capacity(64 << 20));
        writer.write_record(reader.headers().expect("header")).expect("header");
        let mut record = csv::StringRecord::new();
        while reader.read_record(&mut record).expect("record") {
            writer.write_record(&record).expect("row");
        }
        writer.into_inner().expect("flush").len()
    });
    let (ours, (rows, _)) = median(3, || {
        export_path(ExportFormat::Csv, |sink| feed_csv(&source[..], sink).expect("rows"))
    });
    assert_eq!(rows, rows_n as u64);
    print_ratio("csv source->file 1M x 8", (raw, ""), ("export path", ours, ""));

    // PDF: pages/s for 10,000 rows, against CSV of the same rows.
    let data = Table {
        columns: header(),
        rows: (0..10_000).map(row).collect(),
    };
    let body = data.inline_body();
    let (csv_time, _) = median(5, || {
        export_path(ExportFormat::Csv, |sink| feed_inline(&body, sink).expect("rows"))
    });
    let (pdf_time, (_, pdf_bytes)) = median(3, || {
        export_path(ExportFormat::Pdf, |sink| feed_inline(&body, sink).expect("rows"))
    });
    let pages = {
        let mut pdf = broker_worker::PdfExport::new(Some("Benchmark"), &data.columns).expect("pdf");
        for row in &data.rows {
            pdf.write_row(row).expect("row");
        }
        pdf.finish().expect("finish").pages
    };
    println!(
        "pdf 10k x 8: {pages} pages, {pdf_bytes} B in {:.0} ms = {:.0} pages/s | csv of the same rows {:.1} ms | pdf/csv time ratio {:.0}x",
        pdf_time.as_secs_f64() * 1e3,
        pages as f64 / pdf_time.as_secs_f64(),
        csv_time.as_secs_f64() * 1e3,
        pdf_time.as_secs_f64() / csv_time.as_secs_f64()
    );
}

/// A CSV source of `n` rows generated on the fly (never in memory as a whole).
struct GeneratedCsv {
    next: usize,
    n: usize,
    buffer: Vec<u8>,
    at: usize,
}

impl Read for GeneratedCsv {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.at == self.buffer.len() {
            self.buffer.clear();
            self.at = 0;
            if self.next == 0 {
                writeln!(self.buffer, "{}", header().join(","))?;
            }
            while self.next < self.n && self.buffer.len() < 64 * 1024 {
                let mut writer = csv::Writer::from_writer(&mut self.buffer);
                writer.write_record(row(self.next)).map_err(io::Error::other)?;
                writer.flush()?;
                drop(writer);
                self.next += 1;
            }
            if self.buffer.is_empty() {
                return Ok(0);
            }
        }
        let n = out.len().min(self.buffer.len() - self.at);
        out[..n].copy_from_slice(&self.buffer[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn rss(n: usize, format: ExportFormat) {
    let before = peak_rss_kib();
    let started = Instant::now();
    let (rows, bytes) = export_path(format, |sink| {
        feed_csv(
            GeneratedCsv {
                next: 0,
                n,
                buffer: Vec::new(),
                at: 0,
            },
            sink,
        )
        .expect("rows");
    });
    assert_eq!(rows, n as u64);
    println!(
        "rss {format:?} {n} rows: {bytes} B out in {:.1} s; peak RSS {:.1} MiB (before the export {:.1} MiB)",
        started.elapsed().as_secs_f64(),
        peak_rss_kib() as f64 / 1024.0,
        before as f64 / 1024.0
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    match args.first().map(String::as_str) {
        Some("rss") => {
            let n = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000);
            let format = if args.get(2).map(String::as_str) == Some("pdf") {
                ExportFormat::Pdf
            } else {
                ExportFormat::Csv
            };
            rss(n, format);
        }
        _ => throughput(),
    }
}
