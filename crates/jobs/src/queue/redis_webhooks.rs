//! Webhook deliveries in Redis, beside the export jobs:
//!
//! ```text
//! {queue}:webhook:{id}              hash: tenant, type, body, status, attempts,
//!                                   last_error, created_at, updated_at   (EXPIRE status TTL)
//! {queue}:webhooks:dead             zset: dead letters by time
//! {queue}:webhooks:dead:{tenant}    zset: one tenant's dead letters by time
//! {queue}:webhooks:active|…         apalis-redis's keys of the delivery tasks
//! ```

use std::collections::HashMap;
use std::sync::LazyLock;

use apalis::prelude::{BackendExt, PollWith, Task, WorkerBuilderExt};
use apalis_redis::{Config, RedisStorage};
use broker_core::TenantId;
use broker_core::config::WebhookEvent;
use redis::{AsyncCommands, Script};

use super::poll::Interval;
use super::redis_backend::{RedisQueue, timed, vacuum};
use super::{POLL_INTERVAL, QueueError, StopSignal, push_task, run_apalis_worker};
use crate::job::now;
use crate::webhook::{
    Delivery, DeliveryBackend, DeliveryStatus, DeliveryTask, DeliveryWorkerSpec, NewDelivery, ReplayOutcome, Started,
};

/// KEYS: record | ARGV: now
static START: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
if redis.call("HGET", KEYS[1], "status") ~= "pending" then return false end
local attempts = redis.call("HINCRBY", KEYS[1], "attempts", 1)
redis.call("HSET", KEYS[1], "updated_at", ARGV[1])
return {attempts, redis.call("HGET", KEYS[1], "tenant"), redis.call("HGET", KEYS[1], "type"), redis.call("HGET", KEYS[1], "body")}
"#,
    )
});

/// A change of a pending delivery. KEYS: record | ARGV: now, error, then the body's.
fn pending_transition(body: &str) -> Script {
    Script::new(&format!(
        r#"
if redis.call("HGET", KEYS[1], "status") ~= "pending" then return 0 end
redis.call("HSET", KEYS[1], "updated_at", ARGV[1])
{body}
return 1
"#
    ))
}

static DELIVERED: LazyLock<Script> =
    LazyLock::new(|| pending_transition(r#"redis.call("HSET", KEYS[1], "status", "delivered")"#));

static FAILED_ATTEMPT: LazyLock<Script> =
    LazyLock::new(|| pending_transition(r#"redis.call("HSET", KEYS[1], "last_error", ARGV[2])"#));

/// KEYS: record, dead set | ARGV: now, error, id, prefix of the tenants' dead sets
static DEAD: LazyLock<Script> = LazyLock::new(|| {
    pending_transition(
        r#"
redis.call("HSET", KEYS[1], "status", "dead", "last_error", ARGV[2])
redis.call("ZADD", KEYS[2], ARGV[1], ARGV[3])
redis.call("ZADD", ARGV[4] .. redis.call("HGET", KEYS[1], "tenant"), ARGV[1], ARGV[3])
"#,
    )
});

/// KEYS: record, dead set | ARGV: tenant or "", now, id, prefix of the tenants' dead sets
static REPLAY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local tenant = redis.call("HGET", KEYS[1], "tenant")
if not tenant or (ARGV[1] ~= "" and tenant ~= ARGV[1]) then return "missing" end
local status = redis.call("HGET", KEYS[1], "status")
if status ~= "dead" then return status end
redis.call("HSET", KEYS[1], "status", "pending", "attempts", 0, "updated_at", ARGV[2])
redis.call("ZREM", KEYS[2], ARGV[3])
redis.call("ZREM", ARGV[4] .. tenant, ARGV[3])
return "replayed"
"#,
    )
});

impl RedisQueue {
    fn delivery_config(&self) -> Config {
        self.config.clone().queue(format!("{}:webhooks", self.prefix))
    }

    fn delivery_storage(&self) -> RedisStorage<DeliveryTask> {
        RedisStorage::new(self.conn.clone()).with_config(self.delivery_config())
    }

    fn delivery_worker_storage(&self) -> PollWith<RedisStorage<DeliveryTask>, Interval> {
        self.delivery_storage().poll_with_strategy(Interval::new(POLL_INTERVAL))
    }

    fn delivery_key(&self, id: &str) -> String {
        format!("{}:webhook:{id}", self.prefix)
    }

    fn dead_key(&self) -> String {
        format!("{}:webhooks:dead", self.prefix)
    }

    /// The prefix of the per-tenant dead sets (the tenant follows).
    fn tenant_dead_prefix(&self) -> String {
        format!("{}:webhooks:dead:", self.prefix)
    }

    async fn pending_change(&self, script: &Script, id: &str, error: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.delivery_key(id))
            .key(self.dead_key())
            .arg(now())
            .arg(error)
            .arg(id)
            .arg(self.tenant_dead_prefix());
        timed(invocation.invoke_async::<i64>(&mut conn)).await.map(drop)
    }
}

fn parse_delivery(id: &str, mut fields: HashMap<String, String>) -> Option<Delivery> {
    let mut take = |name: &str| fields.remove(name);
    let number = |value: Option<String>| value.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let tenant = TenantId::parse(&take("tenant")?).ok()?;
    let event_type = take("type")?;
    let status = DeliveryStatus::parse(&take("status")?)?;
    let payload = serde_json::from_str(&take("body")?).ok()?;
    Some(Delivery {
        id: id.to_owned(),
        event_type,
        tenant,
        status,
        attempts: u32::try_from(number(take("attempts"))).unwrap_or(u32::MAX),
        last_error: take("last_error"),
        created_at: number(take("created_at")),
        updated_at: number(take("updated_at")),
        payload,
    })
}

#[async_trait::async_trait]
impl DeliveryBackend for RedisQueue {
    async fn create(&self, delivery: &NewDelivery<'_>) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let key = self.delivery_key(delivery.id);
        let now = now();
        let fields = [
            ("tenant", delivery.tenant.to_string()),
            ("type", delivery.event.as_str().to_owned()),
            ("body", delivery.body.to_owned()),
            ("status", DeliveryStatus::Pending.as_str().to_owned()),
            ("attempts", "0".to_owned()),
            ("created_at", now.to_string()),
            ("updated_at", now.to_string()),
        ];
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(&key, &fields)
            .ignore()
            .expire(&key, i64::try_from(delivery.ttl.as_secs()).unwrap_or(i64::MAX))
            .ignore();
        timed(pipe.query_async::<()>(&mut conn)).await
    }

    async fn push(&self, task: Task<DeliveryTask>) -> Result<(), QueueError> {
        push_task(self.delivery_storage(), task).await
    }

    async fn start(&self, id: &str) -> Result<Option<Started>, QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = START.prepare_invoke();
        invocation.key(self.delivery_key(id)).arg(now());
        let started: Option<(u32, String, String, String)> = timed(invocation.invoke_async(&mut conn)).await?;
        let Some((attempt, tenant, event, body)) = started else {
            return Ok(None);
        };
        let corrupt = || QueueError::Corrupt(format!("webhook delivery {id}"));
        Ok(Some(Started {
            id: id.to_owned(),
            tenant: TenantId::parse(&tenant).map_err(|_| corrupt())?,
            event: WebhookEvent::parse(&event).ok_or_else(corrupt)?,
            body,
            attempt,
        }))
    }

    async fn delivered(&self, id: &str) -> Result<(), QueueError> {
        self.pending_change(&DELIVERED, id, "").await
    }

    async fn failed_attempt(&self, id: &str, error: &str) -> Result<(), QueueError> {
        self.pending_change(&FAILED_ATTEMPT, id, error).await
    }

    async fn dead(&self, id: &str, error: &str) -> Result<(), QueueError> {
        self.pending_change(&DEAD, id, error).await
    }

    async fn replay(&self, id: &str, tenant: Option<&TenantId>) -> Result<ReplayOutcome, QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = REPLAY.prepare_invoke();
        invocation
            .key(self.delivery_key(id))
            .key(self.dead_key())
            .arg(tenant.map(TenantId::as_str).unwrap_or_default())
            .arg(now())
            .arg(id)
            .arg(self.tenant_dead_prefix());
        let answer: String = timed(invocation.invoke_async(&mut conn)).await?;
        Ok(match answer.as_str() {
            "replayed" => ReplayOutcome::Replayed,
            "missing" => ReplayOutcome::NotFound,
            other => ReplayOutcome::NotDead(
                DeliveryStatus::parse(other).ok_or_else(|| QueueError::Corrupt(format!("webhook delivery {id}")))?,
            ),
        })
    }

    async fn dead_letters(&self, tenant: Option<&TenantId>, limit: usize) -> Result<Vec<Delivery>, QueueError> {
        let mut conn = self.conn.clone();
        let set = match tenant {
            Some(tenant) => format!("{}{tenant}", self.tenant_dead_prefix()),
            None => self.dead_key(),
        };
        let stop = isize::try_from(limit).unwrap_or(isize::MAX) - 1;
        let ids: Vec<String> = timed(conn.zrevrange(&set, 0, stop)).await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.hgetall(self.delivery_key(id));
        }
        let records: Vec<HashMap<String, String>> = timed(pipe.query_async(&mut conn)).await?;
        let expired: Vec<&String> = ids
            .iter()
            .zip(&records)
            .filter_map(|(id, fields)| fields.is_empty().then_some(id))
            .collect();
        if !expired.is_empty() {
            timed(conn.zrem::<_, _, ()>(&set, expired)).await?;
        }
        // An expired record, or one replayed since, is not a dead letter any more.
        Ok(ids
            .iter()
            .zip(records)
            .filter_map(|(id, fields)| parse_delivery(id, fields))
            .filter(|d| d.status == DeliveryStatus::Dead)
            .collect())
    }

    async fn housekeeping(&self) -> Result<usize, QueueError> {
        let mut removed = vacuum(&self.conn, &self.delivery_config()).await?;
        // Dead letters whose records expired.
        let mut conn = self.conn.clone();
        let cutoff = now().saturating_sub(self.status_ttl_secs);
        let dead: usize = timed(conn.zrembyscore(self.dead_key(), 0, cutoff)).await?;
        removed += dead;
        Ok(removed)
    }

    async fn run_worker(&self, worker: DeliveryWorkerSpec<'_>, stop: StopSignal) -> Result<(), QueueError> {
        run_apalis_worker!(webhook: self.delivery_worker_storage(), worker, stop)
    }
}
