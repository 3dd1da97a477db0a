//! Webhook deliveries as the queue carries them.
//!
//! An event is recorded (a delivery record: tenant, event, the exact body,
//! status, attempts, last error) and a task naming it is pushed on its own
//! apalis queue (`{EXPORT_QUEUE}:webhooks`), in Redis or in the SQLite file,
//! so a delivery survives any restart. Workers take the task, start an
//! attempt ([`WebhookDeliveries::start`]), POST, and record the outcome:
//! `delivered`, a retry after a backoff (a new task, scheduled), or `dead`
//! (a dead letter) once `WEBHOOK_MAX_ATTEMPTS` attempts failed. Dead letters
//! are listed and replayed through [`Webhooks`].
//!
//! ```text
//! pending ──start (attempts + 1)──▶ pending ──delivered──▶ delivered
//!                                      └──dead (out of attempts, or refused)──▶ dead ──replay──▶ pending
//! ```
//!
//! Delivery is at least once: a worker lost mid-POST has its task handed to
//! another, which posts again with the same `Webhook-Id`.
//!
//! Two handles, as for exports: [`Webhooks`] for the API and the export
//! handler (emit, list dead letters, replay), [`WebhookDeliveries`] for the
//! delivery workers (every transition, and the apalis workers).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::{BoxDynError, Data, TaskBuilder, TaskId};
use broker_core::config::{WebhookEndpoint, WebhookEvent, WebhookSettings};
use broker_core::{TenantId, metrics};
use serde::{Deserialize, Serialize};
use ulid::Ulid;

use crate::job::now;
use crate::lifecycle::{TaskError, to_apalis};
use crate::queue::{APALIS_MAX_ATTEMPTS, JobQueue, OP_TIMEOUT, QueueError, WorkerSpec};

/// The apalis task: which delivery to attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliveryTask {
    pub delivery_id: String,
}

/// What a receiver gets, exactly as signed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// The event's id, also `Webhook-Id`: the same on every attempt and replay.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened (Unix seconds).
    pub timestamp: u64,
    pub tenant: TenantId,
    /// The served key (`upload.completed`), the staging key (`upload.rejected`),
    /// the export's output key (`export.done`); `null` for `export.failed`.
    pub object_key: Option<String>,
    pub details: serde_json::Value,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [DeliveryStatus::Pending, DeliveryStatus::Delivered, DeliveryStatus::Dead]
            .into_iter()
            .find(|s| s.as_str() == raw)
    }
}

/// One delivery as stored (what `GET /webhooks/deliveries` lists).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The event id (`Webhook-Id`).
    pub id: String,
    /// The event type, such as `upload.completed`.
    #[serde(rename = "type")]
    pub event_type: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub tenant: TenantId,
    pub status: DeliveryStatus,
    /// Attempts made since it was queued (or last replayed).
    pub attempts: u32,
    /// Why the last attempt failed: a status code or a connection error, never a URL.
    pub last_error: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// The body the receiver gets.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub payload: serde_json::Value,
}

/// A delivery a worker may attempt now.
#[derive(Debug, Clone)]
pub struct Started {
    pub id: String,
    pub tenant: TenantId,
    pub event: WebhookEvent,
    /// The exact bytes to sign and send.
    pub body: String,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
}

/// What `replay` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayOutcome {
    Replayed,
    /// No such delivery for this caller.
    NotFound,
    /// It is not a dead letter (pending or delivered).
    NotDead(DeliveryStatus),
}

/// The record of a new delivery.
pub(crate) struct NewDelivery<'a> {
    pub id: &'a str,
    pub tenant: &'a TenantId,
    pub event: WebhookEvent,
    pub body: &'a str,
    pub ttl: Duration,
}

/// The webhook side of a backend (both backends implement it).
#[async_trait::async_trait]
pub(crate) trait DeliveryBackend: Send + Sync {
    async fn create(&self, delivery: &NewDelivery<'_>) -> Result<(), QueueError>;
    async fn push(&self, task: apalis::prelude::Task<DeliveryTask>) -> Result<(), QueueError>;
    /// A pending delivery's next attempt (counted); `None` when it is not pending.
    async fn start(&self, id: &str) -> Result<Option<Started>, QueueError>;
    /// `pending` to `delivered`.
    async fn delivered(&self, id: &str) -> Result<(), QueueError>;
    /// Records a failed attempt of a delivery that stays `pending`.
    async fn failed_attempt(&self, id: &str, error: &str) -> Result<(), QueueError>;
    /// `pending` to `dead`, with the last error.
    async fn dead(&self, id: &str, error: &str) -> Result<(), QueueError>;
    /// `dead` to `pending` with no attempts, for `tenant` (or anyone's: `None`).
    async fn replay(&self, id: &str, tenant: Option<&TenantId>) -> Result<ReplayOutcome, QueueError>;
    /// The latest dead letters, newest first, of `tenant` (or everyone's).
    async fn dead_letters(&self, tenant: Option<&TenantId>, limit: usize) -> Result<Vec<Delivery>, QueueError>;
    /// Drops finished delivery tasks; returns how many.
    async fn housekeeping(&self) -> Result<usize, QueueError>;
    async fn run_worker(
        &self,
        worker: DeliveryWorkerSpec<'_>,
        stop: crate::queue::StopSignal,
    ) -> Result<(), QueueError>;
}

/// What one apalis delivery worker runs.
pub(crate) type DeliveryWorkerSpec<'a> = WorkerSpec<'a, dyn DeliveryHandler>;

/// What a delivery worker runs for every task.
#[async_trait::async_trait]
pub trait DeliveryHandler: Send + Sync + 'static {
    async fn handle(&self, delivery_id: String) -> Result<(), TaskError>;
}

/// A delivery handler as apalis task data (see `lifecycle::SharedHandler`).
#[derive(Clone)]
pub(crate) struct SharedHandler(pub Arc<dyn DeliveryHandler>);

/// The apalis handler of the delivery queue.
pub(crate) async fn deliver(task: DeliveryTask, handler: Data<SharedHandler>) -> Result<(), BoxDynError> {
    let Data(SharedHandler(handler)) = handler;
    to_apalis(handler.handle(task.delivery_id).await)
}

/// Most dead letters one listing returns.
pub const DEAD_LETTER_PAGE: usize = 100;

async fn timed<T>(operation: impl Future<Output = Result<T, QueueError>>) -> Result<T, QueueError> {
    tokio::time::timeout(OP_TIMEOUT, operation)
        .await
        .map_err(|_| QueueError::Unavailable("timed out".into()))?
}

/// Pushes a task for delivery `id`, now or after `delay`.
async fn push(queue: &JobQueue, id: &str, delay: Option<Duration>) -> Result<(), QueueError> {
    let mut task = TaskBuilder::new(DeliveryTask {
        delivery_id: id.to_owned(),
    })
    .task_id(TaskId::from_ulid(Ulid::generate()))
    // As for exports: a task whose outcome could not be recorded runs again.
    .max_attempts(APALIS_MAX_ATTEMPTS);
    if let Some(delay) = delay {
        task = task.run_after(delay);
    }
    timed(queue.deliveries().push(task.build())).await
}

/// The API's (and the export handler's) handle: emit events, list and replay dead letters.
#[derive(Clone)]
pub struct Webhooks {
    queue: JobQueue,
    settings: Arc<WebhookSettings>,
}

impl Webhooks {
    pub(crate) fn new(queue: JobQueue, settings: &WebhookSettings) -> Self {
        Webhooks {
            queue,
            settings: Arc::new(settings.clone()),
        }
    }

    /// Queues `event` for `tenant` if a webhook is configured for it: records
    /// the delivery and pushes its task, waiting for nothing else. If the
    /// queue cannot take it, the event is logged and counted
    /// (`upload_broker_webhook_enqueue_failures_total`) and dropped: the
    /// caller's own operation has succeeded and is not failed for it.
    pub async fn emit(
        &self,
        event: WebhookEvent,
        tenant: &TenantId,
        object_key: Option<String>,
        details: serde_json::Value,
    ) {
        if self.settings.endpoint_for(tenant, event).is_none() {
            return;
        }
        let payload = WebhookPayload {
            id: Ulid::generate().to_string(),
            event_type: event.as_str().to_owned(),
            timestamp: now(),
            tenant: tenant.clone(),
            object_key,
            details,
        };
        if let Err(error) = self.enqueue(event, &payload).await {
            metrics::webhook_enqueue_failed(event.as_str());
            tracing::warn!(event = event.as_str(), delivery = %payload.id, %error, "webhook not queued; the event is lost");
        }
    }

    async fn enqueue(&self, event: WebhookEvent, payload: &WebhookPayload) -> Result<(), QueueError> {
        let body = serde_json::to_string(payload).map_err(|e| QueueError::Corrupt(e.to_string()))?;
        let record = NewDelivery {
            id: &payload.id,
            tenant: &payload.tenant,
            event,
            body: &body,
            ttl: self.queue.settings().status_ttl,
        };
        timed(self.queue.deliveries().create(&record)).await?;
        if let Err(error) = push(&self.queue, &payload.id, None).await {
            // Recorded but not queued: make it a dead letter, which can be
            // replayed, if the queue still answers at all.
            let _ = timed(
                self.queue
                    .deliveries()
                    .dead(&payload.id, "not queued: the queue was unavailable"),
            )
            .await;
            return Err(error);
        }
        tracing::debug!(event = event.as_str(), delivery = %payload.id, "webhook queued");
        Ok(())
    }

    /// The latest [`DEAD_LETTER_PAGE`] dead letters of `tenant` (everyone's with `None`), newest first.
    pub async fn dead_letters(&self, tenant: Option<&TenantId>) -> Result<Vec<Delivery>, QueueError> {
        timed(self.queue.deliveries().dead_letters(tenant, DEAD_LETTER_PAGE)).await
    }

    /// Queues dead letter `id` (of `tenant`, or anyone's with `None`) again, with fresh attempts.
    pub async fn replay(&self, id: &str, tenant: Option<&TenantId>) -> Result<ReplayOutcome, QueueError> {
        let outcome = timed(self.queue.deliveries().replay(id, tenant)).await?;
        if outcome == ReplayOutcome::Replayed {
            push(&self.queue, id, None).await?;
        }
        Ok(outcome)
    }
}

/// The delivery workers' handle: every transition of a delivery, and the apalis workers.
#[derive(Clone)]
pub struct WebhookDeliveries {
    queue: JobQueue,
    settings: Arc<WebhookSettings>,
}

impl WebhookDeliveries {
    pub(crate) fn new(queue: JobQueue, settings: &WebhookSettings) -> Self {
        WebhookDeliveries {
            queue,
            settings: Arc::new(settings.clone()),
        }
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// Where `started` goes now (the configuration may have changed since it was queued).
    pub fn endpoint(&self, started: &Started) -> Option<&WebhookEndpoint> {
        self.settings.endpoint_for(&started.tenant, started.event)
    }

    /// Counts and starts the next attempt of a pending delivery; `None`: drop the task.
    pub async fn start(&self, id: &str) -> Result<Option<Started>, QueueError> {
        timed(self.queue.deliveries().start(id)).await
    }

    pub async fn delivered(&self, id: &str) -> Result<(), QueueError> {
        timed(self.queue.deliveries().delivered(id)).await
    }

    /// Records the failed attempt and schedules the next one after `delay`.
    pub async fn retry_later(&self, id: &str, error: &str, delay: Duration) -> Result<(), QueueError> {
        timed(self.queue.deliveries().failed_attempt(id, error)).await?;
        push(&self.queue, id, Some(delay)).await
    }

    /// Makes it a dead letter: no more attempts until it is replayed.
    pub async fn dead(&self, id: &str, error: &str) -> Result<(), QueueError> {
        timed(self.queue.deliveries().dead(id, error)).await
    }

    pub async fn housekeeping(&self) -> Result<usize, QueueError> {
        self.queue.deliveries().housekeeping().await
    }

    /// Runs one apalis delivery worker called `name` until `stop` resolves
    /// (`Ok`) or it loses its queue (`Err`).
    pub async fn run_worker(
        &self,
        name: &str,
        handler: Arc<dyn DeliveryHandler>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), QueueError> {
        let worker = self.queue.worker_spec(name, handler);
        self.queue.deliveries().run_worker(worker, Box::pin(stop)).await
    }
}

/// A delivery id as the API receives it: a ULID, in its canonical form; `None` for anything else.
pub fn parse_delivery_id(raw: &str) -> Option<String> {
    Ulid::from_string(raw).ok().map(|id| id.to_string())
}
