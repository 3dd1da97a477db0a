//! Export writers: pure, streaming encoders that turn rows of text into CSV or
//! PDF bytes.
//!
//! Export jobs can be large (hundreds of thousands of rows) and end up in S3
//! through a multipart upload, so the writers take rows one at a time and
//! never hold the whole data set:
//!
//! * [`CsvExport`] writes straight through to any [`std::io::Write`] (the
//!   worker hands it a multipart-upload sink), keeping only the csv crate's
//!   small buffer.
//! * [`PdfExport`] lays rows out into pages as they arrive and keeps at most
//!   one page of pending rows (plus the first rows it samples to size the
//!   columns); the finished PDF is assembled in memory by krilla, which only
//!   retains the compact per-page content.
//!
//! Both reject rows whose length differs from the header with
//! [`WriteError::RowLength`] instead of producing a misaligned file.

mod csv_export;
mod error;
mod pdf_export;

// Export jobs: queue, status records, the streaming pipeline and the worker loop.
pub mod job;
pub mod multipart;
pub mod pipeline;
pub mod queue;
pub mod run;

pub use queue::Exports;

pub use csv_export::{CsvExport, CsvOptions};
pub use error::WriteError;
pub use pdf_export::{PdfExport, PdfOutput};
