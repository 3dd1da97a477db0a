//! Deep document checks on the generated corpus, through a reader as the
//! API uses them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::{Cursor, Read, Seek, SeekFrom};
use std::path::Path;
use std::process::Command;

use broker_verifier::{Format, Limits, check_document, check_document_stream, check_type, checks_in_one_pass, corpus};

fn check(format: Format, bytes: &[u8]) -> Result<(), &'static str> {
    check_document(format, Cursor::new(bytes), &Limits::default()).map_err(|r| r.code())
}

/// A reader that returns at most 5 bytes per read, so tokens straddle
/// every possible read boundary.
struct Trickle(Cursor<Vec<u8>>);

impl Read for Trickle {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(5);
        self.0.read(&mut buf[..n])
    }
}

impl Seek for Trickle {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.0.seek(pos)
    }
}

#[test]
fn valid_documents_pass_type_and_deep_checks() {
    for (format, bytes) in [
        (Format::Csv, corpus::csv_ok()),
        (Format::Json, corpus::json_ok()),
        (Format::Pdf, corpus::pdf_ok()),
        (Format::Zip, corpus::zip_ok()),
    ] {
        assert_eq!(check_type(format, &bytes), Ok(()), "{format:?}");
        assert_eq!(check(format, &bytes), Ok(()), "{format:?}");
        let trickled = check_document(format, Trickle(Cursor::new(bytes)), &Limits::default());
        assert_eq!(trickled, Ok(()), "{format:?} through a trickling reader");
    }
}

#[test]
fn csv_and_json_are_checked_in_one_pass_and_pdf_and_zip_are_not() {
    let limits = Limits::default();
    // A trickling reader that cannot seek, as a stream from the store.
    let stream = |bytes: Vec<u8>| Trickle(Cursor::new(bytes)).take(u64::MAX);
    let cases = [
        (Format::Csv, corpus::csv_ok(), Ok(())),
        (Format::Csv, corpus::csv_ragged(), Err("corrupt_file")),
        (Format::Csv, corpus::csv_not_utf8(), Err("corrupt_file")),
        (Format::Json, corpus::json_ok(), Ok(())),
        (Format::Json, corpus::json_malformed(), Err("corrupt_file")),
        (Format::Json, corpus::json_too_deep(65), Err("unsafe_content")),
    ];
    for (format, bytes, expected) in cases {
        assert!(checks_in_one_pass(format));
        assert_eq!(check(format, &bytes), expected, "{format:?} from a file");
        let streamed = check_document_stream(format, stream(bytes), &limits).map_err(|r| r.code());
        assert_eq!(streamed, expected, "{format:?} in one pass");
    }
    for (format, bytes) in [(Format::Pdf, corpus::pdf_ok()), (Format::Zip, corpus::zip_ok())] {
        assert!(!checks_in_one_pass(format));
        let streamed = check_document_stream(format, stream(bytes), &limits).map_err(|r| r.code());
        assert_eq!(streamed, Err("corrupt_file"), "{format:?} needs to seek");
    }
}

#[test]
fn csv_must_be_utf8_and_rectangular() {
    assert_eq!(
        check_type(Format::Csv, &corpus::csv_not_utf8()),
        Ok(()),
        "sniffed as CSV..."
    );
    assert_eq!(
        check(Format::Csv, &corpus::csv_not_utf8()),
        Err("corrupt_file"),
        "...refused as not UTF-8"
    );
    assert_eq!(check(Format::Csv, &corpus::csv_ragged()), Err("corrupt_file"));
}

#[test]
fn json_must_parse_and_stay_shallow() {
    assert_eq!(check(Format::Json, &corpus::json_malformed()), Err("corrupt_file"));
    assert_eq!(check(Format::Json, &corpus::json_too_deep(65)), Err("unsafe_content"));
    assert_eq!(check(Format::Json, &corpus::json_too_deep(64)), Ok(()));
    assert_eq!(
        check(Format::Json, &corpus::json_too_deep(1_000_000)),
        Err("unsafe_content")
    );
}

#[test]
fn pdf_active_content_is_refused() {
    for pdf in [
        corpus::pdf_with_javascript(),
        corpus::pdf_with_escaped_javascript(),
        corpus::pdf_with_launch(),
    ] {
        assert_eq!(check_type(Format::Pdf, &pdf), Ok(()));
        assert_eq!(check(Format::Pdf, &pdf), Err("unsafe_content"));
        let trickled = check_document(Format::Pdf, Trickle(Cursor::new(pdf)), &Limits::default());
        assert_eq!(trickled.map_err(|r| r.code()), Err("unsafe_content"));
    }
}

/// Runs `qpdf` with `args` then `input` (a PDF written to a temporary
/// file) and `output` when asked; returns whether it succeeded, its
/// messages, and the output file. A missing qpdf fails the test: scripts/test.sh
/// installs it.
fn qpdf(args: &[&str], input: &[u8], output: bool) -> (bool, String, Vec<u8>) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (in_path, out_path) = (dir.path().join("in.pdf"), dir.path().join("out.pdf"));
    std::fs::write(&in_path, input).expect("write the PDF");
    let mut command = Command::new("qpdf");
    command.args(args).arg(&in_path);
    if output {
        command.arg(&out_path);
    }
    let ran = command.output().unwrap_or_else(|e| {
        panic!("qpdf is required for this test and could not be run ({e}); install it (apt-get install qpdf)")
    });
    let messages = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );
    let written = if output { read_if_exists(&out_path) } else { Vec::new() };
    (ran.status.success(), messages, written)
}

fn read_if_exists(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

/// `qpdf --check` must find no error at all (exit 0, not 3 for warnings).
fn assert_qpdf_clean(pdf: &[u8]) {
    let (ok, messages, _) = qpdf(&["--check"], pdf, false);
    assert!(ok, "qpdf --check: {messages}");
}

/// The same document as qpdf writes it: objects in compressed object
/// streams, a cross-reference stream, compressed content streams.
fn qpdf_with_object_streams(pdf: &[u8]) -> Vec<u8> {
    let (ok, messages, written) = qpdf(&["--object-streams=generate", "--compress-streams=y"], pdf, true);
    assert!(ok, "qpdf: {messages}");
    assert!(
        memchr::memmem::find(&written, b"/ObjStm").is_some(),
        "qpdf wrote an object stream"
    );
    written
}

#[test]
fn pdf_rendition_behind_a_fake_filter_is_refused() {
    let poc = corpus::pdf_with_rendition_behind_fake_filter();
    assert_qpdf_clean(&poc);
    assert_eq!(check(Format::Pdf, &poc), Err("unsafe_content"));
    let rendition_only = String::from_utf8_lossy(&poc).replace("/JS (app.alert\\(1\\))", "");
    assert_eq!(check(Format::Pdf, rendition_only.as_bytes()), Err("unsafe_content"));
}

#[test]
fn pdf_object_streams_are_inflated_and_checked() {
    let clean = corpus::pdf_in_object_stream();
    let hostile = corpus::pdf_with_javascript_in_object_stream();
    assert_qpdf_clean(&clean);
    assert_qpdf_clean(&hostile);
    assert_eq!(check(Format::Pdf, &clean), Ok(()));
    assert_eq!(check(Format::Pdf, &hostile), Err("unsafe_content"));

    assert_eq!(check(Format::Pdf, &qpdf_with_object_streams(&corpus::pdf_ok())), Ok(()));
    // (qpdf drops unreferenced objects, so only fixtures whose action is
    // reachable from the catalog keep it.)
    for pdf in [
        corpus::pdf_with_rendition_behind_fake_filter(),
        corpus::pdf_with_javascript(),
    ] {
        let rewritten = qpdf_with_object_streams(&pdf);
        assert_eq!(check(Format::Pdf, &rewritten), Err("unsafe_content"));
    }
}

#[test]
fn pdfs_written_by_krilla_are_accepted() {
    use krilla::Document;
    use krilla::color::luma;
    use krilla::geom::{PathBuilder, Rect, Size};
    use krilla::metadata::Metadata;
    use krilla::num::NormalizedF32;
    use krilla::page::PageSettings;
    use krilla::paint::Fill;

    let mut document = Document::new();
    document.set_metadata(
        Metadata::new()
            .title("Export (1) of /JS stream".to_owned())
            .creator("broker-worker".to_owned()),
    );
    for level in [0, 128, 255] {
        let size = Size::from_wh(595.0, 842.0).expect("A4");
        let mut page = document.start_page_with(PageSettings::new(size));
        let mut surface = page.surface();
        let mut path = PathBuilder::new();
        path.push_rect(Rect::from_xywh(50.0, 50.0, 200.0, 100.0).expect("rectangle"));
        surface.set_fill(Some(Fill {
            paint: luma::Color::new(level).into(),
            opacity: NormalizedF32::ONE,
            rule: Default::default(),
        }));
        surface.draw_path(&path.finish().expect("path"));
        surface.finish();
        page.finish();
    }
    let pdf = document.finish().expect("krilla writes the PDF");
    assert!(
        memchr::memmem::find(&pdf, b"/FlateDecode").is_some(),
        "compressed streams"
    );
    assert_qpdf_clean(&pdf);
    assert_eq!(check(Format::Pdf, &pdf), Ok(()));
    assert_eq!(check(Format::Pdf, &qpdf_with_object_streams(&pdf)), Ok(()));
}

#[test]
fn pdf_active_content_split_across_read_blocks_is_found() {
    // Put "/JavaScript" across the scanner's 64 KiB block boundary.
    let padding_len = 64 * 1024 - 123;
    let padding = format!(
        "<< /Length {padding_len} >>\nstream\n{}\nendstream",
        "q".repeat(padding_len)
    );
    let mut pdf = corpus::pdf(&[b"<< /Type /Catalog >>", padding.as_bytes(), b"<< /S /JavaScript >>"]);
    assert_eq!(check(Format::Pdf, &pdf), Err("unsafe_content"));
    let at = memchr::memmem::find(&pdf, b"/JavaScript").expect("planted");
    assert!(at < 64 * 1024 && at + 11 > 64 * 1024, "straddles the boundary at {at}");
    let name = memchr::memmem::find(&pdf, b"JavaScript").expect("planted");
    pdf[name..name + 10].copy_from_slice(b"JavaScrapt");
    assert_eq!(
        check(Format::Pdf, &pdf),
        Ok(()),
        "control: same file without the name passes"
    );
}

#[test]
fn pdf_structure_is_checked() {
    assert_eq!(check(Format::Pdf, &corpus::pdf_without_trailer()), Err("corrupt_file"));
    assert_eq!(check(Format::Pdf, b"%PDX-1.4\n"), Err("corrupt_file"));
    assert_eq!(check(Format::Pdf, b""), Err("corrupt_file"));
}

#[test]
fn zip_paths_links_and_bombs_are_refused() {
    assert_eq!(check(Format::Zip, &corpus::zip_with_traversal()), Err("unsafe_content"));
    assert_eq!(
        check(Format::Zip, &corpus::zip_with_absolute_path()),
        Err("unsafe_content")
    );
    assert_eq!(check(Format::Zip, &corpus::zip_with_symlink()), Err("unsafe_content"));
    let bomb = corpus::zip_bomb();
    assert!(bomb.len() < 100 * 1024, "the bomb is small: {}", bomb.len());
    assert_eq!(check(Format::Zip, &bomb), Err("unsafe_content"));
}

#[test]
fn zip_with_a_lying_header_is_refused_by_inflating() {
    let liar = corpus::zip_lying_header();
    assert_eq!(check(Format::Zip, &liar), Err("corrupt_file"));
}

#[test]
fn zip_limits_apply() {
    let zip = corpus::zip_ok();
    let few_entries = Limits {
        zip_max_entries: 2,
        ..Limits::default()
    };
    let tiny_total = Limits {
        zip_max_uncompressed: 10,
        ..Limits::default()
    };
    for limits in [few_entries, tiny_total] {
        assert_eq!(
            check_document(Format::Zip, Cursor::new(&zip), &limits).map_err(|r| r.code()),
            Err("unsafe_content"),
            "{limits:?}"
        );
    }
}

#[test]
fn things_that_only_look_like_zips_are_corrupt() {
    let fake = corpus::fake_zip();
    assert_eq!(check_type(Format::Zip, &fake), Ok(()), "sniffed as ZIP by its magic...");
    assert_eq!(
        check(Format::Zip, &fake),
        Err("corrupt_file"),
        "...but has no central directory"
    );
    let mut prepended = b"GIF89a".to_vec();
    prepended.extend_from_slice(&corpus::zip_ok());
    assert_eq!(check(Format::Zip, &prepended), Err("corrupt_file"));
    let mut cut = corpus::zip_ok();
    cut.truncate(cut.len() - 10);
    assert_eq!(check(Format::Zip, &cut), Err("corrupt_file"));
}

#[test]
fn images_are_not_documents() {
    assert_eq!(check(Format::Jpeg, &corpus::jpeg(8, 8, 1)), Err("corrupt_file"));
}
