//! Export jobs as the API and the workers share them: what a job is, where
//! its status lives, and the queue that carries it.
//!
//! The crate sits between the HTTP crate and the worker crate so neither has
//! to depend on the other: the API submits and reads jobs, workers run them,
//! and both only agree on the types and the queue here. One [`JobQueue`] (one
//! connection) gives each side its own handle, so the API cannot make a
//! worker's transitions:
//!
//! * [`id`]: [`JobId`], the ULID that names a job everywhere.
//! * [`job`]: the queued arguments ([`ExportJob`](job::ExportJob)), the
//!   status record ([`JobRecord`](job::JobRecord)) and the output's file name.
//! * [`inline`]: inline rows, checked on the way in and read back on the way
//!   out one row at a time, never built.
//! * `queue` (private): [`JobQueue`], the per-backend implementations
//!   (Redis; SQLite behind the `sqlite` feature, which only the binary turns
//!   on) behind one trait, and the state machine they enforce.
//! * [`client`]: [`JobsClient`], the API's handle: `submit`, `get`,
//!   `cancel`, `ping`.
//! * [`lifecycle`]: [`JobsLifecycle`], the workers' handle: `start_attempt`
//!   (which makes an [`Attempt`]), the live attempt's `progress`, `finish`,
//!   `fail`, `retry_later` and `release`, `keep_alive`, `inline_input`,
//!   `housekeeping`, and `run_worker`, which runs an apalis worker over a
//!   [`TaskHandler`].
//! * [`webhook`]: signed-webhook deliveries on their own queue beside the
//!   exports': [`Webhooks`] (emit, dead letters, replay) and
//!   [`WebhookDeliveries`] (the delivery workers' transitions).

pub mod client;
pub mod id;
pub mod inline;
pub mod job;
pub mod lifecycle;
mod queue;
pub mod webhook;

pub use client::{CancelOutcome, Idempotency, JobsClient, NewExport, NewSource, SubmitError, Submitted};
pub use id::{InvalidJobId, JobId};
pub use lifecycle::{Attempt, JobsLifecycle, Standing, StartOutcome, TaskError, TaskHandler};
#[cfg(feature = "sqlite")]
pub use queue::open_sqlite_pool;
pub use queue::{BackendKind, JobQueue, QueueError};
pub use webhook::{WebhookDeliveries, Webhooks};
