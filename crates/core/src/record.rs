//! The object-metadata record: what an object says about itself in its
//! `x-amz-meta-*` fields.
//!
//! At signing, the POST policy (or the signed headers of a presigned PUT)
//! pins the record with exact conditions, so the store refuses an upload that
//! changes it: at completion, a HEAD returns a record of why the object was
//! signed that nobody could tamper with, and no database is needed. The
//! verified object carries the record on, plus what verification found.
//!
//! Free text (the browser's filename, the caller's subject) is stored
//! percent-encoded, because S3 metadata must be ASCII; [`ObjectRecord`]
//! encodes and decodes it, so no caller handles the stored form.

use std::collections::HashMap;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// The `x-amz-meta-*` names, without the prefix.
pub mod field {
    /// The upload profile it was signed for.
    pub const PROFILE: &str = "profile";
    /// The tenant it was signed for.
    pub const TENANT: &str = "tenant";
    /// The browser's original file name (percent-encoded).
    pub const FILENAME: &str = "filename";
    /// Who signed it (percent-encoded): only they may complete it.
    pub const SUBJECT: &str = "subject";
    /// SHA-256 of the verified bytes, lowercase hex.
    pub const SHA256: &str = "sha256";
    /// What stripping removed, comma-separated.
    pub const REMOVED: &str = "removed";
    /// A nonce of the completion that wrote the served object, so a write
    /// retried after it landed can tell its own object from another's.
    pub const COMPLETION: &str = "completion";
}

/// A SHA-256 digest as a client declares it and the record stores it:
/// 64 hex digits, kept lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sha256Digest(String);

/// Why a declared SHA-256 was refused (the value itself is not repeated).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sha256 must be the file's SHA-256 as 64 hex digits (got {len} characters{})", if *.hex { "" } else { ", not all hex digits" })]
pub struct InvalidDigest {
    len: usize,
    hex: bool,
}

impl Sha256Digest {
    /// Parses 64 hex digits (either case).
    pub fn parse(raw: &str) -> Result<Self, InvalidDigest> {
        let hex = raw.bytes().all(|b| b.is_ascii_hexdigit());
        if raw.len() != 64 || !hex {
            return Err(InvalidDigest {
                len: raw.chars().count(),
                hex,
            });
        }
        Ok(Sha256Digest(raw.to_ascii_lowercase()))
    }

    /// The lowercase hex form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// RFC 5987 `attr-char`: everything else is percent-encoded, so a stored
/// value is also safe in a `filename*` parameter.
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

/// Free text as stored in metadata (ASCII, percent-encoded UTF-8).
pub fn encode_text(text: &str) -> String {
    utf8_percent_encode(text, ATTR_CHAR).to_string()
}

/// Free text back from metadata; `None` if it is not what [`encode_text`] wrote.
pub fn decode_text(stored: &str) -> Option<String> {
    percent_decode_str(stored).decode_utf8().ok().map(|c| c.into_owned())
}

/// An object's record; every field is optional because a HEAD may find an
/// object that was not written by the broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectRecord {
    pub profile: Option<String>,
    pub tenant: Option<String>,
    pub filename: Option<String>,
    pub subject: Option<String>,
    pub sha256: Option<String>,
    /// Empty when nothing was removed (or nothing was recorded).
    pub removed: Vec<String>,
    /// Set on served objects: which completion wrote it ([`field::COMPLETION`]).
    pub completion: Option<String>,
}

impl ObjectRecord {
    /// The record an upload is signed with: pinned by the policy, so the store
    /// refuses an object without exactly these values.
    pub fn signed(profile: &str, tenant: &str, filename: &str, subject: &str) -> Self {
        ObjectRecord {
            profile: Some(profile.to_owned()),
            tenant: Some(tenant.to_owned()),
            filename: Some(filename.to_owned()),
            subject: Some(subject.to_owned()),
            ..ObjectRecord::default()
        }
    }

    /// Reads the record from a HEAD's metadata (names without the prefix).
    pub fn from_metadata(metadata: &HashMap<String, String>) -> Self {
        let text = |name: &str| metadata.get(name).and_then(|v| decode_text(v));
        let plain = |name: &str| metadata.get(name).cloned();
        ObjectRecord {
            profile: plain(field::PROFILE),
            tenant: plain(field::TENANT),
            filename: text(field::FILENAME),
            subject: text(field::SUBJECT),
            sha256: plain(field::SHA256),
            removed: metadata
                .get(field::REMOVED)
                .map(|r| r.split(',').filter(|r| !r.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
            completion: plain(field::COMPLETION),
        }
    }

    /// The `x-amz-meta-*` pairs (names without the prefix, ASCII values) of
    /// every field that is set, in a stable order.
    pub fn to_metadata(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::with_capacity(7);
        let mut push = |name, value: Option<String>| {
            if let Some(value) = value {
                pairs.push((name, value));
            }
        };
        push(field::PROFILE, self.profile.clone());
        push(field::TENANT, self.tenant.clone());
        push(field::FILENAME, self.filename.as_deref().map(encode_text));
        push(field::SUBJECT, self.subject.as_deref().map(encode_text));
        push(field::SHA256, self.sha256.clone());
        push(field::COMPLETION, self.completion.clone());
        if !self.removed.is_empty() {
            pairs.push((field::REMOVED, self.removed.join(",")));
        }
        pairs
    }

    /// The record of an upload signed with the client's SHA-256 of the file.
    pub fn with_sha256(mut self, sha256: Option<&Sha256Digest>) -> Self {
        self.sha256 = sha256.map(|d| d.as_str().to_owned());
        self
    }

    /// Whether `subject` signed this object.
    pub fn signed_by(&self, subject: &str) -> bool {
        self.subject.as_deref() == Some(subject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_round_trips_through_ascii() {
        for name in [
            "plain.txt",
            "ünïcødé 写真.jpg",
            "quote\" and\r\nnewline.png",
            "a/b\\c.csv",
            "%41.pdf",
        ] {
            let stored = encode_text(name);
            assert!(
                stored.is_ascii() && !stored.contains(['"', '\r', '\n', '/', '\\', ' ']),
                "{stored}"
            );
            assert_eq!(decode_text(&stored).as_deref(), Some(name));
        }
    }

    #[test]
    fn the_record_round_trips_through_metadata() {
        let mut record = ObjectRecord::signed("avatar", "acme", "my photo.jpg", "apikey:billing\nx");
        record.sha256 = Some("ab".repeat(32));
        record.removed = vec!["exif".into(), "gps".into()];
        record.completion = Some("0193c0de".into());
        let metadata: HashMap<String, String> = record
            .to_metadata()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        assert!(metadata.values().all(|v| v.is_ascii() && !v.contains('\n')));
        assert_eq!(ObjectRecord::from_metadata(&metadata), record);
        assert!(record.signed_by("apikey:billing\nx"));
        assert!(!record.signed_by("apikey:billing"));
    }

    #[test]
    fn a_declared_sha256_is_64_hex_digits_kept_lowercase() {
        let upper = "AB".repeat(32);
        let digest = Sha256Digest::parse(&upper).expect("hex");
        assert_eq!(digest.as_str(), "ab".repeat(32));
        for bad in [
            "",
            "ab",
            &"ab".repeat(33),
            &format!("{}zz", "ab".repeat(31)),
            &"é".repeat(32),
        ] {
            let err = Sha256Digest::parse(bad).expect_err(bad);
            assert!(err.to_string().starts_with("sha256 must be"), "{err}");
        }
        let record = ObjectRecord::signed("document", "acme", "a.csv", "s").with_sha256(Some(&digest));
        assert_eq!(record.sha256.as_deref(), Some(digest.as_str()));
    }

    #[test]
    fn a_foreign_object_has_an_empty_record() {
        let record = ObjectRecord::from_metadata(&HashMap::new());
        assert_eq!(record, ObjectRecord::default());
        assert!(record.to_metadata().is_empty());
        assert!(!record.signed_by(""));
    }
}
