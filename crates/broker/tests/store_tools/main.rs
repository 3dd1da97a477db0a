//! `upload-broker doctor` and `upload-broker migrate`, run as an operator
//! runs them: the real binary (`CARGO_BIN_EXE_upload-broker`) with its
//! configuration in the environment, or their library functions.
//!
//! The Garage tests start their own Garage through the testkit, whatever
//! `BROKER_TEST_STORE` says: they are about a bucket's settings (CORS, no
//! CORS) and about moving the embedded store into S3, so they need both
//! stores in every run of the suite.

mod doctor;
mod migrate;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use broker_testkit::garage::Garage;
use broker_testkit::{AUDIENCE, ISSUER, JWT_SECRET};

/// The browser origin the tools are configured for.
pub const ORIGIN: &str = "https://app.example";

/// A valid configuration around the store: authentication as the test apps
/// have it, the origin, and `DATA_DIR`.
pub fn base_vars(data_dir: &Path) -> BTreeMap<String, String> {
    [
        ("AUTH_HS256_SECRET", JWT_SECRET),
        ("AUTH_ISSUER", ISSUER),
        ("AUTH_AUDIENCE", AUDIENCE),
        ("ALLOWED_ORIGINS", ORIGIN),
        ("DEVSTORE_BIND_ADDR", "127.0.0.1:0"),
        ("DATA_DIR", data_dir.to_str().expect("utf-8 temp path")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// [`base_vars`] with `garage` as the configured S3 store.
pub fn garage_vars(garage: &Garage, data_dir: &Path) -> BTreeMap<String, String> {
    let mut vars = base_vars(data_dir);
    for (k, v) in garage.broker_vars() {
        vars.insert(k.to_owned(), v.to_owned());
    }
    vars
}

pub fn settings(vars: &BTreeMap<String, String>) -> broker_core::Settings {
    broker_core::Settings::from_lookup(|name| vars.get(name).cloned()).expect("valid settings")
}

/// Runs `upload-broker <args>` with exactly `vars` as its environment, in
/// `dir` (so no `.env` of the checkout is read).
pub async fn broker(vars: &BTreeMap<String, String>, dir: &Path, args: &[&str]) -> Output {
    let (vars, dir) = (vars.clone(), dir.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_upload-broker"))
            .args(&args)
            .env_clear()
            .envs(&vars)
            .current_dir(&dir)
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("the binary's task")
}

/// Stdout, with stderr too when the command said something there.
pub fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
