//! Redis: apalis-redis for the tasks, one hash per job for its status.
//!
//! ```text
//! {queue}:job:{id}               hash: tenant, format, filename, status, rows, total,
//!                                attempts, error_code, error_message, object_key,
//!                                created_at, updated_at, retry_at      (EXPIRE status TTL)
//! {queue}:job:{id}:input         inline rows (JSON), deleted when the job ends
//! {queue}:idem:{tenant}:{key}    "{job id} {request fingerprint}"       (EXPIRE status TTL)
//! {queue}:active|scheduled|…     apalis-redis's own keys
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use apalis::prelude::{BackendExt, PollWith, Task, TaskSink, WorkerBuilder, WorkerBuilderExt};
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use broker_core::config::ExportSettings;
use broker_core::{Secret, TenantId};
use redis::aio::ConnectionManagerConfig;
use redis::{AsyncCommands, Script};

use super::poll::Interval;
use super::{Backend, BackendKind, NewRecord, OP_TIMEOUT, POLL_INTERVAL, QueueError, StopSignal};
use crate::JobId;
use crate::job::{ExportFormat, ExportJob, JobError, JobRecord, JobStatus, now};
use crate::lifecycle::{SharedHandler, StartOutcome, TaskHandler, deliver};

#[derive(Clone)]
pub(crate) struct RedisQueue {
    conn: ConnectionManager,
    config: Config,
    prefix: String,
}

static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: job hash, input, idempotency key | ARGV: ttl, idempotency value or "", input or "", field/value pairs…
if ARGV[2] ~= "" then
  local existing = redis.call("GET", KEYS[3])
  if existing then return existing end
  redis.call("SET", KEYS[3], ARGV[2], "EX", ARGV[1])
end
redis.call("HSET", KEYS[1], unpack(ARGV, 4))
redis.call("EXPIRE", KEYS[1], ARGV[1])
if ARGV[3] ~= "" then redis.call("SET", KEYS[2], ARGV[3], "EX", ARGV[1]) end
return false
"#,
    )
});

static START: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local status = redis.call("HGET", KEYS[1], "status")
if not status then return {"missing", "0"} end
if status ~= "queued" and status ~= "running" then return {status, "0"} end
local attempts = redis.call("HINCRBY", KEYS[1], "attempts", 1)
redis.call("HSET", KEYS[1], "status", "running", "rows", 0, "updated_at", ARGV[1])
redis.call("HDEL", KEYS[1], "retry_at")
return {"run", tostring(attempts)}
"#,
    )
});

static PROGRESS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local status = redis.call("HGET", KEYS[1], "status")
if status == "running" then redis.call("HSET", KEYS[1], "rows", ARGV[1], "updated_at", ARGV[2]) end
return status
"#,
    )
});

static FINISH: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local status = redis.call("HGET", KEYS[1], "status")
if status == "running" then
  redis.call("HSET", KEYS[1], "status", "done", "object_key", ARGV[1], "rows", ARGV[2], "total", ARGV[2], "updated_at", ARGV[3])
  redis.call("HDEL", KEYS[1], "error_code", "error_message", "retry_at")
  redis.call("DEL", KEYS[2])
end
return status
"#,
    )
});

static FAIL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local status = redis.call("HGET", KEYS[1], "status")
if status == "running" or status == "queued" then
  redis.call("HSET", KEYS[1], "status", "failed", "error_code", ARGV[1], "error_message", ARGV[2], "updated_at", ARGV[3])
  redis.call("HDEL", KEYS[1], "retry_at")
  redis.call("DEL", KEYS[2])
end
return status
"#,
    )
});

static RETRY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local status = redis.call("HGET", KEYS[1], "status")
if status == "running" then
  redis.call("HSET", KEYS[1], "status", "queued", "error_code", ARGV[1], "error_message", ARGV[2], "updated_at", ARGV[3], "retry_at", ARGV[4])
end
return status
"#,
    )
});

static REQUEUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local status = redis.call("HGET", KEYS[1], "status")
if status == "running" then
  redis.call("HSET", KEYS[1], "status", "queued", "updated_at", ARGV[1])
  redis.call("HINCRBY", KEYS[1], "attempts", -1)
end
return status
"#,
    )
});

static CANCEL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local tenant = redis.call("HGET", KEYS[1], "tenant")
if not tenant or tenant ~= ARGV[1] then return false end
local status = redis.call("HGET", KEYS[1], "status")
if status == "queued" or status == "running" then
  redis.call("HSET", KEYS[1], "status", "cancelled", "updated_at", ARGV[2])
  redis.call("HDEL", KEYS[1], "retry_at")
  redis.call("DEL", KEYS[2])
end
return status
"#,
    )
});

async fn timed<T>(operation: impl Future<Output = redis::RedisResult<T>>) -> Result<T, QueueError> {
    match tokio::time::timeout(OP_TIMEOUT, operation).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(QueueError::Unavailable(format!(
            "{:?}: {}",
            error.kind(),
            error.detail().unwrap_or("redis error")
        ))),
        Err(_) => Err(QueueError::Unavailable("redis timed out".into())),
    }
}

fn parse_status(raw: Option<String>) -> Result<Option<JobStatus>, QueueError> {
    raw.map(|s| JobStatus::parse(&s).ok_or_else(|| QueueError::Corrupt(format!("status {s:?}"))))
        .transpose()
}

impl RedisQueue {
    pub(crate) fn new(url: &Secret, settings: &ExportSettings) -> Result<Self, QueueError> {
        let client = redis::Client::open(url.expose()).map_err(QueueError::unavailable)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = client
            .get_connection_manager_lazy(manager_config)
            .map_err(QueueError::unavailable)?;
        let config = Config::default()
            .queue(&settings.queue)
            .heartbeat_interval(settings.heartbeat)
            .missed_heartbeats(settings.missed_heartbeats as usize)
            // One task per fetch: a worker never holds tasks it cannot start
            // (idle workers get them), and apalis only sends heartbeats while
            // its fetch buffer is empty.
            .batch_size(1)
            .emit_events(false);
        Ok(RedisQueue {
            conn,
            config,
            prefix: settings.queue.clone(),
        })
    }

    /// A storage handle for pushing or for one worker (cheap: shares the connection).
    fn storage(&self) -> RedisStorage<ExportJob> {
        RedisStorage::new(self.conn.clone()).with_config(self.config.clone())
    }

    /// The storage a worker consumes from, woken every [`POLL_INTERVAL`] when idle.
    fn worker_storage(&self) -> PollWith<RedisStorage<ExportJob>, Interval> {
        self.storage().poll_with_strategy(Interval::new(POLL_INTERVAL))
    }

    fn job_key(&self, job_id: JobId) -> String {
        format!("{}:job:{job_id}", self.prefix)
    }

    fn input_key(&self, job_id: JobId) -> String {
        format!("{}:job:{job_id}:input", self.prefix)
    }

    fn idempotency_key(&self, tenant: &TenantId, key: &str) -> String {
        format!("{}:idem:{tenant}:{key}", self.prefix)
    }
}

#[async_trait::async_trait]
impl Backend for RedisQueue {
    fn kind(&self) -> BackendKind {
        BackendKind::Redis
    }

    async fn create(&self, record: &NewRecord<'_>) -> Result<Option<String>, QueueError> {
        let job = record.job;
        let now = now().to_string();
        let mut fields: Vec<(&str, String)> = vec![
            ("tenant", job.tenant.to_string()),
            ("format", job.format.as_str().into()),
            ("filename", job.filename.clone()),
            ("status", JobStatus::Queued.as_str().into()),
            ("rows", "0".into()),
            ("attempts", "0".into()),
            ("created_at", now.clone()),
            ("updated_at", now),
        ];
        if let Some(total) = record.total {
            fields.push(("total", total.to_string()));
        }
        let (idem_key, idem_value) = match &record.idempotency {
            Some((key, value)) => (self.idempotency_key(&job.tenant, key), value.clone()),
            None => (self.idempotency_key(&job.tenant, "-"), String::new()),
        };
        let mut invocation = CREATE.prepare_invoke();
        invocation
            .key(self.job_key(job.job_id))
            .key(self.input_key(job.job_id))
            .key(idem_key)
            .arg(record.ttl.as_secs().max(1))
            .arg(idem_value)
            .arg(record.input.as_deref().unwrap_or_default());
        for (name, value) in fields {
            invocation.arg(name).arg(value);
        }
        let mut conn = self.conn.clone();
        timed(invocation.invoke_async::<Option<String>>(&mut conn)).await
    }

    async fn forget(&self, job_id: JobId, idempotency: Option<(&TenantId, &str)>) -> Result<(), QueueError> {
        let mut keys = vec![self.job_key(job_id), self.input_key(job_id)];
        if let Some((tenant, key)) = idempotency {
            keys.push(self.idempotency_key(tenant, key));
        }
        let mut conn = self.conn.clone();
        timed(conn.del::<_, ()>(keys)).await
    }

    async fn get(&self, job_id: JobId) -> Result<Option<JobRecord>, QueueError> {
        let mut conn = self.conn.clone();
        let fields: HashMap<String, String> = timed(conn.hgetall(self.job_key(job_id))).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        parse_record(job_id, fields).map(Some)
    }

    async fn cancel(&self, job_id: JobId, tenant: &TenantId) -> Result<Option<JobStatus>, QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = CANCEL.prepare_invoke();
        invocation
            .key(self.job_key(job_id))
            .key(self.input_key(job_id))
            .arg(tenant.as_str())
            .arg(now());
        parse_status(timed(invocation.invoke_async::<Option<String>>(&mut conn)).await?)
    }

    async fn ping(&self) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        timed(redis::cmd("PING").query_async::<String>(&mut conn))
            .await
            .map(drop)
    }

    async fn start_attempt(&self, job_id: JobId) -> Result<StartOutcome, QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = START.prepare_invoke();
        invocation.key(self.job_key(job_id)).arg(now());
        let (status, attempts): (String, String) = timed(invocation.invoke_async(&mut conn)).await?;
        Ok(match status.as_str() {
            "run" => StartOutcome::Run {
                attempt: attempts.parse().map_err(|_| QueueError::Corrupt("attempts".into()))?,
            },
            "missing" => StartOutcome::Skip(None),
            other => StartOutcome::Skip(parse_status(Some(other.to_owned()))?),
        })
    }

    async fn progress(&self, job_id: JobId, rows: u64) -> Result<Option<JobStatus>, QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = PROGRESS.prepare_invoke();
        invocation.key(self.job_key(job_id)).arg(rows).arg(now());
        parse_status(timed(invocation.invoke_async::<Option<String>>(&mut conn)).await?)
    }

    async fn finish(&self, job_id: JobId, object_key: &str, rows: u64) -> Result<Option<JobStatus>, QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = FINISH.prepare_invoke();
        invocation
            .key(self.job_key(job_id))
            .key(self.input_key(job_id))
            .arg(object_key)
            .arg(rows)
            .arg(now());
        parse_status(timed(invocation.invoke_async::<Option<String>>(&mut conn)).await?)
    }

    async fn fail(&self, job_id: JobId, error: &JobError) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = FAIL.prepare_invoke();
        invocation
            .key(self.job_key(job_id))
            .key(self.input_key(job_id))
            .arg(&error.code)
            .arg(&error.message)
            .arg(now());
        timed(invocation.invoke_async::<Option<String>>(&mut conn))
            .await
            .map(drop)
    }

    async fn retry_later(&self, job_id: JobId, error: &JobError, retry_at: u64) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = RETRY.prepare_invoke();
        invocation
            .key(self.job_key(job_id))
            .arg(&error.code)
            .arg(&error.message)
            .arg(now())
            .arg(retry_at);
        timed(invocation.invoke_async::<Option<String>>(&mut conn))
            .await
            .map(drop)
    }

    async fn requeue(&self, job_id: JobId) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = REQUEUE.prepare_invoke();
        invocation.key(self.job_key(job_id)).arg(now());
        timed(invocation.invoke_async::<Option<String>>(&mut conn))
            .await
            .map(drop)
    }

    /// Refreshes a worker's heartbeat (apalis sends none while it drains).
    async fn keep_alive(&self, worker: &str) -> Result<(), QueueError> {
        let mut conn = self.conn.clone();
        timed(
            redis::cmd("ZADD")
                .arg(self.config.workers_set())
                .arg("XX")
                .arg(now())
                .arg(worker)
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn input(&self, job_id: JobId) -> Result<Option<Vec<u8>>, QueueError> {
        let mut conn = self.conn.clone();
        timed(conn.get::<_, Option<Vec<u8>>>(self.input_key(job_id))).await
    }

    /// apalis-redis keeps every finished task's data and metadata forever.
    /// Drop tasks that ended (Done, Killed) more than ten minutes ago: the
    /// job's own status record is what the API reads. `Failed` tasks are kept:
    /// in apalis-redis they may still be scheduled for another run.
    async fn housekeeping(&self) -> Result<usize, QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = VACUUM.prepare_invoke();
        invocation
            .key(self.config.job_data_hash())
            .key(self.config.job_meta_hash())
            .key(self.config.done_jobs_set())
            .key(self.config.dead_jobs_set())
            .arg(600);
        timed(invocation.invoke_async::<usize>(&mut conn)).await
    }

    async fn push(&self, task: Task<ExportJob>) -> Result<(), QueueError> {
        self.storage().push_task(task).await.map_err(QueueError::unavailable)
    }

    async fn run_worker(
        &self,
        name: &str,
        concurrency: usize,
        handler: Arc<dyn TaskHandler>,
        stop: StopSignal,
    ) -> Result<(), QueueError> {
        WorkerBuilder::new(name)
            .backend(self.worker_storage())
            .data(SharedHandler(handler))
            .concurrency(concurrency)
            .build(deliver)
            .run_until(async move {
                stop.await;
                Ok::<(), std::io::Error>(())
            })
            .await
            .map_err(QueueError::unavailable)
    }
}

static VACUUM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local cutoff = tonumber(redis.call("TIME")[1]) - tonumber(ARGV[1])
local deleted = 0
for _, task_id in ipairs(redis.call("HKEYS", KEYS[1])) do
  local meta_key = KEYS[2] .. ":" .. task_id
  local status = redis.call("HGET", meta_key, "status")
  local done_at = tonumber(redis.call("HGET", meta_key, "done_at") or "")
  if (status == "Done" or status == "Killed") and done_at and done_at <= cutoff then
    redis.call("HDEL", KEYS[1], task_id)
    redis.call("HDEL", KEYS[2] .. ":result", task_id)
    redis.call("DEL", meta_key)
    redis.call("SREM", KEYS[3], task_id)
    redis.call("SREM", KEYS[4], task_id)
    deleted = deleted + 1
  end
end
return deleted
"#,
    )
});

fn parse_record(job_id: JobId, mut fields: HashMap<String, String>) -> Result<JobRecord, QueueError> {
    let mut take = |name: &str| fields.remove(name);
    let corrupt = |name: &str| QueueError::Corrupt(format!("job {job_id}: field {name}"));
    let number = |value: Option<String>, name: &str| -> Result<Option<u64>, QueueError> {
        value.map(|v| v.parse::<u64>().map_err(|_| corrupt(name))).transpose()
    };
    let tenant = take("tenant")
        .and_then(|t| TenantId::parse(&t).ok())
        .ok_or_else(|| corrupt("tenant"))?;
    let format = take("format")
        .and_then(|f| ExportFormat::parse(&f))
        .ok_or_else(|| corrupt("format"))?;
    let filename = take("filename").unwrap_or_default();
    let status = take("status")
        .and_then(|s| JobStatus::parse(&s))
        .ok_or_else(|| corrupt("status"))?;
    let rows = number(take("rows"), "rows")?.unwrap_or(0);
    let total = number(take("total"), "total")?;
    let attempts = number(take("attempts"), "attempts")?.unwrap_or(0);
    let error = match (take("error_code"), take("error_message")) {
        (Some(code), Some(message)) => Some(JobError { code, message }),
        _ => None,
    };
    let object_key = take("object_key");
    let created_at = number(take("created_at"), "created_at")?.unwrap_or(0);
    let updated_at = number(take("updated_at"), "updated_at")?.unwrap_or(created_at);
    let retry_at = number(take("retry_at"), "retry_at")?;
    Ok(JobRecord {
        job_id,
        tenant,
        format,
        filename,
        status,
        rows,
        total,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        error,
        object_key,
        created_at,
        updated_at,
        retry_at,
    })
}
