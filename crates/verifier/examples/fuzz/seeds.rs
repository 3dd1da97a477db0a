//! The seed corpus, written from the crate's generated corpus.
//!
//! Seeds are committed (under `fuzz/seeds/<target>/`) rather than generated
//! at every run so that a run is reproducible from the repository alone and
//! minimised failures can be added as files. They are small on purpose:
//! every byte of a seed costs time in every mutated input made from it.
//! `--write-seeds` regenerates them.

use std::path::Path;

use broker_verifier::corpus;

/// `(target, file name, bytes)` for every seed.
fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let progressive = {
        let rgb = corpus::pixels(24, 16, 3, 64, 5);
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
        encoder.set_progressive(true);
        encoder.set_restart_interval(1);
        encoder
            .encode(&rgb, 24, 16, jpeg_encoder::ColorType::Rgb)
            .expect("encode");
        out
    };
    let small_png = corpus::png(12, 10, 32);
    let apng = corpus::splice_png(
        &small_png,
        &[
            corpus::png_chunk(b"acTL", &[0, 0, 0, 1, 0, 0, 0, 0]),
            corpus::png_chunk(
                b"fcTL",
                &[
                    0, 0, 0, 0, 0, 0, 0, 12, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 10, 0, 0,
                ],
            ),
            corpus::png_chunk(b"iCCP", &[&b"ICC\0\0"[..], &corpus::zlib(corpus::ICC_MARKER)].concat()),
        ],
    );
    vec![
        ("jpeg", "plain.jpg", corpus::jpeg(16, 16, 32)),
        ("jpeg", "metadata.jpg", corpus::jpeg_with_metadata()),
        ("jpeg", "orientation.jpg", corpus::jpeg_with_orientation(6)),
        ("jpeg", "progressive-restarts.jpg", progressive),
        ("jpeg", "trailing-script.jpg", corpus::jpeg_with_trailing_script()),
        ("png", "plain.png", small_png),
        ("png", "metadata.png", corpus::png_with_metadata()),
        ("png", "orientation.png", corpus::png_with_orientation(8)),
        ("png", "animated-icc.png", apng),
        ("webp", "plain.webp", corpus::webp(16, 16, 32)),
        ("webp", "metadata.webp", corpus::webp_with_metadata()),
        ("webp", "orientation.webp", corpus::webp_with_orientation(6)),
        ("webp", "animated.webp", corpus::webp_animated(8, 8)),
        ("csv", "ok.csv", corpus::csv_ok()),
        ("csv", "ragged.csv", corpus::csv_ragged()),
        ("csv", "latin1.csv", corpus::csv_not_utf8()),
        ("json", "ok.json", corpus::json_ok()),
        ("json", "malformed.json", corpus::json_malformed()),
        ("json", "deep.json", corpus::json_too_deep(70)),
        ("pdf", "ok.pdf", corpus::pdf_ok()),
        ("pdf", "javascript.pdf", corpus::pdf_with_javascript()),
        ("pdf", "escaped-javascript.pdf", corpus::pdf_with_escaped_javascript()),
        (
            "pdf",
            "rendition-fake-filter.pdf",
            corpus::pdf_with_rendition_behind_fake_filter(),
        ),
        ("pdf", "object-stream.pdf", corpus::pdf_in_object_stream()),
        (
            "pdf",
            "object-stream-javascript.pdf",
            corpus::pdf_with_javascript_in_object_stream(),
        ),
        ("zip", "ok.zip", corpus::zip_ok()),
        ("zip", "traversal.zip", corpus::zip_with_traversal()),
        ("zip", "symlink.zip", corpus::zip_with_symlink()),
        ("zip", "not-a-zip.zip", corpus::fake_zip()),
    ]
}

/// Replaces the seed directories under `dir` with freshly generated seeds.
pub fn write(dir: &Path) -> std::io::Result<()> {
    let seeds = seeds();
    let mut targets: Vec<&str> = seeds.iter().map(|(target, _, _)| *target).collect();
    targets.dedup();
    for target in targets {
        let target_dir = dir.join(target);
        if target_dir.exists() {
            std::fs::remove_dir_all(&target_dir)?;
        }
        std::fs::create_dir_all(&target_dir)?;
    }
    for (target, name, bytes) in &seeds {
        std::fs::write(dir.join(target).join(name), bytes)?;
    }
    println!(
        "wrote {} seeds ({} bytes) to {}",
        seeds.len(),
        seeds.iter().map(|s| s.2.len()).sum::<usize>(),
        dir.display()
    );
    Ok(())
}
