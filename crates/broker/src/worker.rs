//! `upload-broker worker`: export jobs from Redis until the shutdown fires,
//! then drain. Run as many as you like, on any host.

use broker_core::Settings;
use broker_jobs::JobQueue;

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
    broker_worker::run_workers(queue.lifecycle(), connected.store, shutdown.wait()).await;
    Ok(())
}
