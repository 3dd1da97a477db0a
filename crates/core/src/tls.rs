//! The TLS client configuration of every HTTPS call the broker makes itself
//! (the JWKS fetch, `doctor`, webhook deliveries): rustls with aws-lc-rs and
//! the system's CA certificates. Without any, plain HTTP still works and an
//! https URL fails saying so.

use std::sync::Arc;

use hyper_rustls::ConfigBuilderExt as _;

pub fn client_config() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let versions = || {
        rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))
    };
    match versions()?.with_native_roots() {
        Ok(builder) => Ok(builder.with_no_client_auth()),
        Err(e) => {
            tracing::warn!(error = %e, "no CA certificates found: https URLs cannot be verified");
            Ok(versions()?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth())
        }
    }
}
