//! The closed set of file types an upload profile can allow.
//!
//! A profile names its type by MIME string; this is the one place that maps
//! between those strings, file extensions and the verifier's own notion of a
//! type, so the API and the verifier can never disagree about what "JPEG" is.

/// A file type the broker accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Jpeg,
    Png,
    WebP,
    Csv,
    Json,
    Pdf,
    Zip,
}

impl Format {
    /// Every format, in declaration order.
    pub const ALL: [Format; 7] = [
        Format::Jpeg,
        Format::Png,
        Format::WebP,
        Format::Csv,
        Format::Json,
        Format::Pdf,
        Format::Zip,
    ];

    /// The canonical MIME type.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Jpeg => "image/jpeg",
            Format::Png => "image/png",
            Format::WebP => "image/webp",
            Format::Csv => "text/csv",
            Format::Json => "application/json",
            Format::Pdf => "application/pdf",
            Format::Zip => "application/zip",
        }
    }

    /// Parses a MIME type, ignoring case, surrounding blanks and parameters
    /// (`text/csv; charset=utf-8`). Accepts the aliases browsers really send
    /// (`image/jpg`, `application/x-zip-compressed` from Windows).
    pub fn from_mime(m: &str) -> Option<Format> {
        let essence = m.split(';').next().unwrap_or_default().trim();
        let is = |name: &str| essence.eq_ignore_ascii_case(name);
        if is("image/jpeg") || is("image/jpg") {
            Some(Format::Jpeg)
        } else if is("image/png") {
            Some(Format::Png)
        } else if is("image/webp") {
            Some(Format::WebP)
        } else if is("text/csv") {
            Some(Format::Csv)
        } else if is("application/json") {
            Some(Format::Json)
        } else if is("application/pdf") {
            Some(Format::Pdf)
        } else if is("application/zip") || is("application/x-zip-compressed") {
            Some(Format::Zip)
        } else {
            None
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "jpg",
            Format::Png => "png",
            Format::WebP => "webp",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Pdf => "pdf",
            Format::Zip => "zip",
        }
    }

    /// Whether the format is a raster image (verified with `check_image`,
    /// stripped with `strip_metadata`) rather than a document.
    pub fn is_image(self) -> bool {
        matches!(self, Format::Jpeg | Format::Png | Format::WebP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_round_trips_for_every_format() {
        for f in Format::ALL {
            assert_eq!(Format::from_mime(f.mime()), Some(f));
        }
    }

    #[test]
    fn from_mime_tolerates_case_parameters_and_aliases() {
        assert_eq!(Format::from_mime(" Text/CSV; charset=utf-8"), Some(Format::Csv));
        assert_eq!(Format::from_mime("image/jpg"), Some(Format::Jpeg));
        assert_eq!(Format::from_mime("application/x-zip-compressed"), Some(Format::Zip));
        assert_eq!(Format::from_mime("image/gif"), None);
        assert_eq!(Format::from_mime("text/html"), None);
        assert_eq!(Format::from_mime(""), None);
    }

    #[test]
    fn only_raster_formats_are_images() {
        let images: Vec<_> = Format::ALL.into_iter().filter(|f| f.is_image()).collect();
        assert_eq!(images, [Format::Jpeg, Format::Png, Format::WebP]);
    }
}
