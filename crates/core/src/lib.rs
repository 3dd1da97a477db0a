//! Shared core of the upload broker.
//!
//! Everything here is plain data and plain functions, so the API, the verifier
//! and the worker agree on one configuration, one profile table and one key
//! layout, and tests can exercise them without HTTP.

pub mod cleanup;
pub mod config;
pub mod content_type;
pub mod disposition;
pub mod endpoint;
pub mod keys;
pub mod metrics;
pub mod post_policy;
pub mod presigned_put;
pub mod profile;
pub mod record;
pub mod secret;
pub mod store;

pub use config::Settings;
pub use keys::{Area, KeyLayout, ObjectKey, StagedUpload, TenantId, UploadId};
pub use profile::{Profile, ProfileName};
pub use secret::Secret;
