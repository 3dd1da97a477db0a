//! Lossless metadata stripping for avatar images.
//!
//! Photos carry far more than pixels: camera make and model, capture time,
//! GPS position, editing history (XMP), captions and bylines (IPTC), embedded
//! thumbnails that may show the *uncropped* original, and sometimes arbitrary
//! bytes after the end of the image (polyglots: an image that is also HTML).
//!
//! Re-encoding would remove all of that but also degrades quality and is slow.
//! Instead each container is parsed by its length fields and rebuilt from
//! byte slices of the original: metadata segments/chunks are dropped, image
//! data is copied verbatim, so decoded pixels are identical. The one thing
//! kept from EXIF is a non-default Orientation, re-written as a minimal EXIF
//! block, so the photo still displays upright.
//!
//! Parsers are allow-lists: a segment or chunk survives only if it is known
//! to be needed to decode or colour-manage the image, and then only with the
//! bytes decoders read. A kept segment with room to spare (an oversized
//! Adobe APP14 or VP8X, animation frames in a still image) would otherwise
//! carry any text an uploader likes through stripping.
//!
//! ICC profiles are kept, since they define what the pixel values mean, up
//! to [`ICC_PROFILE_MAX`]; a larger profile is dropped (decoded pixel values
//! are unchanged, colour management falls back to sRGB). Their free-text tags
//! (`desc`, `cprt`, `dmnd`, `dmdd`) are kept as they are. Removing them means
//! rewriting the tag table and offsets, and invalidating the profile ID (an
//! MD5 of the profile). It would also stop byte-identical profiles from being
//! recognised (browsers and viewers shortcut known sRGB and Display P3
//! profiles by their bytes). In real files those tags name the colour space
//! or the device ("sRGB IEC61966-2.1", "Display P3"), not the person. An
//! uploader who wants to smuggle text through an image has the pixels anyway,
//! which lossless stripping must keep.

mod entropy;
mod exif_inspect;
mod exif_min;
mod jpeg;
mod png;
mod webp;

use crate::{Format, Rejection};

/// Largest ICC profile kept, in bytes. Common RGB profiles are 0.5 to 4 KiB,
/// camera and display profiles up to a few hundred KiB; CMYK press profiles
/// (FOGRA39, SWOP) are 0.5 to 1 MiB.
pub const ICC_PROFILE_MAX: usize = 1 << 20;

/// The result of [`strip_metadata`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stripped {
    /// The image without its metadata.
    pub bytes: Vec<u8>,
    /// What was removed, sorted and deduplicated.
    pub removed: Vec<Removed>,
}

/// A kind of metadata that was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Removed {
    /// An EXIF block (camera make/model, settings, maker notes, ...).
    Exif,
    /// A GPS position inside EXIF.
    Gps,
    /// An XMP packet (including extended XMP).
    Xmp,
    /// IPTC data (Photoshop APP13 or a raw IPTC text profile).
    Iptc,
    /// A free-text comment (JPEG COM).
    Comment,
    /// An embedded preview image (EXIF IFD1, JFIF/JFXX thumbnails).
    Thumbnail,
    /// Textual chunks (PNG tEXt/zTXt/iTXt).
    Text,
    /// Creation or modification time (EXIF DateTime*, PNG tIME).
    Timestamp,
    /// Bytes after the end of the image.
    TrailingData,
    /// Any other non-essential segment or chunk.
    Other,
}

impl Removed {
    /// Every kind, in sort order.
    pub const ALL: [Removed; 10] = [
        Removed::Exif,
        Removed::Gps,
        Removed::Xmp,
        Removed::Iptc,
        Removed::Comment,
        Removed::Thumbnail,
        Removed::Text,
        Removed::Timestamp,
        Removed::TrailingData,
        Removed::Other,
    ];

    /// Stable machine-readable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Removed::Exif => "exif",
            Removed::Gps => "gps",
            Removed::Xmp => "xmp",
            Removed::Iptc => "iptc",
            Removed::Comment => "comment",
            Removed::Thumbnail => "thumbnail",
            Removed::Text => "text",
            Removed::Timestamp => "timestamp",
            Removed::TrailingData => "trailing_data",
            Removed::Other => "other_metadata",
        }
    }
}

/// Removes metadata from an image without re-encoding it.
///
/// Fails with [`Rejection::CorruptFile`] when the container is malformed
/// (bad lengths, CRC errors, truncation) and [`Rejection::NotAnImage`] for
/// document formats.
pub fn strip_metadata(format: Format, bytes: &[u8]) -> Result<Stripped, Rejection> {
    match format {
        Format::Jpeg => jpeg::strip(bytes),
        Format::Png => png::strip(bytes),
        Format::WebP => webp::strip(bytes),
        other => Err(Rejection::NotAnImage(format!(
            "{} has no image metadata to strip",
            other.mime()
        ))),
    }
}

/// A set of [`Removed`] kinds; iterates in sort order without duplicates.
#[derive(Debug, Default, Clone, Copy)]
struct RemovedSet(u16);

impl RemovedSet {
    fn insert(&mut self, kind: Removed) {
        self.0 |= 1 << kind as u16;
    }

    fn into_vec(self) -> Vec<Removed> {
        Removed::ALL
            .into_iter()
            .filter(|&k| self.0 & (1 << k as u16) != 0)
            .collect()
    }
}

fn truncated(what: &str) -> Rejection {
    Rejection::corrupt(format!("the {what} is truncated"))
}

fn be_u16(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn be_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_set_is_sorted_and_deduplicated() {
        let mut set = RemovedSet::default();
        for kind in [
            Removed::Other,
            Removed::Gps,
            Removed::Exif,
            Removed::Gps,
            Removed::TrailingData,
        ] {
            set.insert(kind);
        }
        assert_eq!(
            set.into_vec(),
            [Removed::Exif, Removed::Gps, Removed::TrailingData, Removed::Other]
        );
    }

    #[test]
    fn removed_names_are_stable() {
        let names: Vec<_> = Removed::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "exif",
                "gps",
                "xmp",
                "iptc",
                "comment",
                "thumbnail",
                "text",
                "timestamp",
                "trailing_data",
                "other_metadata"
            ]
        );
        let mut sorted = Removed::ALL;
        sorted.sort();
        assert_eq!(sorted, Removed::ALL);
    }

    #[test]
    fn documents_cannot_be_stripped() {
        assert_eq!(
            strip_metadata(Format::Pdf, b"%PDF-1.4").map_err(|r| r.code()),
            Err("not_an_image")
        );
    }

    #[test]
    fn integer_readers_never_read_out_of_bounds() {
        assert_eq!(be_u16(&[1, 2], 0), Some(0x0102));
        assert_eq!(be_u16(&[1, 2], 1), None);
        assert_eq!(be_u32(&[0, 0, 1, 2], 0), Some(0x0102));
        assert_eq!(le_u32(&[2, 1, 0, 0], 0), Some(0x0102));
        assert_eq!(le_u32(&[2, 1, 0], 0), None);
        assert_eq!(be_u32(&[], usize::MAX), None);
    }
}
