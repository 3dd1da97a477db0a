//! The single error type of the export writers, so the worker can map any
//! failure to a job outcome without knowing which encoder produced it.

use std::io;

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A row does not have one field per column. `row` is the 1-based number
    /// of the data row (the header is not counted).
    #[error("row {row} has {got} fields, expected {expected}")]
    RowLength { expected: usize, got: usize, row: u64 },
    /// An export needs at least one column.
    #[error("an export needs at least one column")]
    NoColumns,
    /// The table has more columns than fit side by side on a landscape A4
    /// page at a legible width; such exports should be requested as CSV.
    #[error("{columns} columns do not fit on a PDF page (at most {max}); export as CSV instead")]
    TooManyColumns { columns: usize, max: usize },
    /// The PDF would have more pages than `EXPORT_MAX_PDF_PAGES` (it is
    /// assembled in memory); such exports should be requested as CSV.
    #[error("the PDF would have more than {max} pages; export as CSV, or fewer rows")]
    TooManyPages { max: usize },
    /// The underlying writer failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
    /// The PDF library failed to build the document.
    #[error("PDF error: {0}")]
    Pdf(String),
}

impl From<csv::Error> for WriteError {
    fn from(err: csv::Error) -> Self {
        // Writing never produces the csv crate's parse or UTF-8 errors, so
        // everything that is not already an I/O error is wrapped as one.
        if !err.is_io_error() {
            return WriteError::Io(io::Error::other(err));
        }
        match err.into_kind() {
            csv::ErrorKind::Io(e) => WriteError::Io(e),
            kind => WriteError::Io(io::Error::other(format!("{kind:?}"))),
        }
    }
}
