//! Resource limits for verification.
//!
//! They exist so that a small hostile file cannot make the verifier allocate
//! or inflate without bound (decompression bombs, zip bombs, deeply nested
//! JSON). The defaults suit avatars and exports of up to a few tens of MiB.

/// Limits applied by [`check_image`](crate::check_image) and
/// [`check_document`](crate::check_document).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest allowed image side, in pixels.
    pub max_image_side: u32,
    /// Largest allowed width × height.
    pub max_image_pixels: u64,
    /// Deepest allowed nesting of JSON arrays/objects. Values above 127 are
    /// capped by `serde_json`'s own recursion limit (reported as corrupt).
    pub json_max_depth: usize,
    /// Most entries a ZIP archive may list.
    pub zip_max_entries: usize,
    /// Largest total uncompressed size of a ZIP archive, in bytes.
    pub zip_max_uncompressed: u64,
    /// Largest uncompressed/compressed ratio, per entry and for the archive.
    pub zip_max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_image_side: 8192,
            max_image_pixels: 40_000_000,
            json_max_depth: 64,
            zip_max_entries: 10_000,
            zip_max_uncompressed: 1 << 30,
            zip_max_ratio: 100,
        }
    }
}
