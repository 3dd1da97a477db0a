//! Finding the end of JPEG entropy-coded data, fast.
//!
//! After a start-of-scan header the compressed data runs until the next
//! marker: a 0xFF byte followed by anything except 0x00 (a stuffed 0xFF data
//! byte) or 0xD0..=0xD7 (restart markers, which belong to the scan). In
//! photographic data about one byte in 256 is 0xFF, far too often for a
//! per-hit `memchr` to keep up with a plain memory copy. So the data is
//! checked in 256-byte lanes with a branch-free test the compiler vectorises
//! ("is any 0xFF here followed by a non-zero byte?"); only the rare lanes that
//! answer yes are searched precisely. Lanes are copied to the output 8 KiB at
//! a time right after being scanned, while they are still in cache.

/// Bytes scanned then copied in one go.
const BLOCK: usize = 8 * 1024;
/// Bytes tested at once by the vectorised pre-filter.
const LANE: usize = 256;

/// Copies entropy-coded data starting at `start` into `out` and returns the
/// index of the 0xFF that starts the next marker, or `src.len()` when the data
/// runs to the end (a truncated file).
pub(super) fn copy_until_marker(src: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
    let mut pos = start;
    while pos < src.len() {
        let end = pos.saturating_add(BLOCK).min(src.len());
        if let Some(marker) = find_marker(src, pos, end) {
            out.extend_from_slice(&src[pos..marker]);
            return marker;
        }
        out.extend_from_slice(&src[pos..end]);
        pos = end;
    }
    src.len()
}

/// The first index in `from..to` holding a 0xFF that starts a marker. The
/// byte after `to` may be looked at.
fn find_marker(src: &[u8], from: usize, to: usize) -> Option<usize> {
    let mut lane = from;
    while lane < to {
        let lane_end = lane.saturating_add(LANE).min(to);
        let clean = match (src.get(lane..lane_end), src.get(lane + 1..lane_end + 1)) {
            (Some(bytes), Some(next)) if bytes.len() == LANE => !any_ff_before_nonzero(bytes, next),
            _ => false,
        };
        if !clean {
            for hit in memchr::memchr_iter(0xFF, &src[lane..lane_end]) {
                let at = lane + hit;
                match src.get(at + 1) {
                    Some(0x00 | 0xD0..=0xD7) => {}
                    _ => return Some(at),
                }
            }
        }
        lane = lane_end;
    }
    None
}

/// Whether some `bytes[i] == 0xFF` has `next[i] != 0`; written without
/// branches so it compiles to SIMD compares.
fn any_ff_before_nonzero(bytes: &[u8], next: &[u8]) -> bool {
    bytes
        .iter()
        .zip(next)
        .fold(0u8, |acc, (&b, &n)| acc | (u8::from(b == 0xFF) & u8::from(n != 0)))
        != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(src: &[u8]) -> (usize, Vec<u8>) {
        let mut out = Vec::new();
        let end = copy_until_marker(src, 0, &mut out);
        (end, out)
    }

    #[test]
    fn stuffed_bytes_and_restarts_are_data() {
        let mut src = vec![0x12; 3 * BLOCK + 77];
        for i in (0..src.len() - 1).step_by(97) {
            src[i] = 0xFF;
            src[i + 1] = if i % 2 == 0 { 0x00 } else { 0xD3 };
        }
        let marker_at = src.len();
        src.extend_from_slice(&[0xFF, 0xD9]);
        let (end, out) = scan(&src);
        assert_eq!(end, marker_at);
        assert_eq!(out, src[..marker_at]);
    }

    #[test]
    fn finds_markers_at_every_offset_including_lane_and_block_edges() {
        for at in [
            0,
            1,
            LANE - 1,
            LANE,
            LANE + 1,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            2 * BLOCK + 5,
        ] {
            let mut src = [0xFF, 0x00].repeat(BLOCK + 100);
            src[at] = 0xFF;
            src[at + 1] = 0xC4;
            // At an odd offset the FF before `at` is now followed by FF (a
            // fill byte), so the marker starts one byte earlier.
            let expected = if at % 2 == 1 { at - 1 } else { at };
            let (end, out) = scan(&src);
            assert_eq!(end, expected, "marker at {at}");
            assert_eq!(out, src[..expected]);
        }
    }

    #[test]
    fn fill_bytes_and_a_final_ff_end_the_data() {
        assert_eq!(scan(&[1, 2, 0xFF, 0xFF, 0xD9]).0, 2);
        assert_eq!(scan(&[1, 2, 0xFF]).0, 2);
        assert_eq!(scan(&[1, 2, 3]).0, 3);
        assert_eq!(scan(&[]).0, 0);
    }

    #[test]
    fn prefilter_matches_the_definition() {
        let mut bytes = [0u8; LANE];
        let mut next = [0u8; LANE];
        assert!(!any_ff_before_nonzero(&bytes, &next));
        bytes[100] = 0xFF;
        assert!(!any_ff_before_nonzero(&bytes, &next));
        next[100] = 0xD9;
        assert!(any_ff_before_nonzero(&bytes, &next));
    }
}
