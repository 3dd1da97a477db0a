//! The PDF tokenizer behind the active-content check.
//!
//! Why a real tokenizer: a scanner that only looks for names and keywords in
//! raw bytes can be steered by an attacker. `(stream)` inside a string once
//! switched the old scanner into "stream data" mode, after which `/JS` and
//! `/AA` were ignored. So this follows the lexical rules of ISO 32000-1 §7.2
//! and §7.3 exactly. Literal strings count balanced parentheses and backslash
//! escapes. Hex strings, comments and names (with `#xx` escapes) are separate
//! tokens. `(stream)`, `<73747265616D>` and `% stream` are all text, never
//! the `stream` keyword or a name.
//!
//! The lexer is push-based. Bytes arrive in blocks and every state carries
//! over, so a token split across two reads is seen whole. It does not read
//! stream data. When the `stream` keyword follows a dictionary it stops and
//! hands the caller what that dictionary said about the data (`/Length`,
//! `/Filter`, `/DecodeParms`, and whether it is an object stream). The caller
//! skips the data or decodes it, then resumes the lexer after `endstream`.
//! A `stream` keyword anywhere else is refused: nothing a reader accepts
//! puts it there, and allowing it would let data and objects be confused.

use crate::Rejection;

/// Names whose presence means active content. Actions that run code
/// (`JavaScript`, `JS`, `Rendition` with its `/JS`), start programs
/// (`Launch`), send data (`SubmitForm`, `ImportData`), open other or embedded
/// documents (`GoToR` fetches UNC paths and leaks NTLM hashes; `GoToE`,
/// `EmbeddedFile(s)`), play media (`Sound`, `Movie`, `RichMedia(Execute)`,
/// `GoTo3DView`), trigger actions (`AA`), or carry XML forms with their own
/// scripts (`XFA`).
const REFUSED: [&[u8]; 17] = [
    b"JavaScript",
    b"JS",
    b"AA",
    b"Launch",
    b"SubmitForm",
    b"ImportData",
    b"GoToE",
    b"GoToR",
    b"GoTo3DView",
    b"EmbeddedFile",
    b"EmbeddedFiles",
    b"RichMedia",
    b"RichMediaExecute",
    b"Rendition",
    b"Sound",
    b"Movie",
    b"XFA",
];
/// Longer names cannot be on the list, nor a key this module reads; their
/// bytes are not kept.
const NAME_MAX: usize = 32;
/// Longer words cannot be a keyword or a `/Length` this module reads.
const WORD_MAX: usize = 20;

/// What a stream's dictionary says about its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StreamDict {
    /// `/Length` when it is a single direct integer.
    pub length: Option<u64>,
    /// `/Type /ObjStm`, or a `/First` key (readers locate object streams
    /// through the cross-reference stream and need only `/N` and `/First`,
    /// so a missing or indirect `/Type` does not make it anything else).
    pub object_stream: bool,
    pub decoding: Decoding,
}

/// How the data of a stream can be decoded by this module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Decoding {
    /// No filter.
    Raw,
    /// `/FlateDecode` (alone or as a one-element array), no `/DecodeParms`.
    Flate,
    /// Anything else: another filter, a chain, predictors, an indirect value.
    Unsupported,
}

/// What [`Lexer::feed`] stopped at.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Fed {
    /// Every byte was consumed.
    All,
    /// A `stream` keyword after a dictionary ends just before `bytes[at]`,
    /// which is not consumed (it starts the end-of-line before the data).
    Stream { at: usize, dict: StreamDict },
}

#[derive(Default)]
pub(super) struct Lexer {
    state: State,
    name: [u8; NAME_MAX],
    name_len: usize,
    /// Set when a name outgrew `NAME_MAX`.
    name_overflow: bool,
    escape: Escape,
    word: [u8; WORD_MAX],
    word_len: usize,
    word_overflow: bool,
    /// Open dictionaries and arrays.
    depth: u32,
    /// Entries of the outermost container, while one is open.
    entries: Entries,
    /// The outermost dictionary just closed, until the next token.
    after_dict: Option<StreamDict>,
    /// `/OpenAction` was seen; its value must be a destination array.
    open_action_pending: bool,
}

#[derive(Default, Clone, Copy)]
enum State {
    /// Between tokens.
    #[default]
    Between,
    Word,
    Name,
    Comment,
    /// Inside `( ... )`: open parentheses, and whether a `\` precedes.
    Literal {
        depth: u32,
        escaped: bool,
    },
    /// Inside `< ... >`.
    Hex,
    /// After a `<` that may start `<<` or a hex string.
    Open,
    /// After a `>` that may start `>>`.
    Close,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Dict,
    Array,
}

enum Token<'a> {
    /// A name, `None` when longer than `NAME_MAX`.
    Name(Option<&'a [u8]>),
    Word(Word),
    Open(Container),
    Close(Container),
    String,
}

#[derive(Clone, Copy)]
enum Word {
    Integer(u64),
    /// `R`, which makes the two integers before it a reference.
    Reference,
    Null,
    Stream,
    Other,
}

pub(super) fn is_whitespace(b: u8) -> bool {
    matches!(b, 0 | b'\t' | b'\n' | 0x0C | b'\r' | b' ')
}

pub(super) fn is_regular(b: u8) -> bool {
    !is_whitespace(b) && !matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn refusal(name: &[u8]) -> Rejection {
    Rejection::unsafe_content(format!(
        "the PDF contains active content (/{})",
        String::from_utf8_lossy(name)
    ))
}

impl Lexer {
    /// Consumes `bytes`, stopping after a `stream` keyword.
    pub(super) fn feed(&mut self, bytes: &[u8]) -> Result<Fed, Rejection> {
        for (at, &b) in bytes.iter().enumerate() {
            if let Some(dict) = self.byte(b)? {
                return Ok(Fed::Stream { at, dict });
            }
        }
        Ok(Fed::All)
    }

    /// The end of the input: ends a pending name or keyword.
    pub(super) fn finish(&mut self) -> Result<(), Rejection> {
        let ended = match self.state {
            State::Name => self.end_name()?,
            State::Word => self.end_word()?,
            _ => None,
        };
        if ended.is_some() {
            return Err(Rejection::corrupt("the PDF ends inside a stream"));
        }
        if self.open_action_pending {
            return Err(refusal(b"OpenAction"));
        }
        Ok(())
    }

    fn byte(&mut self, b: u8) -> Result<Option<StreamDict>, Rejection> {
        loop {
            match self.state {
                State::Between => {
                    self.start_token(b)?;
                    return Ok(None);
                }
                State::Comment => {
                    if matches!(b, b'\r' | b'\n') {
                        self.state = State::Between;
                    }
                    return Ok(None);
                }
                State::Literal { depth, escaped } => {
                    self.state = match (escaped, b) {
                        (true, _) => State::Literal { depth, escaped: false },
                        (false, b'\\') => State::Literal { depth, escaped: true },
                        (false, b'(') => State::Literal {
                            depth: depth.saturating_add(1),
                            escaped: false,
                        },
                        (false, b')') if depth == 1 => {
                            self.state = State::Between;
                            self.token(Token::String)?;
                            return Ok(None);
                        }
                        (false, b')') => State::Literal {
                            depth: depth - 1,
                            escaped: false,
                        },
                        (false, _) => State::Literal { depth, escaped },
                    };
                    return Ok(None);
                }
                State::Hex => {
                    if b == b'>' {
                        self.state = State::Between;
                        self.token(Token::String)?;
                    }
                    return Ok(None);
                }
                State::Open => {
                    if b == b'<' {
                        self.state = State::Between;
                        self.token(Token::Open(Container::Dict))?;
                        return Ok(None);
                    }
                    self.state = State::Hex;
                }
                State::Close => {
                    self.state = State::Between;
                    if b == b'>' {
                        self.token(Token::Close(Container::Dict))?;
                        return Ok(None);
                    }
                    // A lone `>` outside a hex string is malformed; it is
                    // not a token for any reader.
                }
                State::Name => {
                    if is_regular(b) {
                        self.name_byte(b);
                        return Ok(None);
                    }
                    self.state = State::Between;
                    self.end_name()?;
                }
                State::Word => {
                    if is_regular(b) {
                        match self.word.get_mut(self.word_len) {
                            Some(slot) => {
                                *slot = b;
                                self.word_len += 1;
                            }
                            None => self.word_overflow = true,
                        }
                        return Ok(None);
                    }
                    self.state = State::Between;
                    if let Some(dict) = self.end_word()? {
                        return Ok(Some(dict));
                    }
                }
            }
        }
    }

    fn start_token(&mut self, b: u8) -> Result<(), Rejection> {
        match b {
            b'%' => self.state = State::Comment,
            b'(' => {
                self.state = State::Literal {
                    depth: 1,
                    escaped: false,
                }
            }
            b'<' => self.state = State::Open,
            b'>' => self.state = State::Close,
            b'[' => {
                self.token(Token::Open(Container::Array))?;
            }
            b']' => {
                self.token(Token::Close(Container::Array))?;
            }
            b'/' => {
                self.state = State::Name;
                self.name_len = 0;
                self.name_overflow = false;
                self.escape = Escape::None;
            }
            // PostScript calculator braces only occur inside stream data.
            b'{' | b'}' => {}
            _ if is_whitespace(b) => {}
            _ => {
                self.state = State::Word;
                self.word[0] = b;
                self.word_len = 1;
                self.word_overflow = false;
            }
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

    fn end_name(&mut self) -> Result<Option<StreamDict>, Rejection> {
        match std::mem::take(&mut self.escape) {
            Escape::None => {}
            Escape::Hash => self.push_name(b'#'),
            Escape::HashDigit(first) => {
                self.push_name(b'#');
                self.push_name(first);
            }
        }
        let name = self.name;
        let name = (!self.name_overflow).then_some(&name[..self.name_len]);
        self.token(Token::Name(name))
    }

    fn end_word(&mut self) -> Result<Option<StreamDict>, Rejection> {
        let word = &self.word[..self.word_len];
        let word = match word {
            _ if self.word_overflow => Word::Other,
            b"R" => Word::Reference,
            b"null" => Word::Null,
            b"stream" => Word::Stream,
            digits if digits.iter().all(u8::is_ascii_digit) => std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse().ok())
                .map_or(Word::Other, Word::Integer),
            _ => Word::Other,
        };
        self.token(Token::Word(word))
    }

    /// Handles one token; returns the stream dictionary when the token is a
    /// `stream` keyword right after it.
    fn token(&mut self, token: Token<'_>) -> Result<Option<StreamDict>, Rejection> {
        if std::mem::take(&mut self.open_action_pending) && !matches!(token, Token::Open(Container::Array)) {
            // `/OpenAction [3 0 R /Fit]` only scrolls; a dictionary or a
            // reference may run an action.
            return Err(refusal(b"OpenAction"));
        }
        let after_dict = self.after_dict.take();
        let depth = self.depth;
        match token {
            Token::Name(name) => {
                if let Some(name) = name {
                    if name == b"OpenAction" {
                        self.open_action_pending = true;
                    } else if let Some(refused) = REFUSED.iter().find(|r| **r == name) {
                        return Err(refusal(refused));
                    }
                }
                self.entries.name(depth, name);
            }
            Token::Word(Word::Stream) => {
                return match after_dict {
                    Some(dict) if depth == 0 => Ok(Some(dict)),
                    _ => Err(Rejection::corrupt(
                        "the PDF has a stream keyword that does not follow a dictionary",
                    )),
                };
            }
            Token::Word(word) => self.entries.word(depth, word),
            Token::Open(container) => {
                if depth == 0 {
                    self.entries = Entries::new(container);
                } else {
                    self.entries.open(depth, container);
                }
                self.depth = depth.saturating_add(1);
            }
            Token::Close(container) => {
                // A stray closing bracket at the top level is malformed and
                // ignored, like readers do.
                if let Some(inner) = depth.checked_sub(1) {
                    self.depth = inner;
                    if inner > 0 {
                        self.entries.close(inner);
                    } else if container == Container::Dict && self.entries.is_dict {
                        self.after_dict = Some(self.entries.finish());
                    }
                }
            }
            Token::String => self.entries.value_other(depth),
        }
        Ok(None)
    }
}

/// The entries of the outermost dictionary that matter for its stream:
/// tokens at depth 1 alternate between a key (a name) and its value (one
/// token, a reference `n g R`, or a nested container).
#[derive(Default)]
struct Entries {
    is_dict: bool,
    /// The key whose value is being read; `None` when a key is expected.
    key: Option<Key>,
    pending: Pending,
    /// Inside the array value of `/Filter`.
    in_filter_array: bool,
    length: Length,
    object_stream: bool,
    decoding: Option<Decoding>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Key {
    Length,
    Type,
    Filter,
    DecodeParms,
    Other,
}

/// Integers read so far of a value that may be a reference.
#[derive(Default, Clone, Copy)]
enum Pending {
    #[default]
    None,
    One(u64),
    Two,
}

#[derive(Default, Clone, Copy)]
enum Length {
    #[default]
    Absent,
    Direct(u64),
    /// Indirect, repeated or not an integer.
    Unusable,
}

impl Entries {
    fn new(container: Container) -> Self {
        Entries {
            is_dict: container == Container::Dict,
            ..Entries::default()
        }
    }

    fn finish(&mut self) -> StreamDict {
        self.complete_pending();
        StreamDict {
            length: match self.length {
                Length::Direct(n) => Some(n),
                Length::Absent | Length::Unusable => None,
            },
            object_stream: self.object_stream,
            decoding: self.decoding.unwrap_or(Decoding::Raw),
        }
    }

    fn name(&mut self, depth: u32, name: Option<&[u8]>) {
        if !self.is_dict {
            return;
        }
        if depth == 2 && self.in_filter_array {
            self.add_filter(name);
            return;
        }
        if depth != 1 {
            return;
        }
        match (self.key, self.pending) {
            (Some(key), Pending::None) => {
                self.key = None;
                match key {
                    Key::Type => self.object_stream |= name == Some(b"ObjStm"),
                    Key::Filter => self.add_filter(name),
                    Key::Length | Key::DecodeParms => self.unusable(key),
                    Key::Other => {}
                }
            }
            _ => {
                // An integer value is complete once the next key starts.
                self.complete_pending();
                self.start_key(name);
            }
        }
    }

    fn start_key(&mut self, name: Option<&[u8]>) {
        self.key = Some(match name {
            Some(b"Length") => Key::Length,
            Some(b"Type") => Key::Type,
            Some(b"Filter") => Key::Filter,
            Some(b"DecodeParms") => Key::DecodeParms,
            Some(b"First") => {
                self.object_stream = true;
                Key::Other
            }
            _ => Key::Other,
        });
        self.pending = Pending::None;
    }

    fn word(&mut self, depth: u32, word: Word) {
        if !self.is_dict || depth != 1 {
            return;
        }
        let Some(key) = self.key else { return };
        match (self.pending, word) {
            (Pending::None, Word::Integer(n)) => self.pending = Pending::One(n),
            (Pending::One(_), Word::Integer(_)) => self.pending = Pending::Two,
            (Pending::None, Word::Null) => self.key = None,
            _ => {
                // A reference (`n g R`), a keyword or a malformed value.
                self.unusable(key);
                self.key = None;
                self.pending = Pending::None;
            }
        }
    }

    fn open(&mut self, depth: u32, container: Container) {
        if !self.is_dict || depth != 1 {
            return;
        }
        let Some(key) = self.key else { return };
        if key == Key::Filter && container == Container::Array && matches!(self.pending, Pending::None) {
            self.in_filter_array = true;
        } else {
            self.unusable(key);
        }
    }

    /// A container closed, leaving `depth` open.
    fn close(&mut self, depth: u32) {
        if self.is_dict && depth == 1 {
            self.in_filter_array = false;
            self.key = None;
            self.pending = Pending::None;
        }
    }

    /// A string, or another single-token value.
    fn value_other(&mut self, depth: u32) {
        if self.is_dict
            && depth == 1
            && let Some(key) = self.key.take()
        {
            self.unusable(key);
            self.pending = Pending::None;
        }
    }

    fn complete_pending(&mut self) {
        let Some(key) = self.key else { return };
        match self.pending {
            Pending::None => return,
            Pending::One(n) if key == Key::Length => {
                self.length = match self.length {
                    Length::Absent => Length::Direct(n),
                    _ => Length::Unusable,
                };
            }
            Pending::One(_) | Pending::Two => self.unusable(key),
        }
        self.key = None;
        self.pending = Pending::None;
    }

    fn unusable(&mut self, key: Key) {
        match key {
            Key::Length => self.length = Length::Unusable,
            Key::Filter | Key::DecodeParms => self.decoding = Some(Decoding::Unsupported),
            Key::Type | Key::Other => {}
        }
    }

    fn add_filter(&mut self, name: Option<&[u8]>) {
        self.decoding = Some(match (self.decoding, name) {
            (None, Some(b"FlateDecode")) => Decoding::Flate,
            _ => Decoding::Unsupported,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lexes `bytes` (which must hold no stream data) whole and split at
    /// every point; every split gives the same answer.
    fn lex(bytes: &[u8]) -> Result<Vec<StreamDict>, Rejection> {
        fn run(parts: &[&[u8]]) -> Result<Vec<StreamDict>, Rejection> {
            let mut lexer = Lexer::default();
            let mut dicts = Vec::new();
            for part in parts {
                let mut rest = *part;
                while let Fed::Stream { at, dict } = lexer.feed(rest)? {
                    dicts.push(dict);
                    rest = &rest[at..];
                }
            }
            lexer.finish()?;
            Ok(dicts)
        }
        let expected = run(&[bytes]);
        for split in 0..=bytes.len() {
            assert_eq!(run(&[&bytes[..split], &bytes[split..]]), expected, "split at {split}");
        }
        expected
    }

    fn refused(bytes: &[u8]) -> String {
        match lex(bytes) {
            Err(Rejection::UnsafeContent(why)) => why,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn refused_names_are_found_even_when_escaped() {
        assert!(refused(b"<< /S /JavaScript /JS (app.alert(1)) >>").ends_with("(/JavaScript)"));
        assert!(refused(b"<</S/J#61vaScript>>").ends_with("(/JavaScript)"));
        assert!(refused(b"<</S/#4C#61#75#6E#63#68>>").ends_with("(/Launch)"));
        assert!(refused(b"<</AA 5 0 R>>").ends_with("(/AA)"));
        assert!(refused(b"/JS").ends_with("(/JS)"), "a name at the very end");
        for name in ["Rendition", "GoToR", "GoTo3DView", "Sound", "Movie", "RichMedia"] {
            let pdf = format!("<< /S /{name} >>");
            assert!(refused(pdf.as_bytes()).ends_with(&format!("(/{name})")), "{name}");
        }
    }

    #[test]
    fn look_alike_names_and_text_pass() {
        assert_eq!(
            lex(b"<</JSON 1 /AAA 2 /JavaScripts 3 /J#61 4 /#4A#5 5 /JS#>>"),
            Ok(vec![])
        );
        assert_eq!(lex(b"(plain JavaScript text) JS AA"), Ok(vec![]));
        assert_eq!(
            lex(b"(/JS (nested /AA) \\) /Launch) <2F4A53> % /JavaScript\n"),
            Ok(vec![])
        );
        let long = [b"/".to_vec(), b"A".repeat(100), b"JavaScript".to_vec()].concat();
        assert_eq!(lex(&long), Ok(vec![]));
    }

    #[test]
    fn strings_and_comments_cannot_hide_names_after_them() {
        // The old scanner's bypass: `(stream)` looked like stream data.
        let poc = b"<< /Filter /None /X (stream) >> << /AA << /O << /S /Rendition >> >> >>";
        assert!(refused(poc).ends_with("(/AA)"));
        assert!(refused(b"(a \\( b) /JS").ends_with("(/JS)"), "an escaped parenthesis");
        assert!(refused(b"(a (b) c) /JS").ends_with("(/JS)"), "nested parentheses");
        assert!(refused(b"% (\n/JS").ends_with("(/JS)"), "a comment ends at the line");
        assert!(refused(b"<41 42>/JS").ends_with("(/JS)"));
    }

    #[test]
    fn open_action_is_allowed_only_as_a_destination_array() {
        assert_eq!(lex(b"<</OpenAction [3 0 R /Fit]>>"), Ok(vec![]));
        assert_eq!(lex(b"<</OpenAction % why\n\t[3 0 R/FitH 0]>>"), Ok(vec![]));
        assert!(refused(b"<</OpenAction<</S/GoTo/D[3 0 R/Fit]>>>>").ends_with("(/OpenAction)"));
        assert!(refused(b"<</OpenAction 9 0 R>>").ends_with("(/OpenAction)"));
        assert!(refused(b"/OpenAction").ends_with("(/OpenAction)"));
    }

    #[test]
    fn a_stream_keyword_must_follow_a_dictionary() {
        for bad in [
            &b"1 0 obj [1 2] stream\n"[..],
            b"stream\n",
            b"<< /A stream >>",
            b"<< >> 5 stream\n",
            b"<< >> stream",
        ] {
            assert_eq!(lex(bad).map_err(|r| r.code()), Err("corrupt_file"), "{bad:?}");
        }
        assert_eq!(
            lex(b"1 0 obj << >> % note\nstream\n"),
            Ok(vec![StreamDict {
                length: None,
                object_stream: false,
                decoding: Decoding::Raw
            }])
        );
    }

    #[test]
    fn stream_dictionaries_are_read() {
        let dict = |bytes: &[u8]| {
            let lexed = lex(&[bytes, b" stream\n"].concat()).expect("lexes");
            assert_eq!(lexed.len(), 1);
            lexed[0]
        };
        let plain = StreamDict {
            length: Some(42),
            object_stream: false,
            decoding: Decoding::Raw,
        };
        assert_eq!(dict(b"<< /Length 42 >>"), plain);
        assert_eq!(dict(b"<</Length 42/Subtype/Form/BBox[0 0 1 1]>>"), plain);
        assert_eq!(
            dict(b"<< /Resources << /Length 7 /Filter /LZWDecode >> /Length 42 >>"),
            plain,
            "nested keys are not the stream's"
        );
        assert_eq!(dict(b"<< /Length 5 0 R >>").length, None, "indirect");
        assert_eq!(dict(b"<< /Length 5 /Length 6 >>").length, None, "repeated");
        assert_eq!(dict(b"<< /Length 1.5 >>").length, None);
        assert_eq!(dict(b"<< /Length 99999999999999999999999 >>").length, None);
        let objstm = dict(b"<< /Type /ObjStm /Length 159 /Filter /FlateDecode /N 3 /First 14 >>");
        assert_eq!(
            objstm,
            StreamDict {
                length: Some(159),
                object_stream: true,
                decoding: Decoding::Flate
            }
        );
        assert!(dict(b"<< /N 3 /First 14 >>").object_stream, "no /Type");
        assert!(dict(b"<< /Type 7 0 R /First 14 >>").object_stream);
        assert!(!dict(b"<< /Type /XObject /N 3 >>").object_stream);
        for (filters, decoding) in [
            (&b"/Filter [/FlateDecode]"[..], Decoding::Flate),
            (b"/Filter /FlateDecode /DecodeParms null", Decoding::Flate),
            (b"/Filter [/FlateDecode /FlateDecode]", Decoding::Unsupported),
            (b"/Filter /LZWDecode", Decoding::Unsupported),
            (b"/Filter 8 0 R", Decoding::Unsupported),
            (
                b"/Filter /FlateDecode /DecodeParms << /Predictor 12 >>",
                Decoding::Unsupported,
            ),
        ] {
            let bytes = [&b"<< "[..], filters, b" >>"].concat();
            assert_eq!(dict(&bytes).decoding, decoding, "{}", String::from_utf8_lossy(filters));
        }
    }
}
