//! JPEG: keep what decoding and colour need, drop the rest.
//!
//! Marker segments are walked by their length fields. Kept: APP0 JFIF (with
//! any embedded thumbnail cut off), APP2 ICC_PROFILE (every chunk, before
//! the first scan, while the whole profile is at most
//! [`ICC_PROFILE_MAX`](super::ICC_PROFILE_MAX)), APP14 Adobe (selects the
//! colour transform; cut to its 12-byte payload, the only bytes decoders
//! read), DQT, DHT, DAC, SOFn, DRI, DNL and SOS with its entropy-coded data
//! byte for byte. Dropped: APP1 EXIF (its IFD1 thumbnail goes with it) and
//! XMP (incl. extended XMP), APP13 Photoshop/IPTC, COM, JFXX thumbnails, every
//! other APPn, the reserved JPGn markers, DHP and EXP (hierarchical mode,
//! which neither browsers nor the image crate decode; kept, they would carry
//! arbitrary bytes through), and every byte after EOI (often a second image
//! from MPF, or a polyglot payload). A non-default EXIF Orientation found
//! before the first scan is re-emitted as a minimal APP1 right after SOI
//! (after JFIF, if JFIF comes first, as both specs want to be first).
//!
//! A second frame header (SOFn) makes the file corrupt. An image has one
//! frame, and what a decoder does with a second depends on what lies
//! between them. zune-jpeg stops after the first frame when a comment
//! follows its scan, and fails when the next SOF follows directly, so
//! dropping the comment would turn an accepted image into a broken one.

use super::{ICC_PROFILE_MAX, Removed, RemovedSet, Stripped, be_u16, entropy, exif_inspect, exif_min, truncated};
use crate::Rejection;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP13: u8 = 0xED;
const APP14: u8 = 0xEE;
const COM: u8 = 0xFE;
const DHP: u8 = 0xDE;
const EXP: u8 = 0xDF;

const EXIF_ID: &[u8] = b"Exif\0";
const EXIF_HEADER_LEN: usize = 6; // "Exif\0\0"
const XMP_ID: &[u8] = b"http://ns.adobe.com/xap/1.0/\0";
const XMP_EXTENSION_ID: &[u8] = b"http://ns.adobe.com/xmp/extension/\0";
/// "JFIF\0", version, units, densities, thumbnail width and height.
const JFIF_FIXED_LEN: usize = 14;
const ICC_ID: &[u8] = b"ICC_PROFILE\0";
/// `ICC_PROFILE\0`, chunk number, chunk count.
const ICC_HEADER_LEN: usize = 14;
/// "Adobe", version, flags0, flags1, colour transform.
const ADOBE_LEN: usize = 12;

/// What to do with one marker segment.
enum Action {
    Keep,
    /// A JFIF APP0 carrying a thumbnail: keep its fixed fields only.
    KeepJfifWithoutThumbnail,
    /// An Adobe APP14 longer than its fields: keep the fields only.
    KeepAdobeFields,
    Drop(Removed),
    DropExif,
}

pub(super) fn strip(src: &[u8]) -> Result<Stripped, Rejection> {
    if src.get(..2) != Some(&[0xFF, SOI]) {
        return Err(Rejection::corrupt("the JPEG start-of-image marker is missing"));
    }
    let mut out = Vec::with_capacity(src.len());
    out.extend_from_slice(&[0xFF, SOI]);
    let mut removed = RemovedSet::default();
    // Until the first scan: where a minimal EXIF would go, and the
    // orientation of the first EXIF block seen.
    let mut before_first_scan = true;
    let mut exif_insert_at = out.len();
    let mut orientation = None;
    let mut exif_seen = false;
    let mut scans = 0usize;
    let mut frame_seen = false;
    let icc_fits = icc_profile_len(src) <= ICC_PROFILE_MAX;
    let mut pos = 2;
    loop {
        let (marker, marker_at) = next_marker(src, pos)?;
        pos = marker_at + 1;
        match marker {
            EOI => {
                if scans == 0 {
                    return Err(Rejection::corrupt("the JPEG has no image data"));
                }
                out.extend_from_slice(&[0xFF, EOI]);
                if pos < src.len() {
                    removed.insert(Removed::TrailingData);
                }
                return Ok(Stripped {
                    bytes: out,
                    removed: removed.into_vec(),
                });
            }
            // TEM and restart markers stand alone; they are harmless outside
            // a scan too.
            0x01 | 0xD0..=0xD7 => {
                out.extend_from_slice(&[0xFF, marker]);
                continue;
            }
            SOI | 0x00 | 0x02..=0xBF => {
                return Err(Rejection::corrupt(format!("invalid JPEG marker 0x{marker:02X}")));
            }
            _ => {}
        }
        if is_frame_header(marker) {
            if frame_seen {
                return Err(Rejection::corrupt("the JPEG has more than one frame header"));
            }
            frame_seen = true;
        }
        let length = usize::from(be_u16(src, pos).ok_or_else(|| truncated("JPEG"))?);
        if length < 2 {
            return Err(Rejection::corrupt("a JPEG segment has an invalid length"));
        }
        let end = pos + length;
        let segment = src.get(marker_at - 1..end).ok_or_else(|| truncated("JPEG"))?;
        let payload = &segment[4..];
        let first_segment = out.len() == 2 && before_first_scan;
        match classify(marker, payload, icc_fits && before_first_scan) {
            Action::Keep => out.extend_from_slice(segment),
            Action::KeepJfifWithoutThumbnail => {
                out.extend_from_slice(&[0xFF, APP0, 0, (JFIF_FIXED_LEN + 2) as u8]);
                out.extend_from_slice(&payload[..JFIF_FIXED_LEN - 2]);
                out.extend_from_slice(&[0, 0]);
                removed.insert(Removed::Thumbnail);
            }
            Action::KeepAdobeFields => {
                out.extend_from_slice(&[0xFF, APP14, 0, (ADOBE_LEN + 2) as u8]);
                out.extend_from_slice(&payload[..ADOBE_LEN]);
                removed.insert(Removed::Other);
            }
            Action::Drop(kind) => removed.insert(kind),
            Action::DropExif => {
                let found = exif_inspect::inspect(payload.get(EXIF_HEADER_LEN..).unwrap_or_default(), &mut removed);
                if before_first_scan && !exif_seen {
                    orientation = found;
                    exif_seen = true;
                }
            }
        }
        if first_segment && marker == APP0 && out.len() > 2 {
            exif_insert_at = out.len();
        }
        pos = end;
        if marker == SOS {
            if before_first_scan {
                if let Some(o) = orientation {
                    out.splice(exif_insert_at..exif_insert_at, orientation_app1(o));
                }
                before_first_scan = false;
            }
            scans += 1;
            pos = entropy::copy_until_marker(src, pos, &mut out);
        }
    }
}

/// SOF0..=SOF15, except DHT (C4), JPG (C8) and DAC (CC).
fn is_frame_header(marker: u8) -> bool {
    matches!(marker, 0xC0..=0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF)
}

/// Finds the marker at `pos`, skipping fill bytes: returns the marker byte
/// and its index (the 0xFF before it is at index - 1).
fn next_marker(src: &[u8], pos: usize) -> Result<(u8, usize), Rejection> {
    match src.get(pos) {
        Some(0xFF) => {}
        Some(_) => return Err(Rejection::corrupt("expected a JPEG marker")),
        None => return Err(truncated("JPEG")),
    }
    let mut at = pos + 1;
    loop {
        match src.get(at) {
            Some(0xFF) => at += 1,
            Some(&marker) => return Ok((marker, at)),
            None => return Err(truncated("JPEG")),
        }
    }
}

/// Total size of the ICC profile chunks before the first scan (where readers
/// look for them), found by walking segment lengths only. Structural errors
/// are left for the main pass to report.
fn icc_profile_len(src: &[u8]) -> usize {
    let mut total = 0usize;
    let mut pos = 2;
    while let Ok((marker, at)) = next_marker(src, pos) {
        match marker {
            SOS | EOI => break,
            0x01 | 0xD0..=0xD7 => {
                pos = at + 1;
                continue;
            }
            _ => {}
        }
        let Some(length) = be_u16(src, at + 1) else { break };
        let end = at + 1 + usize::from(length);
        if marker == APP2
            && let Some(payload) = src.get(at + 3..end)
            && payload.starts_with(ICC_ID)
        {
            total = total.saturating_add(payload.len().saturating_sub(ICC_HEADER_LEN));
        }
        pos = end;
    }
    total
}

/// What to do with a segment; `keep_icc` says whether ICC chunks may stay.
fn classify(marker: u8, payload: &[u8], keep_icc: bool) -> Action {
    match marker {
        APP0 if payload.starts_with(b"JFIF\0") => {
            if payload.len() > JFIF_FIXED_LEN {
                Action::KeepJfifWithoutThumbnail
            } else {
                Action::Keep
            }
        }
        APP0 if payload.starts_with(b"JFXX\0") => Action::Drop(Removed::Thumbnail),
        APP1 if payload.starts_with(EXIF_ID) => Action::DropExif,
        APP1 if payload.starts_with(XMP_ID) || payload.starts_with(XMP_EXTENSION_ID) => Action::Drop(Removed::Xmp),
        APP2 if payload.starts_with(ICC_ID) && keep_icc => Action::Keep,
        APP13 if payload.starts_with(b"Photoshop 3.0\0") => Action::Drop(Removed::Iptc),
        APP14 if payload.starts_with(b"Adobe") && payload.len() == ADOBE_LEN => Action::Keep,
        APP14 if payload.starts_with(b"Adobe") && payload.len() > ADOBE_LEN => Action::KeepAdobeFields,
        COM => Action::Drop(Removed::Comment),
        // Other APPn (and ICC chunks that may not stay, short Adobe
        // segments), the JPG reserved marker, JPGn extensions, DHP and EXP.
        0xE0..=0xEF | 0xC8 | 0xF0..=0xFD | DHP | EXP => Action::Drop(Removed::Other),
        // DQT, DHT, DAC, SOFn, DRI, DNL, SOS.
        _ => Action::Keep,
    }
}

/// `FF E1`, length, `Exif\0\0`, then a TIFF holding only Orientation.
fn orientation_app1(orientation: u16) -> impl Iterator<Item = u8> {
    let length = (2 + EXIF_HEADER_LEN + exif_min::LEN) as u16;
    [0xFF, APP1]
        .into_iter()
        .chain(length.to_be_bytes())
        .chain(*b"Exif\0\0")
        .chain(exif_min::orientation_tiff(orientation))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, a segment, SOS with a little entropy data, EOI.
    fn tiny(extra: &[u8]) -> Vec<u8> {
        let mut jpeg = vec![0xFF, SOI];
        jpeg.extend_from_slice(extra);
        jpeg.extend_from_slice(&[0xFF, SOS, 0, 2, 0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD0, 0x56, 0xFF, EOI]);
        jpeg
    }

    #[test]
    fn structure_is_copied_and_comments_dropped() {
        let dqt = [0xFF, 0xDB, 0, 3, 9];
        let com = [0xFF, COM, 0, 4, b'h', b'i'];
        let src = tiny(&[&dqt[..], &com[..]].concat());
        let stripped = strip(&src).expect("valid");
        assert_eq!(stripped.bytes, tiny(&dqt));
        assert_eq!(stripped.removed, [Removed::Comment]);
    }

    #[test]
    fn jfif_thumbnail_is_cut_off() {
        let mut app0 = vec![0xFF, APP0, 0, 16 + 12];
        app0.extend_from_slice(b"JFIF\0\x01\x02\x00\x00\x01\x00\x01\x02\x02");
        app0.extend_from_slice(&[7; 12]);
        let stripped = strip(&tiny(&app0)).expect("valid");
        let mut expected = vec![0xFF, APP0, 0, 16];
        expected.extend_from_slice(b"JFIF\0\x01\x02\x00\x00\x01\x00\x01\x00\x00");
        assert_eq!(stripped.bytes, tiny(&expected));
        assert_eq!(stripped.removed, [Removed::Thumbnail]);
    }

    #[test]
    fn orientation_goes_after_a_leading_jfif() {
        let app0 = [&[0xFF, APP0, 0, 16][..], b"JFIF\0\x01\x02\x00\x00\x01\x00\x01\x00\x00"].concat();
        let tiff = exif_min::orientation_tiff(8);
        let app1 = [&[0xFF, APP1, 0, 34][..], b"Exif\0\0", &tiff].concat();
        let stripped = strip(&tiny(&[app0.clone(), app1.clone()].concat())).expect("valid");
        assert_eq!(stripped.bytes, tiny(&[app0, app1].concat()), "re-emitted in place");
        assert_eq!(stripped.removed, [Removed::Exif]);
    }

    #[test]
    fn malformed_files_are_corrupt_not_panics() {
        let good = tiny(&[0xFF, 0xDB, 0, 3, 9]);
        for cut in 0..good.len() - 1 {
            assert_eq!(
                strip(&good[..cut]).map_err(|r| r.code()),
                Err("corrupt_file"),
                "cut at {cut}"
            );
        }
        for bad in [
            &[0xFF, SOI, 0xFF, 0xDB, 0, 1][..],
            &[0xFF, SOI, 0xFF, 0xDB, 0xFF, 0xFF][..],
            &[0xFF, SOI, 0x00][..],
            &[0xFF, SOI, 0xFF, 0x05, 0, 2][..],
            &[0xFF, SOI, 0xFF, SOI][..],
            &[0xFF, SOI, 0xFF, EOI][..],
            &[0xFF, SOI, 0xFF, 0xC0, 0, 2, 0xFF, 0xC2, 0, 2][..],
        ] {
            assert_eq!(strip(bad).map_err(|r| r.code()), Err("corrupt_file"), "{bad:02X?}");
        }
    }
}
