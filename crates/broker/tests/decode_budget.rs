//! The memory one completion may take: a tiny PNG that declares 8192×4882
//! pixels at 16 bits per RGBA channel is within the dimension limits, but
//! would make the decoder allocate 320 MB before finding its data missing.
//! The decode budget refuses it from the header.
//!
//! Its own test binary, with one test: the allocator below counts every
//! allocation of the process, and the app runs in this process.

use broker_testkit::{error_code, spawn_app};
use broker_verifier::corpus;
use broker_verifier::corpus::alloc;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// A well-formed, 100-byte PNG whose header declares `width`×`height` RGBA at
/// 16 bits per channel, with almost no image data.
fn png_rgba16_claiming(width: u32, height: u32) -> Vec<u8> {
    let ihdr = [&width.to_be_bytes()[..], &height.to_be_bytes(), &[16, 6, 0, 0, 0]].concat();
    [
        b"\x89PNG\r\n\x1a\n".to_vec(),
        corpus::png_chunk(b"IHDR", &ihdr),
        corpus::png_chunk(b"IDAT", &corpus::zlib_stored(&[0; 64])),
        corpus::png_chunk(b"IEND", b""),
    ]
    .concat()
}

#[tokio::test]
async fn a_deep_image_within_the_dimension_limits_is_refused_before_it_is_decoded() {
    let app = spawn_app().await;
    // 39,993,344 pixels: under VERIFY_MAX_IMAGE_PIXELS (40 M), sides under 8192.
    let bomb = png_rgba16_claiming(8192, 4882);
    let staging = app.upload("avatar", "deep.png", "image/png", bomb).await;

    let before = alloc::start();
    let refused = error_code(app.complete(&staging).await).await;
    let grown = alloc::peak_since(before);

    assert_eq!(refused, (422, "dimensions_too_large".into()));
    assert!(
        grown < 64 << 20,
        "completing took {} MB at its peak; 8192×4882 RGBA16 is 320 MB",
        grown >> 20
    );
    assert!(!app.object_exists(&staging).await, "the refused upload is deleted");
}
