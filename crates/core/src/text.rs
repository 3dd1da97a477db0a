//! Fixed-width dates and numbers written into a `String` directly, without
//! the formatting machinery: the sign path writes several per request, and
//! every log line starts with a timestamp (issue 15).

use std::time::{SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;

/// `value` in decimal, zero-padded to at least `width` digits.
pub fn push_padded(text: &mut String, value: u32, width: usize) {
    let mut digits = [b'0'; 10];
    let mut rest = value;
    let mut start = digits.len();
    while rest > 0 || start == digits.len() {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    let start = start.min(digits.len() - width.min(digits.len()));
    for &digit in &digits[start..] {
        text.push(char::from(digit));
    }
}

/// The UTC date, its fields fixed-width with `sep` between them: `YYYY{sep}MM{sep}DD`.
pub fn push_date(text: &mut String, t: OffsetDateTime, sep: &str) {
    push_padded(text, t.year().unsigned_abs(), 4);
    text.push_str(sep);
    push_padded(text, u32::from(u8::from(t.month())), 2);
    text.push_str(sep);
    push_padded(text, u32::from(t.day()), 2);
}

/// `T` and the time of day, its fields fixed-width with `sep` between them.
pub fn push_time(text: &mut String, t: OffsetDateTime, sep: &str) {
    text.push('T');
    push_padded(text, u32::from(t.hour()), 2);
    text.push_str(sep);
    push_padded(text, u32::from(t.minute()), 2);
    text.push_str(sep);
    push_padded(text, u32::from(t.second()), 2);
}

/// `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds), the timestamp
/// tracing-subscriber's `SystemTime` timer writes, for the years 1970 to
/// 9999; `false`, and nothing written, for another time.
pub fn push_log_timestamp(text: &mut String, now: SystemTime) -> bool {
    let Ok(since) = now.duration_since(UNIX_EPOCH) else {
        return false;
    };
    let Some(t) = i64::try_from(since.as_secs())
        .ok()
        .and_then(|seconds| OffsetDateTime::from_unix_timestamp(seconds).ok())
        .filter(|t| t.year() <= 9999)
    else {
        return false;
    };
    push_iso(text, t, since.subsec_micros(), 6);
    true
}

/// `YYYY-MM-DDTHH:MM:SS.{fraction}Z`, the fraction of a second `fraction`
/// written zero-padded to `width` digits (3 for milliseconds, 6 for micro).
pub fn push_iso(text: &mut String, t: OffsetDateTime, fraction: u32, width: usize) {
    push_date(text, t, "-");
    push_time(text, t, ":");
    text.push('.');
    push_padded(text, fraction, width);
    text.push('Z');
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn numbers_and_timestamps_are_fixed_width() {
        let mut padded = String::new();
        for (value, width) in [(0, 2), (7, 3), (12_345, 4), (u32::MAX, 4)] {
            push_padded(&mut padded, value, width);
            padded.push(' ');
        }
        assert_eq!(padded, "00 007 12345 4294967295 ");
        let mut stamp = String::new();
        // 2026-03-04T05:06:07.000089Z
        let t = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_772_600_767_000_089_999);
        assert!(push_log_timestamp(&mut stamp, t));
        assert_eq!(stamp, "2026-03-04T05:06:07.000089Z");
        stamp.clear();
        assert!(push_log_timestamp(&mut stamp, SystemTime::UNIX_EPOCH));
        assert_eq!(stamp, "1970-01-01T00:00:00.000000Z");
        stamp.clear();
        for unusual in [
            SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_800),
            SystemTime::UNIX_EPOCH + Duration::from_secs(u64::MAX / 2),
            SystemTime::UNIX_EPOCH - Duration::from_secs(1),
        ] {
            assert!(!push_log_timestamp(&mut stamp, unusual));
            assert_eq!(stamp, "");
        }
    }
}
