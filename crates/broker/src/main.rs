//! `upload-broker`: parses the subcommand, reads the configuration, and hands
//! over to the composition root in the library.
//!
//! ```text
//! upload-broker serve      the API; starts the embedded store when S3_ENABLED is not true
//! upload-broker worker     consumes export jobs from Redis (scale by running more)
//! upload-broker cleanup    deletes staging objects older than TTL + grace
//! upload-broker doctor     checks the configured bucket (--json for a machine)
//! upload-broker migrate    copies DATA_DIR's embedded store into the S3 bucket (--dry-run)
//! ```

use std::process::ExitCode;

use broker_core::Settings;
use upload_broker::{Shutdown, System, cleanup, doctor, migrate, telemetry, worker};

const USAGE: &str =
    "usage: upload-broker [serve | worker | cleanup | doctor [--json] | migrate [--dry-run] [--source-bucket NAME]]

  serve     run the HTTP API (default); with S3_ENABLED unset it also runs the
            embedded S3-compatible store
  worker    consume export jobs from Redis (REDIS_URL); run as many as you
            like, on any host; SIGTERM drains running jobs gracefully
  cleanup   delete staging objects older than S3_PRESIGN_TTL + CLEANUP_GRACE
            seconds (default 3600), for stores without lifecycle rules
  doctor    check the configured bucket: credentials, a real upload round
            trip, CORS, public access, lifecycle, encryption, versioning,
            clock skew, URL lifetime; pass/warn/fail as a table, or --json;
            exits 1 when a check fails
  migrate   copy the embedded store's objects (DATA_DIR, bucket `uploads` or
            --source-bucket) into the S3 bucket configured with S3_ENABLED;
            --dry-run lists what would be copied; a second run skips what is
            already there; exits 1 when an object could not be copied

Configuration comes from the environment and .env; see .env.example.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flags: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") => run(serve),
        Some("cleanup") => run(cleanup),
        Some("worker") => run(work),
        Some("doctor") => match flags.as_slice() {
            [] => report(|settings| diagnose(settings, false)),
            ["--json"] => report(|settings| diagnose(settings, true)),
            _ => usage_error(&args),
        },
        Some("migrate") => match migrate::Options::parse(&flags) {
            Ok(options) => report(|settings| copy(settings, options)),
            Err(e) => {
                eprintln!("{e}\n\n{USAGE}");
                ExitCode::from(2)
            }
        },
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(_) => usage_error(&args),
    }
}

fn usage_error(args: &[String]) -> ExitCode {
    eprintln!("unknown command {:?}\n\n{USAGE}", args.join(" "));
    ExitCode::from(2)
}

fn run<F: Future<Output = Result<(), String>>>(command: impl FnOnce(Settings) -> F) -> ExitCode {
    execute(true, command)
}

/// A command whose output is its report on stdout (a table or JSON), so no
/// log lines are mixed into it: `Ok(false)` is a report of failures (exit 1).
fn report<F: Future<Output = Result<bool, String>>>(command: impl FnOnce(Settings) -> F) -> ExitCode {
    execute(false, |settings| async move {
        match command(settings).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(String::new()),
            Err(e) => Err(e),
        }
    })
}

/// Reads the configuration first (it says how to log: `LOG_FORMAT`), then
/// starts logging when `logs`, then runs `command` on a runtime.
fn execute<F: Future<Output = Result<(), String>>>(logs: bool, command: impl FnOnce(Settings) -> F) -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // Held to the end: queued log lines are written before exit.
    let _log_writer = logs.then(|| telemetry::init(settings.telemetry.log_format));
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("{e}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn serve(settings: Settings) -> Result<(), String> {
    let system = System::build(settings).await.map_err(|e| e.to_string())?;
    system.run(Shutdown::on_signals()).await.map_err(|e| e.to_string())
}

async fn work(settings: Settings) -> Result<(), String> {
    worker::run(settings, Shutdown::on_signals()).await
}

async fn cleanup(settings: Settings) -> Result<(), String> {
    let report = cleanup::run(settings).await?;
    println!(
        "deleted {} stale staging objects, kept {}, aborted {} abandoned multipart uploads",
        report.deleted, report.kept, report.aborted
    );
    Ok(())
}

async fn diagnose(settings: Settings, json: bool) -> Result<bool, String> {
    let report = doctor::run(&settings).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    } else {
        println!("{}", report.table());
    }
    Ok(report.ok)
}

async fn copy(settings: Settings, options: migrate::Options) -> Result<bool, String> {
    let report = migrate::run(&settings, &options, |line| println!("{line}")).await?;
    println!("{}", report.summary(options.dry_run));
    Ok(report.failed.is_empty())
}
