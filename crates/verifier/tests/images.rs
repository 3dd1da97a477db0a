//! Type sniffing and image verification on the generated corpus.

use std::time::{Duration, Instant};

use broker_verifier::{
    Format, ImageInfo, Limits, Rejection, SNIFF_LEN, check_image, check_type, corpus, detect, strip_metadata,
    verify_image, verify_image_with,
};

fn code<T>(result: Result<T, Rejection>) -> Result<T, &'static str> {
    result.map_err(|r| r.code())
}

#[test]
fn real_images_are_detected_by_content() {
    assert_eq!(detect(&corpus::jpeg_with_metadata()), Some(Format::Jpeg));
    assert_eq!(detect(&corpus::png_with_metadata()), Some(Format::Png));
    assert_eq!(detect(&corpus::webp_with_metadata()), Some(Format::WebP));
    assert_eq!(detect(&corpus::webp(8, 8, 1)), Some(Format::WebP));
    assert_eq!(detect(&corpus::html_page()), None);
}

#[test]
fn declared_type_must_match_content() {
    let png = corpus::png(8, 8, 1);
    assert_eq!(
        check_type(Format::Jpeg, &png[..SNIFF_LEN.min(png.len())]),
        Err(Rejection::TypeMismatch {
            expected: Format::Jpeg,
            found: Some(Format::Png)
        })
    );
    assert_eq!(
        code(check_type(Format::Jpeg, &corpus::html_page())),
        Err("not_an_image")
    );
    assert_eq!(code(check_type(Format::Png, &corpus::pdf_ok())), Err("not_an_image"));
    assert_eq!(
        code(check_type(Format::Csv, &corpus::jpeg(8, 8, 1))),
        Err("type_mismatch")
    );
    assert_eq!(check_type(Format::Jpeg, &corpus::jpeg(8, 8, 1)), Ok(()));
}

#[test]
fn valid_images_pass_with_their_dimensions() {
    let limits = Limits::default();
    assert_eq!(
        check_image(Format::Jpeg, &corpus::jpeg_with_metadata(), &limits),
        Ok(ImageInfo { width: 64, height: 48 })
    );
    assert_eq!(
        check_image(Format::Png, &corpus::png_with_metadata(), &limits),
        Ok(ImageInfo { width: 40, height: 30 })
    );
    assert_eq!(
        check_image(Format::WebP, &corpus::webp_with_metadata(), &limits),
        Ok(ImageInfo { width: 48, height: 40 })
    );
    assert_eq!(
        check_image(Format::Jpeg, &corpus::jpeg_with_orientation(6), &limits),
        Ok(ImageInfo { width: 64, height: 48 })
    );
}

#[test]
fn mismatched_and_fake_images_are_refused() {
    let limits = Limits::default();
    assert_eq!(
        check_image(Format::Jpeg, &corpus::png(8, 8, 1), &limits),
        Err(Rejection::TypeMismatch {
            expected: Format::Jpeg,
            found: Some(Format::Png)
        })
    );
    assert_eq!(
        code(check_image(Format::Jpeg, &corpus::html_page(), &limits)),
        Err("not_an_image")
    );
    assert_eq!(code(check_image(Format::Csv, b"a,b\n", &limits)), Err("not_an_image"));
}

#[test]
fn work_on_the_stripped_copy_is_returned_only_for_a_verified_image() {
    let limits = Limits::default();
    for (format, bytes) in [
        (Format::Jpeg, corpus::jpeg_with_metadata()),
        (Format::Png, corpus::png_with_metadata()),
        (Format::WebP, corpus::webp_with_metadata()),
    ] {
        let (info, copy) = verify_image_with(format, &bytes, &limits, |stripped| stripped).expect("a valid image");
        let stripped = strip_metadata(format, &bytes).expect("strips");
        assert_eq!(verify_image(format, &bytes, &limits).expect("a valid image").info, info);
        assert_eq!(copy, stripped, "{format:?}: `then` was handed the served copy");
        assert!(copy.bytes.len() < bytes.len(), "{format:?}: metadata was removed");
    }
    // A refused image: whatever ran beside the checks is dropped with it.
    assert_eq!(
        code(verify_image_with(
            Format::Jpeg,
            &corpus::truncated_jpeg(),
            &limits,
            |s| s.bytes.len()
        )),
        Err("corrupt_file")
    );
}

#[test]
fn truncated_jpeg_is_corrupt() {
    assert_eq!(
        code(check_image(Format::Jpeg, &corpus::truncated_jpeg(), &Limits::default())),
        Err("corrupt_file")
    );
}

#[test]
fn damaged_pixel_data_is_corrupt() {
    let mut png = corpus::png(32, 32, 50);
    // Corrupt the zlib stream inside IDAT and fix up the CRC so only the
    // decoder can notice.
    let idat = memchr::memmem::find(&png, b"IDAT").expect("IDAT");
    let len = u32::from_be_bytes(png[idat - 4..idat].try_into().expect("4 bytes")) as usize;
    for b in &mut png[idat + 4..idat + 4 + len] {
        *b = 0xFF;
    }
    let crc = crc32fast::hash(&png[idat..idat + 4 + len]);
    png[idat + 4 + len..idat + 8 + len].copy_from_slice(&crc.to_be_bytes());
    assert_eq!(
        code(check_image(Format::Png, &png, &Limits::default())),
        Err("corrupt_file")
    );
}

#[test]
fn decompression_bomb_is_refused_from_the_header_fast() {
    let bomb = corpus::png_bomb(30_000, 30_000);
    assert!(bomb.len() < 200, "the bomb is tiny: {} bytes", bomb.len());
    let start = Instant::now();
    let result = check_image(Format::Png, &bomb, &Limits::default());
    assert_eq!(
        result,
        Err(Rejection::DimensionsTooLarge {
            width: 30_000,
            height: 30_000
        })
    );
    // Allocating and inflating 2.7 GB would take far longer than this.
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
}

#[test]
fn pixel_count_and_side_limits_are_both_enforced() {
    let limits = Limits {
        max_image_side: 100,
        max_image_pixels: 2_000,
        ..Limits::default()
    };
    assert_eq!(
        check_image(Format::Png, &corpus::png_bomb(101, 1), &limits),
        Err(Rejection::DimensionsTooLarge { width: 101, height: 1 })
    );
    assert_eq!(
        check_image(Format::Jpeg, &corpus::jpeg(50, 41, 1), &limits),
        Err(Rejection::DimensionsTooLarge { width: 50, height: 41 })
    );
    assert_eq!(
        check_image(Format::Jpeg, &corpus::jpeg(50, 40, 1), &limits),
        Ok(ImageInfo { width: 50, height: 40 })
    );
}

#[test]
fn a_jpeg_with_two_frames_is_corrupt() {
    // Found by fuzzing: a second frame after the first scan was ignored by
    // the decoder while a comment separated them, so the file passed, and
    // failed to decode once stripping had removed the comment.
    let plain = corpus::jpeg(16, 16, 8);
    let frame = memchr::memmem::find(&plain, &[0xFF, 0xC0]).expect("SOF0");
    let eoi = plain.len() - 2;
    let two_frames = [&plain[..eoi], &corpus::jpeg_segment(0xFE, b"note"), &plain[frame..]].concat();
    assert_eq!(
        code(check_image(Format::Jpeg, &two_frames, &Limits::default())),
        Err("corrupt_file")
    );
}

#[test]
fn a_webp_whose_image_lies_past_its_riff_size_is_corrupt() {
    // Found by fuzzing: decoders ignore the RIFF size, so the image decoded,
    // while stripping removed everything past the RIFF size as trailing data.
    let mut webp = corpus::webp(16, 16, 8);
    webp[4..8].copy_from_slice(&4u32.to_le_bytes());
    assert_eq!(
        code(check_image(Format::WebP, &webp, &Limits::default())),
        Err("corrupt_file")
    );
}

#[test]
fn an_image_that_strips_but_does_not_decode_is_refused() {
    let bytes = corpus::png_with_bad_pixels();
    assert!(
        strip_metadata(Format::Png, &bytes).is_ok(),
        "the container is well formed"
    );
    // The stripped copy is handed over before the decode's verdict (a
    // completion starts writing it); the verdict still refuses the image.
    let mut handed_over = false;
    let verdict = verify_image_with(Format::Png, &bytes, &Limits::default(), |_| handed_over = true);
    assert_eq!(code(verdict.map(drop)), Err("corrupt_file"));
    assert!(handed_over);
}
