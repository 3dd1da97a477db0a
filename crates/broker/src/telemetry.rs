//! Logging for every subcommand.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Library noise that could print request URLs (and so presigned signatures) stays at warn.
pub const DEFAULT_LOG_FILTER: &str = "info,s3s=warn,s3s_fs=warn,aws_config=warn,aws_smithy_runtime=warn,hyper=warn";

/// Human-readable logs to stdout, filtered by `RUST_LOG` (default [`DEFAULT_LOG_FILTER`]).
///
/// Lines are written by a thread of their own: a request formats its lines
/// and hands them over instead of waiting on the stdout lock and a `write`
/// per line (issue 15: the audit line of every authenticated request). No line
/// is dropped: when the hand-over queue is full, the request waits. Keep the
/// returned guard until exit; dropping it writes what is still queued.
pub fn init() -> WorkerGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::stdout());
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER)))
        .with_writer(writer)
        .init();
    guard
}
