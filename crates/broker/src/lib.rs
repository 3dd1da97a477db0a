//! `upload-broker`: the composition root.
//!
//! The crates below this one each own one part and know nothing of how they
//! are put together; this crate wires them, once, for every subcommand:
//!
//! * [`serve`]: the store (or the embedded one, [`store`]), the export queue
//!   and its in-process worker, and the HTTP API, under one [`shutdown`];
//! * [`worker`]: export workers fed by Redis;
//! * [`cleanup`]: removes abandoned staging objects and multipart uploads;
//! * [`sessions`]: the embedded (SQLite) registry of multipart sessions;
//! * [`doctor`]: checks the configured bucket the way browsers and the API use it;
//! * [`migrate`]: copies the embedded store's objects into the configured S3 bucket;
//! * [`telemetry`]: logging, shared by all of them;
//! * [`metrics`]: the Prometheus recorder and `/metrics`, for `serve` and `worker`.
//!
//! Tests start the whole system through the same [`serve::System`] (see the
//! `broker-testkit` crate), so what they prove is what `main.rs` runs.

pub mod cleanup;
pub mod doctor;
pub mod metrics;
pub mod migrate;
pub mod serve;
pub mod sessions;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod worker;

pub use serve::System;
pub use shutdown::Shutdown;
