//! Deep checks for documents, with memory bounded independently of file size.
//!
//! Documents can be gigabytes. CSV and JSON are checked in one pass over the
//! object as it streams from the store ([`check_document_stream`]); PDF and
//! ZIP need to seek, so the API spools them to a temporary file and hands
//! over a reader. Every check streams with fixed-size buffers (or, for ZIP,
//! the archive's central directory, whose entry count is capped before it is
//! read). Nothing holds the whole document in memory.

mod csv;
mod json;
mod pdf;
mod zip;

use std::io::{self, Read, Seek};

use crate::{Format, Limits, Rejection};

/// Proves a document is a well-formed, safe `format` file.
///
/// * CSV: UTF-8 with the same field count on every row.
/// * JSON: parses, nesting no deeper than `limits.json_max_depth` (deeper is
///   [`Rejection::UnsafeContent`], malformed is [`Rejection::CorruptFile`]).
/// * PDF: header, trailer, and no active content (refused, see `pdf.rs`).
/// * ZIP: consistent central directory, safe entry names, no bombs.
///
/// Image formats are not documents and are refused as corrupt: verify them
/// with [`check_image`](crate::check_image). Read errors from `reader` are
/// also reported as [`Rejection::CorruptFile`].
pub fn check_document<R: Read + Seek>(format: Format, reader: R, limits: &Limits) -> Result<(), Rejection> {
    match format {
        Format::Pdf => pdf::check(reader),
        Format::Zip => zip::check(reader, limits),
        _ => check_document_stream(format, reader, limits),
    }
}

/// Whether [`check_document_stream`] checks `format` (CSV and JSON): in one
/// pass, from a reader that cannot seek. PDF and ZIP need to seek.
pub fn checks_in_one_pass(format: Format) -> bool {
    matches!(format, Format::Csv | Format::Json)
}

/// [`check_document`] of CSV or JSON, in one pass over `reader` (a stream
/// straight from the store); any other format is refused as corrupt.
pub fn check_document_stream<R: Read>(format: Format, reader: R, limits: &Limits) -> Result<(), Rejection> {
    match format {
        Format::Csv => csv::check(reader),
        Format::Json => json::check(reader, limits.json_max_depth),
        Format::Pdf | Format::Zip => Err(Rejection::corrupt(format!(
            "{} is not checked in one pass; use check_document",
            format.mime()
        ))),
        Format::Jpeg | Format::Png | Format::WebP => Err(Rejection::corrupt(format!(
            "{} is an image, not a document; images are verified with check_image",
            format.mime()
        ))),
    }
}

fn read_error(error: &io::Error) -> Rejection {
    Rejection::corrupt(format!("the file could not be read: {error}"))
}
