//! JSON: well-formed, UTF-8, and not too deeply nested.
//!
//! `serde_json` validates the syntax while deserialising into `IgnoredAny`,
//! which keeps nothing. It does not validate UTF-8 inside ignored strings,
//! and its recursion guard is fixed (128), so the bytes are first passed
//! through [`Guard`], a small streaming scanner that checks UTF-8 and tracks
//! bracket depth outside strings. Deeper than the limit is refused as
//! `unsafe_content` (a resource attack on whoever parses it next, not a
//! damaged export); anything else wrong is `corrupt_file`.

use std::io::{self, BufReader, Read};

use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::Rejection;

pub(super) fn check(reader: impl Read, max_depth: usize) -> Result<(), Rejection> {
    let reader = skip_bom(reader).map_err(|e| super::read_error(&e))?;
    let mut guard = Guard::new(reader, max_depth);
    let result = {
        let mut de = serde_json::Deserializer::from_reader(BufReader::new(&mut guard));
        IgnoredAny::deserialize(&mut de).and_then(|_| de.end())
    };
    match (result, guard.failure) {
        (_, Some(Failure::TooDeep)) => Err(Rejection::unsafe_content(format!(
            "the JSON nests deeper than {max_depth} levels"
        ))),
        (_, Some(Failure::NotUtf8)) => Err(Rejection::corrupt("the JSON is not UTF-8 text")),
        (Err(error), None) if error.is_io() => Err(Rejection::corrupt(format!("the file could not be read: {error}"))),
        (Err(error), None) => Err(Rejection::corrupt(format!("the JSON is malformed: {error}"))),
        (Ok(()), None) => Ok(()),
    }
}

/// RFC 8259 lets parsers ignore a leading byte-order mark; `serde_json`
/// does not, so it is removed here.
fn skip_bom(mut reader: impl Read) -> io::Result<impl Read> {
    let mut head = [0u8; 3];
    let mut len = 0;
    while len < head.len() {
        match reader.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let keep = if head == *b"\xEF\xBB\xBF" { 0 } else { len };
    Ok(io::Cursor::new(head).take(keep as u64).chain(reader))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    TooDeep,
    NotUtf8,
}

/// A reader that checks UTF-8 and nesting depth of what passes through it.
struct Guard<R> {
    inner: R,
    max_depth: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// An incomplete UTF-8 sequence left at the end of the previous read.
    pending: [u8; 4],
    pending_len: usize,
    failure: Option<Failure>,
}

impl<R: Read> Guard<R> {
    fn new(inner: R, max_depth: usize) -> Self {
        Guard {
            inner,
            max_depth,
            depth: 0,
            in_string: false,
            escaped: false,
            pending: [0; 4],
            pending_len: 0,
            failure: None,
        }
    }

    fn fail(&mut self, failure: Failure) -> io::Error {
        self.failure = Some(failure);
        io::Error::new(io::ErrorKind::InvalidData, "JSON guard")
    }

    fn scan_depth(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        for &b in bytes {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth > self.max_depth {
                        return Err(Failure::TooDeep);
                    }
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    /// Validates `bytes` as the continuation of the UTF-8 seen so far.
    fn check_utf8(&mut self, mut bytes: &[u8]) -> Result<(), Failure> {
        if self.pending_len > 0 {
            let width = utf8_width(self.pending[0]);
            let take = (width - self.pending_len).min(bytes.len());
            self.pending[self.pending_len..self.pending_len + take].copy_from_slice(&bytes[..take]);
            self.pending_len += take;
            bytes = &bytes[take..];
            if self.pending_len < width {
                return Ok(());
            }
            std::str::from_utf8(&self.pending[..width]).map_err(|_| Failure::NotUtf8)?;
            self.pending_len = 0;
        }
        if let Err(e) = std::str::from_utf8(bytes) {
            let rest = &bytes[e.valid_up_to()..];
            if e.error_len().is_some() || rest.len() > 3 {
                return Err(Failure::NotUtf8);
            }
            self.pending[..rest.len()].copy_from_slice(rest);
            self.pending_len = rest.len();
        }
        Ok(())
    }
}

/// Length of the sequence a UTF-8 leading byte starts (only called on bytes
/// `from_utf8` left as an incomplete sequence, so always 2..=4).
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

impl<R: Read> Read for Guard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && self.pending_len > 0 {
            return Err(self.fail(Failure::NotUtf8));
        }
        let chunk = &buf[..n];
        if let Err(failure) = self.check_utf8(chunk).and_then(|()| self.scan_depth(chunk)) {
            return Err(self.fail(failure));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out at most `step` bytes per read, to split every token.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn code(json: &[u8], max_depth: usize) -> Result<(), &'static str> {
        for step in [1, 2, 3, 8192] {
            let result = check(Trickle { data: json, step }, max_depth).map_err(|r| r.code());
            let again = check(json, max_depth).map_err(|r| r.code());
            assert_eq!(result, again, "step {step}");
        }
        check(json, max_depth).map_err(|r| r.code())
    }

    #[test]
    fn valid_json_passes() {
        assert_eq!(
            code(br#"{"a": [1, 2.5e3, true, null, "x\"]}\u00e9 \u2603"], "b": {}}"#, 3),
            Ok(())
        );
        assert_eq!(code("[\"z\u{fc}rich \u{1F600}\"]".as_bytes(), 1), Ok(()));
        assert_eq!(code(b"\xEF\xBB\xBF 42 ", 0), Ok(()));
    }

    #[test]
    fn depth_is_counted_outside_strings_only() {
        assert_eq!(code(b"[[[1]]]", 3), Ok(()));
        assert_eq!(code(b"[[[1]]]", 2), Err("unsafe_content"));
        assert_eq!(code(br#"["[[[[[[", "{{{{{{\"[[[["]"#, 1), Ok(()));
        let deep = [vec![b'['; 100_000], vec![b']'; 100_000]].concat();
        assert_eq!(code(&deep, 64), Err("unsafe_content"));
    }

    #[test]
    fn malformed_and_non_utf8_are_corrupt() {
        for bad in [
            &b"{\"a\": }"[..],
            b"[1, 2",
            b"{} {}",
            b"",
            b"nul",
            b"[\"\xFF\"]",
            b"[\"\xC3\"]",
            b"\"\xE2\x82\"",
        ] {
            assert_eq!(code(bad, 64), Err("corrupt_file"), "{bad:?}");
        }
    }
}
