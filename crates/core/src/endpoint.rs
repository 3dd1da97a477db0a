//! How to reach the store: the one place the store endpoint is worked out.
//!
//! Three cases, one function ([`StoreEndpoint::resolve`]):
//! * `S3_ENABLED=true`: AWS S3 (no endpoint, the SDK's default resolver) or
//!   any S3-compatible store at `S3_ENDPOINT`, with the configured addressing
//!   style and credentials (or the default AWS chain);
//! * the embedded store started by this process: its real address (port 0 in
//!   tests) and the credentials it was started with;
//! * the embedded store of another process (`upload-broker worker` next to
//!   `upload-broker serve`): `DEVSTORE_BIND_ADDR`, which then needs the same
//!   static credentials as the `serve` process.
//!
//! [`StoreEndpoint::post_url`] sits beside it: the URL a browser POSTs a form
//! to follows the same addressing style as every other call.

use std::net::SocketAddr;

use crate::config::{StaticCredentials, StoreBackend, StoreSettings};
use crate::secret::Secret;

/// How to reach the store.
#[derive(Debug, Clone)]
pub struct StoreEndpoint {
    /// `None`: AWS, resolved by the SDK from the region.
    pub endpoint: Option<String>,
    pub force_path_style: bool,
    /// `None`: the default AWS credential chain.
    pub credentials: Option<StaticCredentials>,
}

/// The embedded store as this process started it.
#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    pub addr: SocketAddr,
    pub credentials: StaticCredentials,
}

#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error(
        "with S3_ENABLED unset this process uses the embedded store of `upload-broker serve`; \
         set S3_ACCESS_KEY and S3_SECRET_KEY to the same values for both"
    )]
    EmbeddedNeedsCredentials,
}

impl StoreEndpoint {
    /// The endpoint for `settings`; `embedded` is the embedded store when this
    /// process runs it.
    pub fn resolve(settings: &StoreSettings, embedded: Option<&EmbeddedStore>) -> Result<Self, EndpointError> {
        match (&settings.backend, embedded) {
            (
                StoreBackend::External {
                    endpoint,
                    force_path_style,
                },
                _,
            ) => Ok(StoreEndpoint {
                endpoint: endpoint.clone(),
                force_path_style: *force_path_style,
                credentials: settings.credentials.clone(),
            }),
            (StoreBackend::Embedded { .. }, Some(running)) => Ok(Self::embedded(running.addr, &running.credentials)),
            (StoreBackend::Embedded { bind, .. }, None) => settings
                .credentials
                .as_ref()
                .map(|credentials| Self::embedded(*bind, credentials))
                .ok_or(EndpointError::EmbeddedNeedsCredentials),
        }
    }

    fn embedded(addr: SocketAddr, credentials: &StaticCredentials) -> Self {
        StoreEndpoint {
            endpoint: Some(format!("http://{addr}")),
            force_path_style: true,
            credentials: Some(credentials.clone()),
        }
    }

    /// Where browsers POST upload forms for `bucket`.
    pub fn post_url(&self, bucket: &str, region: &str) -> String {
        match &self.endpoint {
            Some(url) if self.force_path_style => format!("{}/{bucket}", url.trim_end_matches('/')),
            Some(url) => match url.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{bucket}.{}", host.trim_end_matches('/')),
                None => format!("{url}/{bucket}"),
            },
            None if self.force_path_style => format!("https://s3.{region}.amazonaws.com/{bucket}"),
            None => format!("https://{bucket}.s3.{region}.amazonaws.com"),
        }
    }
}

/// The credentials the embedded store accepts: the configured ones, or fresh
/// random ones when only this process talks to it.
pub fn embedded_credentials(settings: &StoreSettings) -> StaticCredentials {
    settings.credentials.clone().unwrap_or_else(|| StaticCredentials {
        access_key: format!("dev{}", uuid::Uuid::new_v4().simple()),
        secret_key: Secret::new(uuid::Uuid::new_v4().simple().to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Settings;

    fn endpoint(url: Option<&str>, path_style: bool) -> StoreEndpoint {
        StoreEndpoint {
            endpoint: url.map(str::to_owned),
            force_path_style: path_style,
            credentials: None,
        }
    }

    fn settings(vars: &[(&str, &str)]) -> StoreSettings {
        Settings::from_lookup(|name| {
            vars.iter()
                .chain(&[("AUTH_MODE", "none"), (crate::config::INSECURE_AUTH_NONE, "true")])
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
        .expect("valid settings")
        .store
    }

    #[test]
    fn post_urls_follow_the_addressing_style() {
        assert_eq!(
            endpoint(Some("http://127.0.0.1:9000/"), true).post_url("b", "r"),
            "http://127.0.0.1:9000/b"
        );
        assert_eq!(
            endpoint(Some("https://minio.example"), false).post_url("b", "r"),
            "https://b.minio.example"
        );
        assert_eq!(
            endpoint(None, false).post_url("b", "eu-west-1"),
            "https://b.s3.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            endpoint(None, true).post_url("b", "eu-west-1"),
            "https://s3.eu-west-1.amazonaws.com/b"
        );
    }

    #[test]
    fn an_external_store_is_used_as_configured() {
        let store = settings(&[
            ("S3_ENABLED", "true"),
            ("S3_ENDPOINT", "http://127.0.0.1:3900"),
            ("S3_FORCE_PATH_STYLE", "true"),
            ("S3_REGION", "garage"),
            ("S3_BUCKET", "uploads"),
        ]);
        let resolved = StoreEndpoint::resolve(&store, None).expect("resolves");
        assert_eq!(resolved.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert!(resolved.force_path_style);
        assert!(resolved.credentials.is_none(), "the default chain");
    }

    #[test]
    fn the_running_embedded_store_wins_over_its_configured_address() {
        let store = settings(&[("DEVSTORE_BIND_ADDR", "127.0.0.1:0")]);
        let running = EmbeddedStore {
            addr: "127.0.0.1:41234".parse().expect("addr"),
            credentials: embedded_credentials(&store),
        };
        let resolved = StoreEndpoint::resolve(&store, Some(&running)).expect("resolves");
        assert_eq!(resolved.endpoint.as_deref(), Some("http://127.0.0.1:41234"));
        assert!(resolved.force_path_style);
        assert_eq!(
            resolved.credentials.map(|c| c.access_key),
            Some(running.credentials.access_key)
        );
    }

    #[test]
    fn another_process_embedded_store_needs_shared_credentials() {
        let store = settings(&[("DEVSTORE_BIND_ADDR", "127.0.0.1:9100")]);
        assert!(matches!(
            StoreEndpoint::resolve(&store, None),
            Err(EndpointError::EmbeddedNeedsCredentials)
        ));
        let store = settings(&[
            ("DEVSTORE_BIND_ADDR", "127.0.0.1:9100"),
            ("S3_ACCESS_KEY", "ak"),
            ("S3_SECRET_KEY", "sk-0123456789"),
        ]);
        let resolved = StoreEndpoint::resolve(&store, None).expect("resolves");
        assert_eq!(resolved.endpoint.as_deref(), Some("http://127.0.0.1:9100"));
    }
}
