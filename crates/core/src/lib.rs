//! Shared core of the upload broker.
//!
//! Everything here is plain data and plain functions, so the API, the verifier
//! and the worker agree on one configuration, one profile table and one key
//! layout, and tests can exercise them without HTTP.
//!
//! * [`config`]: [`Settings`], every variable, one parser per section, all
//!   problems reported at once; [`secret`]: strings that never print.
//! * [`profile`]: the upload profiles; [`content_type`]: the one table of
//!   file types (MIME type and extension).
//! * [`keys`]: the key layout and the newtypes ([`ObjectKey`], [`TenantId`])
//!   that make a bad key unrepresentable, and which keys may be an export source.
//! * [`record`]: the object-metadata record (`x-amz-meta-*`);
//!   [`disposition`]: safe `Content-Disposition` values.
//! * [`endpoint`]: the one place the store endpoint is worked out (AWS,
//!   S3-compatible, or the embedded store), and the POST URL beside it.
//! * [`store`]: the store client; [`post_policy`] and [`presigned_put`]: the
//!   SigV4 presigned POST and PUT signers.
//! * [`cleanup`]: removing abandoned staging objects.
//! * [`json`]: JSON strings written as `serde_json` writes them, faster (the
//!   sign path); [`text`]: fixed-width dates and numbers (SigV4, log lines).

pub mod cleanup;
pub mod config;
pub mod content_type;
pub mod disposition;
pub mod endpoint;
pub mod json;
pub mod keys;
pub mod metrics;
pub mod post_policy;
pub mod presigned_put;
pub mod profile;
pub mod record;
pub mod secret;
pub mod store;
pub mod text;
pub mod tls;

pub use config::Settings;
pub use keys::{
    Area, KeyLayout, ObjectKey, Scope, ScopeRequest, StagedUpload, SubjectHash, TeamId, TenantId, UploadId,
};
pub use profile::{Profile, ProfileName};
pub use secret::Secret;
