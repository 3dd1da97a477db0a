//! WebP: keep the image chunks, drop EXIF and XMP, fix the header.
//!
//! A WebP file is a RIFF container of chunks. Kept: VP8X (its 10 bytes of
//! fields only, with the EXIF and XMP flags cleared; alpha and animation
//! flags untouched), ICCP (when the ICC flag announces it and it is at most
//! [`ICC_PROFILE_MAX`](super::ICC_PROFILE_MAX) bytes; else it is dropped and
//! the flag cleared), ALPH, `VP8 ` and VP8L, and in an animated image
//! (animation flag set) ANIM (its 6 bytes of fields) and ANMF frames, rebuilt
//! with only their ALPH, `VP8 ` and VP8L sub-chunks. Dropped: EXIF, XMP, any
//! unknown chunk or sub-chunk, and animation chunks in a still image, which
//! decoders ignore and which could therefore only carry hidden bytes. Bytes
//! after the RIFF payload are dropped and the RIFF size is rewritten. A
//! non-default EXIF Orientation is re-emitted as a minimal EXIF chunk at the
//! end (where the spec places EXIF) with the VP8X EXIF flag set; a file
//! without VP8X cannot carry metadata that readers honour, so it never gets
//! one.
//!
//! A file with no image data inside its RIFF size is corrupt. Decoders
//! ignore the RIFF size and would read the image from the "trailing" bytes
//! that stripping removes.

use super::{ICC_PROFILE_MAX, Removed, RemovedSet, Stripped, exif_inspect, exif_min, le_u32, truncated};
use crate::Rejection;

const HEADER_LEN: usize = 12; // "RIFF", size, "WEBP"
const CHUNK_HEADER_LEN: usize = 8;
/// Image data chunks, at the top level and inside animation frames.
const IMAGE_DATA: [&[u8; 4]; 3] = [b"ALPH", b"VP8 ", b"VP8L"];
const VP8X_DATA_LEN: usize = 10;
/// Background colour and loop count.
const ANIM_DATA_LEN: usize = 6;
/// Frame position, size, duration and flags, before the frame's sub-chunks.
const ANMF_HEADER_LEN: usize = 16;
const FLAG_ICC: u8 = 0x20;
const FLAG_EXIF: u8 = 0x08;
const FLAG_XMP: u8 = 0x04;
const FLAG_ANIMATION: u8 = 0x02;

/// One chunk: its type, its data (without padding) and where it ends.
struct Chunk<'a> {
    kind: &'a [u8],
    data: &'a [u8],
    end: usize,
}

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
    let mut flags = 0;
    let mut icc_dropped = false;
    let mut image_data = false;
    let mut orientation = None;
    let mut pos = HEADER_LEN;
    while pos < riff_end {
        let chunk = chunk_at(src, pos, riff_end)?;
        let animated = flags & FLAG_ANIMATION != 0;
        match chunk.kind {
            b"VP8X" => {
                if pos != HEADER_LEN || chunk.data.len() < VP8X_DATA_LEN {
                    return Err(Rejection::corrupt("the WebP VP8X chunk is misplaced or too short"));
                }
                if chunk.data.len() > VP8X_DATA_LEN {
                    removed.insert(Removed::Other);
                }
                flags = chunk.data[0];
                flags_at = Some(out.len() + CHUNK_HEADER_LEN);
                push_chunk(&mut out, b"VP8X", &chunk.data[..VP8X_DATA_LEN]);
            }
            b"EXIF" => {
                let tiff = chunk.data.strip_prefix(b"Exif\0\0").unwrap_or(chunk.data);
                let found = exif_inspect::inspect(tiff, &mut removed);
                orientation = orientation.or(found);
            }
            b"XMP " => removed.insert(Removed::Xmp),
            b"ICCP" if flags & FLAG_ICC != 0 && chunk.data.len() <= ICC_PROFILE_MAX => {
                out.extend_from_slice(&src[pos..chunk.end]);
            }
            b"ICCP" => {
                icc_dropped = true;
                removed.insert(Removed::Other);
            }
            b"ANIM" if animated => {
                let fields = chunk
                    .data
                    .get(..ANIM_DATA_LEN)
                    .ok_or_else(|| truncated("WebP ANIM chunk"))?;
                if chunk.data.len() > ANIM_DATA_LEN {
                    removed.insert(Removed::Other);
                }
                push_chunk(&mut out, b"ANIM", fields);
            }
            b"ANMF" if animated => {
                push_frame(&mut out, chunk.data, &mut removed)?;
                image_data = true;
            }
            kind if IMAGE_DATA.iter().any(|k| k == &kind) => {
                image_data |= kind != b"ALPH";
                out.extend_from_slice(&src[pos..chunk.end]);
            }
            _ => removed.insert(Removed::Other),
        }
        pos = chunk.end;
    }
    if !image_data {
        return Err(Rejection::corrupt("the WebP has no image data within its RIFF size"));
    }
    if riff_end < src.len() {
        removed.insert(Removed::TrailingData);
    }
    if let Some(at) = flags_at {
        let mut flags = out[at] & !(FLAG_EXIF | FLAG_XMP);
        if icc_dropped {
            flags &= !FLAG_ICC;
        }
        if let Some(o) = orientation {
            push_chunk(&mut out, b"EXIF", &exif_min::orientation_tiff(o));
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

/// The chunk at `pos`, which must end (padding included) by `limit`.
fn chunk_at(src: &[u8], pos: usize, limit: usize) -> Result<Chunk<'_>, Rejection> {
    let kind = src.get(pos..pos + 4).ok_or_else(|| truncated("WebP"))?;
    let size = le_u32(src, pos + 4)
        .and_then(|s| usize::try_from(s).ok())
        .ok_or_else(|| truncated("WebP"))?;
    let data_start = pos + CHUNK_HEADER_LEN;
    let end = data_start.checked_add(size).and_then(|e| e.checked_add(size & 1));
    let end = end.filter(|&e| e <= limit).ok_or_else(|| truncated("WebP"))?;
    Ok(Chunk {
        kind,
        data: &src[data_start..data_start + size],
        end,
    })
}

/// Appends a chunk, padded to an even length.
fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(kind);
    // Data comes from a chunk of the source or is a few bytes long.
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(data);
    if data.len() % 2 == 1 {
        out.push(0);
    }
}

/// Appends an ANMF frame with only its image data sub-chunks. A frame
/// without a bitstream is corrupt: decoders refuse it when they reach it,
/// which for a frame after the first may be after `check_image` looked.
fn push_frame(out: &mut Vec<u8>, frame: &[u8], removed: &mut RemovedSet) -> Result<(), Rejection> {
    let header = frame
        .get(..ANMF_HEADER_LEN)
        .ok_or_else(|| truncated("WebP animation frame"))?;
    let start = out.len();
    out.extend_from_slice(b"ANMF\0\0\0\0");
    out.extend_from_slice(header);
    let mut pos = ANMF_HEADER_LEN;
    let mut bitstream = false;
    while pos < frame.len() {
        let sub = chunk_at(frame, pos, frame.len())?;
        if IMAGE_DATA.iter().any(|k| k == &sub.kind) {
            bitstream |= sub.kind != b"ALPH";
            out.extend_from_slice(&frame[pos..sub.end]);
        } else {
            removed.insert(Removed::Other);
        }
        pos = sub.end;
    }
    if !bitstream {
        return Err(Rejection::corrupt("a WebP animation frame has no image data"));
    }
    // No larger than the source frame, whose size fitted in 32 bits.
    let size = (out.len() - start - CHUNK_HEADER_LEN) as u32;
    out[start + 4..start + CHUNK_HEADER_LEN].copy_from_slice(&size.to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{riff_chunk as chunk, riff_webp as riff};

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
    fn animation_frames_without_a_bitstream_are_corrupt() {
        let header = [0u8; ANMF_HEADER_LEN];
        let animated = |frame: Vec<u8>| riff(&[vp8x(FLAG_ANIMATION), chunk(b"ANIM", &[0; 6]), chunk(b"ANMF", &frame)]);
        let good = animated([&header[..], &chunk(b"VP8L", b"px")].concat());
        assert!(strip(&good).is_ok());
        for frame in [
            header.to_vec(),
            [&header[..], &chunk(b"_P8L", b"px")].concat(),
            [&header[..], &chunk(b"ALPH", b"a")].concat(),
        ] {
            assert_eq!(strip(&animated(frame)).map_err(|r| r.code()), Err("corrupt_file"));
        }
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
        let image_outside = [b"RIFF".to_vec(), vec![4, 0, 0, 0], good[8..].to_vec()].concat();
        let no_image = riff(&[vp8x(0), chunk(b"ALPH", b"a")]);
        for bad in [lying_chunk, misplaced, tiny_riff, image_outside, no_image] {
            assert_eq!(strip(&bad).map_err(|r| r.code()), Err("corrupt_file"));
        }
    }
}
