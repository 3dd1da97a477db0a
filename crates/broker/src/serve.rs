//! `upload-broker serve`: the composition root.
//!
//! [`System::build`] wires, in order: the store (starting the embedded one
//! when `S3_ENABLED` is unset), the export queue (Redis when `REDIS_URL` is
//! set, otherwise SQLite under `DATA_DIR` with an export worker in this
//! process), the multipart sessions' registry (SQLite under `DATA_DIR`
//! without `REDIS_URL`), the HTTP API over them, and the metrics server beside it
//! (`METRICS_BIND_ADDR`). [`System::run`] serves until the one [`Shutdown`]
//! fires, then stops the parts in dependency order: the API and the metrics
//! server stop taking requests while the in-process worker drains, and the
//! embedded store goes last, because both write to it.

use broker_api::Application;
use broker_api::startup::StartupError;
use broker_core::Settings;
use broker_core::config::WebhookSettings;
use broker_core::endpoint::StoreEndpoint;
use broker_core::store::Store;
use broker_devstore::DevStore;
use broker_jobs::{JobQueue, JobsClient, JobsLifecycle, QueueError};

use crate::metrics::{Metrics, MetricsError};
use crate::shutdown::Shutdown;
use crate::store::{Embedded, StoreStartError, connect};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] StoreStartError),
    #[error("the export queue is not usable: {0}")]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Api(#[from] StartupError),
    #[error(transparent)]
    Sessions(#[from] broker_api::uploads::multipart::RegistryError),
    #[error(transparent)]
    Metrics(#[from] MetricsError),
}

/// Everything `serve` runs, built but not yet running.
pub struct System {
    app: Application,
    endpoint: StoreEndpoint,
    exports: JobsClient,
    devstore: Option<DevStore>,
    /// `/metrics`, unless `METRICS_BIND_ADDR` is empty.
    metrics: Option<Metrics>,
    /// The queue's lifecycle handle, the store client and the webhook
    /// settings of the in-process worker (no `REDIS_URL`), which
    /// [`System::run`] starts.
    worker: Option<(JobsLifecycle, Store, WebhookSettings)>,
}

impl System {
    pub async fn build(settings: Settings) -> Result<Self, ServeError> {
        let connected = connect(&settings, Embedded::Start).await?;
        let (queue, worker) = match &settings.redis_url {
            // This process only enqueues; `upload-broker worker` processes consume.
            Some(url) => (JobQueue::redis(url, &settings.exports)?, None),
            None => {
                let queue = JobQueue::sqlite(&settings.exports).await?;
                let worker_store = Store::connect(&settings.store, connected.endpoint.clone()).await;
                (
                    queue.clone(),
                    Some((queue.lifecycle(), worker_store, settings.webhooks.clone())),
                )
            }
        };
        let exports = queue.client();
        // With REDIS_URL the API keeps multipart sessions in Redis itself.
        let sessions = match &settings.redis_url {
            Some(_) => None,
            None => Some(crate::sessions::open(&settings).await?),
        };
        let app = Application::build(&settings, connected.store, exports.clone(), sessions)?;
        let metrics = match settings.telemetry.metrics_bind {
            Some(bind) => Some(Metrics::build(bind, Some(exports.clone()))?),
            None => None,
        };
        Ok(System {
            app,
            metrics,
            endpoint: connected.endpoint,
            exports,
            devstore: connected.devstore,
            worker,
        })
    }

    /// The port the API listens on (the real one when `BIND_ADDR` asks for port 0).
    pub fn api_port(&self) -> u16 {
        self.app.port()
    }

    /// Where `/metrics` is served (`None` when metrics are off).
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.metrics.as_ref().map(Metrics::addr)
    }

    /// How the store is reached, the embedded one included.
    pub fn endpoint(&self) -> &StoreEndpoint {
        &self.endpoint
    }

    /// The export queue's client handle.
    pub fn exports(&self) -> &JobsClient {
        &self.exports
    }

    /// Runs until `shutdown` fires, then stops every part.
    pub async fn run(self, shutdown: Shutdown) -> std::io::Result<()> {
        let worker = self.worker.map(|(jobs, store, webhooks)| {
            tokio::spawn(broker_worker::run_workers(jobs, store, webhooks, shutdown.wait()))
        });
        let metrics = self.metrics.map(|metrics| tokio::spawn(metrics.run(shutdown.clone())));
        let served = self.app.run_until_stopped(shutdown.wait()).await;
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        if let Some(metrics) = metrics
            && let Ok(Err(error)) = metrics.await
        {
            tracing::warn!(%error, "the metrics server failed");
        }
        if let Some(devstore) = self.devstore {
            devstore.shutdown().await;
        }
        served
    }
}
