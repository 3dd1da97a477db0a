//! Proving an image is real, within limits, before anyone else decodes it.
//!
//! The header is read first and its dimensions compared with [`Limits`], so a
//! tiny file claiming 30000x30000 pixels is refused before a pixel buffer is
//! allocated. Only then is the image fully decoded, under `image::Limits` (the
//! `image` crate has no limit by default), which proves the data is a
//! decodable image and not just a plausible header. JPEG decoders pad a
//! truncated scan instead of failing, so the container structure (segment
//! and chunk lengths, CRCs, an end marker) is checked by the stripper's parser
//! too; both must pass.
//!
//! [`verify_image`] does both and keeps the stripped copy: once the header is
//! within limits, the stripper's parse (which is also the strip that is
//! served) runs on a second thread while this one decodes, so a completion
//! pays for the slower of the two, not their sum. [`verify_image_with`] hands
//! the stripped copy to the caller's own work on that thread instead, while
//! the decode still runs (a completion hashes it and starts writing it). Every
//! check still runs to the end, and a malformed container is reported before a
//! decode failure, as when they ran in sequence.

use std::io::Cursor;
use std::sync::Mutex;

use image::{ImageError, ImageFormat, ImageReader};

use crate::{Format, Limits, Rejection, Stripped, check_type, strip_metadata};

/// Dimensions of a verified image, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    pub width: u32,
    pub height: u32,
}

/// A verified image and its metadata-free copy, from [`verify_image`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage {
    pub info: ImageInfo,
    pub stripped: Stripped,
}

/// Largest decoded size of one pixel among the formats we decode (RGBA16).
const MAX_BYTES_PER_PIXEL: u64 = 8;
/// Allowance for decoder working memory beyond the pixel buffer.
const DECODER_SLACK: u64 = 64 << 20;

/// Verifies that `bytes` is a real `format` image within `limits`.
pub fn check_image(format: Format, bytes: &[u8], limits: &Limits) -> Result<ImageInfo, Rejection> {
    verify_image(format, bytes, limits).map(|verified| verified.info)
}

/// Verifies that `bytes` is a real `format` image within `limits`, and
/// strips its metadata (see [`strip_metadata`]) in the same pass.
pub fn verify_image(format: Format, bytes: &[u8], limits: &Limits) -> Result<VerifiedImage, Rejection> {
    verify_image_with(format, bytes, limits, |stripped| stripped)
        .map(|(info, stripped)| VerifiedImage { info, stripped })
}

/// [`verify_image`], with the stripped copy handed to `then` on the strip's
/// thread as soon as it is made, while this one still decodes. `then` owns an
/// **unverified** copy: whatever it starts must not take effect before this
/// function returns `Ok` (a completion starts writing it, and finishes only
/// then). Its result is returned only if the image verified.
pub fn verify_image_with<T: Send>(
    format: Format,
    bytes: &[u8],
    limits: &Limits,
    then: impl FnOnce(Stripped) -> T + Send,
) -> Result<(ImageInfo, T), Rejection> {
    let image_format = match format {
        Format::Jpeg => ImageFormat::Jpeg,
        Format::Png => ImageFormat::Png,
        Format::WebP => ImageFormat::WebP,
        other => {
            return Err(Rejection::NotAnImage(format!(
                "{} is not an image format",
                other.mime()
            )));
        }
    };
    check_type(format, bytes)?;

    // Header only: decoders parse up to the first image data here.
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), image_format)
        .into_dimensions()
        .map_err(|e| decode_rejection(e, None))?;
    let pixels = u64::from(width) * u64::from(height);
    if width == 0 || height == 0 {
        return Err(Rejection::corrupt("the image has no pixels"));
    }
    if width > limits.max_image_side || height > limits.max_image_side || pixels > limits.max_image_pixels {
        return Err(Rejection::DimensionsTooLarge { width, height });
    }

    let mut decode_limits = image::Limits::default();
    decode_limits.max_image_width = Some(limits.max_image_side);
    decode_limits.max_image_height = Some(limits.max_image_side);
    decode_limits.max_alloc = Some(pixels.saturating_mul(MAX_BYTES_PER_PIXEL).saturating_add(DECODER_SLACK));
    let decode = || {
        let mut reader = ImageReader::with_format(Cursor::new(bytes), image_format);
        reader.limits(decode_limits);
        reader
            .decode()
            .map(drop)
            .map_err(|e| decode_rejection(e, Some((width, height))))
    };
    // The container must be well formed: chunk lengths and CRCs, segment
    // lengths, an end marker. The stripper's parser is the judge, so anything
    // that passes here can also be stripped; its verdict comes first.
    // (`then` runs once: on the strip's thread, or here if none could start.)
    let then = Mutex::new(Some(then));
    let strip = || {
        let stripped = strip_metadata(format, bytes)?;
        let then = then.lock().ok().and_then(|mut then| then.take());
        Ok(then.map(|then| then(stripped)))
    };
    let (after, decoded) = std::thread::scope(|scope| {
        let strip_there = std::thread::Builder::new()
            .name("verify-strip".into())
            .spawn_scoped(scope, strip);
        let decoded = decode();
        let after = match strip_there {
            Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to spare: strip on this one.
            Err(_) => strip(),
        };
        (after, decoded)
    });
    let after: Option<T> = after?;
    decoded?;
    // `strip` runs exactly once, so `then` is always there to take.
    let after = after.ok_or_else(|| Rejection::corrupt("internal: the stripped copy was handed over twice"))?;
    Ok((ImageInfo { width, height }, after))
}

fn decode_rejection(error: ImageError, dims: Option<(u32, u32)>) -> Rejection {
    match (error, dims) {
        (ImageError::Limits(_), Some((width, height))) => Rejection::DimensionsTooLarge { width, height },
        (error, _) => Rejection::corrupt(format!("the image cannot be decoded: {error}")),
    }
}
