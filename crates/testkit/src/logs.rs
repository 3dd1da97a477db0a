//! Every log line of every app in one test binary, as the broker would print
//! it, in both formats at once (`LOG_FORMAT=human` and `json`, through the
//! broker's own formatting layers), so tests can check what reaches the logs
//! in either; `TEST_LOG=1` also prints the human lines.

use std::sync::{Mutex, Once, PoisonError};

use broker_core::config::LogFormat;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use upload_broker::telemetry::{DEFAULT_LOG_FILTER, layer};

static HUMAN: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static JSON: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Installs the capturing subscriber once per test binary.
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing_subscriber::registry()
            .with(EnvFilter::new(DEFAULT_LOG_FILTER))
            .with(layer(LogFormat::Human, || CapturedLogs(LogFormat::Human), false))
            .with(layer(LogFormat::Json, || CapturedLogs(LogFormat::Json), false))
            .init();
    });
}

struct CapturedLogs(LogFormat);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let buffer = match self.0 {
            LogFormat::Human => &HUMAN,
            LogFormat::Json => &JSON,
        };
        buffer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(bytes);
        if self.0 == LogFormat::Human && std::env::var_os("TEST_LOG").is_some() {
            eprint!("{}", String::from_utf8_lossy(bytes));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn captured(buffer: &Mutex<Vec<u8>>) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

/// Everything logged so far by every app in this test binary, in the human format.
pub fn captured_logs() -> String {
    captured(&HUMAN)
}

/// The same lines in the JSON format (`LOG_FORMAT=json`), one object per line.
pub fn captured_json_logs() -> String {
    captured(&JSON)
}
