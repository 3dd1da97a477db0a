//! The smallest EXIF block that still tells viewers how to rotate a photo.
//!
//! Dropping EXIF entirely would make sideways phone photos display sideways,
//! since the camera stores the sensor's rows and records the rotation only in
//! the Orientation tag. So when the original Orientation is not 1 we write a
//! new TIFF structure with exactly one IFD0 entry and no next IFD (so no
//! thumbnail): 26 constant-shaped bytes, cheaper and more predictable than a
//! general EXIF writer.

/// Length of [`orientation_tiff`]'s output.
pub(super) const LEN: usize = 26;

/// A big-endian TIFF header plus IFD0 holding only Orientation (SHORT, 1).
pub(super) fn orientation_tiff(orientation: u16) -> [u8; LEN] {
    let [hi, lo] = orientation.to_be_bytes();
    [
        b'M', b'M', 0, 42, // byte order, magic
        0, 0, 0, 8, // offset of IFD0
        0, 1, // one entry
        0x01, 0x12, 0, 3, 0, 0, 0, 1, hi, lo, 0, 0, // Orientation, SHORT, count 1, value
        0, 0, 0, 0, // no next IFD
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kamadak_reads_back_only_orientation() {
        for o in 1..=8 {
            let exif = exif::Reader::new()
                .read_raw(orientation_tiff(o).to_vec())
                .expect("valid TIFF");
            let fields: Vec<_> = exif.fields().collect();
            assert_eq!(fields.len(), 1);
            assert_eq!(fields[0].tag, exif::Tag::Orientation);
            assert_eq!(fields[0].ifd_num, exif::In::PRIMARY);
            assert_eq!(fields[0].value.get_uint(0), Some(u32::from(o)));
        }
    }
}
