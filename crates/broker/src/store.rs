//! Connecting to the store: the configured one, or the embedded one started
//! in this process.

use broker_core::Settings;
use broker_core::config::StoreBackend;
use broker_core::endpoint::{EmbeddedStore, EndpointError, StoreEndpoint, embedded_credentials};
use broker_core::store::{Store, StoreError};
use broker_devstore::{DevStore, DevStoreConfig, DevStoreError};

#[derive(Debug, thiserror::Error)]
pub enum StoreStartError {
    #[error(transparent)]
    DevStore(#[from] DevStoreError),
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    #[error("the store is not usable: {0}")]
    Store(#[from] StoreError),
}

/// Whether this process may start the embedded store (`serve`, `cleanup`) or
/// must reach the one another process runs (`worker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Embedded {
    Start,
    Reach,
}

/// The store client, how to reach the store, and the embedded store when this
/// process runs it.
pub struct Connected {
    pub store: Store,
    pub endpoint: StoreEndpoint,
    pub devstore: Option<DevStore>,
}

pub async fn connect(settings: &Settings, embedded: Embedded) -> Result<Connected, StoreStartError> {
    let devstore = match (&settings.store.backend, embedded) {
        (StoreBackend::Embedded { bind, data_dir }, Embedded::Start) => {
            let credentials = embedded_credentials(&settings.store);
            let devstore = DevStore::start(DevStoreConfig {
                data_dir: data_dir.clone(),
                bind: *bind,
                access_key: credentials.access_key.clone(),
                secret_key: credentials.secret_key.expose().to_owned(),
                max_signature_age: settings.store.presign_ttl,
                allowed_origins: settings.allowed_origins.clone(),
                // The largest file one POST of any profile may carry, plus the form around it.
                max_post_body: broker_core::profile::PROFILES
                    .iter()
                    .map(|p| settings.store.uploads.single_request_max(p))
                    .max()
                    .unwrap_or(0)
                    + broker_devstore::FORM_OVERHEAD,
                limits: broker_devstore::ConnectionLimits::default(),
            })
            .await?;
            Some((devstore, credentials))
        }
        _ => None,
    };
    let running = devstore.as_ref().map(|(devstore, credentials)| EmbeddedStore {
        addr: devstore.addr(),
        credentials: credentials.clone(),
    });
    let endpoint = StoreEndpoint::resolve(&settings.store, running.as_ref())?;
    let store = Store::connect(&settings.store, endpoint.clone()).await;
    if devstore.is_some() {
        store.ensure_bucket().await?;
    }
    Ok(Connected {
        store,
        endpoint,
        devstore: devstore.map(|(devstore, _)| devstore),
    })
}
