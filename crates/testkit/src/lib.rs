//! The one test harness of the upload broker.
//!
//! Every integration test and bench starts the system the way `upload-broker
//! serve` does ([`upload_broker::System`]), on port 0, and talks HTTP exactly
//! as a browser and a frontend would:
//!
//! * [`app`]: [`spawn_app`] and friends: a store (embedded in a temp dir, or
//!   Garage when `BROKER_TEST_STORE=garage`), an optional real redis-server,
//!   the API, and the in-process worker when there is no Redis; returns the
//!   address, a store client, the endpoint and the jobs client;
//! * [`garage`]: a throwaway single-node Garage;
//! * [`redis`]: a real `redis-server` on a free loopback port;
//! * [`workers`]: a [`Stack`] of an app, Redis and `upload-broker worker` processes;
//! * [`http`]: sessions under one credential (sign, upload through the
//!   store's form POST, complete, download), form POSTs to the store, and
//!   the error shapes of the API and of S3;
//! * [`tokens`]: JWTs for the test issuer;
//! * [`logs`]: every log line the apps of a test binary wrote, in both formats.
//!
//! Nothing here skips: a missing tool makes the test fail with its name.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

pub mod app;
pub mod garage;
pub mod http;
pub mod logs;
pub mod redis;
pub mod tokens;
pub mod workers;

pub use app::{
    ACCESS_KEY, SECRET_KEY, TestApp, TestStore, closed_endpoint, spawn_app, spawn_app_with, spawn_app_with_store_down,
    store_vars_for,
};
pub use http::{
    Session, Signed, assert_error, error_code, post_form, removed, retry_after, s3_error_code, strings, try_post_form,
};
pub use logs::{captured_json_logs, captured_logs};
pub use redis::Redis;
pub use tokens::{
    AUDIENCE, DEFAULT_SUBJECT, DEFAULT_TENANT, ISSUER, JWT_SECRET, claims, hs256, jwt, member_token, now, principal,
    token, user_prefix,
};
pub use workers::{LONG, Stack, signal};

/// Runs a PDF tool (`qpdf`, `pdftotext`) on `pdf`, with `{}` in `args`
/// standing for the file; returns its stdout, failing the test if it fails.
pub fn pdf_tool(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    use std::io::Write as _;
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(pdf).expect("write");
    let path = file.path().to_str().expect("utf-8 path").to_owned();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{}" { path.as_str() } else { a })
        .collect();
    let output = std::process::Command::new(tool)
        .args(&args)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} could not run ({e}); install the PDF test tools: apt-get install -y qpdf poppler-utils")
        });
    assert!(
        output.status.success(),
        "{tool} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The rows of a CSV file (no header row taken), as the csv crate reads
/// them: the judge of every CSV the exports write.
pub fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.expect("valid CSV").iter().map(str::to_owned).collect())
        .collect()
}

/// A free loopback port (for a server the test starts itself).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free loopback port")
}
