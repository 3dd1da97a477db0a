//! Serving s3s-fs over hyper on a listener, with limits and graceful shutdown.
//!
//! Connections are HTTP/1.1 only: browsers and the AWS SDK speak HTTP/1.1 to a
//! plain-HTTP endpoint (h2c needs prior knowledge), and hyper-util's version
//! sniffing would wait for a first byte without any timeout. hyper's header
//! read timeout (it needs a timer) then closes a connection that does not
//! finish its request head in time, also between keep-alive requests, so an
//! idle or slow-loris connection cannot hold one of the connection slots
//! forever.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use hyper_util::server::graceful::GracefulShutdown;
use s3s::auth::SimpleAuth;
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{Body, HttpError};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use broker_core::config::AllowedOrigins;

use crate::cors::Cors;
use crate::guard::{GuardedBody, Verdict, refuse_early};

/// Room for the form fields and multipart framing around the file of a POST
/// Object form: callers pass `largest file allowed + FORM_OVERHEAD` as
/// [`DevStoreConfig::max_post_body`]. The broker's fields (policy, signature,
/// credential, key, metadata) take a few KiB.
pub const FORM_OVERHEAD: u64 = 64 * 1024;

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
    /// The largest POST body accepted, in bytes: the largest file any policy
    /// allows plus [`FORM_OVERHEAD`]. A larger body, signed or not, is refused
    /// with S3's `400 EntityTooLarge`: unread when its `Content-Length` says so,
    /// else as soon as more than this has been read.
    pub max_post_body: u64,
    pub limits: ConnectionLimits,
}

/// How many connections the store serves at once and how long it waits for
/// a client. The defaults suit a development machine.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Time for a client to send a complete request head, counted from the
    /// connection or from the end of the previous response (keep-alive).
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body.
    pub body_idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 256,
            header_read_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
        }
    }
}

/// What each request handler needs.
struct Handler {
    service: S3Service,
    origins: AllowedOrigins,
    max_post_body: u64,
    body_idle_timeout: Duration,
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
        if config.limits.max_connections == 0 {
            return Err(DevStoreError::Start("max_connections must be at least 1".into()));
        }
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
        // s3s buffers a POSTed file up to this size (5 GiB by default); the
        // body guard refuses larger bodies first, this is the second fence.
        s3_config.post_object_max_file_size = config.max_post_body;
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
        let handler = Arc::new(Handler {
            service,
            origins: config.allowed_origins,
            max_post_body: config.max_post_body,
            body_idle_timeout: config.limits.body_idle_timeout,
        });
        let task = tokio::spawn(serve(listener, handler, config.limits, stopped));
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
    handler: Arc<Handler>,
    limits: ConnectionLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let mut http = ConnBuilder::new(TokioExecutor::new()).http1_only();
    http.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        // Take a slot before accepting: beyond the cap, connections wait in
        // the kernel's listen backlog instead of being served.
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
            _ = stopped.changed() => break,
        };
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
        let handler = Arc::clone(&handler);
        let service = service_fn(move |request: Request<Incoming>| {
            let handler = Arc::clone(&handler);
            async move { handler.handle(request).await }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(socket), service).into_owned());
        tokio::spawn(async move {
            let _ = connection.await;
            drop(slot);
        });
    }
    tokio::select! {
        () = graceful.shutdown() => {},
        () = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("embedded store: in-flight requests did not finish within 10 s");
        }
    }
}

impl Handler {
    /// CORS around s3s, with the body guard in between.
    async fn handle(&self, request: Request<Incoming>) -> Result<Response<Body>, HttpError> {
        let request_headers = request.headers().clone();
        if request.method() == Method::OPTIONS {
            let mut response = Response::new(Body::empty());
            match self.origins.preflight(&request_headers) {
                Some(headers) => {
                    *response.status_mut() = StatusCode::NO_CONTENT;
                    *response.headers_mut() = headers;
                }
                None => *response.status_mut() = StatusCode::FORBIDDEN,
            }
            return Ok(response);
        }
        let mut response = match refuse_early(&request, self.max_post_body) {
            Some(refusal) => {
                // The path only: a presigned URL's query string holds its signature.
                tracing::info!(?refusal, path = ?request.uri().path(), "embedded store refused a request before reading its body");
                refusal.response()
            }
            None => {
                let verdict = Verdict::default();
                let request = GuardedBody::guard(request, self.max_post_body, self.body_idle_timeout, &verdict);
                let answer = self.service.call(request).await;
                match verdict.refusal() {
                    Some(refusal) => {
                        tracing::info!(?refusal, "embedded store cut off a request body");
                        refusal.response()
                    }
                    None => answer?,
                }
            }
        };
        self.origins.decorate(&request_headers, response.headers_mut());
        Ok(response)
    }
}
