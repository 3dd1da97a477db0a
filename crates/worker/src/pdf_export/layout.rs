//! Page geometry and column widths, fixed once per export.
//!
//! Widths are measured on a sample (the header plus the first rows) because
//! the exporter streams: it cannot look at every row before drawing the
//! first page. Each column's natural width is its widest sampled line
//! (header in bold) plus 15 % headroom and padding; [`fit_widths`] turns
//! these into widths that fit the page. Tables too wide for A4 portrait
//! switch to landscape. Rows
//! after the sample that are wider than their column wrap (up to
//! [`BODY_MAX_LINES`] lines) and are cut with "…" after that.

use super::text::{Face, Lines};

/// A4 in points.
const A4_SHORT: f32 = 595.28;
const A4_LONG: f32 = 841.89;
const MARGIN: f32 = 36.0;
/// Line height as a multiple of the font size.
pub(super) const LEADING: f32 = 1.2;
pub(super) const BODY_SIZE: f32 = 8.0;
pub(super) const HEADER_SIZE: f32 = 8.0;
pub(super) const TITLE_SIZE: f32 = 13.0;
pub(super) const FOOTER_SIZE: f32 = 7.5;
pub(super) const PAD_X: f32 = 3.0;
pub(super) const PAD_Y: f32 = 2.0;
pub(super) const BODY_MAX_LINES: usize = 3;
const HEADER_MAX_LINES: usize = 2;
const TITLE_GAP: f32 = 8.0;
const FOOTER_GAP: f32 = 8.0;
/// Extra width given to each column beyond its widest sampled line, so
/// later rows that are a little longer (`user1000` after `user999`) still
/// fit on one line.
const HEADROOM: f32 = 1.15;
/// Column width bounds, padding included.
const MIN_COL: f32 = 26.0;
const MAX_COL: f32 = 220.0;

/// The most columns that fit a landscape page at [`MIN_COL`] each.
pub(super) fn max_columns() -> usize {
    ((A4_LONG - 2.0 * MARGIN) / MIN_COL) as usize
}

/// Everything about the table that is the same on every page.
pub(super) struct TableLayout {
    pub(super) page_width: f32,
    pub(super) page_height: f32,
    pub(super) left: f32,
    /// Left edge of each column.
    pub(super) xs: Vec<f32>,
    pub(super) widths: Vec<f32>,
    /// Columns whose sampled cells are all numbers are right-aligned.
    pub(super) right_align: Vec<bool>,
    /// The title, fitted to one line (empty when there is none).
    pub(super) title: Lines,
    pub(super) title_baseline: f32,
    /// Header lines, and which of them belong to each column.
    pub(super) header: Lines,
    pub(super) header_cells: Vec<std::ops::Range<usize>>,
    pub(super) header_top: f32,
    pub(super) body_top: f32,
    pub(super) body_bottom: f32,
    pub(super) footer_baseline: f32,
}

impl TableLayout {
    pub(super) fn new<S: AsRef<str>>(
        regular: &Face,
        bold: &Face,
        title: Option<&str>,
        columns: &[String],
        sample: &[Vec<S>],
    ) -> Self {
        let natural: Vec<f32> = columns
            .iter()
            .enumerate()
            .map(|(c, name)| {
                let cells = sample.iter().filter_map(|row| row.get(c));
                let widest = cells
                    .flat_map(|cell| cell.as_ref().split('\n'))
                    .map(|line| regular.width(line, BODY_SIZE))
                    .fold(bold.width(name, HEADER_SIZE), f32::max);
                widest * HEADROOM + 2.0 * PAD_X
            })
            .collect();
        let wanted: f32 = natural.iter().map(|n| n.clamp(MIN_COL, MAX_COL)).sum();
        let portrait = wanted <= A4_SHORT - 2.0 * MARGIN;
        let (page_width, page_height) = if portrait {
            (A4_SHORT, A4_LONG)
        } else {
            (A4_LONG, A4_SHORT)
        };
        let available = page_width - 2.0 * MARGIN;
        let widths = fit_widths(&natural, MIN_COL, MAX_COL, available);
        let xs = widths
            .iter()
            .scan(MARGIN, |x, w| {
                let left = *x;
                *x += w;
                Some(left)
            })
            .collect();
        let right_align = (0..columns.len())
            .map(|c| {
                let mut cells = sample
                    .iter()
                    .filter_map(|row| row.get(c))
                    .map(|cell| cell.as_ref().trim())
                    .filter(|cell| !cell.is_empty())
                    .peekable();
                cells.peek().is_some() && cells.all(looks_numeric)
            })
            .collect();

        let mut top = MARGIN;
        let mut title_lines = Lines::default();
        let title_baseline = top + bold.ascent * TITLE_SIZE;
        if let Some(title) = title {
            bold.wrap_into(title, TITLE_SIZE, available, 1, &mut title_lines);
            top += TITLE_SIZE * LEADING + TITLE_GAP;
        }

        let mut header = Lines::default();
        let mut header_cells = Vec::with_capacity(columns.len());
        let mut header_lines = 1;
        for (name, width) in columns.iter().zip(&widths) {
            let start = header.len();
            let n = bold.wrap_into(name, HEADER_SIZE, width - 2.0 * PAD_X, HEADER_MAX_LINES, &mut header);
            header_lines = header_lines.max(n);
            header_cells.push(start..header.len());
        }
        let header_height = header_lines as f32 * HEADER_SIZE * LEADING + 2.0 * PAD_Y;
        let footer_baseline = page_height - MARGIN;

        TableLayout {
            page_width,
            page_height,
            left: MARGIN,
            xs,
            widths,
            right_align,
            title: title_lines,
            title_baseline,
            header,
            header_cells,
            header_top: top,
            body_top: top + header_height,
            body_bottom: footer_baseline - FOOTER_SIZE * LEADING - FOOTER_GAP,
            footer_baseline,
        }
    }

    /// Total width of the table.
    pub(super) fn table_width(&self) -> f32 {
        self.widths.iter().sum()
    }

    /// Height of a body row with `lines` lines.
    pub(super) fn row_height(lines: usize) -> f32 {
        lines.max(1) as f32 * BODY_SIZE * LEADING + 2.0 * PAD_Y
    }
}

/// A number, amount or percentage such as `-1,234.50` or `12 %`.
fn looks_numeric(cell: &str) -> bool {
    cell.bytes().any(|b| b.is_ascii_digit()) && cell.bytes().all(|b| b.is_ascii_digit() || b"+-.,% ".contains(&b))
}

/// Column widths, in points including cell padding: each column wants its
/// `natural` width clamped to `[min, max]`. If those wants exceed `available`,
/// every column keeps `min` and the rest is shared in proportion to how much
/// more each one wants; if they fit, the leftover goes to the columns that
/// were clamped at `max`, up to their natural width.
pub(super) fn fit_widths(natural: &[f32], min: f32, max: f32, available: f32) -> Vec<f32> {
    let wanted: Vec<f32> = natural.iter().map(|&n| n.clamp(min, max)).collect();
    let total: f32 = wanted.iter().sum();
    if total > available {
        let base = min * wanted.len() as f32;
        let flex: f32 = wanted.iter().map(|w| w - min).sum();
        let scale = if flex > 0.0 {
            ((available - base) / flex).max(0.0)
        } else {
            0.0
        };
        return wanted.iter().map(|w| min + (w - min) * scale).collect();
    }
    let extra: Vec<f32> = natural.iter().zip(&wanted).map(|(n, w)| (n - w).max(0.0)).collect();
    let extra_total: f32 = extra.iter().sum();
    if extra_total <= 0.0 {
        return wanted;
    }
    let share = ((available - total) / extra_total).min(1.0);
    wanted.iter().zip(&extra).map(|(w, e)| w + e * share).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_fit_available_space() {
        let w = fit_widths(&[10.0, 100.0, 400.0], 30.0, 200.0, 1000.0);
        assert_eq!(w[0], 30.0);
        assert_eq!(w[1], 100.0);
        assert_eq!(w[2], 400.0, "clamped column gets leftover up to natural");

        let w = fit_widths(&[100.0, 300.0, 300.0], 30.0, 200.0, 300.0);
        assert!((w.iter().sum::<f32>() - 300.0).abs() < 0.01, "{w:?}");
        assert!(w.iter().all(|&x| x >= 30.0));
        assert!(w[1] > w[0]);
    }

    #[test]
    fn numeric_columns() {
        assert!(looks_numeric("-1,234.50"));
        assert!(looks_numeric("12 %"));
        assert!(!looks_numeric("12 apples"));
        assert!(!looks_numeric("-"));
    }
}
