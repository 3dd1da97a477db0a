//! Serving s3s-fs over hyper on a loopback listener, with graceful shutdown.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{Body, HttpError};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use broker_core::config::AllowedOrigins;

use crate::cors::Cors;

#[derive(Debug, Clone)]
pub struct DevStoreConfig {
    pub data_dir: PathBuf,
    pub bind: SocketAddr,
    pub access_key: String,
    pub secret_key: String,
    /// How old a signed `x-amz-date` may be: set it to the presign TTL so a
    /// form stays usable for as long as its policy says, as on AWS.
    pub max_signature_age: Duration,
    pub allowed_origins: AllowedOrigins,
}

#[derive(Debug, thiserror::Error)]
pub enum DevStoreError {
    #[error("the data directory {path} cannot be used: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error("the embedded store cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("the embedded store failed to start: {0}")]
    Start(String),
}

/// A running embedded store. Dropping it without [`DevStore::shutdown`] aborts it.
pub struct DevStore {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl DevStore {
    pub async fn start(config: DevStoreConfig) -> Result<Self, DevStoreError> {
        let data_dir = &config.data_dir;
        std::fs::create_dir_all(data_dir).map_err(|source| DevStoreError::DataDir {
            path: data_dir.clone(),
            source,
        })?;
        let fs = s3s_fs::FileSystem::new(data_dir).map_err(|e| DevStoreError::Start(format!("{e:?}")))?;

        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(
            config.access_key.clone(),
            config.secret_key.clone(),
        ));
        let mut s3_config = S3Config::default();
        // Never below s3s's own 15 minutes: a short TTL must end in the
        // policy's `expiration` check (AccessDenied, as on AWS), not a skew error.
        let max_age = u32::try_from(config.max_signature_age.as_secs()).unwrap_or(u32::MAX);
        s3_config.presigned_url_max_skew_time_secs = s3_config.presigned_url_max_skew_time_secs.max(max_age);
        builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(s3_config))));
        let service = builder.build();

        let listener = TcpListener::bind(config.bind)
            .await
            .map_err(|source| DevStoreError::Bind {
                addr: config.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| DevStoreError::Bind {
            addr: config.bind,
            source,
        })?;
        let (stop, stopped) = watch::channel(false);
        let origins = Arc::new(config.allowed_origins);
        let task = tokio::spawn(serve(listener, service, origins, stopped));
        tracing::info!(%addr, data_dir = %data_dir.display(), "embedded S3-compatible store listening");
        Ok(Self {
            addr,
            stop,
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint URL clients use (path-style).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets in-flight requests finish (up to 10 s), then returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for DevStore {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

async fn serve(
    listener: TcpListener,
    service: S3Service,
    origins: Arc<AllowedOrigins>,
    mut stopped: watch::Receiver<bool>,
) {
    let http = ConnBuilder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(e) => {
                    tracing::warn!(error = %e, "embedded store could not accept a connection");
                    continue;
                }
            },
            _ = stopped.changed() => break,
        };
        let service = service.clone();
        let origins = Arc::clone(&origins);
        let handler = service_fn(move |request: Request<Incoming>| {
            let service = service.clone();
            let origins = Arc::clone(&origins);
            async move { with_cors(&service, &origins, request).await }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(socket), handler).into_owned());
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("embedded store: in-flight requests did not finish within 10 s");
        }
    }
}

async fn with_cors(
    service: &S3Service,
    origins: &AllowedOrigins,
    request: Request<Incoming>,
) -> Result<Response<Body>, HttpError> {
    let request_headers = request.headers().clone();
    if request.method() == Method::OPTIONS {
        let mut response = Response::new(Body::empty());
        match origins.preflight(&request_headers) {
            Some(headers) => {
                *response.status_mut() = StatusCode::NO_CONTENT;
                *response.headers_mut() = headers;
            }
            None => *response.status_mut() = StatusCode::FORBIDDEN,
        }
        return Ok(response);
    }
    let mut response = service.call(request.map(Body::from)).await?;
    origins.decorate(&request_headers, response.headers_mut());
    Ok(response)
}
