//! Shared, immutable state handed to every handler.

use broker_core::store::Store;
use broker_core::Secret;

pub struct AppState {
    pub store: Store,
    /// Checked by `/readyz` when configured.
    pub redis: Option<redis::Client>,
}

impl AppState {
    pub fn new(store: Store, redis_url: Option<&Secret>) -> Result<Self, redis::RedisError> {
        let redis = redis_url.map(|url| redis::Client::open(url.expose())).transpose()?;
        Ok(Self { store, redis })
    }
}
