//! The embedded S3-compatible store for development and tests.
//!
//! s3s + s3s-fs give real SigV4 checking and real POST-policy checking over a
//! data directory, so the broker signs against this store through exactly the
//! same code as against AWS, and objects survive a restart. Added on top:
//!
//! - CORS (browsers POST here from another origin), see `cors`;
//! - a clock-skew window as long as the presign TTL, because s3s otherwise
//!   refuses a form whose `x-amz-date` is older than 15 minutes while AWS
//!   honours the full `expiration`;
//! - limits against unauthenticated abuse, see `guard` and [`ConnectionLimits`]:
//!   s3s reads and buffers a POSTed file before it knows whether anyone may
//!   write, and hyper has no read timeouts unless it is given a timer.
//!
//! s3s itself is vendored with fixes (`vendor/s3s/PATCHED.md`): its multipart
//! parser refused some valid forms depending on where the body's chunks ended,
//! and a successful POST Object answered without `ETag` and `Location` (Uppy
//! waits forever without the `ETag`). POST Object then answers as
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/RESTObjectPOST.html> says:
//! `204` with `ETag` (quoted MD5) and `Location` (the path-style object URL,
//! key percent-encoded); `success_action_status` `200` (empty) or `201` (the
//! `PostResponse` document); `success_action_redirect` a `303` to that URL
//! with `bucket`, `key` and `etag` appended. Like every form field, those two
//! must be covered by the policy (the broker never sends them).
//!
//! Modules: `server` ([`DevStore`]: s3s-fs over hyper on a listener, with
//! limits and graceful shutdown), `cors`, `guard`.

mod cors;
mod guard;
mod server;

pub use server::{ConnectionLimits, DevStore, DevStoreConfig, DevStoreError, FORM_OVERHEAD};
