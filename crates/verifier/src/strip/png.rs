//! PNG: keep the chunks that define the pixels and their colour.
//!
//! Chunks are walked by length and every CRC is verified (a CRC error is a
//! corrupt file). Kept: IHDR, PLTE, IDAT, IEND, tRNS, the colour chunks
//! (cHRM, gAMA, iCCP, sBIT, sRGB, cICP, mDCV, cLLI), bKGD, hIST and pHYs. The
//! APNG chunks (acTL, fcTL, fdAT) are kept in an animated image, so animated
//! avatars stay animated. An image is animated when an acTL comes before
//! the first IDAT. Without one, decoders ignore fcTL and fdAT, so they could
//! only carry hidden bytes, and they are dropped. Chunks whose size the spec
//! fixes (gAMA, cHRM, sRGB, pHYs, cICP, cLLI, mDCV, acTL, fcTL) are dropped
//! when they are any other size, for the same reason, and so are ancillary
//! chunks after the first IDAT (colour, transparency and density count only
//! before the image data). iCCP is dropped when
//! its profile inflates to more than [`ICC_PROFILE_MAX`](super::ICC_PROFILE_MAX)
//! bytes or does not inflate. Dropped: eXIf, tEXt, zTXt, iTXt (including XMP
//! and ImageMagick "Raw profile" EXIF/IPTC), tIME, and every other ancillary
//! chunk (private chunks can hold anything). An unknown *critical* chunk
//! cannot be decoded by anyone, so it makes the file corrupt. Bytes after
//! IEND are dropped. A non-default eXIf Orientation is re-emitted as a minimal
//! eXIf right after IHDR, which puts it before IDAT as readers require.

use std::io::{self, Read};

use super::{ICC_PROFILE_MAX, Removed, RemovedSet, Stripped, be_u32, exif_inspect, exif_min, truncated};
use crate::Rejection;

const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
/// Kept in every image, subject to [`FIXED_SIZES`].
const KEEP: [&[u8; 4]; 15] = [
    b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"sBIT", b"sRGB", b"cICP", b"mDCV", b"cLLI",
    b"bKGD", b"hIST", b"pHYs",
];
/// Chunks whose data has one valid size.
const FIXED_SIZES: [(&[u8; 4], usize); 9] = [
    (b"gAMA", 4),
    (b"cHRM", 32),
    (b"sRGB", 1),
    (b"pHYs", 9),
    (b"cICP", 4),
    (b"cLLI", 8),
    (b"mDCV", 24),
    (b"acTL", 8),
    (b"fcTL", 26),
];
/// Kept chunks are CRC-checked and copied in pieces of this size, so each
/// piece is hashed and copied while it is in cache.
const PIECE: usize = 64 * 1024;
const IHDR_DATA_LEN: usize = 13;

/// One chunk, from its length field to `end` (just after its CRC).
struct Chunk<'a> {
    kind: [u8; 4],
    data: &'a [u8],
    /// Type and data: what the CRC covers.
    crc_input: &'a [u8],
    crc: u32,
    end: usize,
}

pub(super) fn strip(src: &[u8]) -> Result<Stripped, Rejection> {
    if !src.starts_with(SIGNATURE) {
        return Err(Rejection::corrupt("the PNG signature is missing"));
    }
    let mut removed = RemovedSet::default();
    let survey = survey(src);
    let orientation = survey.exif.and_then(|tiff| exif_inspect::inspect(tiff, &mut removed));
    let mut out = Vec::with_capacity(src.len());
    out.extend_from_slice(SIGNATURE);
    let mut pos = SIGNATURE.len();
    let mut after_idat = false;
    loop {
        let chunk = parse_chunk(src, pos)?.ok_or_else(|| truncated("PNG"))?;
        let first = pos == SIGNATURE.len();
        if first != (&chunk.kind == b"IHDR") {
            return Err(Rejection::corrupt("the PNG header chunk is missing or repeated"));
        }
        if first && chunk.data.len() != IHDR_DATA_LEN {
            return Err(Rejection::corrupt("the PNG header chunk has the wrong length"));
        }
        if keep(&chunk, survey.animated, after_idat) {
            copy_checked(&src[pos..chunk.end], &chunk, &mut out)?;
        } else {
            verify_crc(&chunk)?;
            removed.insert(classify(&chunk)?);
        }
        if first && let Some(o) = orientation {
            push_chunk(&mut out, b"eXIf", &exif_min::orientation_tiff(o));
        }
        pos = chunk.end;
        after_idat |= &chunk.kind == b"IDAT";
        if &chunk.kind == b"IEND" {
            break;
        }
    }
    if pos < src.len() {
        removed.insert(Removed::TrailingData);
    }
    Ok(Stripped {
        bytes: out,
        removed: removed.into_vec(),
    })
}

/// Whether a chunk is needed to decode or colour-manage the image.
fn keep(chunk: &Chunk<'_>, animated: bool, after_idat: bool) -> bool {
    let right_size = FIXED_SIZES
        .iter()
        .find(|(kind, _)| **kind == chunk.kind)
        .is_none_or(|&(_, len)| chunk.data.len() == len);
    let needed = match &chunk.kind {
        b"acTL" => animated && !after_idat,
        b"fcTL" | b"fdAT" => animated,
        // Colour, transparency and density chunks count only before the
        // image data; decoders ignore them after it.
        kind if after_idat && kind[0].is_ascii_lowercase() => false,
        b"iCCP" => icc_profile_fits(chunk.data),
        kind => KEEP.contains(&kind),
    };
    needed && right_size
}

/// Whether iCCP data (name, NUL, method 0, zlib stream) inflates to at most
/// `ICC_PROFILE_MAX` bytes.
fn icc_profile_fits(data: &[u8]) -> bool {
    let Some(nul) = data.iter().position(|&b| b == 0) else {
        return false;
    };
    let Some((0, compressed)) = data[nul + 1..].split_first() else {
        return false;
    };
    let mut profile = flate2::read::ZlibDecoder::new(compressed).take(ICC_PROFILE_MAX as u64 + 1);
    io::copy(&mut profile, &mut io::sink()).is_ok_and(|len| len <= ICC_PROFILE_MAX as u64)
}

/// The chunk at `pos`, `None` when the data ends first.
fn parse_chunk(src: &[u8], pos: usize) -> Result<Option<Chunk<'_>>, Rejection> {
    let Some(length) = be_u32(src, pos) else {
        return Ok(None);
    };
    if length > i32::MAX as u32 {
        return Err(Rejection::corrupt("a PNG chunk length is out of range"));
    }
    let Some(data_end) = pos.checked_add(8).and_then(|p| p.checked_add(length as usize)) else {
        return Ok(None);
    };
    let Some(crc) = be_u32(src, data_end) else {
        return Ok(None);
    };
    let crc_input = &src[pos + 4..data_end];
    let kind: [u8; 4] = [crc_input[0], crc_input[1], crc_input[2], crc_input[3]];
    if !kind.iter().all(u8::is_ascii_alphabetic) {
        return Err(Rejection::corrupt("a PNG chunk type is invalid"));
    }
    Ok(Some(Chunk {
        kind,
        data: &crc_input[4..],
        crc_input,
        crc,
        end: data_end + 4,
    }))
}

fn verify_crc(chunk: &Chunk<'_>) -> Result<(), Rejection> {
    if crc32fast::hash(chunk.crc_input) == chunk.crc {
        Ok(())
    } else {
        Err(crc_error(chunk))
    }
}

/// Copies a whole chunk to `out`, verifying its CRC on the way.
fn copy_checked(whole: &[u8], chunk: &Chunk<'_>, out: &mut Vec<u8>) -> Result<(), Rejection> {
    let mut hasher = crc32fast::Hasher::new();
    out.extend_from_slice(&whole[..4]);
    for piece in chunk.crc_input.chunks(PIECE) {
        hasher.update(piece);
        out.extend_from_slice(piece);
    }
    if hasher.finalize() != chunk.crc {
        return Err(crc_error(chunk));
    }
    out.extend_from_slice(&chunk.crc.to_be_bytes());
    Ok(())
}

fn crc_error(chunk: &Chunk<'_>) -> Rejection {
    Rejection::corrupt(format!(
        "the PNG {} chunk fails its CRC check",
        String::from_utf8_lossy(&chunk.kind)
    ))
}

/// What a dropped chunk was; an unknown critical chunk is an error.
fn classify(chunk: &Chunk<'_>) -> Result<Removed, Rejection> {
    let keyword = chunk.data.split(|&b| b == 0).next().unwrap_or_default();
    Ok(match &chunk.kind {
        b"eXIf" => Removed::Exif,
        b"tIME" => Removed::Timestamp,
        b"iTXt" if keyword == b"XML:com.adobe.xmp" => Removed::Xmp,
        b"tEXt" | b"zTXt" | b"iTXt" => match keyword {
            b"Raw profile type exif" | b"Raw profile type APP1" => Removed::Exif,
            b"Raw profile type iptc" => Removed::Iptc,
            b"Raw profile type xmp" => Removed::Xmp,
            _ => Removed::Text,
        },
        kind if kind[0].is_ascii_uppercase() => {
            return Err(Rejection::corrupt(format!(
                "the PNG has an unknown critical chunk {}",
                String::from_utf8_lossy(kind)
            )));
        }
        _ => Removed::Other,
    })
}

/// What the main pass must know before it reaches the chunks concerned.
struct Survey<'a> {
    /// The data of the first eXIf chunk (it may come after IDAT).
    exif: Option<&'a [u8]>,
    /// A valid acTL comes before the first IDAT.
    animated: bool,
}

/// Walks chunk lengths only; structural errors are left for the main pass
/// to report.
fn survey(src: &[u8]) -> Survey<'_> {
    let mut survey = Survey {
        exif: None,
        animated: false,
    };
    let mut pos = SIGNATURE.len();
    let mut after_idat = false;
    while let Ok(Some(chunk)) = parse_chunk(src, pos) {
        match &chunk.kind {
            b"eXIf" if survey.exif.is_none() => survey.exif = Some(chunk.data),
            b"acTL" if !after_idat && chunk.data.len() == 8 => survey.animated = true,
            b"IDAT" => after_idat = true,
            b"IEND" => break,
            _ => {}
        }
        pos = chunk.end;
    }
    survey
}

fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(kind);
    hasher.update(data);
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&hasher.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::png_chunk as chunk;

    fn png(chunks: &[Vec<u8>]) -> Vec<u8> {
        [SIGNATURE.to_vec(), chunks.concat()].concat()
    }

    fn ihdr() -> Vec<u8> {
        chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0])
    }

    #[test]
    fn text_time_and_private_chunks_are_dropped() {
        let src = png(&[
            ihdr(),
            chunk(b"tEXt", b"Author\0me"),
            chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0<x/>"),
            chunk(b"tIME", &[7, 0xE8, 1, 1, 0, 0, 0]),
            chunk(b"prVt", b"secret"),
            chunk(b"IDAT", b"data"),
            chunk(b"IEND", b""),
        ]);
        let stripped = strip(&[src, b"<script>".to_vec()].concat()).expect("valid");
        assert_eq!(
            stripped.bytes,
            png(&[ihdr(), chunk(b"IDAT", b"data"), chunk(b"IEND", b"")])
        );
        assert_eq!(
            stripped.removed,
            [
                Removed::Xmp,
                Removed::Text,
                Removed::Timestamp,
                Removed::TrailingData,
                Removed::Other
            ]
        );
    }

    #[test]
    fn crc_errors_and_structure_errors_are_corrupt() {
        let mut bad_crc = png(&[ihdr(), chunk(b"tEXt", b"a\0b"), chunk(b"IEND", b"")]);
        let text_crc_at = 8 + 25 + 8 + 3;
        bad_crc[text_crc_at] ^= 1;
        let mut bad_idat_crc = png(&[ihdr(), chunk(b"IDAT", b"data"), chunk(b"IEND", b"")]);
        bad_idat_crc[8 + 25 + 8 + 4] ^= 1;
        let cases = [
            bad_crc,
            bad_idat_crc,
            png(&[chunk(b"IDAT", b""), ihdr(), chunk(b"IEND", b"")]),
            png(&[ihdr(), ihdr(), chunk(b"IEND", b"")]),
            png(&[ihdr(), chunk(b"CgBI", b""), chunk(b"IEND", b"")]),
            png(&[ihdr(), chunk(b"I D!", b""), chunk(b"IEND", b"")]),
            png(&[ihdr(), chunk(b"IDAT", b"x")]),
            png(&[chunk(b"IHDR", &[0; 12]), chunk(b"IEND", b"")]),
            [png(&[ihdr()]), vec![0xFF, 0xFF, 0xFF, 0xFF, b'I', b'D', b'A', b'T']].concat(),
        ];
        for (i, case) in cases.iter().enumerate() {
            assert_eq!(strip(case).map_err(|r| r.code()), Err("corrupt_file"), "case {i}");
            for cut in 0..case.len() {
                assert!(strip(&case[..cut]).is_err());
            }
        }
    }
}
