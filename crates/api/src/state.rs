//! Shared, immutable state handed to every handler.

use broker_core::config::VerifySettings;
use broker_core::store::Store;
use broker_verifier::Limits;
use tokio::sync::Semaphore;

use crate::uploads::complete::Verification;

pub struct AppState {
    pub store: Store,
    pub verification: Verification,
}

impl AppState {
    pub fn new(store: Store, verify: &VerifySettings) -> Self {
        let limits = Limits {
            max_image_side: verify.max_image_side,
            max_image_pixels: verify.max_image_pixels,
            ..Limits::default()
        };
        let verification = Verification {
            limits,
            permits: Semaphore::new(verify.concurrency),
        };
        Self { store, verification }
    }
}
