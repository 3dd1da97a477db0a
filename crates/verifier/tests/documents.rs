//! Deep document checks on the generated corpus, through a reader as the
//! API uses them.

use std::io::{Cursor, Read, Seek, SeekFrom};

use broker_verifier::{Format, Limits, check_document, check_type, corpus};

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
    assert_eq!(
        check_document(Format::Zip, Cursor::new(&zip), &few_entries).map_err(|r| r.code()),
        Err("unsafe_content")
    );
    let tiny_total = Limits {
        zip_max_uncompressed: 10,
        ..Limits::default()
    };
    assert_eq!(
        check_document(Format::Zip, Cursor::new(&zip), &tiny_total).map_err(|r| r.code()),
        Err("unsafe_content")
    );
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
