//! The one shutdown signal of a process.
//!
//! Every long-running part (the HTTP server, the embedded store, the export
//! workers) takes a [`Shutdown`] and stops when it fires, the way garage's
//! `server.rs` runs its servers as siblings under one cancel signal. It fires
//! on SIGTERM or SIGINT ([`Shutdown::on_signals`]), or when a test calls
//! [`Shutdown::trigger`].

use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// A shutdown that fires on SIGTERM or SIGINT.
    pub fn on_signals() -> Self {
        let shutdown = Self::new();
        let fired = shutdown.clone();
        tokio::spawn(async move {
            signal().await;
            fired.trigger();
        });
        shutdown
    }

    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Resolves once the shutdown has fired.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        self.token.clone().cancelled_owned()
    }
}

/// Resolves on SIGTERM or SIGINT.
async fn signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}
