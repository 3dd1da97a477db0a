//! The Prometheus scrape endpoint, `GET /metrics`, on its own address
//! (`METRICS_BIND_ADDR`), apart from the API: a scraper needs no credential
//! and reaches nothing else, and the API's port can be public while this one
//! stays on a private network. The names and labels are defined once in
//! `broker_core::metrics`; this server only serves the text a render
//! function gives it (the composition root owns the recorder).

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::Pin;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::error::ApiError;
use crate::startup::{StartupError, serve_until};

/// Produces the exposition text for one scrape.
pub type Render = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;

/// Prometheus text exposition format 0.0.4.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics server, listening but not yet serving.
pub struct MetricsServer {
    addr: SocketAddr,
    server: Server,
}

impl MetricsServer {
    pub fn build(bind: SocketAddr, render: Render) -> Result<Self, StartupError> {
        let bind_error = |source| StartupError::Bind { addr: bind, source };
        let listener = TcpListener::bind(bind).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let server = HttpServer::new(move || {
            let render = render.clone();
            App::new()
                .route(
                    "/metrics",
                    web::get().to(move || {
                        let render = render.clone();
                        async move { HttpResponse::Ok().content_type(CONTENT_TYPE).body(render().await) }
                    }),
                )
                .default_service(web::to(|| async { Err::<HttpResponse, _>(ApiError::RouteNotFound) }))
        })
        // Scrapes are rare and small.
        .workers(1)
        .disable_signals()
        .listen(listener)
        .map_err(bind_error)?
        .shutdown_timeout(5)
        .run();
        tracing::info!(%addr, "metrics listening on /metrics");
        Ok(Self { addr, server })
    }

    /// The address it listens on (the real port when bound to port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` resolves.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        serve_until("the metrics server", self.server, shutdown).await
    }
}
