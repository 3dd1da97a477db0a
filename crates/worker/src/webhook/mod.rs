//! Webhook deliveries: the workers' side of [`broker_jobs::webhook`].
//!
//! * `sign`: the HMAC-SHA256 signature and its headers;
//! * `address`: the SSRF guard (resolve, refuse non-public addresses);
//! * `client`: one attempt, pinned to the checked address, no redirects;
//! * here: the [`DeliveryHandler`] that starts an attempt, sends it, and
//!   records the outcome: delivered, retried after an exponential backoff
//!   with jitter, or a dead letter (out of attempts, or refused).

mod address;
mod client;
mod sign;

use std::time::Duration;

use broker_core::metrics;
use broker_jobs::webhook::DeliveryHandler;
use broker_jobs::{TaskError, WebhookDeliveries};
use tracing::{info, warn};

use crate::retry::{self, Limits};
use client::AttemptError;
pub(crate) use client::Sender;

/// Every delivery task of one worker process.
pub(crate) struct Deliverer {
    pub deliveries: WebhookDeliveries,
    pub sender: Sender,
}

/// The delay before attempt `attempt + 1`: `WEBHOOK_RETRY_BASE × 2^(attempt-1)`,
/// capped at `WEBHOOK_RETRY_MAX`, plus `jitter` (0 to 1) of half of it again,
/// so receivers that come back are not hit by every retry at once.
pub(crate) fn backoff(base: Duration, cap: Duration, attempt: u32, jitter: f64) -> Duration {
    let limits = Limits {
        max_attempts: 0,
        max_lost_workers: 0,
        base,
        cap,
    };
    let delay = retry::backoff(&limits, attempt);
    delay + delay.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

#[async_trait::async_trait]
impl DeliveryHandler for Deliverer {
    async fn handle(&self, delivery_id: String) -> Result<(), TaskError> {
        let Some(started) = self.deliveries.start(&delivery_id).await? else {
            // Delivered, dead or expired already: a duplicate task.
            return Ok(());
        };
        let event = started.event.as_str();
        let outcome = match self.deliveries.endpoint(&started) {
            Some(endpoint) => self.sender.post(endpoint, &started.id, &started.body).await,
            None => Err(AttemptError::Refused(
                "no webhook is configured for this tenant and event any more".into(),
            )),
        };
        let settings = self.deliveries.settings();
        match outcome {
            Ok(()) => {
                self.deliveries.delivered(&started.id).await?;
                metrics::webhook_attempt(event, "delivered");
                info!(delivery = %started.id, event, attempt = started.attempt, "webhook delivered");
            }
            Err(AttemptError::Failed(reason)) if started.attempt < settings.max_attempts => {
                let delay = backoff(
                    settings.retry_base,
                    settings.retry_max,
                    started.attempt,
                    fastrand::f64(),
                );
                self.deliveries.retry_later(&started.id, &reason, delay).await?;
                metrics::webhook_attempt(event, "retry");
                warn!(delivery = %started.id, event, attempt = started.attempt, %reason, retry_in_ms = delay.as_millis() as u64, "webhook attempt failed; retrying");
            }
            Err(AttemptError::Failed(reason) | AttemptError::Refused(reason)) => {
                self.deliveries.dead(&started.id, &reason).await?;
                metrics::webhook_attempt(event, "dead");
                warn!(delivery = %started.id, event, attempt = started.attempt, %reason, "webhook delivery failed for good: a dead letter");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_is_capped_and_jitter_adds_up_to_half() {
        let (base, cap) = (Duration::from_secs(10), Duration::from_secs(60));
        assert_eq!(backoff(base, cap, 1, 0.0), Duration::from_secs(10));
        assert_eq!(backoff(base, cap, 2, 0.0), Duration::from_secs(20));
        assert_eq!(backoff(base, cap, 3, 0.0), Duration::from_secs(40));
        assert_eq!(backoff(base, cap, 4, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(base, cap, 30, 0.0), Duration::from_secs(60));
        assert_eq!(backoff(base, cap, 2, 1.0), Duration::from_secs(30));
        assert_eq!(backoff(base, cap, 1, 0.5), Duration::from_millis(12_500));
    }
}
