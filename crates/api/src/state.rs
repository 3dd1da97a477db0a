//! Shared, immutable state handed to every handler.

use broker_core::config::VerifySettings;
use broker_core::store::Store;
use broker_jobs::Webhooks;

use crate::uploads::verification::Verification;

pub struct AppState {
    pub store: Store,
    pub verification: Verification,
}

impl AppState {
    pub fn new(store: Store, verify: &VerifySettings, webhooks: Webhooks) -> Self {
        Self {
            store,
            verification: Verification::new(verify, webhooks),
        }
    }
}
