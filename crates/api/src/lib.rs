//! The HTTP API of the upload broker.
//!
//! Handlers are thin: they parse, call a plain function in [`uploads`] and map
//! its error to HTTP in [`error`], the one place that knows status codes.

pub mod auth;
pub mod cache;
pub mod error;
pub mod exports;
mod hex;
pub mod routes;
pub mod startup;
pub mod state;
pub mod storage;
pub mod uploads;

pub use startup::Application;
