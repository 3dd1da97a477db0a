//! `upload-broker`: parses the subcommand, reads the configuration, and hands
//! over to the composition root in the library.
//!
//! ```text
//! upload-broker serve      the API; starts the embedded store when S3_ENABLED is not true
//! upload-broker worker     consumes export jobs from Redis (scale by running more)
//! upload-broker cleanup    deletes staging objects older than TTL + grace
//! ```

use std::process::ExitCode;

use broker_core::Settings;
use upload_broker::{Shutdown, System, cleanup, telemetry, worker};

const USAGE: &str = "usage: upload-broker [serve | worker | cleanup]

  serve     run the HTTP API (default); with S3_ENABLED unset it also runs the
            embedded S3-compatible store
  worker    consume export jobs from Redis (REDIS_URL); run as many as you
            like, on any host; SIGTERM drains running jobs gracefully
  cleanup   delete staging objects older than S3_PRESIGN_TTL + CLEANUP_GRACE
            seconds (default 3600), for stores without lifecycle rules

Configuration comes from the environment and .env; see .env.example.";

fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    match command.as_deref() {
        None | Some("serve") => run(serve),
        Some("cleanup") => run(cleanup),
        Some("worker") => run(work),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run<F: Future<Output = Result<(), String>>>(command: impl FnOnce(Settings) -> F) -> ExitCode {
    // Held to the end of `run`: queued log lines are written before exit.
    let _log_writer = telemetry::init();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
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
            eprintln!("{e}");
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
    println!("deleted {} stale staging objects, kept {}", report.deleted, report.kept);
    Ok(())
}
