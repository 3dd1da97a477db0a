//! Completion verifier for the presigned-upload broker.
//!
//! Browsers upload straight to object storage, so nothing the browser *said*
//! about a file (its name, its `Content-Type`) can be trusted. When an upload
//! is completed the API hands the stored object to this crate, which proves by
//! content alone that it is what its upload profile allows:
//!
//! 1. [`check_type`] sniffs the leading bytes ([`SNIFF_LEN`]) and compares the
//!    real type with the type the upload was signed for.
//! 2. [`check_image`] reads image dimensions from the header first (refusing
//!    decompression bombs without allocating), then fully decodes under
//!    `image::Limits` to prove the pixels are real. [`verify_image`] does the
//!    same and returns the stripped copy of step 3, stripped while it decodes.
//! 3. [`strip_metadata`] removes EXIF/GPS/XMP/IPTC/comments/thumbnails and any
//!    trailing bytes from avatar images *losslessly*: segments are dropped or
//!    copied byte for byte, the pixels are never re-encoded.
//! 4. [`check_document`] runs deep, streamed checks on documents (CSV, JSON,
//!    PDF, ZIP) with memory bounded independently of the file size; CSV and
//!    JSON also in one pass over a stream ([`check_document_stream`]).
//!
//! Every failure is a [`Rejection`] whose [`Rejection::code`] is stable and
//! meant for API clients. No input can make this crate panic.
//!
//! Modules: `format` ([`Format`], the closed set of types), `sniff`,
//! `image_check`, `strip`, `document` (one per step above), `limits`
//! ([`Limits`]), `rejection` ([`Rejection`]), and `corpus` (generated good
//! and hostile files for tests, behind the `corpus` feature).

mod document;
mod format;
mod image_check;
mod limits;
mod rejection;
mod sniff;
mod strip;

#[cfg(any(test, feature = "corpus"))]
pub mod corpus;

pub use document::{check_document, check_document_stream, checks_in_one_pass};
pub use format::Format;
pub use image_check::{ImageInfo, VerifiedImage, check_image, verify_image, verify_image_with};
pub use limits::Limits;
pub use rejection::Rejection;
pub use sniff::{SNIFF_LEN, check_type, detect};
pub use strip::{ICC_PROFILE_MAX, Removed, Stripped, strip_metadata};
