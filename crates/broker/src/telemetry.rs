//! Logging for every subcommand.

use tracing_subscriber::EnvFilter;

/// The log filter's variable, read here rather than by the typed configuration
/// because logging starts before it; the deploy files' test counts it as known.
pub const LOG_FILTER_VAR: &str = "RUST_LOG";

/// Library noise that could print request URLs (and so presigned signatures) stays at warn.
pub const DEFAULT_LOG_FILTER: &str = "info,s3s=warn,s3s_fs=warn,aws_config=warn,aws_smithy_runtime=warn,hyper=warn";

/// Human-readable logs to stdout, filtered by [`LOG_FILTER_VAR`] (default [`DEFAULT_LOG_FILTER`]).
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_env(LOG_FILTER_VAR).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER)))
        .init();
}
