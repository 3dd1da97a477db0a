//! The one table of file types the broker knows: each type's MIME type and
//! the extension its objects are stored under.
//!
//! Profiles allow some of these types, staging and served keys end with
//! their extension (so a key says its type), and export sources are told
//! apart by it. The verifier has its own `Format` for the same types, since
//! it must not depend on this crate; a test in the API crate, which sees
//! both, proves they agree.

/// A file type: its canonical MIME type (lowercase, no parameters) and the
/// extension its objects are stored under.
#[derive(Debug, PartialEq, Eq)]
pub struct ContentType {
    pub mime: &'static str,
    pub extension: &'static str,
}

impl ContentType {
    const fn new(mime: &'static str, extension: &'static str) -> Self {
        ContentType { mime, extension }
    }
}

pub static JPEG: ContentType = ContentType::new("image/jpeg", "jpg");
pub static PNG: ContentType = ContentType::new("image/png", "png");
pub static WEBP: ContentType = ContentType::new("image/webp", "webp");
pub static CSV: ContentType = ContentType::new("text/csv", "csv");
pub static JSON: ContentType = ContentType::new("application/json", "json");
pub static PDF: ContentType = ContentType::new("application/pdf", "pdf");
pub static ZIP: ContentType = ContentType::new("application/zip", "zip");

/// Every type, once.
pub static CONTENT_TYPES: [&ContentType; 7] = [&JPEG, &PNG, &WEBP, &CSV, &JSON, &PDF, &ZIP];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn mime_types_and_extensions_are_unique_and_canonical() {
        let mimes: HashSet<_> = CONTENT_TYPES.iter().map(|t| t.mime).collect();
        let extensions: HashSet<_> = CONTENT_TYPES.iter().map(|t| t.extension).collect();
        assert_eq!(
            (mimes.len(), extensions.len()),
            (CONTENT_TYPES.len(), CONTENT_TYPES.len())
        );
        for t in CONTENT_TYPES {
            assert_eq!(t.mime, t.mime.to_ascii_lowercase());
            assert!(!t.mime.contains(';') && t.extension.bytes().all(|b| b.is_ascii_lowercase()));
        }
    }
}
