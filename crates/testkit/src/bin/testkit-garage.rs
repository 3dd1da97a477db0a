//! `testkit-garage`: a throwaway single-node Garage for tests not written in Rust (the
//! browser tests in `e2e/`).
//!
//! ```text
//! testkit-garage [ORIGIN]...
//! ```
//!
//! Starts a [`Garage`] (a temp dir, one bucket, one key that owns it), gives the bucket a
//! CORS rule for the ORIGINs (`http://127.0.0.1:5173`, …; none: no CORS rule), prints one
//! JSON line on stdout:
//!
//! ```text
//! {"endpoint":"http://127.0.0.1:…","region":"garage","bucket":"uploads","accessKey":"GK…","secretKey":"…"}
//! ```
//!
//! and keeps Garage running until stdin closes (so it also stops when the parent dies and
//! its end of the pipe goes away), or SIGTERM or SIGINT arrives; then it stops Garage and
//! removes the directory. Diagnostics go to stderr. The garage binary is found as
//! [`Garage::start`] finds it: `GARAGE_BIN`, else the cache path `scripts/garage.sh`
//! installs to. If Garage cannot start, this exits non-zero with the reason on stderr.

use std::io::{Read as _, Write as _};
use std::process::ExitCode;

use broker_testkit::garage::Garage;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

const USAGE: &str = "usage: testkit-garage [ORIGIN]...\n\
    Starts a single-node Garage with one bucket and key, allows ORIGINs by CORS, prints\n\
    {\"endpoint\",\"region\",\"bucket\",\"accessKey\",\"secretKey\"} as one JSON line, and runs\n\
    until stdin closes or SIGTERM/SIGINT arrives.";

#[tokio::main]
async fn main() -> ExitCode {
    let origins: Vec<String> = std::env::args().skip(1).collect();
    if origins.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if let Some(bad) = origins
        .iter()
        .find(|o| !(o.starts_with("http://") || o.starts_with("https://")) || o.ends_with('/'))
    {
        eprintln!("testkit-garage: {bad:?} is not an origin (scheme://host[:port], no path)\n{USAGE}");
        return ExitCode::from(2);
    }

    // Listen before starting, so a SIGTERM during start-up is seen afterwards and cleans up
    // instead of killing this process and leaving Garage behind.
    let (mut terminate, mut interrupt) = match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(t), Ok(i)) => (t, i),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("testkit-garage: cannot listen for signals: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin_closed = watch_stdin();

    let garage = Garage::start().await;
    if !origins.is_empty() {
        let origins: Vec<&str> = origins.iter().map(String::as_str).collect();
        garage.set_cors(&origins).await;
    }

    let facts = serde_json::json!({
        "endpoint": garage.endpoint(),
        "region": garage.region(),
        "bucket": garage.bucket(),
        "accessKey": garage.access_key(),
        "secretKey": garage.secret_key(),
    });
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "{facts}").and_then(|()| stdout.flush()).is_err() {
        eprintln!("testkit-garage: stdout is closed; stopping Garage");
        return ExitCode::FAILURE;
    }
    drop(stdout);
    eprintln!(
        "testkit-garage: Garage at {} (bucket {}, dir {}, log {})",
        garage.endpoint(),
        garage.bucket(),
        garage.dir().display(),
        garage.log_path().display()
    );

    let why = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
        _ = stdin_closed => "stdin closed",
    };
    eprintln!("testkit-garage: {why}; stopping Garage");
    drop(garage);
    ExitCode::SUCCESS
}

/// Resolves once stdin reaches end of file (or fails). A plain thread reads it: a blocked
/// read on tokio's stdin would hold up the runtime's shutdown.
fn watch_stdin() -> oneshot::Receiver<()> {
    let (closed, receiver) = oneshot::channel();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buffer = [0u8; 1024];
        while matches!(stdin.read(&mut buffer), Ok(n) if n > 0) {}
        let _ = closed.send(());
    });
    receiver
}
