//! Pagination and drawing.
//!
//! A krilla page borrows the document mutably, so a page cannot stay open
//! between two `write_row` calls. Instead the paginator fits each incoming
//! row into its cells right away (so its height is known), queues it, and
//! draws the queued rows as one page as soon as the next row would not fit.
//! The queue is one page of lines in a reused arena, so memory does not grow
//! with the number of rows. Every page repeats the title, the header row and
//! carries a "Page n" footer.
//!
//! Rules and backgrounds are drawn as filled rectangles, never as strokes:
//! a stroke left set on the surface would outline every later glyph.

use std::ops::Range;

use krilla::Document;
use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect, Size};
use krilla::num::NormalizedF32;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;
use krilla::text::KrillaGlyph;

use super::layout::{
    BODY_MAX_LINES, BODY_SIZE, FOOTER_SIZE, HEADER_SIZE, LEADING, PAD_X, PAD_Y, TITLE_SIZE, TableLayout,
};
use super::text::{Face, Lines};
use crate::error::WriteError;

const HEADER_GRAY: u8 = 225;
const STRIPE_GRAY: u8 = 244;
const RULE_GRAY: u8 = 120;
const GRID_GRAY: u8 = 200;
const FOOTER_GRAY: u8 = 90;

/// The regular and bold faces the table is drawn with.
pub(super) struct Fonts {
    pub(super) regular: Face,
    pub(super) bold: Face,
}

/// Queues fitted rows and draws them a page at a time.
pub(super) struct Paginator {
    layout: TableLayout,
    /// Lines of the queued rows.
    lines: Lines,
    /// For each queued row and column (row-major), its range in `lines`.
    cells: Vec<Range<usize>>,
    /// Height of each queued row.
    heights: Vec<f32>,
    used: f32,
    pages: usize,
    max_pages: usize,
    glyphs: Vec<KrillaGlyph>,
}

impl Paginator {
    pub(super) fn new(layout: TableLayout, max_pages: usize) -> Self {
        Paginator {
            layout,
            lines: Lines::default(),
            cells: Vec::new(),
            heights: Vec::new(),
            used: 0.0,
            pages: 0,
            max_pages,
            glyphs: Vec::new(),
        }
    }

    /// Fits a row into its cells and queues it, drawing the queued page
    /// first if the row does not fit below it.
    pub(super) fn push_row<S: AsRef<str>>(
        &mut self,
        document: &mut Document,
        fonts: &Fonts,
        row: &[S],
    ) -> Result<(), WriteError> {
        let lines_before = self.lines.len();
        let cells_before = self.cells.len();
        let mut height = self.queue(fonts, row);
        let room = self.layout.body_bottom - self.layout.body_top;
        if self.used + height > room && !self.heights.is_empty() {
            // Draw the page without this row, then queue the row again on
            // the fresh page (fitting twice happens once per page).
            self.lines.truncate(lines_before);
            self.cells.truncate(cells_before);
            self.flush(document, fonts)?;
            height = self.queue(fonts, row);
        }
        self.heights.push(height);
        self.used += height;
        Ok(())
    }

    /// Fits a row's cells into the line arena; returns the row's height.
    fn queue<S: AsRef<str>>(&mut self, fonts: &Fonts, row: &[S]) -> f32 {
        let mut tallest = 1;
        for (cell, width) in row.iter().zip(&self.layout.widths) {
            let start = self.lines.len();
            let n = fonts.regular.wrap_into(
                cell.as_ref(),
                BODY_SIZE,
                width - 2.0 * PAD_X,
                BODY_MAX_LINES,
                &mut self.lines,
            );
            tallest = tallest.max(n);
            self.cells.push(start..self.lines.len());
        }
        TableLayout::row_height(tallest)
    }

    /// Draws the last page (a page with only the header if there were no
    /// rows at all) and returns the number of pages.
    pub(super) fn finish(mut self, document: &mut Document, fonts: &Fonts) -> Result<usize, WriteError> {
        if !self.heights.is_empty() || self.pages == 0 {
            self.flush(document, fonts)?;
        }
        Ok(self.pages)
    }

    fn flush(&mut self, document: &mut Document, fonts: &Fonts) -> Result<(), WriteError> {
        if self.pages == self.max_pages {
            return Err(WriteError::TooManyPages { max: self.max_pages });
        }
        self.pages += 1;
        let layout = &self.layout;
        let size = Size::from_wh(layout.page_width, layout.page_height)
            .ok_or_else(|| WriteError::Pdf("invalid page size".into()))?;
        let mut page = document.start_page_with(PageSettings::new(size));
        let mut surface = page.surface();

        let table_width = layout.table_width();
        let body_height: f32 = self.heights.iter().sum();
        let header_height = layout.body_top - layout.header_top;
        let left = layout.left;

        // Backgrounds: header band and every other row.
        fill_rects(
            &mut surface,
            HEADER_GRAY,
            [(left, layout.header_top, table_width, header_height)],
        );
        let mut y = layout.body_top;
        let mut stripes = Vec::new();
        for (i, h) in self.heights.iter().enumerate() {
            if i % 2 == 1 {
                stripes.push((left, y, table_width, *h));
            }
            y += h;
        }
        fill_rects(&mut surface, STRIPE_GRAY, stripes);
        // Grid: column separators, then the rules under the header and
        // below the last row.
        let grid_bottom = layout.body_top + body_height;
        let separators = layout
            .xs
            .iter()
            .skip(1)
            .map(|&x| (x - 0.15, layout.header_top, 0.3, grid_bottom - layout.header_top));
        fill_rects(&mut surface, GRID_GRAY, separators);
        fill_rects(
            &mut surface,
            RULE_GRAY,
            [
                (left, layout.header_top - 0.3, table_width, 0.6),
                (left, layout.body_top - 0.3, table_width, 0.6),
                (left, grid_bottom - 0.3, table_width, 0.6),
            ],
        );

        // Text.
        surface.set_fill(Some(gray(0)));
        let mut text = TextPen {
            surface: &mut surface,
            glyphs: &mut self.glyphs,
        };
        if layout.title.len() > 0 {
            text.draw(
                &fonts.bold,
                TITLE_SIZE,
                layout.title.get(0),
                left,
                layout.title_baseline,
            );
        }
        for (c, lines) in layout.header_cells.iter().enumerate() {
            let top = layout.header_top + PAD_Y;
            text.cell(
                &fonts.bold,
                HEADER_SIZE,
                &layout.header,
                lines.clone(),
                (layout.xs[c], layout.widths[c], top),
                layout.right_align[c],
            );
        }
        let columns = layout.widths.len();
        let mut top = layout.body_top;
        for (r, height) in self.heights.iter().enumerate() {
            for c in 0..columns {
                if let Some(lines) = self.cells.get(r * columns + c) {
                    text.cell(
                        &fonts.regular,
                        BODY_SIZE,
                        &self.lines,
                        lines.clone(),
                        (layout.xs[c], layout.widths[c], top + PAD_Y),
                        layout.right_align[c],
                    );
                }
            }
            top += height;
        }
        text.surface.set_fill(Some(gray(FOOTER_GRAY)));
        let label = format!("Page {}", self.pages);
        let label_width = fonts.regular.width(&label, FOOTER_SIZE);
        text.draw(
            &fonts.regular,
            FOOTER_SIZE,
            &label,
            left + table_width.max(label_width) - label_width,
            layout.footer_baseline,
        );

        surface.finish();
        page.finish();
        self.lines.clear();
        self.cells.clear();
        self.heights.clear();
        self.used = 0.0;
        Ok(())
    }
}

/// Draws text lines onto a surface, reusing one glyph buffer.
struct TextPen<'s, 'p> {
    surface: &'s mut Surface<'p>,
    glyphs: &'s mut Vec<KrillaGlyph>,
}

impl TextPen<'_, '_> {
    fn draw(&mut self, face: &Face, size: f32, line: &str, x: f32, baseline: f32) {
        if line.is_empty() {
            return;
        }
        face.glyphs(line, size, self.glyphs);
        self.surface.draw_glyphs(
            Point::from_xy(x, baseline),
            self.glyphs,
            face.font.clone(),
            line,
            size,
            false,
        );
    }

    /// Draws a cell's lines starting at `top`, left- or right-aligned.
    fn cell(
        &mut self,
        face: &Face,
        size: f32,
        lines: &Lines,
        range: Range<usize>,
        (x, width, top): (f32, f32, f32),
        right: bool,
    ) {
        let mut baseline = top + face.ascent * size;
        for i in range {
            let line = lines.get(i);
            let left = if right {
                x + width - PAD_X - face.width(line, size)
            } else {
                x + PAD_X
            };
            self.draw(face, size, line, left, baseline);
            baseline += size * LEADING;
        }
    }
}

fn gray(level: u8) -> Fill {
    Fill {
        paint: luma::Color::new(level).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }
}

/// Fills rectangles `(x, y, width, height)` in one path.
fn fill_rects(surface: &mut Surface<'_>, level: u8, rects: impl IntoIterator<Item = (f32, f32, f32, f32)>) {
    let mut path = PathBuilder::new();
    for (x, y, w, h) in rects {
        if let Some(rect) = Rect::from_xywh(x, y, w, h) {
            path.push_rect(rect);
        }
    }
    if let Some(path) = path.finish() {
        surface.set_fill(Some(gray(level)));
        surface.draw_path(&path);
    }
}
