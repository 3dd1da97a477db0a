//! Logging for every subcommand: `LOG_FORMAT=human` (default) or `json`.
//!
//! The JSON format writes one object per line: `timestamp`, `level`,
//! `target`, `message`, the event's own fields, and the fields of every span
//! the event happened in, flattened (an inner span's field, then the event's,
//! wins over an outer one's). Inside a request that puts `request_id`,
//! `method`, `route`, `tenant` and `subject` (see `broker_api::request`) on
//! every line, audit lines included. Field values are JSON strings, escaped by
//! the serializer: a value cannot end a line or start another object.

use std::fmt;
use std::io::IsTerminal as _;

use broker_core::config::LogFormat;
use serde_json::{Map, Value};
use tracing::{Event, Subscriber};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields, MakeWriter};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer};

/// The log filter's variable, read here rather than by the typed configuration
/// because logging starts before it; the deploy files' test counts it as known.
pub const LOG_FILTER_VAR: &str = "RUST_LOG";

/// Library noise that could print request URLs (and so presigned signatures) stays at warn.
pub const DEFAULT_LOG_FILTER: &str = "info,s3s=warn,s3s_fs=warn,aws_config=warn,aws_smithy_runtime=warn,hyper=warn";

/// Logs to stdout in `format`, filtered by [`LOG_FILTER_VAR`] (default [`DEFAULT_LOG_FILTER`]).
///
/// Lines are written by a thread of their own: a request formats its lines
/// and hands them over instead of waiting on the stdout lock and a `write`
/// per line (issue 15: the audit line of every authenticated request). No line
/// is dropped: when the hand-over queue is full, the request waits. Keep the
/// returned guard until exit; dropping it writes what is still queued.
pub fn init(format: LogFormat) -> WorkerGuard {
    let filter = EnvFilter::try_from_env(LOG_FILTER_VAR).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let colours = std::io::stdout().is_terminal();
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("log-writer")
        .finish(std::io::stdout());
    tracing_subscriber::registry()
        .with(filter)
        .with(layer(format, writer, colours))
        .init();
    guard
}

/// The formatting layer of `format`, writing to `writer` (the test harness
/// captures both formats through this).
pub fn layer<S, W>(format: LogFormat, writer: W, colours: bool) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_ansi(colours)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .with_writer(writer)
            .boxed(),
    }
}

/// One flat JSON object per event (see the module docs).
struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut line = Map::new();
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), metadata.level().as_str().into());
        line.insert("target".into(), metadata.target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                if let Some(fields) = span.extensions().get::<FormattedFields<JsonFields>>() {
                    merge(&mut line, &fields.fields);
                }
            }
        }
        let mut fields = String::new();
        ctx.format_fields(Writer::new(&mut fields), event)?;
        merge(&mut line, &fields);
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Adds the fields of a JSON object (as [`JsonFields`] writes them) to `line`.
fn merge(line: &mut Map<String, Value>, fields: &str) {
    if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
        line.extend(fields);
    }
}
