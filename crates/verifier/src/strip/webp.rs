//! WebP: keep the image chunks, drop EXIF and XMP, fix the header.
//!
//! A WebP file is a RIFF container of chunks. Kept: VP8X (with its EXIF and
//! XMP flags cleared; ICC, alpha and animation flags untouched), ICCP, ANIM,
//! ANMF, ALPH, `VP8 ` and VP8L. Dropped: EXIF, XMP and any unknown chunk.
//! Bytes after the RIFF payload are dropped and the RIFF size is rewritten.
//! A non-default EXIF Orientation is re-emitted as a minimal EXIF chunk at the
//! end (where the spec places EXIF) with the VP8X EXIF flag set; a file
//! without VP8X cannot carry metadata that readers honour, so it never gets
//! one. Sub-chunks inside ANMF frames are copied as they are.

use super::{Removed, RemovedSet, Stripped, exif_inspect, exif_min, le_u32, truncated};
use crate::Rejection;

const HEADER_LEN: usize = 12; // "RIFF", size, "WEBP"
const CHUNK_HEADER_LEN: usize = 8;
const KEEP: [&[u8; 4]; 6] = [b"ICCP", b"ANIM", b"ANMF", b"ALPH", b"VP8 ", b"VP8L"];
const VP8X_DATA_LEN: usize = 10;
const FLAG_EXIF: u8 = 0x08;
const FLAG_XMP: u8 = 0x04;

pub(super) fn strip(src: &[u8]) -> Result<Stripped, Rejection> {
    if src.get(..4) != Some(b"RIFF") || src.get(8..12) != Some(b"WEBP") {
        return Err(Rejection::corrupt("the WebP RIFF header is missing"));
    }
    let riff_size = le_u32(src, 4).ok_or_else(|| truncated("WebP"))?;
    let riff_end = usize::try_from(riff_size)
        .ok()
        .and_then(|s| s.checked_add(8))
        .filter(|&e| e >= HEADER_LEN);
    let riff_end = riff_end.filter(|&e| e <= src.len()).ok_or_else(|| truncated("WebP"))?;

    let mut out = Vec::with_capacity(src.len());
    out.extend_from_slice(&src[..HEADER_LEN]);
    let mut removed = RemovedSet::default();
    let mut flags_at = None;
    let mut orientation = None;
    let mut pos = HEADER_LEN;
    while pos < riff_end {
        let kind = src.get(pos..pos + 4).ok_or_else(|| truncated("WebP"))?;
        let size = le_u32(src, pos + 4)
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| truncated("WebP"))?;
        let data_start = pos + CHUNK_HEADER_LEN;
        let end = data_start.checked_add(size).and_then(|e| e.checked_add(size & 1));
        let end = end.filter(|&e| e <= riff_end).ok_or_else(|| truncated("WebP"))?;
        let data = &src[data_start..data_start + size];
        match kind {
            b"VP8X" => {
                if pos != HEADER_LEN || size < VP8X_DATA_LEN {
                    return Err(Rejection::corrupt("the WebP VP8X chunk is misplaced or too short"));
                }
                flags_at = Some(out.len() + CHUNK_HEADER_LEN);
                out.extend_from_slice(&src[pos..end]);
            }
            b"EXIF" => {
                let tiff = data.strip_prefix(b"Exif\0\0").unwrap_or(data);
                let found = exif_inspect::inspect(tiff, &mut removed);
                orientation = orientation.or(found);
            }
            b"XMP " => removed.insert(Removed::Xmp),
            kind if KEEP.iter().any(|k| k == &kind) => out.extend_from_slice(&src[pos..end]),
            _ => removed.insert(Removed::Other),
        }
        pos = end;
    }
    if riff_end < src.len() {
        removed.insert(Removed::TrailingData);
    }
    if let Some(at) = flags_at {
        let mut flags = out[at] & !(FLAG_EXIF | FLAG_XMP);
        if let Some(o) = orientation {
            out.extend_from_slice(b"EXIF");
            out.extend_from_slice(&(exif_min::LEN as u32).to_le_bytes());
            out.extend_from_slice(&exif_min::orientation_tiff(o));
            flags |= FLAG_EXIF;
        }
        out[at] = flags;
    }
    let size = u32::try_from(out.len() - 8).map_err(|_| Rejection::corrupt("the WebP file is too large"))?;
    out[4..8].copy_from_slice(&size.to_le_bytes());
    Ok(Stripped {
        bytes: out,
        removed: removed.into_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = kind.to_vec();
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(0);
        }
        out
    }

    fn riff(chunks: &[Vec<u8>]) -> Vec<u8> {
        let body = chunks.concat();
        [
            b"RIFF".to_vec(),
            ((body.len() + 4) as u32).to_le_bytes().to_vec(),
            b"WEBP".to_vec(),
            body,
        ]
        .concat()
    }

    fn vp8x(flags: u8) -> Vec<u8> {
        chunk(b"VP8X", &[flags, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    #[test]
    fn metadata_chunks_and_flags_are_removed() {
        let image = chunk(b"VP8L", b"pixels!");
        let src = riff(&[
            vp8x(0x20 | 0x10 | FLAG_EXIF | FLAG_XMP),
            chunk(b"ICCP", b"icc"),
            image.clone(),
            chunk(b"EXIF", b"junk"),
            chunk(b"XMP ", b"<x/>"),
            chunk(b"ZZZZ", b""),
        ]);
        let stripped = strip(&[src, b"trailing".to_vec()].concat()).expect("valid");
        assert_eq!(stripped.bytes, riff(&[vp8x(0x30), chunk(b"ICCP", b"icc"), image]));
        assert_eq!(
            stripped.removed,
            [Removed::Exif, Removed::Xmp, Removed::TrailingData, Removed::Other]
        );
    }

    #[test]
    fn orientation_survives_as_a_minimal_exif_chunk() {
        let image = chunk(b"VP8L", b"px");
        let exif = chunk(b"EXIF", &exif_min::orientation_tiff(6));
        let src = riff(&[
            vp8x(FLAG_EXIF | FLAG_XMP),
            image.clone(),
            exif.clone(),
            chunk(b"XMP ", b"x"),
        ]);
        let stripped = strip(&src).expect("valid");
        assert_eq!(stripped.bytes, riff(&[vp8x(FLAG_EXIF), image, exif]));
    }

    #[test]
    fn bad_sizes_are_corrupt() {
        let good = riff(&[vp8x(0), chunk(b"VP8L", b"px")]);
        for cut in 0..good.len() {
            assert_eq!(
                strip(&good[..cut]).map_err(|r| r.code()),
                Err("corrupt_file"),
                "cut {cut}"
            );
        }
        let mut lying_chunk = good.clone();
        lying_chunk[12 + 18 + 4] = 0xFF;
        let misplaced = riff(&[chunk(b"VP8L", b"px"), vp8x(0)]);
        let tiny_riff = [b"RIFF".to_vec(), vec![2, 0, 0, 0], b"WEBP".to_vec()].concat();
        for bad in [lying_chunk, misplaced, tiny_riff] {
            assert_eq!(strip(&bad).map_err(|r| r.code()), Err("corrupt_file"));
        }
    }
}
