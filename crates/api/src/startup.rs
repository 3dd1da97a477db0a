//! Building the HTTP server: `Application::build` binds (port 0 in tests) and
//! wires the handlers over the store client and the export queue's client
//! handle it is given (which cannot run or advance jobs: workers do that);
//! `run_until_stopped` serves until the shutdown future resolves, then drains.
//!
//! This crate never starts a store or a worker: the binary composes those
//! (`upload-broker`'s `serve` module).

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::{App, HttpServer, http, middleware, web};
use broker_core::Settings;
use broker_core::config::AllowedOrigins;
use broker_core::store::Store;
use broker_jobs::JobsClient;

use crate::error::{json_error, query_error};
use crate::routes;
use crate::state::AppState;
use crate::uploads::multipart::sessions::RedisSessions;
use crate::uploads::multipart::{Multipart, SessionRegistry};

/// JSON bodies are small; anything larger is not a sign or download request.
pub const JSON_LIMIT: usize = 64 * 1024;

/// How long in-flight requests may finish after shutdown begins.
const SHUTDOWN_TIMEOUT_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("authentication is not usable: {0}")]
    Auth(String),
    #[error("multipart uploads need a session registry: REDIS_URL, or the embedded one")]
    NoSessionRegistry,
}

pub struct Application {
    port: u16,
    server: Server,
    /// What the background health round needs (see `routes::refresh_health`).
    health: (
        web::Data<AppState>,
        web::Data<crate::exports::ExportService>,
        web::Data<routes::Readiness>,
    ),
}

impl Application {
    /// The HTTP server over `store` and the export queue's client handle,
    /// listening but not yet serving. Multipart sessions live in Redis with
    /// `REDIS_URL` (over the API's one connection), else in `embedded_sessions`
    /// (the binary's SQLite registry).
    pub fn build(
        settings: &Settings,
        store: Store,
        exports: JobsClient,
        embedded_sessions: Option<Arc<dyn SessionRegistry>>,
    ) -> Result<Self, StartupError> {
        let webhooks = exports.webhooks(&settings.webhooks);
        let exports = web::Data::new(crate::exports::ExportService { exports });
        let state = web::Data::new(AppState::new(store, &settings.verify, webhooks.clone()));
        let webhooks = web::Data::new(webhooks);
        let auth = crate::auth::Auth::build(settings).map_err(StartupError::Auth)?;
        let sessions: Arc<dyn SessionRegistry> = match (&auth.redis, embedded_sessions) {
            (Some(redis), _) => Arc::new(RedisSessions::new(redis.clone())),
            (None, Some(embedded)) => embedded,
            (None, None) => return Err(StartupError::NoSessionRegistry),
        };
        let multipart = web::Data::new(Multipart { sessions });
        let auth = web::Data::new(auth);
        let readiness = web::Data::new(routes::Readiness::default());
        let storage = web::Data::new(crate::storage::StorageService::new(&settings.store));

        let bind_error = |source| StartupError::Bind {
            addr: settings.bind,
            source,
        };
        let listener = TcpListener::bind(settings.bind).map_err(bind_error)?;
        let port = listener.local_addr().map_err(bind_error)?.port();
        let origins = settings.allowed_origins.clone();
        let health = (state.clone(), exports.clone(), readiness.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(auth.clone())
                .app_data(exports.clone())
                .app_data(readiness.clone())
                .app_data(storage.clone())
                .app_data(multipart.clone())
                .app_data(webhooks.clone())
                .app_data(
                    web::JsonConfig::default()
                        .limit(JSON_LIMIT)
                        .error_handler(|e, _| json_error(e, JSON_LIMIT).into()),
                )
                .app_data(web::QueryConfig::default().error_handler(|e, _| query_error(e).into()))
                .wrap(cors(&origins))
                .wrap(middleware::from_fn(crate::request::traced))
                .configure(routes::configure)
                .default_service(web::to(routes::not_found))
        })
        // The binary owns the one shutdown signal.
        .disable_signals()
        .listen(listener)
        .map_err(bind_error)?
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .run();
        tracing::info!(port, "broker API listening");
        Ok(Self { port, server, health })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, then lets in-flight requests finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let (state, exports, readiness) = self.health;
        let _refresher = AbortOnDrop(tokio::spawn(routes::refresh_health(state, exports, readiness)));
        serve_until("the API", self.server, shutdown).await
    }
}

/// Serves `server` until `shutdown` resolves, then lets in-flight requests
/// finish (`SHUTDOWN_TIMEOUT_SECS`).
pub(crate) async fn serve_until(what: &str, server: Server, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
    let handle = server.handle();
    let mut server = std::pin::pin!(server);
    tokio::select! {
        result = &mut server => return result,
        () = shutdown => {}
    }
    tracing::info!("{what} stops taking requests");
    // The stop command is sent now; the server future, polled below,
    // carries it out.
    let stopped = handle.stop(true);
    let result = server.await;
    stopped.await;
    result
}

/// A background task that ends with its owner, whichever way it returns.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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
        // A browser client can then back off on 429, see why a call was
        // refused, and quote the request id to support.
        .expose_headers([
            http::header::RETRY_AFTER,
            http::header::WWW_AUTHENTICATE,
            crate::request::REQUEST_ID,
        ])
        .max_age(3600)
}
