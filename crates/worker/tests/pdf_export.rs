//! PDF reports checked with real tools: `qpdf --check` for structure and
//! `pdftotext` (poppler-utils) for what a reader would extract. Both are
//! required: a missing tool fails the test with an install hint.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::Write;
use std::process::Command;

use broker_worker::{PdfExport, PdfOutput, WriteError};

const INSTALL_HINT: &str = "install the PDF test tools: apt-get install -y qpdf poppler-utils";

fn run(tool: &str, args: &[&str], pdf: &[u8]) -> std::process::Output {
    let mut file = tempfile::Builder::new().suffix(".pdf").tempfile().expect("temp file");
    file.write_all(pdf).expect("write pdf");
    let path = file.path().to_str().expect("utf-8 temp path");
    let args: Vec<&str> = args.iter().map(|a| if *a == "{}" { path } else { a }).collect();
    match Command::new(tool).args(&args).output() {
        Ok(output) => output,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("`{tool}` is not installed: {INSTALL_HINT}")
        }
        Err(e) => panic!("running {tool}: {e}"),
    }
}

fn qpdf_check(pdf: &[u8]) {
    let out = run("qpdf", &["--check", "{}"], pdf);
    assert!(
        out.status.success(),
        "qpdf --check failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn qpdf_pages(pdf: &[u8]) -> usize {
    let out = run("qpdf", &["--show-npages", "{}"], pdf);
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("page count")
}

/// The text of each page, as pdftotext extracts it.
fn pages_text(pdf: &[u8]) -> Vec<String> {
    let out = run("pdftotext", &["-enc", "UTF-8", "{}", "-"], pdf);
    assert!(
        out.status.success(),
        "pdftotext failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 text");
    let mut pages: Vec<String> = text.split('\u{c}').map(str::to_owned).collect();
    if pages.last().is_some_and(|p| p.trim().is_empty()) {
        pages.pop();
    }
    pages
}

/// Page size and every word's right edge, from `pdftotext -bbox`.
fn word_boxes(pdf: &[u8]) -> (f32, f32, Vec<(String, f32)>) {
    let out = run("pdftotext", &["-bbox", "{}", "-"], pdf);
    assert!(out.status.success());
    let html = String::from_utf8(out.stdout).expect("utf-8 html");
    let attr = |tag: &str, name: &str| -> f32 {
        let key = format!("{name}=\"");
        let start = tag.find(&key).expect("attribute") + key.len();
        let end = start + tag[start..].find('"').expect("closing quote");
        tag[start..end].parse().expect("number")
    };
    let page = html.split("<page ").nth(1).expect("a page");
    let (width, height) = (attr(page, "width"), attr(page, "height"));
    let words = html
        .split("<word ")
        .skip(1)
        .map(|w| {
            let text = w[w.find('>').unwrap() + 1..w.find("</word>").unwrap()].to_owned();
            (text, attr(w, "xMax"))
        })
        .collect();
    (width, height, words)
}

fn report(title: Option<&str>, columns: &[&str], rows: &[Vec<String>]) -> PdfOutput {
    let mut pdf = PdfExport::new(title, columns).expect("new");
    for row in rows {
        pdf.write_row(row).expect("row");
    }
    assert_eq!(pdf.rows_written(), rows.len() as u64);
    pdf.finish().expect("finish")
}

fn numbered_rows(n: usize) -> Vec<Vec<String>> {
    (1..=n)
        .map(|i| {
            vec![
                format!("ROW-{i:05}"),
                format!("Customer {i}"),
                format!("{}.{:02}", i * 7 % 1000, i % 100),
            ]
        })
        .collect()
}

#[test]
fn accented_text_survives_extraction() {
    let rows = vec![
        vec!["1".into(), "Zoë Ångström café".into(), "naïve façade".into()],
        vec!["2".into(), "Œuvre — “quoted” ½ €".into(), "São Paulo".into()],
    ];
    let out = report(Some("Exports für Zoë"), &["#", "Name", "Städte"], &rows);
    qpdf_check(&out.bytes);
    assert_eq!(out.pages, 1);
    let pages = pages_text(&out.bytes);
    assert_eq!(pages.len(), 1);
    let text = &pages[0];
    for expected in [
        "Exports für Zoë",
        "Zoë Ångström café",
        "naïve façade",
        "Œuvre — “quoted” ½ €",
        "São Paulo",
        "Städte",
        "Page 1",
    ] {
        assert!(text.contains(expected), "{expected:?} missing from:\n{text}");
    }
}

#[test]
fn the_page_limit_stops_a_report_before_it_grows_past_it() {
    let columns = ["Reference", "Customer", "Amount"];
    let rows = numbered_rows(2_000);
    let pages = report(None, &columns, &rows).pages;
    assert!(pages > 3, "{pages} pages");

    // Exactly the limit: fine.
    let mut pdf = PdfExport::new(None, &columns).expect("new").with_max_pages(pages);
    for row in &rows {
        pdf.write_row(row).expect("row");
    }
    assert_eq!(pdf.finish().expect("finish").pages, pages);

    // One page fewer: refused while rows still come, not after the document is built.
    let mut pdf = PdfExport::new(None, &columns).expect("new").with_max_pages(2);
    let refused = rows
        .iter()
        .enumerate()
        .find_map(|(n, row)| pdf.write_row(row).err().map(|e| (n, e)));
    let Some((at, WriteError::TooManyPages { max: 2 })) = refused else {
        panic!("the third page was started: {refused:?}");
    };
    assert!(at < rows.len() / 2, "refused at row {at}");
}

#[test]
fn ten_thousand_rows_make_many_pages_with_header_and_numbers() {
    let rows = numbered_rows(10_000);
    let out = report(Some("Orders"), &["Reference", "Customer", "Amount"], &rows);
    qpdf_check(&out.bytes);
    assert!(out.pages > 100, "only {} pages", out.pages);
    assert_eq!(qpdf_pages(&out.bytes), out.pages);

    let pages = pages_text(&out.bytes);
    assert_eq!(pages.len(), out.pages);
    for (i, page) in pages.iter().enumerate() {
        for header in ["Orders", "Reference", "Customer", "Amount"] {
            assert!(page.contains(header), "page {} lacks {header:?}", i + 1);
        }
        assert!(
            page.contains(&format!("Page {}", i + 1)),
            "page {} lacks its number:\n{page}",
            i + 1
        );
    }
    // Every row is there exactly once, in order.
    let all = pages.concat();
    let mut from = 0;
    for i in 1..=10_000 {
        let needle = format!("ROW-{i:05}");
        let at = all[from..]
            .find(&needle)
            .unwrap_or_else(|| panic!("{needle} missing or out of order"));
        from += at + needle.len();
    }
}

#[test]
fn long_text_is_wrapped_or_ellipsised_inside_the_page() {
    let long = "lorem ipsum dolor sit amet consectetur ".repeat(40);
    let word = "x".repeat(500);
    let rows: Vec<Vec<String>> = (0..300)
        .map(|i| {
            vec![
                i.to_string(),
                long.clone(),
                word.clone(),
                "short".into(),
                format!("wrapped words alpha beta gamma delta {i}"),
            ]
        })
        .collect();
    let columns = ["n", "Notes", "Blob", "Tag", "More"];
    let out = report(None, &columns, &rows);
    qpdf_check(&out.bytes);
    let text = pages_text(&out.bytes).concat();
    assert!(text.contains('…'), "no ellipsis in output");
    assert!(text.contains("lorem ipsum dolor"));
    assert!(text.contains("short"));

    let (page_width, _, words) = word_boxes(&out.bytes);
    assert!(!words.is_empty());
    for (word, x_max) in &words {
        assert!(
            *x_max <= page_width - 36.0 + 0.5,
            "{word:?} ends at {x_max}, past the right margin of a {page_width}pt page"
        );
    }
}

#[test]
fn orientation_follows_table_width() {
    let narrow = report(
        None,
        &["a", "b"],
        &numbered_rows(3).iter().map(|r| r[..2].to_vec()).collect::<Vec<_>>(),
    );
    let (w, h, _) = word_boxes(&narrow.bytes);
    assert!(w < h, "two short columns should be portrait ({w}x{h})");

    let columns: Vec<String> = (1..=14).map(|i| format!("Column number {i}")).collect();
    let row: Vec<String> = (1..=14).map(|i| format!("value {i} with some text")).collect();
    let mut pdf = PdfExport::new(Some("Wide"), &columns).unwrap();
    pdf.write_row(&row).unwrap();
    let wide = pdf.finish().unwrap();
    qpdf_check(&wide.bytes);
    let (w, h, _) = word_boxes(&wide.bytes);
    assert!(w > h, "14 wide columns should be landscape ({w}x{h})");
}

#[test]
fn empty_report_has_one_page_with_header() {
    let out = report(Some("Nothing yet"), &["Only column"], &[]);
    qpdf_check(&out.bytes);
    assert_eq!(out.pages, 1);
    let pages = pages_text(&out.bytes);
    assert!(pages[0].contains("Only column"));
    assert!(pages[0].contains("Page 1"));
}

#[test]
fn rejects_bad_shapes() {
    let mut pdf = PdfExport::new(None, &["a", "b"]).unwrap();
    pdf.write_row(&["1", "2"]).unwrap();
    assert!(matches!(
        pdf.write_row(&["1"]),
        Err(WriteError::RowLength {
            expected: 2,
            got: 1,
            row: 2
        })
    ));
    assert_eq!(pdf.rows_written(), 1);
    qpdf_check(&pdf.finish().unwrap().bytes);

    let none: [&str; 0] = [];
    assert!(matches!(PdfExport::new(None, &none), Err(WriteError::NoColumns)));
    let many: Vec<String> = (0..100).map(|i| i.to_string()).collect();
    assert!(matches!(
        PdfExport::new(None, &many),
        Err(WriteError::TooManyColumns { columns: 100, .. })
    ));
}

#[test]
fn csv_exporter_can_move_between_threads() {
    // PdfExport is not Send (krilla's Document uses Rc internally): the
    // worker builds PDFs inside one blocking task. CSV can cross awaits.
    fn assert_send<T: Send>() {}
    assert_send::<broker_worker::CsvExport<Vec<u8>>>();
}
