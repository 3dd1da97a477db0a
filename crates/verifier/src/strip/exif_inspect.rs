//! What an EXIF block being removed contained.
//!
//! The block is dropped whatever it holds; parsing it (with kamadak-exif) only
//! serves to report *what* was removed (GPS, thumbnail, timestamps) and to
//! recover the Orientation worth keeping. A block kamadak-exif cannot parse is
//! still removed, and its orientation is taken to be the default.

use exif::{Context, In, Reader, Tag};

use super::{Removed, RemovedSet};

/// Records what `tiff` (a TIFF structure, without the `Exif\0\0` prefix)
/// contained and returns its Orientation when it is a valid non-default
/// value (2..=8).
pub(super) fn inspect(tiff: &[u8], removed: &mut RemovedSet) -> Option<u16> {
    removed.insert(Removed::Exif);
    let mut reader = Reader::new();
    reader.continue_on_error(true);
    let exif = match reader.read_raw(tiff.to_vec()) {
        Ok(exif) => exif,
        Err(error) => error.distill_partial_result(|_| {}).ok()?,
    };
    for field in exif.fields() {
        if field.tag.context() == Context::Gps || field.tag == Tag::GPSInfoIFDPointer {
            removed.insert(Removed::Gps);
        }
        if field.ifd_num == In::THUMBNAIL {
            removed.insert(Removed::Thumbnail);
        }
        if matches!(
            field.tag,
            Tag::DateTime | Tag::DateTimeOriginal | Tag::DateTimeDigitized
        ) {
            removed.insert(Removed::Timestamp);
        }
    }
    let orientation = exif.get_field(Tag::Orientation, In::PRIMARY)?.value.get_uint(0)?;
    u16::try_from(orientation).ok().filter(|o| (2..=8).contains(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_still_reported_as_exif_with_default_orientation() {
        let mut removed = RemovedSet::default();
        assert_eq!(inspect(b"not a tiff at all", &mut removed), None);
        assert_eq!(removed.into_vec(), [Removed::Exif]);
    }

    #[test]
    fn orientation_is_recovered() {
        let mut removed = RemovedSet::default();
        assert_eq!(
            inspect(&crate::strip::exif_min::orientation_tiff(6), &mut removed),
            Some(6)
        );
        assert_eq!(
            inspect(&crate::strip::exif_min::orientation_tiff(1), &mut removed),
            None
        );
        assert_eq!(removed.into_vec(), [Removed::Exif]);
    }
}
