//! The embedded S3-compatible store for development and tests.
//!
//! s3s + s3s-fs give real SigV4 checking and real POST-policy checking over a
//! data directory, so the broker signs against this store through exactly the
//! same code as against AWS, and objects survive a restart. Two things are
//! added on top: CORS (browsers POST here from another origin), and a clock-skew
//! window as long as the presign TTL, because s3s otherwise refuses a form whose
//! `x-amz-date` is older than 15 minutes while AWS honours the full `expiration`.

mod cors;
mod server;

pub use server::{DevStore, DevStoreConfig, DevStoreError};
