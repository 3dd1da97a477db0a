//! The export soak: infrastructure faults must never fail or lose a job.
//!
//! Each cycle queues a batch of jobs for two `upload-broker worker` processes
//! sharing one redis-server with an append-only file (mostly CSV and PDF
//! exports of a verified 100,000-row CSV upload, a few seconds of work each,
//! and some small inline ones), then, while they run: SIGKILLs a worker (and
//! starts a replacement), restarts Redis, SIGKILLs a worker again. Each fault
//! waits for a job that the one before struck to run again, and the second
//! kill takes the worker running it, so one job meets all three faults: the
//! worst case of the load test that found a job `failed` after them. Every
//! job must end `done`, with exactly one object under its prefix. A job that
//! ends otherwise is reported with its status and error and what the workers
//! logged about it; one that has not ended when the cycle's deadline passes is
//! reported as lost. The process exits non-zero if any job failed or was lost.
//!
//! `cargo bench -p upload-broker --bench export_soak -- --cycles 20 [--jobs 60]`
//! (`BROKER_BIN` names another `upload-broker` binary for the workers, for
//! example a copy, so that a build during the run cannot replace it).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use broker_testkit::{Stack, signal};

const BINARY: &str = env!("CARGO_BIN_EXE_upload-broker");

/// How long the jobs of one cycle may take after the last fault.
const CYCLE_DEADLINE: Duration = Duration::from_secs(240);

struct Options {
    cycles: usize,
    jobs: usize,
}

fn options() -> Options {
    let mut options = Options { cycles: 20, jobs: 60 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} takes a number"))
        };
        match arg.as_str() {
            "--cycles" => options.cycles = value("--cycles"),
            "--jobs" => options.jobs = value("--jobs"),
            // `cargo bench` passes `--bench`; other flags are not ours.
            _ => {}
        }
    }
    options
}

/// The verified upload most jobs export.
const SOURCE: &str = "default/uploads/2026/01/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.csv";
const SOURCE_ROWS: usize = 100_000;

/// Job `n` of a cycle: a PDF (a few seconds) or a CSV of the source, or a small inline CSV.
fn job(n: usize) -> Value {
    match n % 3 {
        0 => json!({"format": "pdf", "filename": "soak.pdf", "title": "Soak", "source": SOURCE}),
        1 => json!({"format": "csv", "filename": "soak.csv", "source": SOURCE}),
        _ => {
            let rows: Vec<Value> = (0..2_000).map(|r| json!([r, format!("value {r}"), n])).collect();
            json!({"format": "csv", "filename": "soak.csv", "columns": ["n", "value", "job"], "rows": rows})
        }
    }
}

async fn put_source(stack: &Stack) {
    let mut csv = String::from("n,label,text\n");
    for n in 0..SOURCE_ROWS {
        csv.push_str(&format!("{n},label {n},lorem ipsum dolor sit amet\n"));
    }
    stack
        .app
        .put_object(SOURCE, csv.as_bytes(), "text/csv", "soak.csv")
        .await;
}

/// What happened to the jobs of one cycle.
#[derive(Default)]
struct Tally {
    done: usize,
    /// Job ids with what was wrong.
    failed: Vec<(String, String)>,
    lost: Vec<(String, String)>,
    /// Jobs by the number of attempts they took.
    attempts: BTreeMap<u64, usize>,
}

#[derive(Clone, Copy, PartialEq)]
enum Fault {
    Kill,
    RestartRedis,
}

/// How long a fault waits for a job struck before to run again.
const RERUN_WAIT: Duration = Duration::from_secs(20);

/// What a worker logs when an attempt of a job ends, in any way.
const ATTEMPT_ENDS: [&str; 8] = [
    "could not give",
    "export done",
    "export failed",
    "export interrupted",
    "export cancelled",
    "export finished",
    "took the job over",
    "retrying",
];

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let ok = runtime.block_on(soak(options));
    std::process::exit(if ok { 0 } else { 1 });
}

async fn soak(options: Options) -> bool {
    let binary = std::env::var_os("BROKER_BIN").map_or_else(|| PathBuf::from(BINARY), PathBuf::from);
    let mut stack = Stack::start(&binary).await;
    put_source(&stack).await;
    let mut workers = [stack.start_worker(&[]), stack.start_worker(&[])];
    let mut total = Tally::default();
    let started = Instant::now();
    println!(
        "export soak: {} cycles of {} jobs; each cycle SIGKILLs a worker, restarts Redis, \
         SIGKILLs the worker running a job struck before",
        options.cycles, options.jobs
    );
    for cycle in 1..=options.cycles {
        let cycle_started = Instant::now();
        let mut jobs = Vec::with_capacity(options.jobs);
        for n in 0..options.jobs {
            jobs.push(stack.submit(&job(n)).await);
        }
        let queued = cycle_started.elapsed();
        // Jobs the last fault struck, faults that struck running jobs, and
        // those among them that struck a job struck before.
        let (mut struck, mut hits, mut chained) = (Vec::new(), 0, 0);
        for fault in [Fault::Kill, Fault::RestartRedis, Fault::Kill] {
            let (target, chain) = match wait_for_rerun(&stack, workers, &struck).await {
                Some(job) => (Some(job), true),
                None => (wait_for_running(&stack, &jobs).await, false),
            };
            chained += usize::from(chain);
            tokio::time::sleep(Duration::from_millis(300)).await;
            match fault {
                Fault::Kill => {
                    let slot = target
                        .and_then(|job| (0..2).find(|&slot| runs(&stack, workers[slot], &job)))
                        .unwrap_or(0);
                    struck = jobs
                        .iter()
                        .filter(|job| runs(&stack, workers[slot], job))
                        .map(|job| (job.clone(), starts(&stack, job)))
                        .collect();
                    let worker = &mut stack.workers[workers[slot]];
                    signal(&worker.child, "KILL");
                    let _ = worker.child.wait();
                    workers[slot] = stack.start_worker(&[]);
                }
                Fault::RestartRedis => {
                    // Followed by the job struck before, if it runs again; otherwise by all that run.
                    let candidates = match (&target, chain) {
                        (Some(job), true) => vec![job.clone()],
                        _ => running(&stack, &jobs).await,
                    };
                    struck = candidates
                        .into_iter()
                        .map(|job| {
                            let started = starts(&stack, &job);
                            (job, started)
                        })
                        .collect();
                    stack.redis.down();
                    tokio::time::sleep(Duration::from_millis(1_500)).await;
                    stack.redis.up();
                }
            }
            hits += usize::from(!struck.is_empty());
        }
        let faults_over = cycle_started.elapsed();
        let tally = settle(&stack, &jobs).await;
        println!(
            "cycle {cycle:>3}: {} jobs, {} done, {} failed, {} lost; jobs by attempts {:?}; \
             queued in {:.1} s; {hits}/3 faults struck running jobs, {chained} of them a job struck before, \
             by {:.1} s; all ended by {:.1} s",
            jobs.len(),
            tally.done,
            tally.failed.len(),
            tally.lost.len(),
            tally.attempts,
            queued.as_secs_f64(),
            faults_over.as_secs_f64(),
            cycle_started.elapsed().as_secs_f64()
        );
        for (job_id, line) in tally.failed.iter().chain(&tally.lost) {
            println!("    {job_id}: {line}");
            // What the workers said about it, to tell which path ended it.
            for index in 0..stack.workers.len() {
                for log in stack.worker_log(index).lines().filter(|l| l.contains(job_id.as_str())) {
                    println!("      worker {index}: {log}");
                }
            }
        }
        total.done += tally.done;
        total.failed.extend(tally.failed);
        total.lost.extend(tally.lost);
        for (attempts, count) in tally.attempts {
            *total.attempts.entry(attempts).or_default() += count;
        }
    }
    let jobs = options.cycles * options.jobs;
    println!(
        "total: {} cycles, {jobs} jobs, {} done, {} failed, {} lost; jobs by attempts {:?}; {:.0} s",
        options.cycles,
        total.done,
        total.failed.len(),
        total.lost.len(),
        total.attempts,
        started.elapsed().as_secs_f64()
    );
    total.failed.is_empty() && total.lost.is_empty()
}

/// A job's status, or `None` while the API cannot read it (Redis restarting).
async fn status(stack: &Stack, job_id: &str) -> Option<Value> {
    let response = stack.app.job(job_id).await;
    if response.status() != 200 {
        return None;
    }
    response.json().await.ok()
}

/// Waits (up to [`RERUN_WAIT`]) until one of `jobs` is running; returns it.
async fn wait_for_running(stack: &Stack, jobs: &[String]) -> Option<String> {
    let started = Instant::now();
    while started.elapsed() < RERUN_WAIT {
        if let Some(job) = running(stack, jobs).await.pop() {
            return Some(job);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Waits (up to [`RERUN_WAIT`]) until one of the `struck` jobs (with the
/// attempts it had started when it was struck) runs a new attempt on one of
/// `workers`; returns it.
async fn wait_for_rerun(stack: &Stack, workers: [usize; 2], struck: &[(String, usize)]) -> Option<String> {
    let started = Instant::now();
    while !struck.is_empty() && started.elapsed() < RERUN_WAIT {
        for (job, before) in struck {
            if starts(stack, job) > *before && workers.iter().any(|&worker| runs(stack, worker, job)) {
                return Some(job.clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// How many attempts of `job_id` the workers have started, from their logs.
fn starts(stack: &Stack, job_id: &str) -> usize {
    (0..stack.workers.len())
        .map(|index| {
            stack
                .worker_log(index)
                .lines()
                .filter(|l| l.contains(job_id) && l.contains("export started"))
                .count()
        })
        .sum()
}

/// The jobs among `jobs` that are running now.
async fn running(stack: &Stack, jobs: &[String]) -> Vec<String> {
    let mut running = Vec::new();
    for job_id in jobs {
        if let Some(job) = status(stack, job_id).await
            && job["status"] == "running"
        {
            running.push(job_id.clone());
        }
    }
    running
}

/// Whether worker `index` runs an attempt of `job_id`, from its log: it
/// started one and has not logged its end.
fn runs(stack: &Stack, index: usize, job_id: &str) -> bool {
    let log = stack.worker_log(index);
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(job_id)).collect();
    let last_start = lines.iter().rposition(|l| l.contains("export started"));
    let last_end = lines
        .iter()
        .rposition(|l| ATTEMPT_ENDS.iter().any(|end| l.contains(end)));
    match (last_start, last_end) {
        (Some(start), Some(end)) => start > end,
        (Some(_), None) => true,
        _ => false,
    }
}

/// Waits until every job has ended (or the deadline passed) and checks each.
async fn settle(stack: &Stack, jobs: &[String]) -> Tally {
    let mut tally = Tally::default();
    let deadline = Instant::now() + CYCLE_DEADLINE;
    let mut pending: Vec<&String> = jobs.iter().collect();
    while !pending.is_empty() && Instant::now() < deadline {
        let mut still = Vec::new();
        for job_id in pending {
            match status(stack, job_id).await {
                Some(job) if job["status"] == "done" => {
                    let objects = stack.app.keys_under(&format!("default/exports/{job_id}/")).await;
                    if objects.len() == 1 {
                        tally.done += 1;
                    } else {
                        tally
                            .lost
                            .push((job_id.clone(), format!("done with {} objects: {job}", objects.len())));
                    }
                    *tally.attempts.entry(job["attempts"].as_u64().unwrap_or(0)).or_default() += 1;
                }
                Some(job) if job["status"] == "failed" || job["status"] == "cancelled" => {
                    tally.failed.push((job_id.clone(), job.to_string()));
                    *tally.attempts.entry(job["attempts"].as_u64().unwrap_or(0)).or_default() += 1;
                }
                _ => still.push(job_id),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    for job_id in pending {
        let last = status(stack, job_id).await.unwrap_or(Value::Null);
        tally.lost.push((job_id.clone(), format!("not finished: {last}")));
    }
    tally
}
