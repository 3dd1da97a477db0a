//! Streaming PDF table reports.
//!
//! Why this shape: exports can have 100k+ rows, and PDF libraries that keep
//! an object tree per element balloon in memory. krilla serialises each page
//! when it is finished and subsets the embedded font, so the exporter only
//! has to avoid holding rows itself:
//!
//! 1. The first [`SAMPLE_ROWS`] rows are kept to measure column widths and
//!    pick the page orientation ([`layout`]).
//! 2. From then on each row is fitted into its cells (wrapped, then cut with
//!    "…") and queued; a full page is drawn and dropped ([`paginate`]).
//!
//! The font (DejaVu Sans, shipped in `assets/fonts` with its license) is
//! embedded so any viewer shows accented Latin text identically and text
//! extraction (`pdftotext`, search, copy) returns the original characters.
//! Pages carry "Page n" rather than "Page n of N": the total is only known
//! after the last row, and krilla has already serialised earlier pages.
//!
//! [`PdfExport`] is not `Send` (krilla's `Document` holds `Rc`s), so an async
//! worker must build a report inside a single `spawn_blocking` task (feeding
//! it rows through a channel if they arrive asynchronously) and upload the
//! finished bytes afterwards.

mod layout;
mod paginate;
mod text;

use krilla::Document;
use krilla::metadata::Metadata;

use self::layout::TableLayout;
use self::paginate::{Fonts, Paginator};
use self::text::Face;
use crate::error::WriteError;

pub(crate) const REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

/// How many leading rows are measured to size the columns.
const SAMPLE_ROWS: usize = 200;

/// A finished PDF report.
#[derive(Debug, Clone)]
pub struct PdfOutput {
    pub bytes: Vec<u8>,
    pub pages: usize,
}

/// A PDF table report in progress: [`PdfExport::new`], one
/// [`PdfExport::write_row`] per row, then [`PdfExport::finish`].
pub struct PdfExport {
    document: Document,
    fonts: Fonts,
    title: Option<String>,
    columns: Vec<String>,
    /// Rows held until the column widths are fixed.
    sample: Vec<Vec<String>>,
    /// Set once the column widths are fixed.
    paginator: Option<Paginator>,
    rows: u64,
    max_pages: usize,
}

impl PdfExport {
    /// Starts a report with an optional title (shown on every page and
    /// stored as the document title) and the column names.
    ///
    /// Fails with [`WriteError::TooManyColumns`] when the columns cannot fit
    /// side by side on a landscape A4 page at a legible width.
    pub fn new<S: AsRef<str>>(title: Option<&str>, columns: &[S]) -> Result<Self, WriteError> {
        if columns.is_empty() {
            return Err(WriteError::NoColumns);
        }
        let max = layout::max_columns();
        if columns.len() > max {
            return Err(WriteError::TooManyColumns {
                columns: columns.len(),
                max,
            });
        }
        let fonts = Fonts {
            regular: Face::new(REGULAR)?,
            bold: Face::new(BOLD)?,
        };
        let mut document = Document::new();
        let mut metadata = Metadata::new().creator("broker-worker".to_owned());
        if let Some(title) = title {
            metadata = metadata.title(title.to_owned());
        }
        document.set_metadata(metadata);
        Ok(PdfExport {
            document,
            fonts,
            title: title.map(str::to_owned),
            columns: columns.iter().map(|c| c.as_ref().to_owned()).collect(),
            sample: Vec::new(),
            paginator: None,
            rows: 0,
            max_pages: usize::MAX,
        })
    }

    /// Fails with [`WriteError::TooManyPages`] rather than start page
    /// `max + 1`: the finished document is held in memory, so its length is
    /// what bounds the memory of a PDF export.
    pub fn with_max_pages(mut self, max: usize) -> Self {
        self.max_pages = max;
        self
    }

    /// Adds one row. A row with the wrong number of fields is rejected and
    /// leaves the report unchanged.
    pub fn write_row<S: AsRef<str>>(&mut self, row: &[S]) -> Result<(), WriteError> {
        if row.len() != self.columns.len() {
            return Err(WriteError::RowLength {
                expected: self.columns.len(),
                got: row.len(),
                row: self.rows + 1,
            });
        }
        match &mut self.paginator {
            Some(paginator) => paginator.push_row(&mut self.document, &self.fonts, row)?,
            None => {
                self.sample.push(row.iter().map(|c| c.as_ref().to_owned()).collect());
                if self.sample.len() >= SAMPLE_ROWS {
                    self.paginator = Some(self.start_paging()?);
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Number of data rows written so far.
    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    /// Draws the remaining rows and serialises the document.
    pub fn finish(mut self) -> Result<PdfOutput, WriteError> {
        let paginator = match self.paginator.take() {
            Some(paginator) => paginator,
            None => self.start_paging()?,
        };
        let pages = paginator.finish(&mut self.document, &self.fonts)?;
        let bytes = self.document.finish().map_err(|e| WriteError::Pdf(format!("{e:?}")))?;
        Ok(PdfOutput { bytes, pages })
    }

    /// Fixes the layout from the sample and queues the sampled rows.
    fn start_paging(&mut self) -> Result<Paginator, WriteError> {
        let layout = TableLayout::new(
            &self.fonts.regular,
            &self.fonts.bold,
            self.title.as_deref(),
            &self.columns,
            &self.sample,
        );
        let mut paginator = Paginator::new(layout, self.max_pages);
        for row in std::mem::take(&mut self.sample) {
            paginator.push_row(&mut self.document, &self.fonts, &row)?;
        }
        Ok(paginator)
    }
}
