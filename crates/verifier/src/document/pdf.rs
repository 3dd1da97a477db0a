//! PDF: a real PDF with no active content.
//!
//! Structure: the file must start with `%PDF-<digit>` and end with a trailer
//! (`startxref` followed by `%%EOF` in the last KiB).
//!
//! Active content is **refused**, not flagged: a PDF served from our domain
//! should be a document, not a program. The whole file is tokenised for PDF
//! names (decoding `#xx` escapes, so `/J#61vaScript` is `/JavaScript`) and
//! refused when it contains:
//!
//! * `/JavaScript`, `/Launch`, `/SubmitForm`, `/ImportData`, `/GoToE`
//!   (actions that run code, start programs, send data or open embedded
//!   files), `/EmbeddedFile(s)`, `/RichMedia(Execute)` (Flash and other
//!   embedded players), `/XFA` (XML forms, which carry their own scripts);
//! * `/JS` and `/AA` (script bodies, additional-actions triggers);
//! * `/OpenAction` with anything but an inline destination array: `/OpenAction
//!   [3 0 R /Fit]` only scrolls, a dictionary or reference may run an action.
//!
//! The file is read in 64 KiB blocks through a tokenizer whose state carries
//! over between blocks, so a name split across a block boundary is still
//! seen whole (the effect of a sliding window without re-scanning bytes).
//!
//! Limits, by design:
//! * Names inside *compressed* streams (notably PDF 1.5 object streams,
//!   `/Type /ObjStm` with `/FlateDecode`) are not visible without inflating
//!   them, which this check does not do; active content hidden that way is
//!   not detected. Uncompressed object streams are scanned.
//! * To avoid refusing PDFs because compressed (binary) data happens to
//!   contain the bytes `/JS ` or `/AA `, the two-letter names are ignored
//!   inside streams that declare a `/Filter`; every longer name above is
//!   refused anywhere, including inside stream data.
//! * Names in strings and comments count too: a false refusal is preferred
//!   to a tokenizer that an attacker can desynchronise.

use std::io::{ErrorKind, Read, Seek, SeekFrom};

use memchr::memmem;

use crate::Rejection;

const BLOCK: usize = 64 * 1024;
/// Where `%%EOF` must start, counted from the end of the file.
const EOF_WINDOW: u64 = 1024;
/// How far from the end `startxref` is looked for.
const TRAILER_WINDOW: u64 = 2048;
/// Refused wherever they appear.
const ALWAYS_REFUSED: [&[u8]; 10] = [
    b"JavaScript",
    b"Launch",
    b"SubmitForm",
    b"ImportData",
    b"GoToE",
    b"EmbeddedFile",
    b"EmbeddedFiles",
    b"RichMedia",
    b"RichMediaExecute",
    b"XFA",
];
/// Refused outside filtered stream data.
const REFUSED_IN_TEXT: [&[u8]; 2] = [b"JS", b"AA"];
/// Longer names cannot be on the list; their bytes are not kept.
const NAME_MAX: usize = 32;

pub(super) fn check<R: Read + Seek>(mut reader: R) -> Result<(), Rejection> {
    check_header(&mut reader)?;
    check_trailer(&mut reader)?;
    reader.seek(SeekFrom::Start(0)).map_err(|e| super::read_error(&e))?;
    let mut scanner = Scanner::default();
    let mut block = vec![0u8; BLOCK];
    loop {
        let n = match reader.read(&mut block) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(super::read_error(&e)),
        };
        scanner.feed(&block[..n]).map_err(refusal)?;
    }
    scanner.finish().map_err(refusal)
}

fn refusal(name: &'static [u8]) -> Rejection {
    Rejection::unsafe_content(format!(
        "the PDF contains active content (/{})",
        String::from_utf8_lossy(name)
    ))
}

fn check_header(reader: &mut impl Read) -> Result<(), Rejection> {
    let mut header = [0u8; 6];
    reader
        .read_exact(&mut header)
        .map_err(|_| Rejection::corrupt("the PDF header is missing"))?;
    if !header.starts_with(b"%PDF-") || !header[5].is_ascii_digit() {
        return Err(Rejection::corrupt("the PDF header is missing"));
    }
    Ok(())
}

fn check_trailer(reader: &mut (impl Read + Seek)) -> Result<(), Rejection> {
    let len = reader.seek(SeekFrom::End(0)).map_err(|e| super::read_error(&e))?;
    let tail_len = len.min(TRAILER_WINDOW);
    reader
        .seek(SeekFrom::Start(len - tail_len))
        .map_err(|e| super::read_error(&e))?;
    let mut tail = Vec::with_capacity(tail_len as usize);
    reader
        .take(tail_len)
        .read_to_end(&mut tail)
        .map_err(|e| super::read_error(&e))?;
    let eof = memmem::rfind(&tail, b"%%EOF").filter(|&at| (tail.len() - at) as u64 <= EOF_WINDOW);
    match eof {
        Some(eof) if memmem::find(&tail[..eof], b"startxref").is_some() => Ok(()),
        _ => Err(Rejection::corrupt(
            "the PDF has no trailer (startxref ... %%EOF) at its end",
        )),
    }
}

/// Streaming PDF tokenizer that looks for refused names.
#[derive(Default)]
struct Scanner {
    in_name: bool,
    name: [u8; NAME_MAX],
    name_len: usize,
    /// Set when a name outgrew `NAME_MAX`.
    name_overflow: bool,
    escape: Escape,
    /// The last bytes of the current run of regular characters (a keyword
    /// candidate), and its length.
    word: u128,
    word_len: usize,
    /// A `/Filter` was seen since the last `stream` or `endobj`.
    filter_seen: bool,
    /// Inside the data of a stream that declared a filter.
    in_filtered_stream: bool,
    /// `/OpenAction` was seen; its value starts at the next non-blank byte.
    open_action_pending: bool,
}

/// Progress through a `#xx` escape inside a name.
#[derive(Default, Clone, Copy)]
enum Escape {
    #[default]
    None,
    Hash,
    /// `#` and one hex digit (kept as written, in case the next is not hex).
    HashDigit(u8),
}

const STREAM: u128 = u128::from_be_bytes(*b"\0\0\0\0\0\0\0\0\0\0stream");
const ENDOBJ: u128 = u128::from_be_bytes(*b"\0\0\0\0\0\0\0\0\0\0endobj");
const ENDSTREAM: u128 = u128::from_be_bytes(*b"\0\0\0\0\0\0\0endstream");
const LOW_9_BYTES: u128 = (1 << 72) - 1;

fn is_whitespace(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

impl Scanner {
    fn feed(&mut self, bytes: &[u8]) -> Result<(), &'static [u8]> {
        for &b in bytes {
            self.byte(b)?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), &'static [u8]> {
        if self.in_name {
            self.end_name()?;
        }
        Ok(())
    }

    fn byte(&mut self, b: u8) -> Result<(), &'static [u8]> {
        let regular = !is_whitespace(b) && !is_delimiter(b);
        if regular && (self.in_filtered_stream || !self.in_name) {
            // Keyword candidate. Inside filtered stream data, name bytes count
            // too: `endstream` may follow binary bytes that started a "name".
            self.word = (self.word << 8) | u128::from(b);
            self.word_len = self.word_len.saturating_add(1);
        }
        if self.in_name {
            if regular {
                self.name_byte(b);
                return Ok(());
            }
            self.end_name()?;
        }
        if self.open_action_pending && !is_whitespace(b) {
            self.open_action_pending = false;
            if b != b'[' {
                return Err(b"OpenAction");
            }
        }
        if regular {
            return Ok(());
        }
        self.end_word();
        if b == b'/' {
            self.in_name = true;
            self.name_len = 0;
            self.name_overflow = false;
            self.escape = Escape::None;
        }
        Ok(())
    }

    fn name_byte(&mut self, b: u8) {
        match self.escape {
            Escape::None if b == b'#' => self.escape = Escape::Hash,
            Escape::None => self.push_name(b),
            Escape::Hash => match hex_value(b) {
                Some(_) => self.escape = Escape::HashDigit(b),
                None => {
                    self.escape = Escape::None;
                    self.push_name(b'#');
                    self.name_byte(b);
                }
            },
            Escape::HashDigit(first) => {
                self.escape = Escape::None;
                match (hex_value(first), hex_value(b)) {
                    (Some(hi), Some(lo)) => self.push_name(hi << 4 | lo),
                    _ => {
                        self.push_name(b'#');
                        self.push_name(first);
                        self.name_byte(b);
                    }
                }
            }
        }
    }

    fn push_name(&mut self, b: u8) {
        match self.name.get_mut(self.name_len) {
            Some(slot) => {
                *slot = b;
                self.name_len += 1;
            }
            None => self.name_overflow = true,
        }
    }

    fn end_name(&mut self) -> Result<(), &'static [u8]> {
        self.in_name = false;
        match std::mem::take(&mut self.escape) {
            Escape::None => {}
            Escape::Hash => self.push_name(b'#'),
            Escape::HashDigit(first) => {
                self.push_name(b'#');
                self.push_name(first);
            }
        }
        if self.name_overflow {
            return Ok(());
        }
        let name = &self.name[..self.name_len];
        if name == b"Filter" {
            self.filter_seen = true;
        }
        if name == b"OpenAction" {
            self.open_action_pending = true;
        } else if let Some(refused) = ALWAYS_REFUSED.into_iter().find(|r| *r == name) {
            return Err(refused);
        } else if !self.in_filtered_stream
            && let Some(refused) = REFUSED_IN_TEXT.into_iter().find(|r| *r == name)
        {
            return Err(refused);
        }
        Ok(())
    }

    fn end_word(&mut self) {
        if self.word_len == 0 {
            return;
        }
        if self.in_filtered_stream {
            if self.word_len >= 9 && self.word & LOW_9_BYTES == ENDSTREAM {
                self.in_filtered_stream = false;
                self.filter_seen = false;
            }
        } else if self.word_len == 6 && self.word == STREAM {
            self.in_filtered_stream = self.filter_seen;
            self.filter_seen = false;
        } else if self.word_len == 6 && self.word == ENDOBJ {
            self.filter_seen = false;
        }
        self.word = 0;
        self.word_len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(bytes: &[u8]) -> Result<(), &'static [u8]> {
        let mut whole = Scanner::default();
        let expected = whole.feed(bytes).and_then(|()| whole.finish());
        // Every split point gives the same answer.
        for split in 0..=bytes.len() {
            let mut parts = Scanner::default();
            let got = parts
                .feed(&bytes[..split])
                .and_then(|()| parts.feed(&bytes[split..]))
                .and_then(|()| parts.finish());
            assert_eq!(got, expected, "split at {split}");
        }
        expected
    }

    #[test]
    fn refused_names_are_found_even_when_escaped() {
        assert_eq!(
            scan(b"<< /S /JavaScript /JS (app.alert(1)) >>"),
            Err(&b"JavaScript"[..])
        );
        assert_eq!(scan(b"<</S/J#61vaScript>>"), Err(&b"JavaScript"[..]));
        assert_eq!(scan(b"<</S/#4C#61#75#6E#63#68>>"), Err(&b"Launch"[..]));
        assert_eq!(scan(b"<</AA 5 0 R>>"), Err(&b"AA"[..]));
        assert_eq!(scan(b"<</Names<</EmbeddedFiles 3 0 R>>>>"), Err(&b"EmbeddedFiles"[..]));
        assert_eq!(scan(b"/JS"), Err(&b"JS"[..]), "a name at the very end");
    }

    #[test]
    fn look_alike_names_pass() {
        assert_eq!(scan(b"<</JSON 1 /AAA 2 /JavaScripts 3 /J#61 4 /#4A#5 5 /JS#>>"), Ok(()));
        assert_eq!(scan(b"(plain JavaScript text) JS AA"), Ok(()));
        let long = [b"/".to_vec(), b"A".repeat(100), b"JavaScript".to_vec()].concat();
        assert_eq!(scan(&long), Ok(()));
    }

    #[test]
    fn open_action_is_allowed_only_as_a_destination_array() {
        assert_eq!(scan(b"<</OpenAction [3 0 R /Fit]>>"), Ok(()));
        assert_eq!(scan(b"<</OpenAction\n\t[3 0 R/FitH 0]>>"), Ok(()));
        assert_eq!(
            scan(b"<</OpenAction<</S/GoTo/D[3 0 R/Fit]>>>>"),
            Err(&b"OpenAction"[..])
        );
        assert_eq!(scan(b"<</OpenAction 9 0 R>>"), Err(&b"OpenAction"[..]));
    }

    #[test]
    fn short_names_are_ignored_only_inside_filtered_streams() {
        let filtered = b"1 0 obj <</Length 9 /Filter /FlateDecode>> stream\n\x01/JS \x02/AA \xFF\nendstream endobj";
        assert_eq!(scan(filtered), Ok(()));
        let after = [&filtered[..], b" 2 0 obj <</JS (x)>> endobj"].concat();
        assert_eq!(scan(&after), Err(&b"JS"[..]));
        let plain = b"1 0 obj <</Length 9>> stream\n/JS (x)\nendstream endobj";
        assert_eq!(scan(plain), Err(&b"JS"[..]));
        let long_name = b"<</Filter/FlateDecode>> stream\n\x01/JavaScript \x02\nendstream";
        assert_eq!(scan(long_name), Err(&b"JavaScript"[..]));
        let filter_in_other_object = b"<</Filter/Standard>> endobj <<>> stream\n/JS\nendstream";
        assert_eq!(scan(filter_in_other_object), Err(&b"JS"[..]));
        let glued = b"<</Filter/FlateDecode>>stream\r\nx/AA\x01zzendstream\nendobj /AA";
        assert_eq!(
            scan(glued),
            Err(&b"AA"[..]),
            "endstream glued to data still ends the stream"
        );
    }
}
