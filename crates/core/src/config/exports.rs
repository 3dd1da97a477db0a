//! Export jobs: `EXPORT_*`. Bounds on requests and on what a tenant may
//! queue, the retry policy and worker liveness.

use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use super::Reader;

/// Export jobs: bounds on requests, the retry policy and worker liveness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSettings {
    /// `EXPORT_MAX_INLINE_BYTES`: largest `POST /exports` body with inline rows.
    pub max_inline_bytes: usize,
    /// `EXPORT_MAX_ATTEMPTS`: attempts before a job with transient failures is `failed`.
    pub max_attempts: u32,
    /// `EXPORT_MAX_LOST_WORKERS`: workers a job may lose (killed, or taken for
    /// dead) before it is `failed`; apart from, and above, the attempts, so
    /// infrastructure faults do not use them up.
    pub max_lost_workers: u32,
    /// `EXPORT_MAX_QUEUED_JOBS`: jobs one tenant may have queued or running.
    pub max_queued_jobs: u64,
    /// `EXPORT_MAX_QUEUED_BYTES`: inline input one tenant may have stored for
    /// queued or running jobs.
    pub max_queued_bytes: u64,
    /// `EXPORT_MAX_PDF_PAGES`: longest PDF an export may produce (it is
    /// assembled in memory).
    pub max_pdf_pages: usize,
    /// `EXPORT_CONCURRENCY`: jobs one worker process runs at once.
    pub concurrency: usize,
    /// `EXPORT_STATUS_TTL`: how long a job's status (and its idempotency key) is kept.
    pub status_ttl: Duration,
    /// `EXPORT_RETRY_BASE`: first retry delay; doubles per attempt (capped at `EXPORT_RETRY_MAX`).
    pub retry_base: Duration,
    /// `EXPORT_RETRY_MAX`: longest retry delay.
    pub retry_max: Duration,
    /// `EXPORT_HEARTBEAT`: worker heartbeat interval.
    pub heartbeat: Duration,
    /// `EXPORT_MISSED_HEARTBEATS`: a worker silent for `heartbeat × missed` is dead
    /// and its jobs are handed to another worker.
    pub missed_heartbeats: u32,
    /// `EXPORT_DRAIN_TIMEOUT`: on SIGTERM, how long running jobs may finish before
    /// they are interrupted and handed back to the queue.
    pub drain_timeout: Duration,
    /// `EXPORT_QUEUE`: queue name, also the prefix of every Redis key exports use.
    pub queue: String,
    /// `{DATA_DIR}/exports.sqlite3`: the embedded queue when `REDIS_URL` is unset.
    pub sqlite_path: PathBuf,
}

impl ExportSettings {
    /// How long a silent worker keeps its jobs before another one takes them over.
    pub fn orphan_timeout(&self) -> Duration {
        self.heartbeat * self.missed_heartbeats
    }
}

/// The export settings; the embedded queue lives in `data_dir`.
pub(super) fn parse<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>, data_dir: &Path) -> ExportSettings {
    let exports = ExportSettings {
        max_inline_bytes: env.parse_or("EXPORT_MAX_INLINE_BYTES", "10485760", "a number of bytes"),
        max_attempts: env.parse_or("EXPORT_MAX_ATTEMPTS", "3", "a whole number of at least 1"),
        max_lost_workers: env.parse_or("EXPORT_MAX_LOST_WORKERS", "5", "a whole number"),
        max_queued_jobs: env.parse_or("EXPORT_MAX_QUEUED_JOBS", "100", "a whole number of at least 1"),
        max_queued_bytes: env.parse_or("EXPORT_MAX_QUEUED_BYTES", "104857600", "a number of bytes"),
        max_pdf_pages: env.parse_or("EXPORT_MAX_PDF_PAGES", "2500", "a whole number of at least 1"),
        concurrency: env.parse_or("EXPORT_CONCURRENCY", "2", "a whole number of at least 1"),
        status_ttl: env.secs_or("EXPORT_STATUS_TTL", "604800"),
        retry_base: env.secs_or("EXPORT_RETRY_BASE", "5"),
        retry_max: env.secs_or("EXPORT_RETRY_MAX", "300"),
        heartbeat: env.secs_or("EXPORT_HEARTBEAT", "5"),
        missed_heartbeats: env.parse_or("EXPORT_MISSED_HEARTBEATS", "6", "a whole number of at least 2"),
        drain_timeout: env.secs_or("EXPORT_DRAIN_TIMEOUT", "60"),
        queue: env.string("EXPORT_QUEUE").unwrap_or_else(|| "broker:exports".into()),
        sqlite_path: data_dir.join("exports.sqlite3"),
    };
    for (name, value) in [
        ("EXPORT_MAX_INLINE_BYTES", exports.max_inline_bytes as u64),
        ("EXPORT_MAX_ATTEMPTS", u64::from(exports.max_attempts)),
        ("EXPORT_CONCURRENCY", exports.concurrency as u64),
        ("EXPORT_STATUS_TTL", exports.status_ttl.as_secs()),
        ("EXPORT_RETRY_BASE", exports.retry_base.as_secs()),
        ("EXPORT_HEARTBEAT", exports.heartbeat.as_secs()),
        ("EXPORT_MAX_QUEUED_JOBS", exports.max_queued_jobs),
        ("EXPORT_MAX_PDF_PAGES", exports.max_pdf_pages as u64),
    ] {
        if value == 0 {
            env.problem(format!("{name} must be at least 1"));
        }
    }
    if exports.missed_heartbeats < 2 {
        env.problem("EXPORT_MISSED_HEARTBEATS must be at least 2".into());
    }
    if exports.max_queued_bytes < exports.max_inline_bytes as u64 {
        env.problem("EXPORT_MAX_QUEUED_BYTES must not be smaller than EXPORT_MAX_INLINE_BYTES".into());
    }
    if exports.retry_max < exports.retry_base {
        env.problem("EXPORT_RETRY_MAX must not be shorter than EXPORT_RETRY_BASE".into());
    }
    if !exports
        .queue
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-' | b'.'))
    {
        env.problem(format!(
            "EXPORT_QUEUE must be made of [A-Za-z0-9:_.-] (got {:?})",
            exports.queue
        ));
    }
    exports
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::config::tests::parse;

    #[test]
    fn export_settings_have_production_defaults_and_are_checked() {
        let settings = parse(&[("DATA_DIR", "/var/lib/broker")]).expect("defaults are valid");
        let exports = &settings.exports;
        assert_eq!(exports.max_inline_bytes, 10 * 1024 * 1024);
        assert_eq!(exports.max_attempts, 3);
        assert_eq!(exports.max_lost_workers, 5);
        assert_eq!(exports.max_queued_jobs, 100);
        assert_eq!(exports.max_queued_bytes, 100 * 1024 * 1024);
        assert_eq!(exports.max_pdf_pages, 2500);
        assert_eq!(exports.orphan_timeout(), Duration::from_secs(30));
        assert_eq!(exports.sqlite_path, PathBuf::from("/var/lib/broker/exports.sqlite3"));
        let err = parse(&[
            ("EXPORT_MAX_ATTEMPTS", "0"),
            ("EXPORT_MISSED_HEARTBEATS", "1"),
            ("EXPORT_QUEUE", "a b"),
            ("EXPORT_MAX_QUEUED_JOBS", "0"),
            ("EXPORT_MAX_QUEUED_BYTES", "1000"),
            ("EXPORT_MAX_PDF_PAGES", "0"),
        ])
        .expect_err("broken");
        assert_eq!(err.problems.len(), 6, "{err}");
    }
}
