//! One delivery attempt over HTTP: resolve and check the address
//! ([`super::address`]), then POST the signed body to exactly that address
//! (hyper-util's client over rustls, with a resolver that can only answer the
//! checked address; `Host` and SNI come from the URL), with a timeout, and
//! without following redirects: only a 2xx is a delivery.

use std::future::Ready;
use std::iter::Once;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use broker_core::config::{WebhookEndpoint, WebhookSettings};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioExecutor;

use super::address::{self, AddressError};
use super::sign;

/// Why an attempt did not deliver.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttemptError {
    /// Never deliverable as configured (a private address): a dead letter at once.
    #[error("{0}")]
    Refused(String),
    /// This attempt failed (connection, timeout, status): retried.
    #[error("{0}")]
    Failed(String),
}

/// A resolver that answers every name with the one address checked for it.
#[derive(Clone)]
struct Pinned(SocketAddr);

impl tower_service::Service<Name> for Pinned {
    type Response = Once<SocketAddr>;
    type Error = std::io::Error;
    type Future = Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        std::future::ready(Ok(std::iter::once(self.0)))
    }
}

/// Sends deliveries; one per worker process.
pub struct Sender {
    tls: Arc<rustls::ClientConfig>,
    timeout: Duration,
    allow_private: bool,
}

impl Sender {
    pub fn new(settings: &WebhookSettings) -> Result<Self, String> {
        Ok(Sender {
            tls: Arc::new(broker_core::tls::client_config()?),
            timeout: settings.timeout,
            allow_private: settings.allow_private,
        })
    }

    /// POSTs `body` (event `id`) to `endpoint`, signed now.
    pub async fn post(&self, endpoint: &WebhookEndpoint, id: &str, body: &str) -> Result<(), AttemptError> {
        let addr = address::resolve(&endpoint.url, self.allow_private)
            .await
            .map_err(|e| match e {
                AddressError::NotPublic { .. } => AttemptError::Refused(e.to_string()),
                AddressError::Unresolved { .. } => AttemptError::Failed(e.to_string()),
            })?;
        let mut http = HttpConnector::new_with_resolver(Pinned(addr));
        http.enforce_http(false);
        http.set_connect_timeout(Some(self.timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        // A fresh client per attempt: no pooled connection to an address checked earlier.
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(https);

        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let request = http::Request::post(endpoint.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "upload-broker-webhooks/1")
            .header(sign::ID_HEADER, id)
            .header(sign::TIMESTAMP_HEADER, timestamp.to_string())
            .header(
                sign::SIGNATURE_HEADER,
                sign::signature(endpoint.secret.expose(), timestamp, body.as_bytes()),
            )
            .body(Full::new(Bytes::copy_from_slice(body.as_bytes())))
            .map_err(|e| AttemptError::Refused(format!("the request cannot be built: {e}")))?;
        let response = match tokio::time::timeout(self.timeout, client.request(request)).await {
            Err(_) => return Err(AttemptError::Failed(format!("timed out after {:?}", self.timeout))),
            Ok(Err(e)) => return Err(AttemptError::Failed(describe(&e))),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_redirection() {
            Err(AttemptError::Failed(format!(
                "the receiver answered {status}; redirects are not followed"
            )))
        } else {
            Err(AttemptError::Failed(format!("the receiver answered {status}")))
        }
    }
}

/// An HTTP client error with its causes (hyper-util's own says only "client error (Connect)").
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
