//! The worker loop of a process: keeps one apalis export worker, and one
//! webhook delivery worker, running across
//! queue outages (a worker that loses its queue is rebuilt, with a backoff),
//! drops old finished tasks now and then, and on shutdown drains: running
//! jobs get `EXPORT_DRAIN_TIMEOUT` to finish, with the heartbeat kept up by
//! hand meanwhile, before they are interrupted and handed back to the queue.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker_core::config::WebhookSettings;
use broker_core::store::Store;
use broker_jobs::webhook::DeliveryHandler;
use broker_jobs::{JobsLifecycle, QueueError};
use tokio::sync::watch;
use ulid::Ulid;

use crate::attempt::JobContext;
use crate::handler::ExportHandler;
use crate::webhook::{Deliverer, Sender};

/// How often a worker drops old finished tasks and expired records.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(600);

/// Runs export workers, and webhook delivery workers (`webhooks`), until
/// `shutdown` resolves, then drains: running jobs
/// get `EXPORT_DRAIN_TIMEOUT` to finish before they are interrupted and handed
/// back to the queue. Workers that lose their queue (Redis down) are rebuilt
/// with a backoff, so the process reconnects by itself.
pub async fn run_workers(
    jobs: JobsLifecycle,
    store: Store,
    webhooks: WebhookSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (interrupt_tx, interrupt) = watch::channel(false);
    let handler = Arc::new(ExportHandler(Arc::new(JobContext {
        jobs: jobs.clone(),
        store,
        interrupt,
        webhooks: jobs.webhooks(&webhooks),
    })));
    let deliveries = jobs.webhook_deliveries(&webhooks);
    // Without a TLS setup no webhook can be sent; exports still run.
    let deliverer: Option<Arc<dyn DeliveryHandler>> = match Sender::new(&webhooks) {
        Ok(sender) => Some(Arc::new(Deliverer {
            deliveries: deliveries.clone(),
            sender,
        })),
        Err(error) => {
            tracing::error!(%error, "webhook deliveries cannot start");
            None
        }
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let (finished_tx, mut finished) = watch::channel(false);
    let current_name = Arc::new(Mutex::new(String::new()));
    let drain_timeout = jobs.settings().drain_timeout;
    let heartbeat = jobs.settings().heartbeat;
    let drain = {
        let jobs = jobs.clone();
        let current_name = current_name.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown => {}
                _ = finished.changed() => return,
            }
            tracing::info!(drain_timeout_s = drain_timeout.as_secs(), "export workers draining");
            let _ = stop_tx.send(true);
            // apalis stops heartbeating while it drains; without this, another
            // worker would take the running jobs over after the orphan timeout.
            let deadline = tokio::time::sleep(drain_timeout);
            tokio::pin!(deadline);
            let mut ticker = tokio::time::interval(heartbeat);
            loop {
                tokio::select! {
                    _ = &mut deadline, if !*interrupt_tx.borrow() => {
                        tracing::warn!("drain timeout: interrupting running exports");
                        let _ = interrupt_tx.send(true);
                    }
                    _ = ticker.tick() => {
                        let name = current_name.lock().map(|n| n.clone()).unwrap_or_default();
                        if let Err(error) = jobs.keep_alive(&name).await {
                            tracing::debug!(%error, "drain heartbeat failed");
                        }
                    }
                    _ = finished.changed() => return,
                }
            }
        })
    };

    let housekeeping = {
        let (jobs, deliveries) = (jobs.clone(), deliveries.clone());
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(HOUSEKEEPING_EVERY);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        let removed = match (jobs.housekeeping().await, deliveries.housekeeping().await) {
                            (Ok(exports), Ok(webhooks)) => Ok(exports + webhooks),
                            (Err(error), _) | (_, Err(error)) => Err(error),
                        };
                        match removed {
                            Ok(removed) if removed > 0 => tracing::info!(removed, "export housekeeping"),
                            Ok(_) => {}
                            Err(error) => tracing::debug!(%error, "export housekeeping skipped"),
                        }
                    }
                    _ = stop.changed() => break,
                }
            }
        })
    };

    let exports = keep_running("export", stop_rx.clone(), |name, signal| {
        if let Ok(mut current) = current_name.lock() {
            current.clone_from(&name);
        }
        tracing::info!(worker = %name, backend = %jobs.kind(), concurrency = jobs.settings().concurrency, "export worker starting");
        let (jobs, handler) = (jobs.clone(), handler.clone());
        async move { jobs.run_worker(&name, handler, signal).await }
    });
    let deliveries = async {
        if let Some(deliverer) = deliverer {
            keep_running("webhook", stop_rx.clone(), |name, signal| {
                let (deliveries, deliverer) = (deliveries.clone(), deliverer.clone());
                async move { deliveries.run_worker(&name, deliverer, signal).await }
            })
            .await;
        }
    };
    tokio::join!(exports, deliveries);
    housekeeping.abort();
    let _ = finished_tx.send(true);
    let _ = drain.await;
    tracing::info!("export workers stopped");
}

/// Keeps one apalis worker of `what` (`export`, `webhook`) running until
/// `stop_rx` says stop: `run` starts one under the name it is given, and one
/// that stops by itself or loses its queue (Redis down) is started again
/// after a backoff, so the process reconnects by itself.
async fn keep_running<F, Fut>(what: &'static str, stop_rx: watch::Receiver<bool>, mut run: F)
where
    F: FnMut(String, Pin<Box<dyn Future<Output = ()> + Send>>) -> Fut,
    Fut: Future<Output = Result<(), QueueError>>,
{
    let mut restart_delay = Duration::from_millis(250);
    loop {
        if *stop_rx.borrow() {
            break;
        }
        let name = format!("{what}s-{}-{}-{}", host_name(), std::process::id(), Ulid::generate());
        let mut stop = stop_rx.clone();
        let signal = Box::pin(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
        });
        let started = Instant::now();
        match run(name.clone(), signal).await {
            Ok(()) if *stop_rx.borrow() => break,
            Ok(()) => tracing::warn!(worker = %name, "{what} worker stopped by itself; restarting"),
            Err(error) => tracing::warn!(worker = %name, %error, "{what} worker lost its queue; reconnecting"),
        }
        if started.elapsed() > Duration::from_secs(30) {
            restart_delay = Duration::from_millis(250);
        }
        let mut stop = stop_rx.clone();
        tokio::select! {
            _ = tokio::time::sleep(restart_delay) => {}
            _ = stop.wait_for(|stopped| *stopped) => break,
        }
        restart_delay = (restart_delay * 2).min(Duration::from_secs(5));
    }
}

/// This host's name as a worker-name segment (workers are told apart in the queue by name).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}
