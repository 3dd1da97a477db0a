//! The queue on both backends (a real redis-server, and SQLite in a temp
//! dir): the attempt protocol through the lifecycle handle as workers use it
//! (of two attempts at one job only the later can move it; transient
//! failures, lost workers and interruptions are counted apart), and the
//! per-tenant limits on queued jobs and their input through the client.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::time::Duration;

use broker_core::{Secret, Settings, TenantId};
use broker_jobs::job::{ExportFormat, ExportJob, JobError, JobRecord, JobSource, JobStatus};
use broker_jobs::{
    Attempt, BackendKind, JobId, JobQueue, JobsLifecycle, NewExport, NewSource, Standing, StartOutcome, SubmitError,
};
use broker_testkit::Redis;
use tempfile::TempDir;

/// A queue on each backend, with what keeps it alive.
struct Backends {
    queues: Vec<JobQueue>,
    _redis: Redis,
    _dir: TempDir,
}

async fn backends() -> Backends {
    backends_with(&[]).await
}

async fn backends_with(vars: &[(&str, &str)]) -> Backends {
    let redis = Redis::start();
    let dir = TempDir::new().expect("temp dir");
    let data_dir = dir.path().to_str().expect("utf-8").to_owned();
    let settings = Settings::from_lookup(|name| match name {
        "AUTH_MODE" => Some("none".into()),
        "DATA_DIR" => Some(data_dir.clone()),
        _ => vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()),
    })
    .expect("settings")
    .exports;
    let queues = vec![
        JobQueue::redis(&Secret::new(redis.url()), &settings).expect("redis queue"),
        JobQueue::sqlite(&settings).await.expect("sqlite queue"),
    ];
    Backends {
        queues,
        _redis: redis,
        _dir: dir,
    }
}

fn tenant() -> TenantId {
    TenantId::parse("acme").expect("tenant")
}

/// A one-row inline body of 67 bytes.
const BODY: &[u8] = br#"{"format":"csv","filename":"a.csv","columns":["a"],"rows":[["1"]]}"#;

fn request(tenant: &str, source: NewSource) -> NewExport {
    NewExport {
        tenant: TenantId::parse(tenant).expect("tenant"),
        format: ExportFormat::Csv,
        filename: "a.csv".into(),
        title: None,
        source,
        bom: false,
        neutralize_formulas: true,
        idempotency: None,
    }
}

fn inline() -> NewSource {
    NewSource::Inline {
        body: BODY.to_vec(),
        rows: 1,
    }
}

/// Submits a one-row inline job; returns it as a worker receives it.
async fn submit(queue: &JobQueue) -> ExportJob {
    let submitted = queue
        .client()
        .submit(request("acme", inline()))
        .await
        .expect("submitted");
    ExportJob {
        job_id: submitted.record.job_id,
        tenant: tenant(),
        format: ExportFormat::Csv,
        filename: "a.csv".into(),
        title: None,
        source: JobSource::Inline,
        bom: false,
        neutralize_formulas: true,
    }
}

async fn start(queue: &JobQueue, job_id: JobId) -> Attempt {
    match queue.lifecycle().start_attempt(job_id).await.expect("start") {
        StartOutcome::Run(attempt) => attempt,
        other => panic!("{} did not start: {other:?}", queue.kind()),
    }
}

/// A one-row inline job with its first attempt started, and the handles the
/// tests drive it through.
struct Started {
    kind: BackendKind,
    jobs: JobsLifecycle,
    job: ExportJob,
    first: Attempt,
}

/// Submits a one-row inline job and starts its first attempt.
async fn started(queue: &JobQueue) -> Started {
    let job = submit(queue).await;
    let first = start(queue, job.job_id).await;
    Started {
        kind: queue.kind(),
        jobs: queue.lifecycle(),
        job,
        first,
    }
}

async fn record(queue: &JobQueue, job_id: JobId) -> JobRecord {
    queue
        .client()
        .get(&tenant(), job_id)
        .await
        .expect("get")
        .expect("record")
}

async fn status(queue: &JobQueue, job_id: JobId) -> JobStatus {
    record(queue, job_id).await.status
}

fn error() -> JobError {
    JobError {
        code: "store_unavailable".into(),
        message: "the store could not be reached".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_attempts_only_the_later_moves_the_job() {
    for queue in &backends().await.queues {
        let Started { kind, jobs, job, first } = started(queue).await;
        assert_eq!((first.number, first.lost_workers), (1, 0), "{kind}");
        // A second delivery while the first still runs.
        let second = start(queue, job.job_id).await;
        assert_eq!((second.number, second.lost_workers), (2, 1), "{kind}");

        let superseded = Standing::Superseded;
        assert_eq!(jobs.progress(&first, 7).await.expect("progress"), superseded, "{kind}");
        assert_eq!(jobs.finish(&first, "k", 1).await.expect("finish"), superseded, "{kind}");
        assert_eq!(jobs.fail(&first, &error()).await.expect("fail"), superseded, "{kind}");
        let retry = jobs.retry_later(&first, &job, &error(), Duration::ZERO).await;
        assert_eq!(retry.expect("retry"), superseded, "{kind}");
        assert_eq!(jobs.release(&first).await.expect("release"), superseded, "{kind}");
        assert_eq!(status(queue, job.job_id).await, JobStatus::Running, "{kind}: untouched");

        assert_eq!(
            jobs.progress(&second, 1).await.expect("progress"),
            Standing::Current,
            "{kind}"
        );
        let finished = jobs.finish(&second, "acme/exports/x/a.csv", 1).await;
        assert_eq!(finished.expect("finish"), Standing::Current, "{kind}");
        let record = record(queue, job.job_id).await;
        assert_eq!(record.status, JobStatus::Done, "{kind}");
        assert_eq!(record.object_key.as_deref(), Some("acme/exports/x/a.csv"), "{kind}");
        // The first attempt learns that the job is done, and cannot touch it.
        let done = Standing::Ended(Some(JobStatus::Done));
        assert_eq!(jobs.finish(&first, "k", 1).await.expect("finish"), done, "{kind}");
        assert_eq!(
            jobs.start_attempt(job.job_id).await.expect("start"),
            StartOutcome::Skip(Some(JobStatus::Done)),
            "{kind}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_lost_workers_and_interruptions_are_counted_apart() {
    for queue in &backends().await.queues {
        let Started { kind, jobs, job, first } = started(queue).await;
        let retry = jobs.retry_later(&first, &job, &error(), Duration::ZERO).await;
        assert_eq!(retry.expect("retry"), Standing::Current, "{kind}");
        assert_eq!(status(queue, job.job_id).await, JobStatus::Queued, "{kind}");
        let second = start(queue, job.job_id).await;
        let counts = |a: &Attempt| (a.number, a.failures, a.lost_workers);
        assert_eq!(counts(&second), (2, 1, 0), "{kind}: one transient failure");
        // Interrupted (shutdown, queue outage): given back, not counted.
        assert_eq!(
            jobs.release(&second).await.expect("release"),
            Standing::Current,
            "{kind}"
        );
        assert_eq!(status(queue, job.job_id).await, JobStatus::Queued, "{kind}");
        let third = start(queue, job.job_id).await;
        assert_eq!(counts(&third), (2, 1, 0), "{kind}");
        // Its worker dies: the next attempt counts it.
        let fourth = start(queue, job.job_id).await;
        assert_eq!(counts(&fourth), (3, 1, 1), "{kind}");
        assert_eq!(
            jobs.fail(&fourth, &error()).await.expect("fail"),
            Standing::Current,
            "{kind}"
        );
        let record = record(queue, job.job_id).await;
        assert_eq!(record.status, JobStatus::Failed, "{kind}");
        assert_eq!(record.error, Some(error()), "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_ends_the_running_attempt() {
    for queue in &backends().await.queues {
        let Started {
            kind,
            jobs,
            job,
            first: attempt,
        } = started(queue).await;
        queue.client().cancel(&tenant(), job.job_id).await.expect("cancel");
        let cancelled = Standing::Ended(Some(JobStatus::Cancelled));
        assert_eq!(jobs.progress(&attempt, 1).await.expect("progress"), cancelled, "{kind}");
        assert_eq!(
            jobs.finish(&attempt, "k", 1).await.expect("finish"),
            cancelled,
            "{kind}"
        );
        assert_eq!(status(queue, job.job_id).await, JobStatus::Cancelled, "{kind}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_has_a_limit_on_queued_jobs_and_on_their_input() {
    // Two jobs, and the input of two one-row bodies (EXPORT_MAX_INLINE_BYTES may not exceed it).
    let bytes = (2 * BODY.len()).to_string();
    let limits = [
        ("EXPORT_MAX_QUEUED_JOBS", "2"),
        ("EXPORT_MAX_QUEUED_BYTES", bytes.as_str()),
        ("EXPORT_MAX_INLINE_BYTES", "100"),
    ];
    for queue in &backends_with(&limits).await.queues {
        let kind = queue.kind();
        let client = queue.client();
        let object = || NewSource::Object {
            key: "acme/uploads/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.csv".into(),
        };
        let first = client.submit(request("acme", inline())).await.expect("first");
        let second = client.submit(request("acme", object())).await.expect("second");
        let refused = client.submit(request("acme", object())).await;
        assert!(
            matches!(refused, Err(SubmitError::TooManyQueued(2))),
            "{kind}: {refused:?}"
        );
        // Another tenant has limits of its own.
        client
            .submit(request("globex", inline()))
            .await
            .expect("another tenant");

        // A job that ended frees its place; the input limit still counts bytes.
        let acme = tenant();
        let cancel = |id| client.cancel(&acme, id);
        cancel(second.record.job_id).await.expect("cancel");
        client.submit(request("acme", inline())).await.expect("a place again");
        cancel(first.record.job_id).await.expect("cancel");
        let oversized = NewSource::Inline {
            body: [BODY, b" "].concat(),
            rows: 1,
        };
        let refused = client.submit(request("acme", oversized)).await;
        assert!(
            matches!(refused, Err(SubmitError::QueuedInputTooLarge(limit)) if limit == 2 * BODY.len() as u64),
            "{kind}: {refused:?}"
        );
        client
            .submit(request("acme", inline()))
            .await
            .expect("exactly the limit");
    }
}
