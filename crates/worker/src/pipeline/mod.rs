//! The synchronous heart of an export: rows in (inline, CSV, a JSON array of
//! objects, NDJSON), CSV or PDF out, one row at a time.
//!
//! Everything here runs on one blocking thread (the PDF writer is not
//! `Send`), reads through any `Read` and writes to any `Write`, so the worker
//! feeds it a store download and a multipart upload while tests and the
//! benchmark feed it memory:
//!
//! * [`sources`]: the three source readers, each feeding a header then rows.
//! * [`sink`]: [`ExportSink`], which writes them as CSV or PDF.
//! * [`control`]: [`Progress`], the rows written and the stop request, shared
//!   with the async side and checked every [`CHECK_EVERY`] rows.
//! * [`bridge`]: [`ChannelReader`], a blocking `Read` over a store download
//!   that an async task streams in.

pub mod bridge;
pub mod control;
pub mod sink;
pub mod sources;

pub use bridge::ChannelReader;
pub use control::{CHECK_EVERY, Progress, StopReason};
pub use sink::{ExportSink, OutputSpec};
pub use sources::{feed_csv, feed_inline, feed_json};
