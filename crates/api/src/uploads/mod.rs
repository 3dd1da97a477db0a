//! The upload flow as plain async functions over the store: what the handlers
//! call, and what tests can call without HTTP.

pub mod complete;
pub mod download;
mod gated;
pub mod multipart;
pub mod sign;
pub mod verification;
