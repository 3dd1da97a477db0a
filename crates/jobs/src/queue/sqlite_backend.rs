//! The embedded backend: apalis-sqlite and the status records in one file.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use apalis::prelude::{BackendExt, PollWith, Task, WorkerBuilderExt};
use apalis_sqlite::{Config, SqliteStorage};
use broker_core::TenantId;
use broker_core::config::ExportSettings;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::poll::Interval;
use super::{
    Backend, Created, NewRecord, POLL_INTERVAL, QueueError, StopSignal, WorkerSpec, push_task, run_apalis_worker,
};
use crate::JobId;
use crate::job::{ExportFormat, ExportJob, JobError, JobRecord, JobStatus, now};
use crate::lifecycle::{Attempt, Standing, StartOutcome};

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS export_jobs (
        job_id TEXT PRIMARY KEY NOT NULL,
        tenant TEXT NOT NULL,
        format TEXT NOT NULL,
        filename TEXT NOT NULL,
        status TEXT NOT NULL,
        row_count INTEGER NOT NULL DEFAULT 0,
        total INTEGER,
        attempts INTEGER NOT NULL DEFAULT 0,
        error_code TEXT,
        error_message TEXT,
        object_key TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        retry_at INTEGER,
        expires_at INTEGER NOT NULL,
        input BLOB,
        token TEXT,
        failures INTEGER NOT NULL DEFAULT 0,
        lost INTEGER NOT NULL DEFAULT 0
    )",
    "CREATE INDEX IF NOT EXISTS export_jobs_expires ON export_jobs (expires_at)",
    "CREATE INDEX IF NOT EXISTS export_jobs_tenant ON export_jobs (tenant, status)",
    "CREATE TABLE IF NOT EXISTS export_idempotency (
        key TEXT PRIMARY KEY NOT NULL,
        value TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    )",
];

/// Columns added to `export_jobs` after its first release, added to older
/// files when they are opened (the file outlives upgrades in `DATA_DIR`).
const ADDED_COLUMNS: &[(&str, &str)] = &[
    ("token", "TEXT"),
    ("failures", "INTEGER NOT NULL DEFAULT 0"),
    ("lost", "INTEGER NOT NULL DEFAULT 0"),
];

/// Creates the status tables (and the webhook deliveries'), or brings an older file's up to date.
async fn create_tables(pool: &SqlitePool) -> Result<(), QueueError> {
    for statement in SCHEMA.iter().chain(super::sqlite_webhooks::SCHEMA) {
        sqlx::query(sqlx::AssertSqlSafe(*statement))
            .execute(pool)
            .await
            .map_err(db)?;
    }
    let present: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('export_jobs')")
        .fetch_all(pool)
        .await
        .map_err(db)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for (column, definition) in ADDED_COLUMNS {
        if !present.iter().any(|p| p == column) {
            let statement = format!("ALTER TABLE export_jobs ADD COLUMN {column} {definition}");
            sqlx::query(sqlx::AssertSqlSafe(statement))
                .execute(pool)
                .await
                .map_err(db)?;
        }
    }
    Ok(())
}

/// A pool over the SQLite file at `path` (created with its directory when
/// missing), in WAL mode: what the queue and the binary's other embedded
/// tables (the multipart sessions) open.
pub async fn open_pool(path: &Path) -> Result<SqlitePool, QueueError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| QueueError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
    }
    let options = SqliteConnectOptions::from_str("sqlite://")
        .map_err(db)?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10));
    SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(db)
}

#[derive(Clone)]
pub(crate) struct SqliteQueue {
    pub(super) pool: SqlitePool,
    pub(super) config: Config,
}

pub(super) fn db(error: sqlx::Error) -> QueueError {
    QueueError::Unavailable(format!("sqlite: {error}"))
}

pub(super) fn now_i64() -> i64 {
    i64::try_from(now()).unwrap_or(i64::MAX)
}

pub(super) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl SqliteQueue {
    pub(crate) async fn open(settings: &ExportSettings) -> Result<Self, QueueError> {
        let pool = open_pool(&settings.sqlite_path).await?;
        SqliteStorage::setup(&pool).await.map_err(QueueError::unavailable)?;
        create_tables(&pool).await?;
        let config = Config::default()
            .queue(&settings.queue)
            .heartbeat_interval(settings.heartbeat)
            .missed_heartbeats(settings.missed_heartbeats as usize)
            // See the Redis backend: one task per fetch keeps heartbeats flowing.
            .batch_size(1);
        Ok(SqliteQueue { pool, config })
    }

    fn storage(&self) -> SqliteStorage<ExportJob> {
        SqliteStorage::new(&self.pool).with_config(self.config.clone())
    }

    fn worker_storage(&self) -> PollWith<SqliteStorage<ExportJob>, Interval> {
        self.storage().poll_with_strategy(Interval::new(POLL_INTERVAL))
    }

    fn idempotency_row(tenant: &TenantId, key: &str) -> String {
        format!("{tenant}\n{key}")
    }

    /// Runs `update` (an `UPDATE … WHERE job_id = ? AND status = 'running' AND
    /// token = ?` with its other parameters bound) for the live attempt, and
    /// says where the job stands for `attempt`.
    async fn transition(
        &self,
        attempt: &Attempt,
        update: sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> Result<Standing, QueueError> {
        let updated = update
            .bind(attempt.job_id.to_string())
            .bind(&attempt.token)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if updated.rows_affected() == 1 {
            return Ok(Standing::Current);
        }
        Ok(match self.status(attempt.job_id).await? {
            Some(JobStatus::Running) => Standing::Superseded,
            status => Standing::Ended(status),
        })
    }

    async fn status(&self, job_id: JobId) -> Result<Option<JobStatus>, QueueError> {
        let status: Option<String> = sqlx::query("SELECT status FROM export_jobs WHERE job_id = ? AND expires_at > ?")
            .bind(job_id.to_string())
            .bind(now_i64())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|row| row.get(0));
        status
            .map(|s| JobStatus::parse(&s).ok_or_else(|| QueueError::Corrupt(format!("status {s:?}"))))
            .transpose()
    }
}

#[async_trait::async_trait]
impl Backend for SqliteQueue {
    async fn create(&self, record: &NewRecord<'_>) -> Result<Created, QueueError> {
        let job = record.job;
        let now = now_i64();
        let expires_at = now.saturating_add(to_i64(record.ttl.as_secs()));
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let idempotency = match &record.idempotency {
            Some((key, value)) => {
                let row_key = Self::idempotency_row(&job.tenant, key);
                let existing: Option<String> =
                    sqlx::query("SELECT value FROM export_idempotency WHERE key = ? AND expires_at > ?")
                        .bind(&row_key)
                        .bind(now)
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(db)?
                        .map(|row| row.get(0));
                if let Some(existing) = existing {
                    return Ok(Created::Existing(existing));
                }
                Some((row_key, value))
            }
            None => None,
        };
        let pending = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(input)), 0) FROM export_jobs
             WHERE tenant = ? AND status IN ('queued', 'running') AND expires_at > ?",
        )
        .bind(job.tenant.as_str())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(db)?;
        let (jobs, bytes): (i64, i64) = (pending.get(0), pending.get(1));
        let input_bytes = record.input.as_ref().map_or(0, Vec::len) as u64;
        if u64::try_from(jobs).unwrap_or(0) + 1 > record.limits.jobs {
            return Ok(Created::TooManyJobs);
        }
        if u64::try_from(bytes).unwrap_or(0) + input_bytes > record.limits.bytes {
            return Ok(Created::TooManyBytes);
        }
        if let Some((row_key, value)) = idempotency {
            sqlx::query("INSERT OR REPLACE INTO export_idempotency (key, value, expires_at) VALUES (?, ?, ?)")
                .bind(row_key)
                .bind(value)
                .bind(expires_at)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        sqlx::query(
            "INSERT INTO export_jobs (job_id, tenant, format, filename, status, total, created_at, updated_at, expires_at, input)
             VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
        )
        .bind(job.job_id.to_string())
        .bind(job.tenant.as_str())
        .bind(job.format.as_str())
        .bind(&job.filename)
        .bind(record.total.map(to_i64))
        .bind(now)
        .bind(now)
        .bind(expires_at)
        .bind(record.input.as_deref())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Created::New)
    }

    async fn forget(&self, job_id: JobId, idempotency: Option<(&TenantId, &str)>) -> Result<(), QueueError> {
        sqlx::query("DELETE FROM export_jobs WHERE job_id = ?")
            .bind(job_id.to_string())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if let Some((tenant, key)) = idempotency {
            sqlx::query("DELETE FROM export_idempotency WHERE key = ?")
                .bind(Self::idempotency_row(tenant, key))
                .execute(&self.pool)
                .await
                .map_err(db)?;
        }
        Ok(())
    }

    async fn get(&self, job_id: JobId) -> Result<Option<JobRecord>, QueueError> {
        let row = sqlx::query(
            "SELECT job_id, tenant, format, filename, status, row_count, total, attempts, error_code, error_message,
                    object_key, created_at, updated_at, retry_at
             FROM export_jobs WHERE job_id = ? AND expires_at > ?",
        )
        .bind(job_id.to_string())
        .bind(now_i64())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|row| parse_record(&row)).transpose()
    }

    async fn cancel(&self, job_id: JobId, tenant: &TenantId) -> Result<Option<JobStatus>, QueueError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        let row = sqlx::query("SELECT status FROM export_jobs WHERE job_id = ? AND tenant = ? AND expires_at > ?")
            .bind(job_id.to_string())
            .bind(tenant.as_str())
            .bind(now_i64())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        let Some(row) = row else { return Ok(None) };
        let status: String = row.get(0);
        sqlx::query(
            "UPDATE export_jobs SET status = 'cancelled', retry_at = NULL, input = NULL, updated_at = ?
             WHERE job_id = ? AND status IN ('queued', 'running')",
        )
        .bind(now_i64())
        .bind(job_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        JobStatus::parse(&status)
            .map(Some)
            .ok_or_else(|| QueueError::Corrupt(format!("status {status:?}")))
    }

    async fn ping(&self) -> Result<(), QueueError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db).map(drop)
    }

    async fn depth(&self) -> Result<u64, QueueError> {
        let queued: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM export_jobs WHERE status = 'queued' AND expires_at > ?")
                .bind(now_i64())
                .fetch_one(&self.pool)
                .await
                .map_err(db)?;
        Ok(u64::try_from(queued).unwrap_or(0))
    }

    async fn start_attempt(&self, job_id: JobId, token: &str) -> Result<StartOutcome, QueueError> {
        // Still running: the attempt that set it never ended, so its worker was lost.
        let started = sqlx::query(
            "UPDATE export_jobs SET attempts = attempts + 1, lost = lost + (status = 'running'), status = 'running',
                 token = ?, row_count = 0, retry_at = NULL, updated_at = ?
             WHERE job_id = ? AND status IN ('queued', 'running') AND expires_at > ?
             RETURNING attempts, failures, lost",
        )
        .bind(token)
        .bind(now_i64())
        .bind(job_id.to_string())
        .bind(now_i64())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let count = |row: &SqliteRow, index: usize| u32::try_from(row.get::<i64, _>(index)).unwrap_or(u32::MAX);
        match started {
            Some(row) => Ok(StartOutcome::Run(Attempt {
                job_id,
                number: count(&row, 0),
                failures: count(&row, 1),
                lost_workers: count(&row, 2),
                token: token.to_owned(),
            })),
            None => Ok(StartOutcome::Skip(self.status(job_id).await?)),
        }
    }

    async fn progress(&self, attempt: &Attempt, rows: u64) -> Result<Standing, QueueError> {
        let update = sqlx::query(
            "UPDATE export_jobs SET row_count = ?, updated_at = ? WHERE job_id = ? AND status = 'running' AND token = ?",
        )
        .bind(to_i64(rows))
        .bind(now_i64());
        self.transition(attempt, update).await
    }

    async fn finish(&self, attempt: &Attempt, object_key: &str, rows: u64) -> Result<Standing, QueueError> {
        let update = sqlx::query(
            "UPDATE export_jobs SET status = 'done', object_key = ?, row_count = ?, total = ?, error_code = NULL,
                 error_message = NULL, retry_at = NULL, input = NULL, token = NULL, updated_at = ?
             WHERE job_id = ? AND status = 'running' AND token = ?",
        )
        .bind(object_key)
        .bind(to_i64(rows))
        .bind(to_i64(rows))
        .bind(now_i64());
        self.transition(attempt, update).await
    }

    async fn fail(&self, attempt: &Attempt, error: &JobError) -> Result<Standing, QueueError> {
        let update = sqlx::query(
            "UPDATE export_jobs SET status = 'failed', error_code = ?, error_message = ?, retry_at = NULL, input = NULL,
                 token = NULL, updated_at = ?
             WHERE job_id = ? AND status = 'running' AND token = ?",
        )
        .bind(&error.code)
        .bind(&error.message)
        .bind(now_i64());
        self.transition(attempt, update).await
    }

    async fn retry_later(&self, attempt: &Attempt, error: &JobError, retry_at: u64) -> Result<Standing, QueueError> {
        let update = sqlx::query(
            "UPDATE export_jobs SET status = 'queued', error_code = ?, error_message = ?, retry_at = ?,
                 failures = failures + 1, token = NULL, updated_at = ?
             WHERE job_id = ? AND status = 'running' AND token = ?",
        )
        .bind(&error.code)
        .bind(&error.message)
        .bind(to_i64(retry_at))
        .bind(now_i64());
        self.transition(attempt, update).await
    }

    async fn release(&self, attempt: &Attempt) -> Result<Standing, QueueError> {
        let update = sqlx::query(
            "UPDATE export_jobs SET status = 'queued', attempts = MAX(attempts - 1, 0), token = NULL, updated_at = ?
             WHERE job_id = ? AND status = 'running' AND token = ?",
        )
        .bind(now_i64());
        self.transition(attempt, update).await
    }

    /// Refreshes a worker's heartbeat (apalis sends none while it drains).
    async fn keep_alive(&self, worker: &str) -> Result<(), QueueError> {
        sqlx::query("UPDATE Workers SET last_seen = strftime('%s', 'now') WHERE id = ?")
            .bind(worker)
            .execute(&self.pool)
            .await
            .map_err(db)
            .map(drop)
    }

    async fn input(&self, job_id: JobId) -> Result<Option<Vec<u8>>, QueueError> {
        let input: Option<Option<Vec<u8>>> = sqlx::query("SELECT input FROM export_jobs WHERE job_id = ?")
            .bind(job_id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|row| row.get(0));
        Ok(input.flatten())
    }

    /// Expired records, expired idempotency keys, and apalis tasks that ended
    /// more than ten minutes ago.
    async fn housekeeping(&self) -> Result<usize, QueueError> {
        let now = now_i64();
        let mut removed = 0;
        for (sql, bind) in [
            ("DELETE FROM export_jobs WHERE expires_at <= ?", now),
            ("DELETE FROM export_idempotency WHERE expires_at <= ?", now),
        ] {
            removed += sqlx::query(sql)
                .bind(bind)
                .execute(&self.pool)
                .await
                .map_err(db)?
                .rows_affected();
        }
        removed += sqlx::query("DELETE FROM Jobs WHERE job_type = ? AND status IN ('Done', 'Killed') AND done_at <= ?")
            .bind(self.config.queue.as_ref())
            .bind(now - 600)
            .execute(&self.pool)
            .await
            .map_err(db)?
            .rows_affected();
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    async fn push(&self, task: Task<ExportJob>) -> Result<(), QueueError> {
        push_task(self.storage(), task).await
    }

    async fn run_worker(&self, worker: WorkerSpec<'_>, stop: StopSignal) -> Result<(), QueueError> {
        run_apalis_worker!(lifecycle: self.worker_storage(), worker, stop)
    }
}

fn parse_record(row: &SqliteRow) -> Result<JobRecord, QueueError> {
    let corrupt = |what: &str| QueueError::Corrupt(format!("export_jobs.{what}"));
    let get_i64 = |name: &str| row.try_get::<i64, _>(name).map_err(|_| corrupt(name));
    let get_opt = |name: &str| row.try_get::<Option<i64>, _>(name).map_err(|_| corrupt(name));
    let get_str = |name: &str| row.try_get::<String, _>(name).map_err(|_| corrupt(name));
    let get_opt_str = |name: &str| row.try_get::<Option<String>, _>(name).map_err(|_| corrupt(name));
    let unsigned = |v: i64| u64::try_from(v).unwrap_or(0);
    let error = match (get_opt_str("error_code")?, get_opt_str("error_message")?) {
        (Some(code), Some(message)) => Some(JobError { code, message }),
        _ => None,
    };
    Ok(JobRecord {
        job_id: JobId::parse(&get_str("job_id")?).map_err(|_| corrupt("job_id"))?,
        tenant: TenantId::parse(&get_str("tenant")?).map_err(|_| corrupt("tenant"))?,
        format: ExportFormat::parse(&get_str("format")?).ok_or_else(|| corrupt("format"))?,
        filename: get_str("filename")?,
        status: JobStatus::parse(&get_str("status")?).ok_or_else(|| corrupt("status"))?,
        rows: unsigned(get_i64("row_count")?),
        total: get_opt("total")?.map(unsigned),
        attempts: u32::try_from(get_i64("attempts")?).unwrap_or(0),
        error,
        object_key: get_opt_str("object_key")?,
        created_at: unsigned(get_i64("created_at")?),
        updated_at: unsigned(get_i64("updated_at")?),
        retry_at: get_opt("retry_at")?.map(unsigned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_from_before_attempt_tokens_gets_the_new_columns() {
        let options = SqliteConnectOptions::from_str("sqlite::memory:").expect("options");
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("pool");
        // The first release's table.
        sqlx::query(
            "CREATE TABLE export_jobs (job_id TEXT PRIMARY KEY NOT NULL, tenant TEXT NOT NULL, format TEXT NOT NULL,
                filename TEXT NOT NULL, status TEXT NOT NULL, row_count INTEGER NOT NULL DEFAULT 0, total INTEGER,
                attempts INTEGER NOT NULL DEFAULT 0, error_code TEXT, error_message TEXT, object_key TEXT,
                created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, retry_at INTEGER,
                expires_at INTEGER NOT NULL, input BLOB)",
        )
        .execute(&pool)
        .await
        .expect("old table");
        sqlx::query(
            "INSERT INTO export_jobs (job_id, tenant, format, filename, status, created_at, updated_at, expires_at)
             VALUES ('01M83ZAXYNVFVE1NPVFNNVXZG7', 'acme', 'csv', 'a.csv', 'running', 1, 1, 9999999999)",
        )
        .execute(&pool)
        .await
        .expect("old row");
        create_tables(&pool).await.expect("migrated");
        create_tables(&pool).await.expect("and again, unchanged");
        let row = sqlx::query("SELECT token, failures, lost FROM export_jobs")
            .fetch_one(&pool)
            .await
            .expect("new columns");
        assert_eq!(row.get::<Option<String>, _>(0), None);
        assert_eq!((row.get::<i64, _>(1), row.get::<i64, _>(2)), (0, 0));
    }
}
