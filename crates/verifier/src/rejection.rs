//! Why a file was refused.
//!
//! Each variant has a stable machine code (see [`Rejection::code`]) for API
//! clients and a human message (`Display`) for people. Messages never echo
//! attacker-controlled bytes such as archive entry names.

use crate::Format;

/// A verification failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The content is another type than the one the upload was signed for.
    /// `found` is `None` when the content is no type the broker knows.
    #[error("the file is {}, but the upload was for {}", describe(.found), .expected.mime())]
    TypeMismatch { expected: Format, found: Option<Format> },
    /// An image was expected and the content is not an image at all.
    #[error("the file is not an image: {0}")]
    NotAnImage(String),
    /// The image is larger than the limits allow.
    #[error("the image is {width}x{height} pixels, which is larger than allowed")]
    DimensionsTooLarge { width: u32, height: u32 },
    /// The content claims a type but is not a valid file of that type.
    #[error("the file is damaged or malformed: {0}")]
    CorruptFile(String),
    /// The content is valid but dangerous (active content, path traversal,
    /// decompression bomb, ...).
    #[error("the file contains unsafe content: {0}")]
    UnsafeContent(String),
}

impl Rejection {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::TypeMismatch { .. } => "type_mismatch",
            Rejection::NotAnImage(_) => "not_an_image",
            Rejection::DimensionsTooLarge { .. } => "dimensions_too_large",
            Rejection::CorruptFile(_) => "corrupt_file",
            Rejection::UnsafeContent(_) => "unsafe_content",
        }
    }

    pub(crate) fn corrupt(why: impl Into<String>) -> Rejection {
        Rejection::CorruptFile(why.into())
    }

    pub(crate) fn unsafe_content(why: impl Into<String>) -> Rejection {
        Rejection::UnsafeContent(why.into())
    }
}

fn describe(found: &Option<Format>) -> String {
    match found {
        Some(f) => f.mime().to_owned(),
        None => "of an unsupported or unrecognised type".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        let cases = [
            (
                Rejection::TypeMismatch {
                    expected: Format::Jpeg,
                    found: Some(Format::Png),
                },
                "type_mismatch",
            ),
            (Rejection::NotAnImage("html".into()), "not_an_image"),
            (
                Rejection::DimensionsTooLarge { width: 1, height: 2 },
                "dimensions_too_large",
            ),
            (Rejection::corrupt("x"), "corrupt_file"),
            (Rejection::unsafe_content("x"), "unsafe_content"),
        ];
        for (rejection, code) in cases {
            assert_eq!(rejection.code(), code);
        }
    }

    #[test]
    fn messages_are_human() {
        let r = Rejection::TypeMismatch {
            expected: Format::Jpeg,
            found: Some(Format::Png),
        };
        assert_eq!(
            r.to_string(),
            "the file is image/png, but the upload was for image/jpeg"
        );
        let r = Rejection::TypeMismatch {
            expected: Format::Csv,
            found: None,
        };
        assert_eq!(
            r.to_string(),
            "the file is of an unsupported or unrecognised type, but the upload was for text/csv"
        );
        let r = Rejection::DimensionsTooLarge {
            width: 30000,
            height: 30000,
        };
        assert_eq!(
            r.to_string(),
            "the image is 30000x30000 pixels, which is larger than allowed"
        );
    }
}
