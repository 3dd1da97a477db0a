//! The HTTP API of the upload broker.
//!
//! Handlers are thin: they parse, call a plain function in [`uploads`] and map
//! its error to HTTP in [`error`], the one place that knows status codes.
//!
//! * [`startup`]: [`Application`], the HTTP server over the store client and
//!   the jobs client it is handed; [`state`]: what every handler shares.
//! * [`routes`]: the route table and the thin handlers.
//! * [`uploads`]: the sign, complete and download flows as plain functions;
//!   [`exports`]: submitting, reading and cancelling export jobs;
//!   [`webhooks`]: the completion webhooks and the dead letters' routes.
//!   [`objects`]: listing and deleting verified objects by scope.
//! * [`auth`]: who is calling (JWT, JWKS, API keys), rate limits, quotas and
//!   the audit trail.
//! * [`error`]: the one error enum of the boundary; `hex`: digests as text.

pub mod auth;
pub mod cache;
pub mod error;
pub mod exports;
mod hex;
pub mod metrics;
pub mod objects;
pub mod openapi;
pub mod request;
pub mod routes;
pub mod startup;
pub mod state;
pub mod storage;
pub mod uploads;
pub mod webhooks;

pub use startup::Application;
