//! PDF: a real PDF with no active content.
//!
//! Structure: the file must start with `%PDF-<digit>` and end with a trailer
//! (`startxref` followed by `%%EOF` in the last KiB).
//!
//! Active content is **refused**, not flagged: a PDF served from our domain
//! should be a document, not a program. Every object is read by a real PDF
//! tokenizer (`lexer.rs`), and the file is refused when a name outside
//! strings and comments is an action or trigger that runs code, starts
//! programs, sends data, fetches other files or plays media (see the list in
//! `lexer.rs`), or is `/OpenAction` with anything but an inline destination
//! array. Names are compared after decoding `#xx` escapes.
//!
//! Why stream data is skipped rather than searched: a reader never takes
//! objects from the data of an ordinary stream (page content, images,
//! fonts), and compressed data is random bytes that would sooner or later
//! contain `/JS`. So the data is skipped by its `/Length` when that is a
//! direct integer with `endstream` right after it. Otherwise, as readers do,
//! it ends at the first `endstream`, searched for from the start of the data
//! (so a `/Length` that overshoots cannot hide the objects after it).
//!
//! The exception is **object streams** (PDF 1.5; `/Type /ObjStm` or a
//! `/First` key), which hold ordinary objects in compressed form. Their data
//! is inflated, capped at [`OBJECT_STREAM_BUDGET`] bytes for the whole file,
//! and scanned with the same tokenizer. Refusing them instead would refuse
//! most PDFs written by current software (qpdf, Acrobat, browsers' "save as
//! PDF"). An object stream that cannot be checked is refused as unsafe. That
//! covers a filter other than a single `/FlateDecode`, predictor
//! `/DecodeParms`, an indirect `/Length`, and data that does not inflate
//! (including encrypted object streams).
//!
//! The file is read in 64 KiB blocks; stream data is skipped with a seek, so
//! memory stays fixed whatever the file size. Looking for `endstream` at a
//! stream's declared end is a small read of its own, so a file of many tiny
//! streams with lying lengths cannot make every stream cost a block.

mod lexer;

use std::io::{ErrorKind, Read, Seek, SeekFrom};

use flate2::{Decompress, FlushDecompress, Status};
use memchr::memmem;

use self::lexer::{Decoding, Fed, Lexer, StreamDict, is_regular, is_whitespace};
use crate::Rejection;

const BLOCK: usize = 64 * 1024;
/// Where `%%EOF` must start, counted from the end of the file.
const EOF_WINDOW: u64 = 1024;
/// How far from the end `startxref` is looked for.
const TRAILER_WINDOW: u64 = 2048;
/// Most bytes all object streams of one file may inflate to. Object streams
/// hold only dictionaries and arrays (streams stay outside), typically a few
/// KiB to a few MiB even for large documents; the cap stops a deflate bomb.
const OBJECT_STREAM_BUDGET: u64 = 64 << 20;
/// Blanks looked through for `endstream` after a stream's declared length.
const ENDSTREAM_LOOKAHEAD: usize = 64;
const ENDSTREAM: &[u8] = b"endstream";
/// Inflated bytes handed to the tokenizer at a time.
const INFLATE_CHUNK: usize = 32 * 1024;

pub(super) fn check<R: Read + Seek>(mut reader: R) -> Result<(), Rejection> {
    check_header(&mut reader)?;
    check_trailer(&mut reader)?;
    scan(reader, OBJECT_STREAM_BUDGET)
}

/// Tokenizes the whole file, skipping or decoding stream data.
fn scan<R: Read + Seek>(reader: R, mut budget: u64) -> Result<(), Rejection> {
    let mut input = Input::new(reader);
    let mut lexer = Lexer::default();
    let mut pos = 0;
    loop {
        let bytes = input.at(pos, 1)?;
        if bytes.is_empty() {
            return lexer.finish();
        }
        let len = bytes.len() as u64;
        pos = match lexer.feed(bytes)? {
            Fed::All => pos + len,
            Fed::Stream { at, dict } => skip_stream(&mut input, pos + at as u64, dict, &mut budget)?,
        };
    }
}

/// Skips (or, for an object stream, checks) the data of the stream whose
/// keyword ends at `keyword_end`; returns the offset just after `endstream`.
fn skip_stream<R: Read + Seek>(
    input: &mut Input<R>,
    keyword_end: u64,
    dict: StreamDict,
    budget: &mut u64,
) -> Result<u64, Rejection> {
    let eol = match input.at(keyword_end, 2)? {
        [b'\r', b'\n', ..] => 2,
        [b'\r' | b'\n', ..] => 1,
        _ => 0,
    };
    let data_start = keyword_end + eol;
    if dict.object_stream {
        let length = dict.length.ok_or_else(|| {
            Rejection::unsafe_content("a PDF object stream has no direct /Length, so it cannot be checked")
        })?;
        scan_object_stream(input, data_start, length, dict.decoding, budget)?;
        return endstream_at(input, data_start.saturating_add(length))?
            .ok_or_else(|| Rejection::corrupt("a PDF object stream does not end where its /Length says"));
    }
    if let Some(length) = dict.length
        && let Some(end) = endstream_at(input, data_start.saturating_add(length))?
    {
        return Ok(end);
    }
    find_endstream(input, data_start)?.ok_or_else(|| Rejection::corrupt("a PDF stream has no endstream"))
}

/// The offset after `endstream` when it follows `pos` after blanks only.
fn endstream_at<R: Read + Seek>(input: &mut Input<R>, pos: u64) -> Result<Option<u64>, Rejection> {
    let bytes = input.peek(pos)?;
    let blanks = bytes.iter().take_while(|&&b| is_whitespace(b)).count();
    let rest = &bytes[blanks..];
    let keyword_ends = rest.get(ENDSTREAM.len()).is_none_or(|&b| !is_regular(b));
    Ok((rest.starts_with(ENDSTREAM) && keyword_ends).then(|| pos + (blanks + ENDSTREAM.len()) as u64))
}

/// The offset after the first `endstream` at or after `from`.
fn find_endstream<R: Read + Seek>(input: &mut Input<R>, from: u64) -> Result<Option<u64>, Rejection> {
    let finder = memmem::Finder::new(ENDSTREAM);
    let mut pos = from;
    loop {
        let bytes = input.at(pos, ENDSTREAM.len())?;
        if bytes.len() < ENDSTREAM.len() {
            return Ok(None);
        }
        if let Some(at) = finder.find(bytes) {
            return Ok(Some(pos + (at + ENDSTREAM.len()) as u64));
        }
        // Keep the last bytes: the keyword may straddle two blocks.
        pos += (bytes.len() + 1 - ENDSTREAM.len()) as u64;
    }
}

/// Scans the objects inside an object stream's `length` bytes of data.
fn scan_object_stream<R: Read + Seek>(
    input: &mut Input<R>,
    data_start: u64,
    length: u64,
    decoding: Decoding,
    budget: &mut u64,
) -> Result<(), Rejection> {
    let mut objects = Lexer::default();
    let mut pos = data_start;
    let end = data_start.saturating_add(length);
    match decoding {
        Decoding::Raw => {
            while pos < end {
                let bytes = input.at(pos, 1)?;
                if bytes.is_empty() {
                    return Err(Rejection::corrupt("a PDF object stream is truncated"));
                }
                let bytes = &bytes[..bytes.len().min((end - pos) as usize)];
                spend(budget, bytes.len())?;
                scan_objects(&mut objects, bytes)?;
                pos += bytes.len() as u64;
            }
        }
        Decoding::Flate => {
            let mut inflater = Decompress::new(true);
            let mut out = vec![0u8; INFLATE_CHUNK];
            loop {
                let bytes = if pos < end { input.at(pos, 1)? } else { &[] };
                let bytes = &bytes[..bytes.len().min(end.saturating_sub(pos) as usize)];
                let (in_before, out_before) = (inflater.total_in(), inflater.total_out());
                let status = inflater
                    .decompress(bytes, &mut out, FlushDecompress::None)
                    .map_err(|_| undecodable())?;
                let consumed = inflater.total_in() - in_before;
                let produced = (inflater.total_out() - out_before) as usize;
                pos += consumed;
                spend(budget, produced)?;
                scan_objects(&mut objects, &out[..produced])?;
                match status {
                    Status::StreamEnd => break,
                    _ if consumed == 0 && produced == 0 => return Err(undecodable()),
                    _ => {}
                }
            }
        }
        Decoding::Unsupported => {
            return Err(Rejection::unsafe_content(
                "a PDF object stream is encoded with something other than FlateDecode, so it cannot be checked",
            ));
        }
    }
    objects.finish()
}

/// Objects inside an object stream are never streams themselves.
fn scan_objects(objects: &mut Lexer, bytes: &[u8]) -> Result<(), Rejection> {
    match objects.feed(bytes)? {
        Fed::All => Ok(()),
        Fed::Stream { .. } => Err(Rejection::corrupt("a PDF object stream contains a stream")),
    }
}

fn undecodable() -> Rejection {
    Rejection::unsafe_content("a PDF object stream cannot be inflated (damaged or encrypted), so it cannot be checked")
}

fn spend(budget: &mut u64, bytes: usize) -> Result<(), Rejection> {
    *budget = budget.checked_sub(bytes as u64).ok_or_else(|| {
        Rejection::unsafe_content(format!(
            "the PDF's object streams inflate to more than {} MiB",
            OBJECT_STREAM_BUDGET >> 20
        ))
    })?;
    Ok(())
}

/// The file through one reusable block; any offset can be asked for.
struct Input<R> {
    reader: R,
    block: Vec<u8>,
    /// Bytes looked at outside the block, leaving it in place.
    peeked: [u8; ENDSTREAM_LOOKAHEAD],
    /// File offset of `block[0]`.
    start: u64,
    len: usize,
    /// The block reaches the end of the file.
    at_end: bool,
}

impl<R: Read + Seek> Input<R> {
    fn new(reader: R) -> Self {
        Input {
            reader,
            block: vec![0; BLOCK],
            peeked: [0; ENDSTREAM_LOOKAHEAD],
            start: 0,
            len: 0,
            at_end: false,
        }
    }

    /// The bytes from `pos` to the end of the block, at least `want` of
    /// them (`want <= BLOCK`) unless the file ends first; empty at the end.
    fn at(&mut self, pos: u64, want: usize) -> Result<&[u8], Rejection> {
        if !self.buffered(pos, want) {
            self.reader
                .seek(SeekFrom::Start(pos))
                .and_then(|_| read_full(&mut self.reader, &mut self.block))
                .map(|len| {
                    self.start = pos;
                    self.len = len;
                    self.at_end = len < self.block.len();
                })
                .map_err(|e| super::read_error(&e))?;
        }
        Ok(&self.block[(pos - self.start) as usize..self.len])
    }

    /// At least `ENDSTREAM_LOOKAHEAD` bytes from `pos` unless the file ends
    /// first, read outside the block when they are not in it.
    fn peek(&mut self, pos: u64) -> Result<&[u8], Rejection> {
        if self.buffered(pos, ENDSTREAM_LOOKAHEAD) {
            return Ok(&self.block[(pos - self.start) as usize..self.len]);
        }
        let len = self
            .reader
            .seek(SeekFrom::Start(pos))
            .and_then(|_| read_full(&mut self.reader, &mut self.peeked))
            .map_err(|e| super::read_error(&e))?;
        Ok(&self.peeked[..len])
    }

    /// Whether the block holds `want` bytes from `pos`, or all up to the end.
    fn buffered(&self, pos: u64, want: usize) -> bool {
        let end = self.start + self.len as u64;
        (self.start..=end).contains(&pos) && (self.at_end || end - pos >= want as u64)
    }
}

/// Reads until `buf` is full or the file ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        match reader.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
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

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;
    use crate::corpus::zlib;

    fn code(pdf: &[u8]) -> Result<(), &'static str> {
        scan(Cursor::new(pdf), OBJECT_STREAM_BUDGET).map_err(|r| r.code())
    }

    /// `{head}{length of data}{tail}`, the data, then `after`.
    fn with_length(head: &str, tail: &str, data: &[u8], after: &[u8]) -> Vec<u8> {
        [format!("{head}{}{tail}", data.len()).as_bytes(), data, after].concat()
    }

    fn object_stream(dict: &str, data: &[u8]) -> Vec<u8> {
        with_length(
            &format!("1 0 obj << {dict} /Length "),
            " >> stream\r\n",
            data,
            b"\nendstream endobj",
        )
    }

    #[test]
    fn stream_data_is_skipped_by_its_length() {
        let content = b"BT (/JS) Tj /AA gs ( ET";
        let catalog = b"\nendstream endobj 2 0 obj << /Type /Catalog >> endobj";
        let pdf = with_length("1 0 obj << /Length ", " >> stream\n", content, catalog);
        assert_eq!(code(&pdf), Ok(()), "content stream data is not objects");
        let after = [&pdf[..], b" 3 0 obj << /AA 5 0 R >> endobj"].concat();
        assert_eq!(code(&after), Err("unsafe_content"), "the lexer resumes after endstream");
    }

    #[test]
    fn binary_data_containing_endstream_is_skipped_whole() {
        let data = b"\x00endstream /JS (\xFF";
        let pdf = with_length(
            "<< /Length ",
            " /Filter /FlateDecode >> stream\r\n",
            data,
            b"\r\nendstream",
        );
        assert_eq!(code(&pdf), Ok(()));
    }

    #[test]
    fn a_wrong_or_indirect_length_falls_back_to_the_first_endstream() {
        let hidden = b"stream data\nendstream endobj 2 0 obj << /AA << /O 3 0 R >> >> endobj 3 0 obj << /Length 1 >> stream\nx\nendstream";
        for length in ["200", "5", "4 0 R", "99999999999"] {
            let pdf = [format!("1 0 obj << /Length {length} >> stream\n").as_bytes(), hidden].concat();
            assert_eq!(code(&pdf), Err("unsafe_content"), "/Length {length}");
        }
        assert_eq!(
            code(b"<< /Length 3 >> stream\nabc"),
            Err("corrupt_file"),
            "no endstream at all"
        );
    }

    #[test]
    fn object_streams_are_inflated_and_scanned() {
        let objects = b"4 0 5 20 << /Type /Page /Parent 2 0 R >> << /S /JavaScript /JS (x) >>";
        let clean = b"4 0 5 20 << /Type /Page /Parent 2 0 R >> << /S /GoTo /D [4 0 R /Fit] >>";
        let flate = "/Type /ObjStm /N 2 /First 9 /Filter /FlateDecode";
        assert_eq!(code(&object_stream(flate, &zlib(objects))), Err("unsafe_content"));
        assert_eq!(code(&object_stream(flate, &zlib(clean))), Ok(()));
        assert_eq!(
            code(&object_stream("/N 2 /First 9 /Filter [/FlateDecode]", &zlib(objects))),
            Err("unsafe_content"),
            "no /Type"
        );
        assert_eq!(
            code(&object_stream("/Type /ObjStm /N 2 /First 9", objects)),
            Err("unsafe_content")
        );
        assert_eq!(code(&object_stream("/Type /ObjStm /N 2 /First 9", clean)), Ok(()));
    }

    #[test]
    fn object_streams_that_cannot_be_checked_are_refused() {
        let clean = b"4 0 << /Type /Page >>";
        for (dict, data) in [
            ("/Type /ObjStm /Filter /LZWDecode", clean.to_vec()),
            (
                "/Type /ObjStm /Filter /FlateDecode /DecodeParms << /Predictor 12 >>",
                zlib(clean),
            ),
            ("/Type /ObjStm /Filter /FlateDecode", b"not zlib".to_vec()),
            ("/Type /ObjStm /Filter /FlateDecode", zlib(clean)[..6].to_vec()),
        ] {
            assert_eq!(code(&object_stream(dict, &data)), Err("unsafe_content"), "{dict}");
        }
        let indirect = b"1 0 obj << /Type /ObjStm /Length 2 0 R >> stream\n4 0 << >>\nendstream";
        assert_eq!(code(indirect), Err("unsafe_content"));
        let nested = object_stream("/Type /ObjStm", b"4 0 << /Length 1 >> stream\nx\nendstream");
        assert_eq!(code(&nested), Err("corrupt_file"));
        let wrong_length = b"1 0 obj << /Type /ObjStm /Length 2 >> stream\n4 0 << >>\nendstream";
        assert_eq!(code(wrong_length), Err("corrupt_file"));
    }

    #[test]
    fn object_streams_share_one_inflate_budget() {
        let objects = [&b"4 0 << /Type /Page /Contents ("[..], &[b' '; 4000], b") >>"].concat();
        let stream = object_stream("/Type /ObjStm /Filter /FlateDecode", &zlib(&objects));
        let two = [stream.clone(), stream].concat();
        let scan_with = |budget| scan(Cursor::new(&two), budget).map_err(|r| r.code());
        assert_eq!(scan_with(2 * objects.len() as u64), Ok(()));
        assert_eq!(scan_with(2 * objects.len() as u64 - 1), Err("unsafe_content"));
    }

    /// A reader that returns at most `step` bytes a read and counts them.
    struct Trickle<'a> {
        data: Cursor<&'a [u8]>,
        step: usize,
        read: u64,
    }

    impl<'a> Trickle<'a> {
        fn new(data: &'a [u8], step: usize) -> Self {
            Trickle {
                data: Cursor::new(data),
                step,
                read: 0,
            }
        }
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.step);
            let n = self.data.read(&mut buf[..n])?;
            self.read += n as u64;
            Ok(n)
        }
    }

    impl Seek for Trickle<'_> {
        fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
            self.data.seek(pos)
        }
    }

    #[test]
    fn lying_lengths_cost_no_block_reads() {
        // Many tiny streams whose lengths point a block away: reading the
        // file must stay proportional to its size.
        let stream = b"<< /Length 200000 >> stream\nx\nendstream\n";
        let pdf = stream.repeat(BLOCK * 4 / stream.len());
        let mut reader = Trickle::new(&pdf, usize::MAX);
        assert_eq!(scan(&mut reader, OBJECT_STREAM_BUDGET).map_err(|r| r.code()), Ok(()));
        assert!(
            reader.read < 3 * pdf.len() as u64,
            "read {} bytes of {}",
            reader.read,
            pdf.len()
        );
    }

    #[test]
    fn every_read_size_gives_the_same_answer() {
        let clean = object_stream("/Type /ObjStm /Filter /FlateDecode", &zlib(b"4 0 << /A 1 >>"));
        let refused = object_stream("/Type /ObjStm /Filter /FlateDecode", &zlib(b"4 0 << /AA 1 >>"));
        for step in [1, 2, 3, 7, 64] {
            let run = |pdf: &[u8]| scan(Trickle::new(pdf, step), OBJECT_STREAM_BUDGET).map_err(|r| r.code());
            assert_eq!(run(&clean), Ok(()), "step {step}");
            assert_eq!(run(&refused), Err("unsafe_content"), "step {step}");
        }
    }
}
