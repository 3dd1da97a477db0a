//! Content sniffing: the real type of a file from its leading bytes.
//!
//! Binary formats are recognised by their magic numbers (via `infer`), never by
//! name or declared header. `infer` has no answer for CSV or JSON, so text is
//! classified here: text whose first non-blank byte is `{` or `[` is a JSON
//! candidate, other plain text a CSV candidate, and text that looks like
//! markup or a script (HTML, XML, SVG, `#!`) is nothing we accept, because
//! serving it back could run in a browser. A candidate is only a candidate:
//! the deep checks in `check_document` prove it parses.

use crate::{Format, Rejection};

/// How many leading bytes [`detect`] and [`check_type`] look at. Passing more
/// is harmless (the rest is ignored); passing fewer weakens text detection.
pub const SNIFF_LEN: usize = 8192;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Tags whose presence in a text head means "markup", not data.
const MARKUP: [&[u8]; 14] = [
    b"<!doctype",
    b"<html",
    b"<head",
    b"<body",
    b"<script",
    b"<iframe",
    b"<svg",
    b"<?xml",
    b"<object",
    b"<embed",
    b"<style",
    b"<meta",
    b"<link",
    b"<!--",
];

/// The real type of a file from its leading bytes, or `None` when it is no
/// type the broker accepts (including HTML/XML/SVG/script-looking text).
pub fn detect(head: &[u8]) -> Option<Format> {
    let head = &head[..head.len().min(SNIFF_LEN)];
    if infer::image::is_jpeg(head) {
        Some(Format::Jpeg)
    } else if infer::image::is_png(head) {
        Some(Format::Png)
    } else if head.starts_with(b"RIFF") && infer::image::is_webp(head) {
        Some(Format::WebP)
    } else if head.starts_with(b"%PDF-") {
        // `infer` accepts "%PDF" anywhere in the first KiB; a PDF we accept
        // must start with its header so it cannot be a polyglot.
        Some(Format::Pdf)
    } else if infer::archive::is_zip(head) {
        Some(Format::Zip)
    } else {
        classify_text(head)
    }
}

/// `Ok` when the real type of `head` is `signed_for`.
///
/// Otherwise [`Rejection::NotAnImage`] when an image was expected and the
/// bytes are no image at all (HTML declared as JPEG), else
/// [`Rejection::TypeMismatch`] (a PNG declared as JPEG, a GIF, a PDF declared
/// as CSV, ...).
pub fn check_type(signed_for: Format, head: &[u8]) -> Result<(), Rejection> {
    let found = detect(head);
    if found == Some(signed_for) {
        return Ok(());
    }
    let found_image = found.is_some_and(Format::is_image)
        || infer::get(head).is_some_and(|t| t.matcher_type() == infer::MatcherType::Image);
    if signed_for.is_image() && !found_image {
        let what = match found {
            Some(f) => format!("the content is {}", f.mime()),
            None if head.is_empty() => "the file is empty".to_owned(),
            None => "the content is unrecognised data or markup".to_owned(),
        };
        return Err(Rejection::NotAnImage(what));
    }
    Err(Rejection::TypeMismatch {
        expected: signed_for,
        found,
    })
}

fn classify_text(head: &[u8]) -> Option<Format> {
    let body = head.strip_prefix(UTF8_BOM).unwrap_or(head);
    // Any C0 control other than tab, LF, FF and CR (or DEL) means binary.
    // Bytes >= 0x80 are allowed here: the encoding is proven (UTF-8 or
    // refused as corrupt) by the deep check, which gives a better answer
    // than "unknown type" for a Latin-1 CSV.
    if body
        .iter()
        .any(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | 0x0C | b'\r')) || b == 0x7F)
    {
        return None;
    }
    let first = *body.iter().find(|b| !b.is_ascii_whitespace())?;
    match first {
        b'{' | b'[' => Some(Format::Json),
        b'<' => None,
        _ if body.starts_with(b"#!") || looks_like_markup(body) => None,
        _ => Some(Format::Csv),
    }
}

fn looks_like_markup(text: &[u8]) -> bool {
    memchr::memchr_iter(b'<', text).any(|at| {
        let rest = &text[at..];
        MARKUP
            .iter()
            .any(|tag| rest.get(..tag.len()).is_some_and(|p| p.eq_ignore_ascii_case(tag)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers_win_over_declared_names() {
        assert_eq!(detect(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Some(Format::Jpeg));
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n"), Some(Format::Png));
        assert_eq!(detect(b"RIFF\x10\0\0\0WEBPVP8L"), Some(Format::WebP));
        assert_eq!(detect(b"%PDF-1.7\n"), Some(Format::Pdf));
        assert_eq!(detect(b"PK\x03\x04\x14\0"), Some(Format::Zip));
        assert_eq!(detect(b"GIF89a\x01\0\x01\0"), None);
    }

    #[test]
    fn text_is_json_or_csv_by_first_non_blank_byte() {
        assert_eq!(detect(b"  \n{\"a\": 1}"), Some(Format::Json));
        assert_eq!(detect(b"\xEF\xBB\xBF[1,2]"), Some(Format::Json));
        assert_eq!(detect(b"name,age\nann,3\n"), Some(Format::Csv));
        assert_eq!(detect("caf\u{e9},1\n".as_bytes()), Some(Format::Csv));
        assert_eq!(
            detect(b"caf\xE9,1\n"),
            Some(Format::Csv),
            "encoding is judged by the deep check"
        );
    }

    #[test]
    fn markup_scripts_and_binary_are_nothing() {
        assert_eq!(detect(b"<!DOCTYPE html><html></html>"), None);
        assert_eq!(detect(b"  <svg xmlns='http://www.w3.org/2000/svg'/>"), None);
        assert_eq!(detect(b"a,b\n1,<SCRIPT>alert(1)</script>\n"), None);
        assert_eq!(detect(b"#!/bin/sh\nrm -rf /\n"), None);
        assert_eq!(detect(b"a,b\0c"), None);
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b" \n\t "), None);
        assert_eq!(detect(b"a < b,1\n"), Some(Format::Csv), "a lone '<' is not markup");
    }

    #[test]
    fn check_type_distinguishes_not_an_image_from_mismatch() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR";
        assert_eq!(
            check_type(Format::Jpeg, png),
            Err(Rejection::TypeMismatch {
                expected: Format::Jpeg,
                found: Some(Format::Png)
            })
        );
        let gif = b"GIF89a\x01\0\x01\0\0\0\0";
        assert_eq!(check_type(Format::Png, gif).map_err(|r| r.code()), Err("type_mismatch"));
        let html = b"<html><script>alert(1)</script></html>";
        assert_eq!(
            check_type(Format::Jpeg, html).map_err(|r| r.code()),
            Err("not_an_image")
        );
        assert_eq!(check_type(Format::Jpeg, b"").map_err(|r| r.code()), Err("not_an_image"));
        assert_eq!(
            check_type(Format::Csv, b"%PDF-1.4\n"),
            Err(Rejection::TypeMismatch {
                expected: Format::Csv,
                found: Some(Format::Pdf)
            })
        );
        assert_eq!(check_type(Format::Csv, b"a,b\n"), Ok(()));
    }

    #[test]
    fn only_the_sniff_window_is_considered() {
        let mut head = b"a,b\n".repeat(SNIFF_LEN);
        head.extend_from_slice(b"<script>");
        assert_eq!(detect(&head), Some(Format::Csv));
    }
}
