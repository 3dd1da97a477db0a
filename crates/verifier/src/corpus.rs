//! A generated corpus of good and hostile files, for tests and benchmarks.
//!
//! Everything is built in code, deterministically: real images are encoded
//! with the `image` crate, then metadata segments and chunks are spliced in by
//! hand; documents and archives are written from scratch. Nothing hostile is
//! shipped as a binary. Enabled with the `corpus` feature (off by default) so
//! the API crate's tests can reuse the same fixtures.
//!
//! The `SECRET_*` strings are planted in metadata so tests can prove they are
//! gone after stripping by searching the output bytes.
//!
//! [`alloc`] is a counting global allocator, for the tests and the fuzzer
//! that measure the peak heap use of a check.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

pub mod alloc;
mod documents;
mod images;

pub use documents::*;
pub use images::*;

/// Camera make planted in EXIF.
pub const SECRET_MAKE: &str = "SpyCam Industries";
/// Camera model planted in EXIF.
pub const SECRET_MODEL: &str = "Snoop-3000";
/// Capture time planted in EXIF.
pub const SECRET_DATETIME: &str = "2024:05:01 12:34:56";
/// Text planted in XMP packets.
pub const SECRET_XMP: &str = "xmp-secret-author";
/// Text planted in IPTC.
pub const SECRET_IPTC: &str = "iptc-secret-byline";
/// Text planted in comments and PNG text chunks.
pub const SECRET_COMMENT: &str = "comment-secret";
/// Script appended after the end of an image.
pub const TRAILING_SCRIPT: &str = "<script>alert(document.cookie)</script>";

/// A zlib stream holding `data`, deflated.
pub fn zlib(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("deflate in memory");
    encoder.finish().expect("deflate in memory")
}

/// Deterministic xorshift64 bytes.
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
