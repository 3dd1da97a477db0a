//! Building and running the application: `Application::build` binds (port 0 in
//! tests), starts the embedded store when no external one is configured, and
//! `run_until_stopped` serves until SIGINT/SIGTERM, then drains.

use std::net::TcpListener;

use actix_cors::Cors;
use actix_web::dev::{Server, Service};
use actix_web::{App, HttpServer, http, web};
use broker_core::config::{AllowedOrigins, StaticCredentials, StoreBackend};
use broker_core::store::{Store, StoreEndpoint};
use broker_core::{Secret, Settings};
use broker_devstore::{DevStore, DevStoreConfig, DevStoreError};

use crate::error::json_error;
use crate::routes;
use crate::state::AppState;

/// JSON bodies are small; anything larger is not a sign or download request.
pub const JSON_LIMIT: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    DevStore(#[from] DevStoreError),
    #[error("the store is not usable: {0}")]
    Store(#[from] broker_core::store::StoreError),
    #[error("REDIS_URL is not usable: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("authentication is not usable: {0}")]
    Auth(String),
    #[error("the export queue is not usable: {0}")]
    Exports(#[from] broker_worker::queue::QueueError),
}

pub struct Application {
    port: u16,
    server: Server,
    devstore: Option<DevStore>,
    export_worker: Option<ExportWorker>,
}

/// The in-process export worker of the all-in-one mode (no `REDIS_URL`).
struct ExportWorker {
    stop: tokio::sync::oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let (store, endpoint, devstore) = connect_with_endpoint(&settings).await?;
        let (exports, export_worker) = start_exports(&settings, &endpoint).await?;
        let exports = web::Data::new(crate::exports::ExportService { exports });
        let state = web::Data::new(AppState::new(store, &settings.verify, settings.redis_url.as_ref())?);
        let auth = web::Data::new(crate::auth::Auth::build(&settings).map_err(StartupError::Auth)?);

        let listener = TcpListener::bind(settings.bind).map_err(|source| StartupError::Bind {
            addr: settings.bind,
            source,
        })?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind {
                addr: settings.bind,
                source,
            })?
            .port();
        let origins = settings.allowed_origins.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(auth.clone())
                .app_data(exports.clone())
                .app_data(web::JsonConfig::default().limit(JSON_LIMIT).error_handler(|e, _| json_error(e, JSON_LIMIT).into()))
                .wrap(cors(&origins))
                .wrap_fn(|request, service| {
                    let method = request.method().clone();
                    // The path only: query strings could carry tokens.
                    let path = request.path().to_owned();
                    let started = std::time::Instant::now();
                    let response = service.call(request);
                    async move {
                        let response = response.await?;
                        tracing::info!(%method, %path, status = response.status().as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "request");
                        Ok(response)
                    }
                })
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        .listen(listener)
        .map_err(|source| StartupError::Bind { addr: settings.bind, source })?
        .shutdown_timeout(30)
        .run();
        tracing::info!(port, "broker API listening");
        Ok(Self {
            port,
            server,
            devstore,
            export_worker,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The embedded store's endpoint, when this application runs one.
    pub fn devstore_endpoint(&self) -> Option<String> {
        self.devstore.as_ref().map(DevStore::endpoint)
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        if let Some(worker) = self.export_worker {
            // The API has stopped taking exports; let running jobs drain.
            let _ = worker.stop.send(());
            let _ = worker.handle.await;
        }
        if let Some(devstore) = self.devstore {
            devstore.shutdown().await;
        }
        result
    }
}

/// The store client, and the embedded store when this process runs it (its
/// bucket created on first start).
pub async fn connect(settings: &Settings) -> Result<(Store, Option<DevStore>), StartupError> {
    let (store, _, devstore) = connect_with_endpoint(settings).await?;
    Ok((store, devstore))
}

/// [`connect`], plus how to reach the store (for a second client, such as the in-process export worker's).
pub async fn connect_with_endpoint(
    settings: &Settings,
) -> Result<(Store, StoreEndpoint, Option<DevStore>), StartupError> {
    let (endpoint, devstore) = connect_store(settings).await?;
    let store = Store::connect(&settings.store, endpoint.clone()).await;
    if devstore.is_some() {
        store.ensure_bucket().await?;
    }
    Ok((store, endpoint, devstore))
}

/// The export queue: Redis when `REDIS_URL` is set (this process only
/// enqueues; `upload-broker worker` processes consume), otherwise the embedded
/// SQLite queue under `DATA_DIR` with a worker in this process.
async fn start_exports(
    settings: &Settings,
    endpoint: &StoreEndpoint,
) -> Result<(broker_worker::Exports, Option<ExportWorker>), StartupError> {
    if let Some(url) = &settings.redis_url {
        return Ok((broker_worker::Exports::redis(url, &settings.exports)?, None));
    }
    let exports = broker_worker::Exports::sqlite(&settings.exports).await?;
    let store = Store::connect(&settings.store, endpoint.clone()).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(broker_worker::run::run_workers(exports.clone(), store, async move {
        let _ = stopped.await;
    }));
    Ok((exports, Some(ExportWorker { stop, handle })))
}

/// Either the configured store, or the embedded one started here.
async fn connect_store(settings: &Settings) -> Result<(StoreEndpoint, Option<DevStore>), StartupError> {
    match &settings.store.backend {
        StoreBackend::External {
            endpoint,
            force_path_style,
        } => Ok((
            StoreEndpoint {
                endpoint: endpoint.clone(),
                force_path_style: *force_path_style,
                credentials: settings.store.credentials.clone(),
            },
            None,
        )),
        StoreBackend::Embedded { bind, data_dir } => {
            // Only this process talks to the embedded store, so fresh random
            // credentials per start are enough unless the operator set some.
            let credentials = settings.store.credentials.clone().unwrap_or_else(|| StaticCredentials {
                access_key: format!("dev{}", uuid::Uuid::new_v4().simple()),
                secret_key: Secret::new(uuid::Uuid::new_v4().simple().to_string()),
            });
            let devstore = DevStore::start(DevStoreConfig {
                data_dir: data_dir.clone(),
                bind: *bind,
                access_key: credentials.access_key.clone(),
                secret_key: credentials.secret_key.expose().to_owned(),
                max_signature_age: settings.store.presign_ttl,
                allowed_origins: settings.allowed_origins.clone(),
            })
            .await?;
            let endpoint = StoreEndpoint {
                endpoint: Some(devstore.endpoint()),
                force_path_style: true,
                credentials: Some(credentials),
            };
            Ok((endpoint, Some(devstore)))
        }
    }
}

fn cors(origins: &AllowedOrigins) -> Cors {
    let origins = origins.clone();
    Cors::default()
        .allowed_origin_fn(move |origin, _| origin.to_str().is_ok_and(|o| origins.allows(o)))
        .allowed_methods([http::Method::GET, http::Method::POST, http::Method::DELETE])
        .allowed_headers([
            http::header::CONTENT_TYPE,
            http::header::AUTHORIZATION,
            http::header::HeaderName::from_static("idempotency-key"),
        ])
        // A browser client can then back off on 429 and see why a call was refused.
        .expose_headers([http::header::RETRY_AFTER, http::header::WWW_AUTHENTICATE])
        .max_age(3600)
}
