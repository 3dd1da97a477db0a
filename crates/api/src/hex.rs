//! Lowercase hex, for SHA-256 digests in replies, metadata and fingerprints.

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
