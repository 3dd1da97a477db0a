//! `upload-broker`: the one binary that wires the crates together.
//!
//! ```text
//! upload-broker serve      the API; starts the embedded store when S3_ENABLED is not true
//! upload-broker worker     consumes export jobs from Redis (scale by running more)
//! upload-broker cleanup    deletes staging objects older than TTL + grace
//! ```

use std::process::ExitCode;

use broker_api::Application;
use broker_core::Settings;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "usage: upload-broker [serve | worker | cleanup]

  serve     run the HTTP API (default); with S3_ENABLED unset it also runs the
            embedded S3-compatible store
  worker    consume export jobs from Redis (REDIS_URL); run as many as you
            like, on any host; SIGTERM drains running jobs gracefully
  cleanup   delete staging objects older than S3_PRESIGN_TTL + CLEANUP_GRACE
            seconds (default 3600), for stores without lifecycle rules

Configuration comes from the environment and .env; see .env.example.";

/// Library noise that could print request URLs (and so presigned signatures) stays at warn.
const DEFAULT_LOG_FILTER: &str = "info,s3s=warn,s3s_fs=warn,aws_config=warn,aws_smithy_runtime=warn,hyper=warn";

fn main() -> ExitCode {
    let command = std::env::args().nth(1);
    match command.as_deref() {
        None | Some("serve") => run(serve),
        Some("cleanup") => run(cleanup),
        Some("worker") => run(worker),
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
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER)))
        .init();
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
    let app = Application::build(settings).await.map_err(|e| e.to_string())?;
    app.run_until_stopped().await.map_err(|e| e.to_string())
}

/// `upload-broker worker`: export jobs from Redis until SIGTERM/SIGINT, then drain.
async fn worker(settings: Settings) -> Result<(), String> {
    let Some(url) = &settings.redis_url else {
        return Err("upload-broker worker consumes export jobs from Redis: set REDIS_URL \
                    (without it, `upload-broker serve` runs exports in-process)"
            .into());
    };
    let exports = broker_worker::Exports::redis(url, &settings.exports).map_err(|e| e.to_string())?;
    let store = broker_worker::run::worker_store(&settings).await?;
    broker_worker::run::run_workers(exports, store, shutdown_signal()).await;
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        _ = terminate => tracing::info!("SIGTERM received"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
    }
}

async fn cleanup(settings: Settings) -> Result<(), String> {
    let grace: u64 = match std::env::var("CLEANUP_GRACE") {
        Ok(raw) => raw
            .trim()
            .parse()
            .map_err(|_| format!("CLEANUP_GRACE must be a whole number of seconds (got {raw:?})"))?,
        Err(_) => 3600,
    };
    let cutoff = std::time::SystemTime::now() - settings.store.presign_ttl - std::time::Duration::from_secs(grace);
    let (store, devstore) = broker_api::startup::connect(&settings)
        .await
        .map_err(|e| e.to_string())?;
    let report = broker_core::cleanup::remove_stale_staging(&store, cutoff)
        .await
        .map_err(|e| e.to_string());
    if let Some(devstore) = devstore {
        devstore.shutdown().await;
    }
    let report = report?;
    tracing::info!(deleted = report.deleted, kept = report.kept, "staging cleanup finished");
    println!("deleted {} stale staging objects, kept {}", report.deleted, report.kept);
    Ok(())
}
