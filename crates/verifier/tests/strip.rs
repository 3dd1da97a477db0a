//! Proof that stripping removes what it claims and nothing else: secrets are
//! gone from the bytes, kamadak-exif finds no EXIF (or only Orientation), an
//! independent container parser (img-parts) finds only allowed segments, and
//! the decoded pixels are identical to the original's.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io::Cursor;

use broker_verifier::Removed::{Comment, Exif, Gps, Iptc, Other, Text, Thumbnail, Timestamp, TrailingData, Xmp};
use broker_verifier::corpus::{
    self, ICC_MARKER, SECRET_COMMENT, SECRET_DATETIME, SECRET_IPTC, SECRET_MAKE, SECRET_MODEL, SECRET_XMP,
    TRAILING_SCRIPT,
};
use broker_verifier::{Format, ICC_PROFILE_MAX, Removed, Stripped, strip_metadata};
use img_parts::{Bytes, ImageICC};

fn strip(format: Format, bytes: &[u8]) -> Stripped {
    strip_metadata(format, bytes).unwrap_or_else(|r| panic!("{format:?} strip failed: {r}"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

fn assert_no_secrets(bytes: &[u8]) {
    for secret in [
        SECRET_MAKE,
        SECRET_MODEL,
        SECRET_DATETIME,
        SECRET_XMP,
        SECRET_IPTC,
        SECRET_COMMENT,
        TRAILING_SCRIPT,
    ] {
        assert!(!contains(bytes, secret.as_bytes()), "{secret:?} survived stripping");
    }
}

/// Decoded pixels, without applying orientation.
fn pixels(format: Format, bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let image_format = match format {
        Format::Jpeg => image::ImageFormat::Jpeg,
        Format::Png => image::ImageFormat::Png,
        _ => image::ImageFormat::WebP,
    };
    let image = image::load_from_memory_with_format(bytes, image_format).expect("decodes");
    let rgba = image.to_rgba8();
    (rgba.width(), rgba.height(), rgba.into_raw())
}

fn assert_same_pixels(format: Format, original: &[u8], stripped: &[u8]) {
    let before = pixels(format, original);
    let after = pixels(format, stripped);
    assert_eq!((before.0, before.1), (after.0, after.1));
    assert!(before.2 == after.2, "decoded pixels differ after stripping");
}

/// All EXIF fields kamadak-exif finds in a container, as (tag, value).
fn exif_fields(bytes: &[u8]) -> Vec<(exif::Tag, exif::In, Option<u32>)> {
    match exif::Reader::new().read_from_container(&mut Cursor::new(bytes)) {
        Ok(exif) => exif.fields().map(|f| (f.tag, f.ifd_num, f.value.get_uint(0))).collect(),
        Err(exif::Error::NotFound(_)) => Vec::new(),
        Err(e) => panic!("unexpected EXIF error: {e}"),
    }
}

/// Strips `input` and asserts that exactly `removed` went, that no secret
/// and no EXIF field is left, and that the pixels are those of `original`.
fn strip_clean(format: Format, input: &[u8], original: &[u8], removed: &[Removed]) -> Stripped {
    let stripped = strip(format, input);
    assert_eq!(stripped.removed, removed);
    assert_no_secrets(&stripped.bytes);
    assert_eq!(exif_fields(&stripped.bytes), []);
    assert_same_pixels(format, original, &stripped.bytes);
    stripped
}

/// The corpus's images with every kind of metadata, one per format.
fn originals() -> [(Format, Vec<u8>); 3] {
    [
        (Format::Jpeg, corpus::jpeg_with_metadata()),
        (Format::Png, corpus::png_with_metadata()),
        (Format::WebP, corpus::webp_with_metadata()),
    ]
}

#[test]
fn corpus_originals_really_carry_the_metadata() {
    for (format, bytes) in originals() {
        let fields = exif_fields(&bytes);
        assert!(fields.iter().any(|f| f.0 == exif::Tag::Make), "{format:?}");
        assert!(fields.iter().any(|f| f.0 == exif::Tag::GPSLatitude), "{format:?}");
        assert!(contains(&bytes, SECRET_XMP.as_bytes()), "{format:?}");
        pixels(format, &bytes);
    }
    let jpeg_fields = exif_fields(&corpus::jpeg_with_metadata());
    assert!(jpeg_fields.iter().any(|f| f.1 == exif::In::THUMBNAIL));
}

#[test]
fn jpeg_metadata_is_removed_losslessly() {
    let original = corpus::jpeg_with_metadata();
    let removed = [Exif, Gps, Xmp, Iptc, Comment, Thumbnail, Timestamp, Other];
    let stripped = strip_clean(Format::Jpeg, &original, &original, &removed);

    let jpeg = img_parts::jpeg::Jpeg::from_bytes(Bytes::from(stripped.bytes.clone())).expect("parses");
    let markers: Vec<u8> = jpeg.segments().iter().map(|s| s.marker()).collect();
    for marker in &markers {
        assert!(
            matches!(marker, 0xE0 | 0xE2 | 0xEE | 0xDB | 0xC4 | 0xC0..=0xCF | 0xDA | 0xDD),
            "unexpected marker {marker:02X} in {markers:02X?}"
        );
    }
    assert!(markers.contains(&0xEE), "Adobe APP14 must be kept");
    let icc = jpeg.icc_profile().expect("ICC profile kept");
    assert_eq!(&icc[..], ICC_MARKER);
    assert!(stripped.bytes.len() < original.len());
    assert!(stripped.bytes.ends_with(&[0xFF, 0xD9]));
}

#[test]
fn jpeg_without_metadata_is_unchanged() {
    let plain = corpus::jpeg(40, 30, 20);
    let stripped = strip(Format::Jpeg, &plain);
    assert_eq!(stripped.bytes, plain);
    assert_eq!(stripped.removed, []);
}

/// Counts `FF xx` marker pairs with `xx` in `markers` (stuffed FF00 never
/// matches).
fn count_markers(jpeg: &[u8], markers: std::ops::RangeInclusive<u8>) -> usize {
    jpeg.windows(2)
        .filter(|w| w[0] == 0xFF && markers.contains(&w[1]))
        .count()
}

#[test]
fn progressive_scans_and_restart_markers_survive() {
    let (width, height) = (96u16, 80u16);
    let rgb = corpus::pixels(u32::from(width), u32::from(height), 3, 200, 5);
    let mut plain = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut plain, 85);
    encoder.set_progressive(true);
    encoder.set_restart_interval(2);
    encoder
        .encode(&rgb, width, height, jpeg_encoder::ColorType::Rgb)
        .expect("encode");
    assert!(count_markers(&plain, 0xDA..=0xDA) > 1, "several scans");
    assert!(count_markers(&plain, 0xD0..=0xD7) > 10, "restart markers");

    let original = corpus::splice_jpeg(&plain, &[corpus::jpeg_segment(0xFE, SECRET_COMMENT.as_bytes())]);
    let stripped = strip(Format::Jpeg, &original);
    assert_eq!(stripped.removed, [Removed::Comment]);
    assert_eq!(
        stripped.bytes, plain,
        "everything but the comment is copied byte for byte"
    );
    assert_same_pixels(Format::Jpeg, &original, &stripped.bytes);

    // Metadata hidden between two scans is found too.
    let second_scan = memchr::memmem::find_iter(&plain, &[0xFF, 0xDA])
        .nth(1)
        .expect("second scan");
    let hidden = [
        &plain[..second_scan],
        &corpus::jpeg_segment(0xE1, b"Exif\0\0junk"),
        &plain[second_scan..],
    ]
    .concat();
    let stripped = strip(Format::Jpeg, &hidden);
    assert_eq!(stripped.removed, [Removed::Exif]);
    assert_eq!(stripped.bytes, plain);
}

#[test]
fn trailing_script_after_eoi_is_removed() {
    let original = corpus::jpeg_with_trailing_script();
    let stripped = strip(Format::Jpeg, &original);
    assert_eq!(stripped.removed, [Removed::TrailingData]);
    assert!(!contains(&stripped.bytes, b"<script"));
    assert!(stripped.bytes.ends_with(&[0xFF, 0xD9]));
    assert_same_pixels(Format::Jpeg, &original, &stripped.bytes);
}

#[test]
fn only_orientation_survives_when_not_upright() {
    for (format, original) in [
        (Format::Jpeg, corpus::jpeg_with_orientation(6)),
        (Format::Jpeg, corpus::jpeg_with_orientation(8)),
        (Format::Png, corpus::png_with_orientation(6)),
        (Format::WebP, corpus::webp_with_orientation(8)),
    ] {
        let expected = exif_fields(&original)
            .into_iter()
            .find(|f| f.0 == exif::Tag::Orientation)
            .and_then(|f| f.2);
        let stripped = strip(format, &original);
        assert_no_secrets(&stripped.bytes);
        assert_eq!(
            exif_fields(&stripped.bytes),
            [(exif::Tag::Orientation, exif::In::PRIMARY, expected)],
            "{format:?}"
        );
        assert!(stripped.removed.contains(&Removed::Exif));
        assert_same_pixels(format, &original, &stripped.bytes);
        let mut decoder = image::ImageReader::new(Cursor::new(&stripped.bytes))
            .with_guessed_format()
            .expect("guess")
            .into_decoder()
            .expect("decoder");
        let orientation = image::ImageDecoder::orientation(&mut decoder).expect("orientation");
        assert_ne!(orientation, image::metadata::Orientation::NoTransforms, "{format:?}");
    }
}

#[test]
fn png_metadata_is_removed_losslessly() {
    let original = corpus::png_with_metadata();
    let removed = [Exif, Gps, Xmp, Text, Timestamp, Other];
    let stripped = strip_clean(Format::Png, &original, &original, &removed);
    let png = img_parts::png::Png::from_bytes(Bytes::from(stripped.bytes)).expect("parses");
    let kinds: Vec<[u8; 4]> = png.chunks().iter().map(|c| c.kind()).collect();
    assert_eq!(kinds.first(), Some(b"IHDR"));
    assert_eq!(kinds.last(), Some(b"IEND"));
    assert!(
        kinds.contains(b"gAMA") && kinds.contains(b"pHYs"),
        "colour/density chunks kept"
    );
    for kind in [b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME", b"prVt"] {
        assert!(!kinds.contains(kind), "{} survived", String::from_utf8_lossy(kind));
    }
}

#[test]
fn webp_metadata_is_removed_losslessly() {
    let original = corpus::webp_with_metadata();
    let input = [original.clone(), TRAILING_SCRIPT.as_bytes().to_vec()].concat();
    let removed = [Exif, Gps, Xmp, Thumbnail, Timestamp, TrailingData];
    let stripped = strip_clean(Format::WebP, &input, &original, &removed);
    let webp = img_parts::webp::WebP::from_bytes(Bytes::from(stripped.bytes.clone())).expect("parses");
    let ids: Vec<[u8; 4]> = webp.chunks().iter().map(|c| c.id()).collect();
    assert_eq!(ids, [*b"VP8X", *b"VP8L"]);
    assert_eq!(stripped.bytes[20] & 0x0C, 0, "EXIF and XMP flags cleared");
    assert_eq!(stripped.bytes[20] & 0x10, 0x10, "alpha flag kept");
    let riff_size = u32::from_le_bytes(stripped.bytes[4..8].try_into().expect("4 bytes"));
    assert_eq!(riff_size as usize, stripped.bytes.len() - 8);
}

#[test]
fn corrupt_images_are_refused_by_the_stripper() {
    assert_eq!(
        strip_metadata(Format::Jpeg, &corpus::truncated_jpeg()).map_err(|r| r.code()),
        Err("corrupt_file")
    );
    let mut bad_crc = corpus::png_with_metadata();
    let idat = memchr::memmem::find(&bad_crc, b"IDAT").expect("IDAT");
    bad_crc[idat + 10] ^= 0x55;
    assert_eq!(
        strip_metadata(Format::Png, &bad_crc).map_err(|r| r.code()),
        Err("corrupt_file")
    );
    let mut short_webp = corpus::webp_with_metadata();
    short_webp.truncate(short_webp.len() - 10);
    assert_eq!(
        strip_metadata(Format::WebP, &short_webp).map_err(|r| r.code()),
        Err("corrupt_file")
    );
    assert_eq!(
        strip_metadata(Format::Jpeg, &corpus::png(4, 4, 1)).map_err(|r| r.code()),
        Err("corrupt_file")
    );
}

#[test]
fn stripping_arbitrary_prefixes_and_mutations_never_panics() {
    for (format, original) in originals() {
        for cut in (0..original.len()).step_by(7) {
            let _ = strip_metadata(format, &original[..cut]);
        }
        let mut mutated = original.clone();
        for i in (0..mutated.len()).step_by(13) {
            mutated[i] = mutated[i].wrapping_mul(31).wrapping_add(7);
            let _ = strip_metadata(format, &mutated);
        }
    }
}

/// Text an uploader hides in segments and chunks that decoding needs (or
/// that look as if it did).
const PLANTED: &[u8] = b"planted-text-that-must-not-survive";

/// Strips `original` and proves the planted text is gone and the decoded
/// pixels equal those of `reference` (the same image without the hostile
/// parts, which some decoders refuse).
fn strip_planted(format: Format, original: &[u8], reference: &[u8]) -> Stripped {
    assert!(contains(original, PLANTED));
    let stripped = strip(format, original);
    assert!(!contains(&stripped.bytes, PLANTED), "{format:?}: planted text survived");
    assert_same_pixels(format, reference, &stripped.bytes);
    stripped
}

#[test]
fn jpeg_hierarchical_segments_and_oversized_adobe_lose_their_text() {
    let plain = corpus::jpeg(32, 32, 16);
    let adobe: &[u8] = b"Adobe\0\x64\0\0\0\0\x01";
    let original = corpus::splice_jpeg(
        &plain,
        &[
            corpus::jpeg_segment(0xDE, PLANTED), // DHP
            corpus::jpeg_segment(0xDF, PLANTED), // EXP
            corpus::jpeg_segment(0xEE, &[adobe, PLANTED].concat()),
            corpus::jpeg_segment(0xEE, b"Adobe\0"), // too short for any reader
        ],
    );
    let stripped = strip_planted(Format::Jpeg, &original, &plain);
    assert_eq!(stripped.removed, [Removed::Other]);
    assert_eq!(
        stripped.bytes,
        corpus::splice_jpeg(&plain, &[corpus::jpeg_segment(0xEE, adobe)]),
        "the Adobe fields (colour transform) are kept"
    );
}

/// APP2 segments holding an ICC profile of `len` bytes of planted text.
fn icc_segments(len: usize) -> Vec<Vec<u8>> {
    let profile: Vec<u8> = PLANTED.iter().copied().cycle().take(len).collect();
    let chunks: Vec<&[u8]> = profile.chunks(60_000).collect();
    let count = u8::try_from(chunks.len()).expect("few chunks");
    (1..=count)
        .zip(&chunks)
        .map(|(number, chunk)| corpus::jpeg_segment(0xE2, &[&b"ICC_PROFILE\0"[..], &[number, count], chunk].concat()))
        .collect()
}

#[test]
fn jpeg_icc_profiles_are_kept_up_to_the_cap() {
    let plain = corpus::jpeg(16, 16, 8);
    let fits = corpus::splice_jpeg(&plain, &icc_segments(ICC_PROFILE_MAX));
    assert!(
        strip(Format::Jpeg, &fits).bytes == fits,
        "a profile within the cap is kept"
    );
    let too_big = corpus::splice_jpeg(&plain, &icc_segments(ICC_PROFILE_MAX + 1));
    let stripped = strip_planted(Format::Jpeg, &too_big, &plain);
    assert!(stripped.bytes == plain, "the profile is dropped whole");
    assert_eq!(stripped.removed, [Removed::Other]);
}

/// `chunks` inserted just before IEND, after the image data.
fn insert_before_iend(png: &[u8], chunks: &[Vec<u8>]) -> Vec<u8> {
    let at = png.len() - 12;
    [&png[..at], &chunks.concat(), &png[at..]].concat()
}

#[test]
fn png_animation_and_late_chunks_in_a_still_image_lose_their_text() {
    let plain = corpus::png(16, 16, 8);
    // Sequence 0, 16x16 at (0, 0), 1/10 s, no disposal, source blend.
    let fctl = [
        &[0, 0, 0, 0, 0, 0, 0, 16, 0, 0, 0, 16][..],
        &[0; 8],
        &[0, 1, 0, 10, 0, 0],
    ]
    .concat();
    let fdat = [&[0, 0, 0, 1][..], PLANTED].concat();
    let actl = corpus::png_chunk(b"acTL", &[0, 0, 0, 1, 0, 0, 0, 0]);
    let original = insert_before_iend(
        &plain,
        &[
            corpus::png_chunk(b"fcTL", &fctl),
            corpus::png_chunk(b"fdAT", &fdat),
            // After IDAT, acTL does not make the image animated.
            actl.clone(),
            corpus::png_chunk(b"gAMA", &[&45455u32.to_be_bytes()[..], PLANTED].concat()),
            // After IDAT, decoders ignore a colour profile.
            corpus::png_chunk(b"iCCP", &[&b"ICC\0\0"[..], &corpus::zlib_stored(PLANTED)].concat()),
        ],
    );
    let stripped = strip_planted(Format::Png, &original, &plain);
    assert_eq!(stripped.bytes, plain);
    assert_eq!(stripped.removed, [Removed::Other]);

    let animated = corpus::splice_png(&plain, &[actl, corpus::png_chunk(b"fcTL", &fctl)]);
    assert_eq!(
        strip(Format::Png, &animated).bytes,
        animated,
        "an animated PNG keeps its frames"
    );
}

#[test]
fn png_icc_profiles_are_kept_up_to_the_cap() {
    let plain = corpus::png(16, 16, 8);
    let iccp = |len: usize| {
        let profile: Vec<u8> = PLANTED.iter().copied().cycle().take(len).collect();
        corpus::png_chunk(b"iCCP", &[&b"ICC\0\0"[..], &corpus::zlib(&profile)].concat())
    };
    let fits = corpus::splice_png(&plain, &[iccp(ICC_PROFILE_MAX)]);
    assert!(
        strip(Format::Png, &fits).bytes == fits,
        "a profile within the cap is kept"
    );
    let too_big = corpus::splice_png(&plain, &[iccp(ICC_PROFILE_MAX + 1)]);
    let stripped = strip(Format::Png, &too_big);
    assert!(stripped.bytes == plain, "the profile is dropped");
    assert_eq!(stripped.removed, [Removed::Other]);
    assert_same_pixels(Format::Png, &too_big, &stripped.bytes);
}

/// The chunks of a RIFF/WEBP file after its 12-byte header.
fn webp_body(webp: &[u8]) -> &[u8] {
    &webp[12..]
}

#[test]
fn webp_animation_chunks_and_padding_in_a_still_image_lose_their_text() {
    let original = corpus::webp_with_metadata();
    let body = webp_body(&original);
    let (vp8x, rest) = (&body[8..18], &body[18..]);
    let frame = [&[0; 16][..], &corpus::riff_chunk(b"VP8L", PLANTED)].concat();
    let hostile = corpus::riff_webp(&[
        corpus::riff_chunk(b"VP8X", &[vp8x, PLANTED].concat()),
        rest.to_vec(),
        corpus::riff_chunk(b"ANIM", PLANTED),
        corpus::riff_chunk(b"ANMF", &frame),
    ]);
    let stripped = strip_planted(Format::WebP, &hostile, &original);
    assert_eq!(stripped.bytes, strip(Format::WebP, &original).bytes);
    assert!(stripped.removed.contains(&Removed::Other));
}

#[test]
fn webp_animation_frames_keep_only_their_image_data() {
    let animated = corpus::webp_animated(16, 16);
    assert_eq!(strip(Format::WebP, &animated).bytes, animated, "nothing to remove");
    let frame_at = memchr::memmem::find(&animated, b"ANMF").expect("a frame");
    let size = u32::from_le_bytes(animated[frame_at + 4..frame_at + 8].try_into().expect("4 bytes"));
    let frame_end = frame_at + 8 + size as usize;
    let extra = corpus::riff_chunk(b"ZZZZ", PLANTED);
    let grow = |at: usize, bytes: &mut Vec<u8>| {
        let old = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
        bytes[at..at + 4].copy_from_slice(&(old + extra.len() as u32).to_le_bytes());
    };
    let mut hostile = [&animated[..frame_end], &extra, &animated[frame_end..]].concat();
    grow(4, &mut hostile);
    grow(frame_at + 4, &mut hostile);
    let stripped = strip_planted(Format::WebP, &hostile, &animated);
    assert_eq!(stripped.bytes, animated);
    assert_eq!(stripped.removed, [Removed::Other]);
}

#[test]
fn webp_icc_profiles_are_kept_when_announced_and_up_to_the_cap() {
    let original = corpus::webp_with_metadata();
    let body = webp_body(&original);
    let with_icc = |len: usize, flag: u8| {
        let mut vp8x = body[..18].to_vec();
        vp8x[8] |= flag;
        let profile: Vec<u8> = PLANTED.iter().copied().cycle().take(len).collect();
        corpus::riff_webp(&[vp8x, corpus::riff_chunk(b"ICCP", &profile), body[18..].to_vec()])
    };
    let fits = strip(Format::WebP, &with_icc(ICC_PROFILE_MAX, 0x20));
    assert!(
        contains(&fits.bytes, PLANTED),
        "an announced profile within the cap is kept"
    );
    assert_eq!(fits.bytes[20] & 0x20, 0x20);
    for hostile in [with_icc(ICC_PROFILE_MAX + 1, 0x20), with_icc(100, 0)] {
        let stripped = strip_planted(Format::WebP, &hostile, &original);
        assert!(
            stripped.bytes == strip(Format::WebP, &original).bytes,
            "profile and flag gone"
        );
    }
}
