//! Logging for every subcommand: `LOG_FORMAT=human` (default) or `json`.
//!
//! The JSON format writes one object per line: `timestamp`, `level`,
//! `target`, `message`, the event's own fields, and the fields of every span
//! the event happened in, flattened (an inner span's field, then the event's,
//! wins over an outer one's). Inside a request that puts `request_id`,
//! `method`, `route`, `tenant` and `subject` (see `broker_api::request`) on
//! every line, audit lines included. Field values are JSON strings, escaped by
//! the serializer: a value cannot end a line or start another object.
//!
//! Lines are written to stdout in batches (see [`Batched`]).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal as _, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use broker_core::config::LogFormat;
use serde::Serialize;
use serde_json::value::RawValue;
use tracing::span::Record;
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
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

/// The longest a line waits in memory before it is written.
pub const FLUSH_EVERY: Duration = Duration::from_millis(20);

/// Pending lines past this size are written at once, by the request that
/// added the last one: memory stays bounded and no line is dropped.
const BATCH_MAX: usize = 256 * 1024;

/// Logs to stdout in `format`, filtered by [`LOG_FILTER_VAR`] (default [`DEFAULT_LOG_FILTER`]).
/// Keep the returned guard until exit; dropping it writes what is still pending.
pub fn init(format: LogFormat) -> LogWriter {
    let filter = EnvFilter::try_from_env(LOG_FILTER_VAR).unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let colours = std::io::stdout().is_terminal();
    let (writer, guard) = Batched::start(std::io::stdout());
    tracing_subscriber::registry()
        .with(filter)
        .with(layer(format, writer, colours))
        .init();
    guard
}

/// Log lines appended to a buffer in memory and written to `W` by a thread of
/// their own, every [`FLUSH_EVERY`], in one `write` per batch (issue 15: the
/// audit line of every authenticated request). A request pays for a copy
/// under an uncontended lock: no system call, no allocation per line, no
/// thread to wake. Lines keep their order, and none is dropped: a batch
/// reaching [`BATCH_MAX`] is written by the request that filled it.
pub struct Batched<W: Write + Send + 'static>(Arc<Batch<W>>);

struct Batch<W> {
    pending: Mutex<Vec<u8>>,
    /// Held while a batch is written, taken before `pending` is emptied, so
    /// batches are written in the order they were taken.
    out: Mutex<Out<W>>,
    /// Whether the writing thread runs; otherwise each line is written as it comes.
    batching: AtomicBool,
    stopping: Mutex<bool>,
    stop: Condvar,
}

/// Stops the writing thread when dropped, after it has written every
/// pending line; lines logged later are written as they come.
/// The writer, and the buffer of the batch being written: the two buffers
/// swap places, so neither is reallocated (and freed) per batch.
struct Out<W> {
    writer: W,
    batch: Vec<u8>,
}

pub struct LogWriter {
    batch: Arc<dyn Drain>,
    thread: Option<JoinHandle<()>>,
}

trait Drain: Send + Sync {
    fn stop(&self);
    fn finish(&self);
}

impl<W: Write + Send + 'static> Batched<W> {
    /// The writer for the formatting layer and the guard of its thread.
    pub fn start(out: W) -> (Self, LogWriter) {
        let batch = Arc::new(Batch {
            pending: Mutex::new(Vec::new()),
            out: Mutex::new(Out {
                writer: out,
                batch: Vec::new(),
            }),
            batching: AtomicBool::new(false),
            stopping: Mutex::new(false),
            stop: Condvar::new(),
        });
        let writing = Arc::clone(&batch);
        // No thread to spare: every line is written as it comes.
        let thread = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || writing.run())
            .ok();
        batch.batching.store(thread.is_some(), Ordering::Release);
        let guard = LogWriter {
            batch: Arc::clone(&batch) as Arc<dyn Drain>,
            thread,
        };
        (Batched(batch), guard)
    }
}

impl<W: Write> Batch<W> {
    fn run(&self) {
        loop {
            let stopping = {
                let stopping = lock(&self.stopping);
                let (stopping, _) = self
                    .stop
                    .wait_timeout_while(stopping, FLUSH_EVERY, |stopping| !*stopping)
                    .unwrap_or_else(PoisonError::into_inner);
                *stopping
            };
            self.write_out();
            if stopping {
                return;
            }
        }
    }

    /// Writes every pending line. A write error has nowhere to be reported;
    /// the lines are lost, as with a direct write.
    fn write_out(&self) {
        let mut out = lock(&self.out);
        let Out { writer, batch } = &mut *out;
        std::mem::swap(&mut *lock(&self.pending), batch);
        if !batch.is_empty() {
            let _ = writer.write_all(batch).and_then(|()| writer.flush());
            batch.clear();
        }
    }

    fn push(&self, line: &[u8]) {
        let full = {
            let mut pending = lock(&self.pending);
            pending.extend_from_slice(line);
            pending.len() >= BATCH_MAX
        };
        if full || !self.batching.load(Ordering::Acquire) {
            self.write_out();
        }
    }
}

impl<W: Write + Send> Drain for Batch<W> {
    fn stop(&self) {
        *lock(&self.stopping) = true;
        self.stop.notify_all();
    }

    fn finish(&self) {
        self.batching.store(false, Ordering::Release);
        self.write_out();
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        self.batch.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.batch.finish();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the formatting layer writes one event's line through.
pub struct LineSink<'a, W>(&'a Batch<W>);

impl<W: Write> Write for LineSink<'_, W> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        self.0.push(line);
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a, W: Write + Send + 'static> MakeWriter<'a> for Batched<W> {
    type Writer = LineSink<'a, W>;

    fn make_writer(&'a self) -> Self::Writer {
        LineSink(&self.0)
    }
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
            .fmt_fields(JsonSpanFields(JsonFields::new()))
            .event_format(JsonLines)
            .with_writer(writer)
            .boxed(),
    }
}

/// One flat JSON object per event (see the module docs).
struct JsonLines;

/// [`JsonFields`], except that fields recorded on a span after it was
/// created (the request's tenant, subject, kind, type) are appended to its
/// JSON object as text. `JsonFields` parses the object into values and
/// writes it again on every `record` (issue 15: four times per sign).
/// A field recorded twice appears twice; the line takes the later one
/// ([`merge`]), as before.
struct JsonSpanFields(JsonFields);

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        self.0.format_fields(writer, fields)
    }

    fn add_fields(&self, current: &'writer mut FormattedFields<Self>, fields: &Record<'_>) -> fmt::Result {
        let mut added = String::new();
        self.0.format_fields(Writer::new(&mut added), fields)?;
        append_object(&mut current.fields, &added);
        Ok(())
    }
}

/// `{"a":1}` + `{"b":2}` = `{"a":1,"b":2}`, for objects as [`JsonFields`] writes them.
fn append_object(object: &mut String, added: &str) {
    let Some(members) = added.strip_prefix('{').and_then(|rest| rest.strip_suffix('}')) else {
        return;
    };
    if members.is_empty() {
        return;
    }
    if object.is_empty() || object == "{}" {
        added.clone_into(object);
        return;
    }
    object.pop();
    object.push(',');
    object.push_str(members);
    object.push('}');
}

/// A value of a JSON line: as the field formatter wrote it (already JSON),
/// or one of the line's own strings.
enum Field<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

impl Serialize for Field<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Json(json) => json.serialize(serializer),
            Field::Text(text) => serializer.serialize_str(text),
        }
    }
}

impl<S> FormatEvent<S, JsonSpanFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonSpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut own = String::new();
        ctx.format_fields(Writer::new(&mut own), event)?;
        // The fields are borrowed where the formatter left them (the spans'
        // extensions), never parsed into values: a line costs one copy.
        let spans: Vec<_> = ctx
            .event_scope()
            .map(|scope| scope.from_root().collect())
            .unwrap_or_default();
        let extensions: Vec<_> = spans.iter().map(|span| span.extensions()).collect();
        let mut line = BTreeMap::new();
        line.insert("timestamp", Field::Text(&timestamp));
        line.insert("level", Field::Text(metadata.level().as_str()));
        line.insert("target", Field::Text(metadata.target()));
        for extension in &extensions {
            if let Some(fields) = extension.get::<FormattedFields<JsonSpanFields>>() {
                merge(&mut line, &fields.fields);
            }
        }
        merge(&mut line, &own);
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Adds the fields of a JSON object (as [`JsonFields`] writes them) to
/// `line`, over the ones already there.
fn merge<'a>(line: &mut BTreeMap<&'a str, Field<'a>>, fields: &'a str) {
    use serde::Deserializer as _;
    use serde::de::{MapAccess, Visitor};

    /// Inserts each member straight into the line: no map of its own.
    struct Members<'l, 'a>(&'l mut BTreeMap<&'a str, Field<'a>>);
    impl<'a> Visitor<'a> for Members<'_, 'a> {
        type Value = ();
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON object of fields")
        }
        fn visit_map<M: MapAccess<'a>>(self, mut members: M) -> Result<(), M::Error> {
            while let Some((name, value)) = members.next_entry::<&'a str, &'a RawValue>()? {
                self.0.insert(name, Field::Json(value));
            }
            Ok(())
        }
    }
    // A malformed object (never written by `JsonFields`) adds what parsed before the fault.
    let _ = serde_json::Deserializer::from_str(fields).deserialize_map(Members(line));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn fields_recorded_later_extend_the_span_object() {
        let mut object = String::new();
        append_object(&mut object, r#"{"request_id":"r1","route":"/x"}"#);
        assert_eq!(object, r#"{"request_id":"r1","route":"/x"}"#);
        append_object(&mut object, "{}");
        append_object(&mut object, r#"{"tenant":"acme"}"#);
        append_object(&mut object, r#"{"subject":"a\"b","tenant":"globex"}"#);
        assert_eq!(
            object,
            r#"{"request_id":"r1","route":"/x","tenant":"acme","subject":"a\"b","tenant":"globex"}"#
        );
        // The line takes the last value of a field recorded twice.
        let mut line = BTreeMap::new();
        merge(&mut line, &object);
        let text = serde_json::to_string(&line).expect("serialises");
        assert_eq!(
            text,
            r#"{"request_id":"r1","route":"/x","subject":"a\"b","tenant":"globex"}"#
        );
    }

    #[test]
    fn batched_lines_are_written_in_order_and_none_is_lost() {
        let out = Shared::default();
        let (writer, guard) = Batched::start(out.clone());
        let line = |thread: usize, n: usize| format!("thread {thread} line {n} {}\n", "x".repeat(n % 300));
        std::thread::scope(|scope| {
            for thread in 0..4 {
                let writer = &writer;
                scope.spawn(move || {
                    for n in 0..5_000 {
                        writer
                            .make_writer()
                            .write_all(line(thread, n).as_bytes())
                            .expect("write");
                    }
                });
            }
        });
        // Pending lines wait for the thread (no more than FLUSH_EVERY) ...
        std::thread::sleep(FLUSH_EVERY * 5);
        let written = lock(&out.0).len();
        assert!(written > 0, "nothing was written");
        // ... and the guard writes the rest.
        writer.make_writer().write_all(b"last\n").expect("write");
        drop(guard);
        let text = String::from_utf8(lock(&out.0).clone()).expect("utf-8");
        for thread in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("thread {thread} ")))
                .collect();
            let expected: Vec<String> = (0..5_000)
                .map(|n| line(thread, n).trim_end_matches('\n').to_owned())
                .collect();
            assert!(mine == expected, "thread {thread}'s lines are missing or out of order");
        }
        assert_eq!(text.lines().last(), Some("last"));
        // After the guard, lines are written as they come.
        writer.make_writer().write_all(b"after\n").expect("write");
        assert!(String::from_utf8_lossy(&lock(&out.0)).ends_with("last\nafter\n"));
    }
}
