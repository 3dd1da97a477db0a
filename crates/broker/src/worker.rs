//! `upload-broker worker`: export jobs and webhook deliveries from Redis until the shutdown fires,
//! then drain. Run as many as you like, on any host; each serves its own
//! `/metrics` on `METRICS_BIND_ADDR`.

use broker_core::Settings;
use broker_jobs::JobQueue;

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::{Embedded, connect};

pub async fn run(settings: Settings, shutdown: Shutdown) -> Result<(), String> {
    let Some(url) = &settings.redis_url else {
        return Err("upload-broker worker consumes export jobs from Redis: set REDIS_URL \
                    (without it, `upload-broker serve` runs exports in-process)"
            .into());
    };
    let queue = JobQueue::redis(url, &settings.exports).map_err(|e| e.to_string())?;
    let connected = connect(&settings, Embedded::Reach).await.map_err(|e| e.to_string())?;
    // Its own `/metrics`: the export and store metrics of this process.
    let metrics = match settings.telemetry.metrics_bind {
        Some(bind) => {
            let metrics = Metrics::build(bind, Some(queue.client())).map_err(|e| e.to_string())?;
            Some(tokio::spawn(metrics.run(shutdown.clone())))
        }
        None => None,
    };
    broker_worker::run_workers(
        queue.lifecycle(),
        connected.store,
        settings.webhooks.clone(),
        shutdown.wait(),
    )
    .await;
    if let Some(metrics) = metrics {
        shutdown.trigger();
        let _ = metrics.await;
    }
    Ok(())
}
