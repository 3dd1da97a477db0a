//! Export workers: they take export jobs from the queue ([`broker_jobs`]),
//! stream each job's rows through a CSV or PDF writer into a multipart upload
//! to the store, and apply the retry policy to what fails.
//!
//! From the bottom up:
//!
//! * The writers, pure and streaming: [`CsvExport`] writes straight through to
//!   any [`std::io::Write`], keeping only the csv crate's small buffer;
//!   [`PdfExport`] lays rows out into pages as they arrive and keeps at most
//!   one page of pending rows (the finished PDF is assembled in memory by
//!   krilla, which only retains the compact per-page content). Both reject
//!   rows whose length differs from the header with [`WriteError::RowLength`]
//!   (`error`, the writers' one error type).
//! * [`pipeline`]: the synchronous export on a blocking thread: the source
//!   readers, the sink over the writers, progress and stop control, and the
//!   bridge from an async download to a blocking `Read`.
//! * [`multipart`]: the output side: [`PartWriter`](multipart::PartWriter)
//!   cuts the output into parts for an async multipart upload.
//! * [`failure`]: every error an attempt meets, sorted into permanent or
//!   transient, with its code.
//! * [`retry`]: the retry policy as pure functions: fail, retry after a
//!   backoff, or run again uncounted; lost workers counted apart.
//! * `patience`: recording an attempt's transitions through a queue outage.
//! * `attempt`, `handler`: one attempt of a job, and the
//!   [`TaskHandler`](broker_jobs::TaskHandler) around it that records its
//!   outcome in the status record as [`retry`] decides.
//! * [`run_workers`] (`supervisor`): the loop that keeps apalis workers
//!   (exports, and webhook deliveries) running across queue outages and
//!   drains them on shutdown.
//! * `webhook`: delivering signed webhooks: the signature, the SSRF guard,
//!   the pinned HTTP client, and the retry-or-dead-letter decision.

mod attempt;
mod csv_export;
mod error;
pub mod failure;
mod handler;
pub mod multipart;
mod patience;
mod pdf_export;
pub mod pipeline;
pub mod retry;
mod supervisor;
mod webhook;

pub use csv_export::{CsvExport, CsvOptions};
pub use error::WriteError;
pub use pdf_export::{PdfExport, PdfOutput};
pub use supervisor::run_workers;
