//! The Prometheus recorder of this process and what a scrape renders.
//!
//! The `metrics` facade has one global recorder per process, so it is
//! installed once ([`recorder`]), the first time a part of the process asks
//! for metrics; every [`System`](crate::System) or worker of the process
//! then serves the same registry on its own `METRICS_BIND_ADDR`. With the
//! address empty nothing is installed and every metric call is a no-op.
//! Names, labels and buckets are defined in `broker_core::metrics`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use broker_api::metrics::{MetricsServer, Render};
use broker_api::startup::StartupError;
use broker_core::metrics::{self, COMPLETE_BUCKETS, EXPORT_BUCKETS, name};
use broker_jobs::JobsClient;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder, PrometheusHandle};

use crate::shutdown::Shutdown;

/// How often histogram samples are folded into their buckets between scrapes
/// (so memory stays bounded when nobody scrapes).
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process's recorder, installed on first use.
pub fn recorder() -> Result<PrometheusHandle, String> {
    static RECORDER: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    RECORDER
        .get_or_init(|| {
            let recorder = builder().map_err(|e| e.to_string())?.build_recorder();
            let handle = recorder.handle();
            ::metrics::set_global_recorder(recorder)
                .map_err(|e| format!("another metrics recorder is installed: {e}"))?;
            metrics::describe();
            Ok(handle)
        })
        .clone()
}

/// Histograms as Prometheus histograms (buckets), not summaries.
fn builder() -> Result<PrometheusBuilder, BuildError> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(name::COMPLETE_DURATION.into()), COMPLETE_BUCKETS)?
        .set_buckets_for_metric(Matcher::Full(name::EXPORT_DURATION.into()), EXPORT_BUCKETS)
}

/// A scrape: the queue depth is read from the queue first (when this process
/// has one), so the gauge is as fresh as the scrape.
fn render(handle: PrometheusHandle, exports: Option<JobsClient>) -> Render {
    Arc::new(move || {
        let (handle, exports) = (handle.clone(), exports.clone());
        Box::pin(async move {
            if let Some(exports) = exports {
                match exports.depth().await {
                    Ok(depth) => metrics::export_queue_depth(depth),
                    Err(error) => tracing::warn!(%error, "the export queue depth cannot be read"),
                }
            }
            handle.render()
        })
    })
}

/// The metrics server of a process, built but not yet serving.
pub struct Metrics {
    server: MetricsServer,
    handle: PrometheusHandle,
}

impl Metrics {
    /// Installs the recorder (once per process) and binds `bind`.
    pub fn build(bind: std::net::SocketAddr, exports: Option<JobsClient>) -> Result<Self, MetricsError> {
        let handle = recorder().map_err(MetricsError::Recorder)?;
        let server = MetricsServer::build(bind, render(handle.clone(), exports))?;
        Ok(Metrics { server, handle })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.server.addr()
    }

    /// Serves `/metrics` and keeps the recorder tidy until `shutdown` fires.
    pub async fn run(self, shutdown: Shutdown) -> std::io::Result<()> {
        let handle = self.handle;
        let stopped = shutdown.wait();
        let upkeep = async move {
            let mut every = tokio::time::interval(UPKEEP_EVERY);
            loop {
                every.tick().await;
                handle.run_upkeep();
            }
        };
        tokio::select! {
            served = self.server.run_until_stopped(stopped) => served,
            () = upkeep => Ok(()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics cannot be recorded: {0}")]
    Recorder(String),
    #[error(transparent)]
    Bind(#[from] StartupError),
}
