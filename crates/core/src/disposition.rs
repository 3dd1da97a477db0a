//! Safe `Content-Disposition` values.
//!
//! Filenames come from browsers, so they may hold quotes, CR/LF, slashes or any
//! Unicode. S3 metadata must be ASCII, so the original name is stored
//! percent-encoded; downloads then build an RFC 6266 header with an ASCII
//! fallback and an RFC 5987 `filename*`, so no byte of the name can inject a
//! header or escape the quoted string.

use crate::record::encode_text;

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
        encode_text(name)
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
    fn unicode_names_are_percent_encoded_in_filename_star() {
        let name = "Zoë's résumé 📄.pdf";
        assert!(attachment(name).ends_with("filename*=UTF-8''Zo%C3%AB%27s%20r%C3%A9sum%C3%A9%20%F0%9F%93%84.pdf"));
    }
}
