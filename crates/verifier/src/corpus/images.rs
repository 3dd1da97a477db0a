//! Image fixtures: real encodes with metadata spliced in.

use std::io::Cursor;

use exif::experimental::Writer;
use exif::{Field, In, Rational, Tag, Value};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{ExtendedColorType, ImageEncoder};

use super::{SECRET_COMMENT, SECRET_DATETIME, SECRET_IPTC, SECRET_MAKE, SECRET_MODEL, SECRET_XMP, TRAILING_SCRIPT};
use crate::Format;

/// Fake ICC profile bytes; kept verbatim by the stripper.
pub const ICC_MARKER: &[u8] = b"fake-icc-profile-keep-me";

/// A gradient with `noise` (0..=255) amplitude of pseudo-random noise.
pub fn pixels(width: u32, height: u32, channels: usize, noise: u8, seed: u64) -> Vec<u8> {
    let random = super::pseudo_random(seed, width as usize * height as usize * channels);
    let mut out = Vec::with_capacity(random.len());
    for y in 0..height as usize {
        for x in 0..width as usize {
            for c in 0..channels {
                let base = ((x * 255 / width.max(1) as usize) + (y * 255 / height.max(1) as usize) * c) as u8;
                let r = random[out.len()];
                let value = if c == 3 {
                    255 - (r % 16)
                } else {
                    base.wrapping_add(r % noise.max(1))
                };
                out.push(value);
            }
        }
    }
    out
}

/// Writes `width` x `height` of [`pixels`] in `color` through `encoder`.
fn encode(encoder: impl ImageEncoder, width: u32, height: u32, color: ExtendedColorType, noise: u8, seed: u64) {
    let channels = usize::from(color.channel_count());
    encoder
        .write_image(&pixels(width, height, channels, noise, seed), width, height, color)
        .expect("encode the image");
}

/// A baseline JPEG (JFIF, no metadata).
pub fn jpeg(width: u32, height: u32, noise: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = JpegEncoder::new_with_quality(&mut out, 90);
    encode(encoder, width, height, ExtendedColorType::Rgb8, noise, 7);
    out
}

/// A PNG (RGBA, no metadata).
pub fn png(width: u32, height: u32, noise: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = PngEncoder::new(&mut out);
    encode(encoder, width, height, ExtendedColorType::Rgba8, noise, 11);
    out
}

/// A lossless WebP (simple format: a single VP8L chunk, no metadata).
pub fn webp(width: u32, height: u32, noise: u8) -> Vec<u8> {
    let mut out = Vec::new();
    let encoder = WebPEncoder::new_lossless(&mut out);
    encode(encoder, width, height, ExtendedColorType::Rgba8, noise, 13);
    out
}

/// A TIFF/EXIF block with Make, Model, DateTime and `orientation`, plus a GPS
/// position and an IFD1 JPEG thumbnail when asked.
pub fn exif_tiff(orientation: u16, gps: bool, thumbnail: bool) -> Vec<u8> {
    let ascii = |tag, s: &str| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![s.as_bytes().to_vec()]),
    };
    let rational = |tag, values: [u32; 3]| Field {
        tag,
        ifd_num: In::PRIMARY,
        value: Value::Rational(values.iter().map(|&num| Rational { num, denom: 1 }).collect()),
    };
    let mut fields = vec![
        ascii(Tag::Make, SECRET_MAKE),
        ascii(Tag::Model, SECRET_MODEL),
        ascii(Tag::DateTime, SECRET_DATETIME),
        ascii(Tag::DateTimeOriginal, SECRET_DATETIME),
        Field {
            tag: Tag::Orientation,
            ifd_num: In::PRIMARY,
            value: Value::Short(vec![orientation]),
        },
    ];
    if gps {
        fields.extend([
            ascii(Tag::GPSLatitudeRef, "N"),
            rational(Tag::GPSLatitude, [48, 51, 24]),
            ascii(Tag::GPSLongitudeRef, "E"),
            rational(Tag::GPSLongitude, [2, 21, 3]),
        ]);
    }
    let thumb = jpeg(16, 12, 8);
    let mut writer = Writer::new();
    for field in &fields {
        writer.push_field(field);
    }
    if thumbnail {
        writer.set_jpeg(&thumb, In::THUMBNAIL);
    }
    let mut out = Cursor::new(Vec::new());
    writer.write(&mut out, false).expect("write EXIF");
    out.into_inner()
}

/// A JPEG marker segment.
pub fn jpeg_segment(marker: u8, payload: &[u8]) -> Vec<u8> {
    let length = u16::try_from(payload.len() + 2).expect("segment fits");
    [&[0xFF, marker][..], &length.to_be_bytes(), payload].concat()
}

/// Inserts `segments` after SOI and a leading APP0, where metadata lives.
pub fn splice_jpeg(jpeg: &[u8], segments: &[Vec<u8>]) -> Vec<u8> {
    let mut at = 2;
    if jpeg.get(2..4) == Some(&[0xFF, 0xE0]) {
        at += 2 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
    }
    [&jpeg[..at], &segments.concat(), &jpeg[at..]].concat()
}

fn xmp_packet() -> Vec<u8> {
    format!(
        "<?xpacket begin=''?><x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF><dc:creator>{SECRET_XMP}</dc:creator></rdf:RDF></x:xmpmeta><?xpacket end='w'?>"
    )
    .into_bytes()
}

/// Photoshop image resource block holding one IPTC byline (2:80).
fn photoshop_iptc() -> Vec<u8> {
    let mut iptc = vec![0x1C, 2, 80];
    iptc.extend_from_slice(&(SECRET_IPTC.len() as u16).to_be_bytes());
    iptc.extend_from_slice(SECRET_IPTC.as_bytes());
    if iptc.len() % 2 == 1 {
        iptc.push(0);
    }
    [
        &b"Photoshop 3.0\08BIM\x04\x04\0\0"[..],
        &(iptc.len() as u32).to_be_bytes(),
        &iptc,
    ]
    .concat()
}

/// The metadata segments of [`jpeg_with_metadata`], EXIF first.
fn metadata_segments(orientation: u16) -> Vec<Vec<u8>> {
    vec![
        jpeg_segment(0xE1, &[&b"Exif\0\0"[..], &exif_tiff(orientation, true, true)].concat()),
        jpeg_segment(0xE1, &[&b"http://ns.adobe.com/xap/1.0/\0"[..], &xmp_packet()].concat()),
        jpeg_segment(
            0xE1,
            &[
                &b"http://ns.adobe.com/xmp/extension/\0"[..],
                &[b'0'; 32],
                &[0; 8],
                &xmp_packet(),
            ]
            .concat(),
        ),
        jpeg_segment(0xE2, &[&b"ICC_PROFILE\0\x01\x01"[..], ICC_MARKER].concat()),
        jpeg_segment(0xE2, b"MPF\0II*\0"),
        jpeg_segment(0xEC, b"Ducky\0\x01\0\x04\0\0\0\x50"),
        jpeg_segment(0xED, &photoshop_iptc()),
        jpeg_segment(0xEE, b"Adobe\0\x64\0\0\0\0\x01"),
        jpeg_segment(0xFE, SECRET_COMMENT.as_bytes()),
    ]
}

/// A JPEG with EXIF (Make/Model/DateTime, GPS, IFD1 thumbnail), XMP and
/// extended XMP, ICC profile, MPF, APP12, Photoshop/IPTC, Adobe APP14 and a
/// comment.
pub fn jpeg_with_metadata() -> Vec<u8> {
    jpeg_with_orientation(1)
}

/// Like [`jpeg_with_metadata`] but with EXIF Orientation `orientation`.
pub fn jpeg_with_orientation(orientation: u16) -> Vec<u8> {
    splice_jpeg(&jpeg(64, 48, 32), &metadata_segments(orientation))
}

/// A noisy picture of `format` (JPEG, PNG or WebP) of at least `min_len`
/// bytes, with the full metadata set of [`jpeg_with_metadata`],
/// [`png_with_metadata`] or [`webp_with_metadata`].
pub fn large(format: Format, min_len: usize) -> Vec<u8> {
    match format {
        Format::Jpeg => at_least(min_len, 512, |side| {
            splice_jpeg(&jpeg(side, side, 255), &metadata_segments(1))
        }),
        Format::Png => at_least(min_len, 256, |side| {
            splice_png(&png(side, side, 255), &png_metadata_chunks(1))
        }),
        Format::WebP => at_least(min_len, 256, |side| webp_with_chunks(side, side, 255, 1)),
        other => panic!("no large {other:?} picture: JPEG, PNG or WebP"),
    }
}

/// The first `image(side)` of at least `min_len` bytes, from `side` up by a
/// tenth at a time.
fn at_least(min_len: usize, mut side: u32, image: impl Fn(u32) -> Vec<u8>) -> Vec<u8> {
    loop {
        let bytes = image(side);
        if bytes.len() >= min_len {
            return bytes;
        }
        side += side / 10;
    }
}

/// A JPEG followed by a script after EOI (a polyglot).
pub fn jpeg_with_trailing_script() -> Vec<u8> {
    [jpeg(32, 32, 16), TRAILING_SCRIPT.as_bytes().to_vec()].concat()
}

/// A JPEG cut off in the middle of its entropy-coded data.
pub fn truncated_jpeg() -> Vec<u8> {
    let mut jpeg = jpeg(64, 64, 64);
    jpeg.truncate(jpeg.len() * 2 / 3);
    jpeg
}

/// A PNG chunk with a correct CRC.
pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(kind);
    hasher.update(data);
    let length = u32::try_from(data.len()).expect("chunk fits");
    [&length.to_be_bytes()[..], kind, data, &hasher.finalize().to_be_bytes()].concat()
}

/// Inserts `chunks` right after IHDR.
pub fn splice_png(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let at = 8 + 25;
    [&png[..at], &chunks.concat(), &png[at..]].concat()
}

/// A zlib stream holding `data` in one stored (uncompressed) block.
pub fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let len = u16::try_from(data.len()).expect("stored block fits");
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65521;
        b = (b + a) % 65521;
    }
    [
        &[0x78, 0x01, 0x01][..],
        &len.to_le_bytes(),
        &(!len).to_le_bytes(),
        data,
        &((b << 16) | a).to_be_bytes(),
    ]
    .concat()
}

fn png_metadata_chunks(orientation: u16) -> Vec<Vec<u8>> {
    vec![
        png_chunk(b"gAMA", &45455u32.to_be_bytes()),
        png_chunk(b"pHYs", &[0, 0, 0x0B, 0x13, 0, 0, 0x0B, 0x13, 1]),
        png_chunk(b"eXIf", &exif_tiff(orientation, true, false)),
        png_chunk(b"tEXt", format!("Author\0{SECRET_COMMENT}").as_bytes()),
        png_chunk(
            b"zTXt",
            &[&b"Comment\0\0"[..], &zlib_stored(SECRET_COMMENT.as_bytes())].concat(),
        ),
        png_chunk(b"iTXt", &[&b"XML:com.adobe.xmp\0\0\0\0\0"[..], &xmp_packet()].concat()),
        png_chunk(b"tIME", &[0x07, 0xE8, 5, 1, 12, 34, 56]),
        png_chunk(b"prVt", SECRET_COMMENT.as_bytes()),
    ]
}

/// A PNG with gAMA and pHYs (kept), eXIf (Make/Model/DateTime/GPS), tEXt,
/// zTXt, iTXt (XMP), tIME and a private chunk.
pub fn png_with_metadata() -> Vec<u8> {
    png_with_orientation(1)
}

/// Like [`png_with_metadata`] but with eXIf Orientation `orientation`.
pub fn png_with_orientation(orientation: u16) -> Vec<u8> {
    splice_png(&png(40, 30, 64), &png_metadata_chunks(orientation))
}

/// A tiny, well-formed PNG whose header claims `width` x `height` pixels
/// (a decompression bomb's calling card).
pub fn png_bomb(width: u32, height: u32) -> Vec<u8> {
    let ihdr = [&width.to_be_bytes()[..], &height.to_be_bytes(), &[8, 2, 0, 0, 0]].concat();
    [
        b"\x89PNG\r\n\x1a\n".to_vec(),
        png_chunk(b"IHDR", &ihdr),
        png_chunk(b"IDAT", &zlib_stored(&[0; 64])),
        png_chunk(b"IEND", b""),
    ]
    .concat()
}

/// A well-formed 16x16 PNG (every chunk length and CRC right, so it strips)
/// whose pixel data does not decode: each row names filter type 7, which
/// does not exist.
pub fn png_with_bad_pixels() -> Vec<u8> {
    let ihdr = [&16u32.to_be_bytes()[..], &16u32.to_be_bytes(), &[8, 2, 0, 0, 0]].concat();
    let rows: Vec<u8> = (0..16).flat_map(|_| std::iter::once(7).chain([0x80; 48])).collect();
    [
        b"\x89PNG\r\n\x1a\n".to_vec(),
        png_chunk(b"IHDR", &ihdr),
        png_chunk(b"IDAT", &zlib_stored(&rows)),
        png_chunk(b"IEND", b""),
    ]
    .concat()
}

/// A RIFF chunk, padded to even length.
pub fn riff_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let length = u32::try_from(data.len()).expect("chunk fits");
    let pad: &[u8] = if data.len() % 2 == 1 { &[0] } else { &[] };
    [&kind[..], &length.to_le_bytes(), data, pad].concat()
}

/// A RIFF/WEBP file from chunks.
pub fn riff_webp(chunks: &[Vec<u8>]) -> Vec<u8> {
    let body = chunks.concat();
    let size = u32::try_from(body.len() + 4).expect("file fits");
    [&b"RIFF"[..], &size.to_le_bytes(), b"WEBP", &body].concat()
}

fn webp_with_chunks(width: u32, height: u32, noise: u8, orientation: u16) -> Vec<u8> {
    let simple = webp(width, height, noise);
    let vp8l = simple[12..].to_vec();
    let canvas = |v: u32| (v - 1).to_le_bytes()[..3].to_vec();
    // Alpha, EXIF and XMP flags.
    let vp8x = [&[0x10 | 0x08 | 0x04, 0, 0, 0][..], &canvas(width), &canvas(height)].concat();
    riff_webp(&[
        riff_chunk(b"VP8X", &vp8x),
        vp8l,
        riff_chunk(b"EXIF", &exif_tiff(orientation, true, true)),
        riff_chunk(b"XMP ", &xmp_packet()),
    ])
}

/// An animated lossless WebP: VP8X with the alpha and animation flags, ANIM,
/// and two full-canvas ANMF frames.
pub fn webp_animated(width: u32, height: u32) -> Vec<u8> {
    let canvas = |v: u32| (v - 1).to_le_bytes()[..3].to_vec();
    let vp8x = [&[0x10 | 0x02, 0, 0, 0][..], &canvas(width), &canvas(height)].concat();
    let frame = |noise| {
        // Offset (0, 0), size, 100 ms, alpha-blend, no disposal.
        let header = [&[0; 6][..], &canvas(width), &canvas(height), &[100, 0, 0, 0]].concat();
        riff_chunk(b"ANMF", &[header, webp(width, height, noise)[12..].to_vec()].concat())
    };
    riff_webp(&[
        riff_chunk(b"VP8X", &vp8x),
        riff_chunk(b"ANIM", &[0, 0, 0, 0, 0, 0]),
        frame(8),
        frame(64),
    ])
}

/// An extended-format lossless WebP with EXIF (Make/Model/DateTime, GPS,
/// thumbnail) and XMP chunks.
pub fn webp_with_metadata() -> Vec<u8> {
    webp_with_chunks(48, 40, 64, 1)
}

/// Like [`webp_with_metadata`] but with EXIF Orientation `orientation`.
pub fn webp_with_orientation(orientation: u16) -> Vec<u8> {
    webp_with_chunks(48, 40, 64, orientation)
}

/// An HTML page (to be declared as an image).
pub fn html_page() -> Vec<u8> {
    b"<!DOCTYPE html>\n<html><body><script>fetch('/steal?c=' + document.cookie)</script></body></html>\n".to_vec()
}
