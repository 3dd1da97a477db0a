//! Text measurement and line fitting.
//!
//! PDF has no table layout, so the exporter measures text itself with the
//! font's advance widths (cmap + hmtx via skrifa) and draws exactly the glyph
//! runs it measured. No shaping step runs between measuring and drawing, so a
//! line that was fitted into a cell cannot come out wider than the cell. The
//! price is no kerning or mark positioning, which tabular Latin text does
//! not need.

use std::ops::Range;

use krilla::text::{Font, GlyphId, KrillaGlyph};
use skrifa::instance::{LocationRef, Size};
use skrifa::metrics::{GlyphMetrics, Metrics};
use skrifa::{FontRef, MetadataProvider};

use crate::error::WriteError;

/// The ellipsis appended to text cut at the end of a cell.
const ELLIPSIS: char = '…';

/// One embedded font: the krilla handle used for drawing plus the metrics
/// used for measuring.
pub(super) struct Face {
    pub(super) font: Font,
    charmap: skrifa::charmap::Charmap<'static>,
    advances: GlyphMetrics<'static>,
    /// Glyph id and advance (in em) of U+0000..U+00FF, the common case.
    latin1: Vec<(u16, f32)>,
    units_per_em: f32,
    /// Distance from a line's top to its baseline, in em.
    pub(super) ascent: f32,
}

impl Face {
    pub(super) fn new(data: &'static [u8]) -> Result<Self, WriteError> {
        let font_ref = FontRef::new(data).map_err(|e| WriteError::Pdf(format!("bundled font: {e}")))?;
        let font =
            Font::new(data.into(), 0).ok_or_else(|| WriteError::Pdf("bundled font rejected by krilla".into()))?;
        let metrics = Metrics::new(&font_ref, Size::unscaled(), LocationRef::default());
        let units_per_em = f32::from(metrics.units_per_em.max(1));
        let mut face = Face {
            font,
            charmap: font_ref.charmap(),
            advances: font_ref.glyph_metrics(Size::unscaled(), LocationRef::default()),
            latin1: Vec::new(),
            units_per_em,
            ascent: metrics.ascent / units_per_em,
        };
        face.latin1 = (0u8..=255).map(|b| face.lookup(char::from(b))).collect();
        Ok(face)
    }

    /// Glyph id and advance (in em) of a character as it is drawn: control
    /// characters are drawn as spaces, unmapped ones as the font's .notdef.
    fn glyph(&self, ch: char) -> (u16, f32) {
        match self.latin1.get(ch as usize) {
            Some(&g) => g,
            None => self.lookup(ch),
        }
    }

    fn lookup(&self, ch: char) -> (u16, f32) {
        let ch = display_char(ch);
        let gid = self.charmap.map(ch).unwrap_or_default();
        let advance = self.advances.advance_width(gid).unwrap_or(0.0) / self.units_per_em;
        (u16::try_from(gid.to_u32()).unwrap_or(0), advance)
    }

    /// Width of `text` in points at `size`.
    pub(super) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.glyph(c).1).sum::<f32>() * size
    }

    /// Fills `out` with the glyph run for `text` and returns its width in
    /// points at `size`.
    pub(super) fn glyphs(&self, text: &str, size: f32, out: &mut Vec<KrillaGlyph>) -> f32 {
        out.clear();
        let mut width = 0.0;
        for (i, ch) in text.char_indices() {
            let (gid, advance) = self.glyph(ch);
            width += advance;
            out.push(KrillaGlyph::new(
                GlyphId::new(u32::from(gid)),
                advance,
                0.0,
                0.0,
                0.0,
                i..i + ch.len_utf8(),
                None,
            ));
        }
        width * size
    }

    /// Largest prefix of `text` (as a byte length) whose width fits `max`.
    fn fitting_prefix(&self, text: &str, size: f32, max: f32) -> usize {
        let mut width = 0.0;
        for (i, ch) in text.char_indices() {
            width += self.glyph(ch).1 * size;
            if width > max {
                return i;
            }
        }
        text.len()
    }

    /// Breaks `text` into at most `max_lines` lines no wider than `width`
    /// points and appends them to `out`; returns how many lines were added
    /// (at least one). Lines break at spaces where possible, inside words
    /// otherwise; `\n` starts a new line; what does not fit ends with "…".
    pub(super) fn wrap_into(&self, text: &str, size: f32, width: f32, max_lines: usize, out: &mut Lines) -> usize {
        let max_lines = max_lines.max(1);
        let mut added = 0;
        let mut paragraphs = text.trim_end().split('\n').peekable();
        while let Some(paragraph) = paragraphs.next() {
            let mut rest = paragraph.trim_end();
            loop {
                let (end, next) = self.break_line(rest, size, width);
                let more = next < rest.len() || paragraphs.peek().is_some();
                if added + 1 == max_lines && more {
                    self.push_ellipsised(rest, size, width, out);
                    return max_lines;
                }
                out.push(rest[..end].trim_end());
                added += 1;
                if next >= rest.len() {
                    break;
                }
                rest = rest[next..].trim_start_matches(' ');
            }
        }
        added.max(1)
    }

    /// Where the first line of `text` ends and the next one starts.
    fn break_line(&self, text: &str, size: f32, width: f32) -> (usize, usize) {
        let mut used = 0.0;
        let mut last_space = None;
        for (i, ch) in text.char_indices() {
            used += self.glyph(ch).1 * size;
            if used > width && i > 0 {
                return match last_space {
                    Some(space) => (space, space + 1),
                    None => (i, i),
                };
            }
            if ch == ' ' && i > 0 {
                last_space = Some(i);
            }
        }
        (text.len(), text.len())
    }

    /// Pushes the longest prefix of `text` that fits `width` together with
    /// an ellipsis (or just the ellipsis, or nothing, in very narrow cells).
    fn push_ellipsised(&self, text: &str, size: f32, width: f32, out: &mut Lines) {
        let room = width - self.glyph(ELLIPSIS).1 * size;
        if room < 0.0 {
            out.push("");
            return;
        }
        let end = self.fitting_prefix(text, size, room);
        out.push_with_ellipsis(text[..end].trim_end());
    }
}

/// Characters that cannot be drawn are shown as spaces.
fn display_char(ch: char) -> char {
    if ch.is_control() { ' ' } else { ch }
}

/// A reusable arena of text lines: one string plus the byte range of each
/// line, so laying out a page does not allocate per cell.
#[derive(Default)]
pub(super) struct Lines {
    text: String,
    spans: Vec<Range<usize>>,
}

impl Lines {
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
    }

    /// Drops every line from index `len` on.
    pub(super) fn truncate(&mut self, len: usize) {
        if let Some(span) = self.spans.get(len) {
            self.text.truncate(span.start);
            self.spans.truncate(len);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.spans.len()
    }

    pub(super) fn get(&self, index: usize) -> &str {
        self.spans
            .get(index)
            .and_then(|span| self.text.get(span.clone()))
            .unwrap_or_default()
    }

    fn push(&mut self, line: &str) {
        let start = self.text.len();
        self.text.extend(line.chars().map(display_char));
        self.spans.push(start..self.text.len());
    }

    fn push_with_ellipsis(&mut self, line: &str) {
        let start = self.text.len();
        self.text.extend(line.chars().map(display_char));
        self.text.push(ELLIPSIS);
        self.spans.push(start..self.text.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf_export::REGULAR;

    fn face() -> Face {
        Face::new(REGULAR).expect("bundled font loads")
    }

    fn wrap(text: &str, width: f32, max_lines: usize) -> Vec<String> {
        let face = face();
        let mut lines = Lines::default();
        let n = face.wrap_into(text, 10.0, width, max_lines, &mut lines);
        assert_eq!(n, lines.len());
        (0..lines.len()).map(|i| lines.get(i).to_owned()).collect()
    }

    #[test]
    fn measures_latin1_and_beyond() {
        let face = face();
        assert!(face.width("W", 10.0) > face.width("i", 10.0));
        assert!(face.width("Ångström", 10.0) > 0.0);
        assert!(face.width("Ωλ", 10.0) > 0.0);
        assert_eq!(face.width("", 10.0), 0.0);
    }

    #[test]
    fn short_text_is_one_line() {
        assert_eq!(wrap("Zoë Ångström", 500.0, 3), ["Zoë Ångström"]);
        assert_eq!(wrap("", 50.0, 3), [""]);
    }

    #[test]
    fn wraps_at_spaces_and_respects_width() {
        let face = face();
        let lines = wrap("the quick brown fox jumps over the lazy dog", 60.0, 10);
        assert!(lines.len() > 2, "{lines:?}");
        assert_eq!(lines.join(" "), "the quick brown fox jumps over the lazy dog");
        for line in &lines {
            assert!(face.width(line, 10.0) <= 60.0, "{line:?}");
        }
    }

    #[test]
    fn breaks_long_words_and_ellipsises_the_last_line() {
        let face = face();
        let lines = wrap(&"x".repeat(200), 40.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with('…'), "{lines:?}");
        for line in &lines {
            assert!(face.width(line, 10.0) <= 40.0, "{line:?}");
        }
    }

    #[test]
    fn newlines_and_controls() {
        assert_eq!(wrap("a\r\nb\tc", 500.0, 3), ["a", "b c"]);
        assert_eq!(wrap("a\nb\nc\nd", 500.0, 2), ["a", "b…"]);
    }
}
