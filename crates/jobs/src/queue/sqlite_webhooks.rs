//! Webhook deliveries in the SQLite file, beside the export jobs: one
//! `webhook_deliveries` table for the records, and apalis-sqlite's `Jobs`
//! table (queue `{EXPORT_QUEUE}:webhooks`) for the delivery tasks.

use apalis::prelude::{BackendExt, PollWith, Task, WorkerBuilderExt};
use apalis_sqlite::SqliteStorage;
use broker_core::TenantId;
use broker_core::config::WebhookEvent;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::poll::Interval;
use super::sqlite_backend::{SqliteQueue, db, now_i64, to_i64};
use super::{POLL_INTERVAL, QueueError, StopSignal, push_task, run_apalis_worker};
use crate::webhook::{
    Delivery, DeliveryBackend, DeliveryStatus, DeliveryTask, DeliveryWorkerSpec, NewDelivery, ReplayOutcome, Started,
};

/// Created with the export tables (`sqlite_backend::create_tables`).
pub(super) const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS webhook_deliveries (
        id TEXT PRIMARY KEY NOT NULL,
        tenant TEXT NOT NULL,
        event TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    )",
    "CREATE INDEX IF NOT EXISTS webhook_deliveries_status ON webhook_deliveries (status, tenant, updated_at)",
];

impl SqliteQueue {
    fn delivery_queue(&self) -> String {
        format!("{}:webhooks", self.config.queue.as_ref())
    }

    fn delivery_storage(&self) -> SqliteStorage<DeliveryTask> {
        SqliteStorage::new(&self.pool).with_config(self.config.clone().queue(self.delivery_queue()))
    }

    fn delivery_worker_storage(&self) -> PollWith<SqliteStorage<DeliveryTask>, Interval> {
        self.delivery_storage().poll_with_strategy(Interval::new(POLL_INTERVAL))
    }

    /// Sets the columns of `set` (each `column = value, `; `error` binds its
    /// `?`) and `updated_at` on a pending delivery.
    async fn pending_change(&self, set: &'static str, error: Option<&str>, id: &str) -> Result<(), QueueError> {
        let update = format!("UPDATE webhook_deliveries SET {set}updated_at = ? WHERE id = ? AND status = 'pending'");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(update));
        if let Some(error) = error {
            query = query.bind(error);
        }
        query
            .bind(now_i64())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(db)
            .map(drop)
    }
}

fn parse_delivery(row: &SqliteRow) -> Option<Delivery> {
    let number = |name: &str| row.try_get::<i64, _>(name).ok().and_then(|n| u64::try_from(n).ok());
    let body: String = row.try_get("body").ok()?;
    Some(Delivery {
        id: row.try_get("id").ok()?,
        event_type: row.try_get("event").ok()?,
        tenant: TenantId::parse(&row.try_get::<String, _>("tenant").ok()?).ok()?,
        status: DeliveryStatus::parse(&row.try_get::<String, _>("status").ok()?)?,
        attempts: number("attempts").and_then(|n| u32::try_from(n).ok()).unwrap_or(0),
        last_error: row.try_get("last_error").ok()?,
        created_at: number("created_at").unwrap_or(0),
        updated_at: number("updated_at").unwrap_or(0),
        payload: serde_json::from_str(&body).ok()?,
    })
}

#[async_trait::async_trait]
impl DeliveryBackend for SqliteQueue {
    async fn create(&self, delivery: &NewDelivery<'_>) -> Result<(), QueueError> {
        let now = now_i64();
        sqlx::query(
            "INSERT INTO webhook_deliveries (id, tenant, event, body, status, created_at, updated_at, expires_at)
             VALUES (?, ?, ?, ?, 'pending', ?, ?, ?)",
        )
        .bind(delivery.id)
        .bind(delivery.tenant.as_str())
        .bind(delivery.event.as_str())
        .bind(delivery.body)
        .bind(now)
        .bind(now)
        .bind(now.saturating_add(to_i64(delivery.ttl.as_secs())))
        .execute(&self.pool)
        .await
        .map_err(db)
        .map(drop)
    }

    async fn push(&self, task: Task<DeliveryTask>) -> Result<(), QueueError> {
        push_task(self.delivery_storage(), task).await
    }

    async fn start(&self, id: &str) -> Result<Option<Started>, QueueError> {
        let row = sqlx::query(
            "UPDATE webhook_deliveries SET attempts = attempts + 1, updated_at = ?
             WHERE id = ? AND status = 'pending' RETURNING attempts, tenant, event, body",
        )
        .bind(now_i64())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let corrupt = || QueueError::Corrupt(format!("webhook delivery {id}"));
        let attempts: i64 = row.get(0);
        Ok(Some(Started {
            id: id.to_owned(),
            attempt: u32::try_from(attempts).map_err(|_| corrupt())?,
            tenant: TenantId::parse(row.get::<&str, _>(1)).map_err(|_| corrupt())?,
            event: WebhookEvent::parse(row.get::<&str, _>(2)).ok_or_else(corrupt)?,
            body: row.get(3),
        }))
    }

    async fn delivered(&self, id: &str) -> Result<(), QueueError> {
        self.pending_change("status = 'delivered', ", None, id).await
    }

    async fn failed_attempt(&self, id: &str, error: &str) -> Result<(), QueueError> {
        self.pending_change("last_error = ?, ", Some(error), id).await
    }

    async fn dead(&self, id: &str, error: &str) -> Result<(), QueueError> {
        self.pending_change("status = 'dead', last_error = ?, ", Some(error), id)
            .await
    }

    async fn replay(&self, id: &str, tenant: Option<&TenantId>) -> Result<ReplayOutcome, QueueError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let status: Option<String> = sqlx::query_scalar(
            "SELECT status FROM webhook_deliveries WHERE id = ? AND (? IS NULL OR tenant = ?) AND expires_at > ?",
        )
        .bind(id)
        .bind(tenant.map(TenantId::as_str))
        .bind(tenant.map(TenantId::as_str))
        .bind(now_i64())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(status) = status else {
            return Ok(ReplayOutcome::NotFound);
        };
        let status =
            DeliveryStatus::parse(&status).ok_or_else(|| QueueError::Corrupt(format!("webhook delivery {id}")))?;
        if status != DeliveryStatus::Dead {
            return Ok(ReplayOutcome::NotDead(status));
        }
        sqlx::query("UPDATE webhook_deliveries SET status = 'pending', attempts = 0, updated_at = ? WHERE id = ?")
            .bind(now_i64())
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(ReplayOutcome::Replayed)
    }

    async fn dead_letters(&self, tenant: Option<&TenantId>, limit: usize) -> Result<Vec<Delivery>, QueueError> {
        let rows = sqlx::query(
            "SELECT id, tenant, event, body, status, attempts, last_error, created_at, updated_at
             FROM webhook_deliveries
             WHERE status = 'dead' AND (? IS NULL OR tenant = ?) AND expires_at > ?
             ORDER BY updated_at DESC, id DESC LIMIT ?",
        )
        .bind(tenant.map(TenantId::as_str))
        .bind(tenant.map(TenantId::as_str))
        .bind(now_i64())
        .bind(to_i64(limit as u64))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        Ok(rows.iter().filter_map(parse_delivery).collect())
    }

    /// Expired records, and delivery tasks that ended more than ten minutes ago.
    async fn housekeeping(&self) -> Result<usize, QueueError> {
        let now = now_i64();
        let records = sqlx::query("DELETE FROM webhook_deliveries WHERE expires_at <= ?")
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(db)?
            .rows_affected();
        let tasks =
            sqlx::query("DELETE FROM Jobs WHERE job_type = ? AND status IN ('Done', 'Killed') AND done_at <= ?")
                .bind(self.delivery_queue())
                .bind(now - 600)
                .execute(&self.pool)
                .await
                .map_err(db)?
                .rows_affected();
        Ok(usize::try_from(records + tasks).unwrap_or(usize::MAX))
    }

    async fn run_worker(&self, worker: DeliveryWorkerSpec<'_>, stop: StopSignal) -> Result<(), QueueError> {
        run_apalis_worker!(webhook: self.delivery_worker_storage(), worker, stop)
    }
}
