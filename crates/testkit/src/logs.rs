//! Every log line of every app in one test binary, as the broker would print
//! it, so tests can check what reaches the logs; `TEST_LOG=1` also prints them.

use std::sync::{Mutex, Once, PoisonError};

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Installs the capturing subscriber once per test binary.
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter(upload_broker::telemetry::DEFAULT_LOG_FILTER)
            .with_ansi(false)
            .with_writer(|| CapturedLogs)
            .init();
    });
}

struct CapturedLogs;

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        if std::env::var_os("TEST_LOG").is_some() {
            eprint!("{}", String::from_utf8_lossy(bytes));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything logged so far by every app in this test binary.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}
