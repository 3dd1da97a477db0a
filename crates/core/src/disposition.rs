//! Safe `Content-Disposition` values and the filename record in object metadata.
//!
//! Filenames come from browsers, so they may hold quotes, CR/LF, slashes or any
//! Unicode. S3 metadata must be ASCII, so the original name is stored
//! percent-encoded; downloads then build an RFC 6266 header with an ASCII
//! fallback and an RFC 5987 `filename*`, so no byte of the name can inject a
//! header or escape the quoted string.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// RFC 5987 `attr-char` minus nothing: everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// The ASCII form stored in `x-amz-meta-filename`.
pub fn encode_filename(name: &str) -> String {
    utf8_percent_encode(name, ATTR_CHAR).to_string()
}

/// The original filename back from metadata; `None` if it was not ours.
pub fn decode_filename(stored: &str) -> Option<String> {
    percent_decode_str(stored).decode_utf8().ok().map(|c| c.into_owned())
}

/// `attachment; filename="ascii"; filename*=UTF-8''encoded`.
pub fn attachment(name: &str) -> String {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{}",
        encode_filename(name)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_cannot_break_out_of_the_header() {
        let header = attachment("a\"b\r\nSet-Cookie: x=1;.csv");
        assert!(!header.contains('\r') && !header.contains('\n'));
        assert_eq!(header.matches('"').count(), 2, "{header}");
        assert!(
            header.starts_with("attachment; filename=\"a_b__Set-Cookie: x=1;.csv\"; filename*=UTF-8''"),
            "{header}"
        );
    }

    #[test]
    fn unicode_names_round_trip_through_metadata() {
        let name = "Zoë's résumé 📄.pdf";
        let stored = encode_filename(name);
        assert!(stored.is_ascii());
        assert_eq!(decode_filename(&stored).as_deref(), Some(name));
        assert!(attachment(name).ends_with("filename*=UTF-8''Zo%C3%AB%27s%20r%C3%A9sum%C3%A9%20%F0%9F%93%84.pdf"));
    }
}
