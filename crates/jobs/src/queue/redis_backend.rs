//! Redis: apalis-redis for the tasks, one hash per job for its status.
//!
//! ```text
//! {queue}:job:{id}               hash: tenant, format, filename, status, rows, total,
//!                                attempts, failures, lost, token, error_code,
//!                                error_message, object_key, created_at,
//!                                updated_at, retry_at                  (EXPIRE status TTL)
//! {queue}:job:{id}:input         inline rows (JSON), deleted when the job ends
//! {queue}:idem:{tenant}:{key}    "{job id} {request fingerprint}"       (EXPIRE status TTL)
//! {queue}:pending:{tenant}       hash: job id → input bytes, of jobs that may not
//!                                have ended; pruned and summed by each create
//!                                against the tenant's queued limits   (EXPIRE status TTL)
//! {queue}:active|scheduled|…     apalis-redis's own keys
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use apalis::prelude::{BackendExt, PollWith, Task, WorkerBuilderExt};
use apalis_redis::{Config, ConnectionManager, RedisStorage};
use broker_core::config::ExportSettings;
use broker_core::{Secret, TenantId};
use redis::aio::ConnectionManagerConfig;
use redis::{AsyncCommands, Script, ScriptInvocation};

use super::poll::Interval;
use super::{
    Backend, Created, NewRecord, OP_TIMEOUT, POLL_INTERVAL, QueueError, StopSignal, WorkerSpec, push_task,
    run_apalis_worker,
};
use crate::JobId;
use crate::job::{ExportFormat, ExportJob, JobError, JobRecord, JobStatus, now};
use crate::lifecycle::{Attempt, Standing, StartOutcome};

#[derive(Clone)]
pub(crate) struct RedisQueue {
    pub(super) conn: ConnectionManager,
    pub(super) config: Config,
    pub(super) prefix: String,
    /// `EXPORT_STATUS_TTL`, also how long webhook delivery records are kept.
    pub(super) status_ttl_secs: u64,
}

static CREATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: job hash, input (already stored, or absent), idempotency key, the tenant's pending hash
-- ARGV: ttl, idempotency value or "", input bytes, max jobs, max bytes, job id,
--       prefix of job hashes, field/value pairs…
if ARGV[2] ~= "" then
  local existing = redis.call("GET", KEYS[3])
  if existing then
    redis.call("DEL", KEYS[2])
    return {"existing", existing}
  end
end
-- The tenant's jobs that have not ended, with the size of their input; those
-- that ended (or expired) since are dropped from the hash here.
local jobs, bytes = 0, 0
local pending = redis.call("HGETALL", KEYS[4])
for i = 1, #pending, 2 do
  local status = redis.call("HGET", ARGV[7] .. pending[i], "status")
  if status == "queued" or status == "running" then
    jobs = jobs + 1
    bytes = bytes + tonumber(pending[i + 1])
  else
    redis.call("HDEL", KEYS[4], pending[i])
  end
end
local refused = nil
if jobs + 1 > tonumber(ARGV[4]) then refused = "jobs"
elseif bytes + tonumber(ARGV[3]) > tonumber(ARGV[5]) then refused = "bytes" end
if refused then
  redis.call("DEL", KEYS[2])
  return {refused, ""}
end
if ARGV[2] ~= "" then redis.call("SET", KEYS[3], ARGV[2], "EX", ARGV[1]) end
redis.call("HSET", KEYS[1], unpack(ARGV, 8))
redis.call("EXPIRE", KEYS[1], ARGV[1])
redis.call("HSET", KEYS[4], ARGV[6], ARGV[3])
redis.call("EXPIRE", KEYS[4], ARGV[1])
return {"created", ""}
"#,
    )
});

static START: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
-- KEYS: job hash | ARGV: now, token
local status = redis.call("HGET", KEYS[1], "status")
if not status then return {"missing", 0, 0, 0} end
if status ~= "queued" and status ~= "running" then return {status, 0, 0, 0} end
-- Still running: the attempt that set it never ended, so its worker was lost.
if status == "running" then redis.call("HINCRBY", KEYS[1], "lost", 1) end
local attempts = redis.call("HINCRBY", KEYS[1], "attempts", 1)
redis.call("HSET", KEYS[1], "status", "running", "token", ARGV[2], "rows", 0, "updated_at", ARGV[1])
redis.call("HDEL", KEYS[1], "retry_at")
local failures = tonumber(redis.call("HGET", KEYS[1], "failures") or "0")
local lost = tonumber(redis.call("HGET", KEYS[1], "lost") or "0")
return {"run", attempts, failures, lost}
"#,
    )
});

/// A transition of the live attempt: `body` runs only while the job is
/// running under the token in ARGV[1], and returns "current"; otherwise the
/// script returns "superseded" (running under another token) or the status
/// (false when the record is gone). KEYS[1] is always the job hash.
fn owned_transition(body: &str) -> Script {
    Script::new(&format!(
        r#"
local status = redis.call("HGET", KEYS[1], "status")
if status ~= "running" then return status end
if redis.call("HGET", KEYS[1], "token") ~= ARGV[1] then return "superseded" end
{body}
return "current"
"#
    ))
}

/// ARGV: token, rows, now
static PROGRESS: LazyLock<Script> =
    LazyLock::new(|| owned_transition(r#"redis.call("HSET", KEYS[1], "rows", ARGV[2], "updated_at", ARGV[3])"#));

/// KEYS: job hash, input | ARGV: token, object key, rows, now
static FINISH: LazyLock<Script> = LazyLock::new(|| {
    owned_transition(
        r#"
redis.call("HSET", KEYS[1], "status", "done", "object_key", ARGV[2], "rows", ARGV[3], "total", ARGV[3], "updated_at", ARGV[4])
redis.call("HDEL", KEYS[1], "error_code", "error_message", "retry_at", "token")
redis.call("DEL", KEYS[2])
"#,
    )
});

/// KEYS: job hash, input | ARGV: token, code, message, now
static FAIL: LazyLock<Script> = LazyLock::new(|| {
    owned_transition(
        r#"
redis.call("HSET", KEYS[1], "status", "failed", "error_code", ARGV[2], "error_message", ARGV[3], "updated_at", ARGV[4])
redis.call("HDEL", KEYS[1], "retry_at", "token")
redis.call("DEL", KEYS[2])
"#,
    )
});

/// ARGV: token, code, message, now, retry at
static RETRY: LazyLock<Script> = LazyLock::new(|| {
    owned_transition(
        r#"
redis.call("HSET", KEYS[1], "status", "queued", "error_code", ARGV[2], "error_message", ARGV[3], "updated_at", ARGV[4], "retry_at", ARGV[5])
redis.call("HINCRBY", KEYS[1], "failures", 1)
redis.call("HDEL", KEYS[1], "token")
"#,
    )
});

/// ARGV: token, now
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    owned_transition(
        r#"
redis.call("HSET", KEYS[1], "status", "queued", "updated_at", ARGV[2])
redis.call("HINCRBY", KEYS[1], "attempts", -1)
redis.call("HDEL", KEYS[1], "token")
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

pub(super) async fn timed<T>(operation: impl Future<Output = redis::RedisResult<T>>) -> Result<T, QueueError> {
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
            status_ttl_secs: settings.status_ttl.as_secs(),
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

    /// The tenant's jobs that may not have ended, with their input's size.
    fn pending_key(&self, tenant: &TenantId) -> String {
        format!("{}:pending:{tenant}", self.prefix)
    }

    /// Runs a script made by [`owned_transition`].
    /// A transition script of the live `attempt`, with its first keys and
    /// argument: KEYS[1] the job's hash, KEYS[2] its inline rows (when
    /// `with_input`), ARGV[1] the attempt's token.
    fn attempt_invocation<'a>(&self, script: &'a Script, attempt: &Attempt, with_input: bool) -> ScriptInvocation<'a> {
        let mut invocation = script.prepare_invoke();
        invocation.key(self.job_key(attempt.job_id));
        if with_input {
            invocation.key(self.input_key(attempt.job_id));
        }
        invocation.arg(&attempt.token);
        invocation
    }

    async fn transition(&self, invocation: ScriptInvocation<'_>) -> Result<Standing, QueueError> {
        let mut conn = self.conn.clone();
        let reply: Option<String> = timed(invocation.invoke_async(&mut conn)).await?;
        Ok(match reply.as_deref() {
            Some("current") => Standing::Current,
            Some("superseded") => Standing::Superseded,
            _ => Standing::Ended(parse_status(reply)?),
        })
    }
}

#[async_trait::async_trait]
impl Backend for RedisQueue {
    async fn create(&self, record: &NewRecord<'_>) -> Result<Created, QueueError> {
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
        let ttl = record.ttl.as_secs().max(1);
        let input_key = self.input_key(job.job_id);
        let mut conn = self.conn.clone();
        // The input goes first, by itself: a script argument is copied twice
        // more on its way to Redis, and a body may be 10 MiB. The script
        // deletes it again if it refuses the job.
        if let Some(input) = &record.input {
            timed(conn.set_ex::<_, _, ()>(&input_key, input.as_slice(), ttl)).await?;
        }
        let mut invocation = CREATE.prepare_invoke();
        invocation
            .key(self.job_key(job.job_id))
            .key(&input_key)
            .key(idem_key)
            .key(self.pending_key(&job.tenant))
            .arg(ttl)
            .arg(idem_value)
            .arg(record.input.as_ref().map_or(0, Vec::len))
            .arg(record.limits.jobs)
            .arg(record.limits.bytes)
            .arg(job.job_id.to_string())
            .arg(format!("{}:job:", self.prefix));
        for (name, value) in fields {
            invocation.arg(name).arg(value);
        }
        let (outcome, existing): (String, String) = match timed(invocation.invoke_async(&mut conn)).await {
            Ok(reply) => reply,
            Err(error) => {
                // Best effort: the input must not outlive a job that was not created.
                if record.input.is_some() && timed(conn.del::<_, ()>(&input_key)).await.is_err() {
                    tracing::warn!(job_id = %job.job_id, "could not remove the input of a job that was not created");
                }
                return Err(error);
            }
        };
        match outcome.as_str() {
            "created" => Ok(Created::New),
            "existing" => Ok(Created::Existing(existing)),
            "jobs" => Ok(Created::TooManyJobs),
            "bytes" => Ok(Created::TooManyBytes),
            other => Err(QueueError::Corrupt(format!("create answered {other:?}"))),
        }
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

    /// apalis's list of waiting tasks and its set of scheduled ones (retries).
    /// A cancelled job's task stays there until a worker takes and skips it.
    async fn depth(&self) -> Result<u64, QueueError> {
        let mut conn = self.conn.clone();
        let (waiting, scheduled): (u64, u64) = timed(
            redis::pipe()
                .llen(self.config.active_jobs_list())
                .zcard(self.config.scheduled_jobs_set())
                .query_async(&mut conn),
        )
        .await?;
        Ok(waiting + scheduled)
    }

    async fn start_attempt(&self, job_id: JobId, token: &str) -> Result<StartOutcome, QueueError> {
        let mut conn = self.conn.clone();
        let mut invocation = START.prepare_invoke();
        invocation.key(self.job_key(job_id)).arg(now()).arg(token);
        let (status, number, failures, lost_workers): (String, u32, u32, u32) =
            timed(invocation.invoke_async(&mut conn)).await?;
        Ok(match status.as_str() {
            "run" => StartOutcome::Run(Attempt {
                job_id,
                number,
                failures,
                lost_workers,
                token: token.to_owned(),
            }),
            "missing" => StartOutcome::Skip(None),
            other => StartOutcome::Skip(parse_status(Some(other.to_owned()))?),
        })
    }

    async fn progress(&self, attempt: &Attempt, rows: u64) -> Result<Standing, QueueError> {
        let mut invocation = self.attempt_invocation(&PROGRESS, attempt, false);
        invocation.arg(rows).arg(now());
        self.transition(invocation).await
    }

    async fn finish(&self, attempt: &Attempt, object_key: &str, rows: u64) -> Result<Standing, QueueError> {
        let mut invocation = self.attempt_invocation(&FINISH, attempt, true);
        invocation.arg(object_key).arg(rows).arg(now());
        self.transition(invocation).await
    }

    async fn fail(&self, attempt: &Attempt, error: &JobError) -> Result<Standing, QueueError> {
        let mut invocation = self.attempt_invocation(&FAIL, attempt, true);
        invocation.arg(&error.code).arg(&error.message).arg(now());
        self.transition(invocation).await
    }

    async fn retry_later(&self, attempt: &Attempt, error: &JobError, retry_at: u64) -> Result<Standing, QueueError> {
        let mut invocation = self.attempt_invocation(&RETRY, attempt, false);
        invocation.arg(&error.code).arg(&error.message).arg(now()).arg(retry_at);
        self.transition(invocation).await
    }

    async fn release(&self, attempt: &Attempt) -> Result<Standing, QueueError> {
        let mut invocation = self.attempt_invocation(&RELEASE, attempt, false);
        invocation.arg(now());
        self.transition(invocation).await
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
        vacuum(&self.conn, &self.config).await
    }

    async fn push(&self, task: Task<ExportJob>) -> Result<(), QueueError> {
        push_task(self.storage(), task).await
    }

    async fn run_worker(&self, worker: WorkerSpec<'_>, stop: StopSignal) -> Result<(), QueueError> {
        run_apalis_worker!(lifecycle: self.worker_storage(), worker, stop)
    }
}

/// Drops the tasks of the apalis queue `config` names that ended (Done,
/// Killed) more than ten minutes ago; returns how many.
pub(super) async fn vacuum(conn: &ConnectionManager, config: &Config) -> Result<usize, QueueError> {
    let mut conn = conn.clone();
    let mut invocation = VACUUM.prepare_invoke();
    invocation
        .key(config.job_data_hash())
        .key(config.job_meta_hash())
        .key(config.done_jobs_set())
        .key(config.dead_jobs_set())
        .arg(600);
    timed(invocation.invoke_async::<usize>(&mut conn)).await
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
