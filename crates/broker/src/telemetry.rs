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

use std::fmt::{self, Write as _};
use std::io::{IsTerminal as _, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use broker_core::config::LogFormat;
use broker_core::json;
use tracing::field::{self, Visit};
use tracing::span::Record;
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
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
        // A terminal gets tracing-subscriber's own coloured lines.
        LogFormat::Human if colours => tracing_subscriber::fmt::layer()
            .with_ansi(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Human => tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .fmt_fields(HumanFields)
            .event_format(HumanLines)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonSpanFields)
            .event_format(JsonLines)
            .with_writer(writer)
            .boxed(),
    }
}

/// The human format's lines without colours, the same text as
/// tracing-subscriber's default (`Full`) format writes, byte for byte (a test
/// compares them), written directly: `timestamp LEVEL span{fields}:…: target:
/// fields`. The default format pads, paints (even without colours) and
/// formats every piece through `fmt`: issue 15 measured two lines per sign.
struct HumanLines;

impl<S> FormatEvent<S, HumanFields> for HumanLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, HumanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        let mut line = String::with_capacity(32);
        push_timestamp(&mut line)?;
        line.push(' ');
        line.push_str(match *metadata.level() {
            tracing::Level::TRACE => "TRACE ",
            tracing::Level::DEBUG => "DEBUG ",
            tracing::Level::INFO => " INFO ",
            tracing::Level::WARN => " WARN ",
            tracing::Level::ERROR => "ERROR ",
        });
        writer.write_str(&line)?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                writer.write_str(span.metadata().name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<HumanFields>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
            writer.write_char(' ')?;
        }
        writer.write_str(metadata.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// Now, as tracing-subscriber's `SystemTime` timer writes it (directly for
/// the years 1970 to 9999, through the timer otherwise).
fn push_timestamp(line: &mut String) -> fmt::Result {
    if broker_core::text::push_log_timestamp(line, std::time::SystemTime::now()) {
        Ok(())
    } else {
        SystemTime.format_time(&mut Writer::new(line))
    }
}

/// The fields of a human line or span, as tracing-subscriber's
/// `DefaultFields` writes them without colours: `name=value` separated by
/// spaces, strings quoted and escaped (`Debug`), the message first without
/// its name and with terminal control characters escaped.
struct HumanFields;

impl<'writer> FormatFields<'writer> for HumanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let sanitize = writer.sanitizes_ansi_escapes();
        let mut visitor = HumanVisitor {
            writer: &mut writer,
            sanitize,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }

    fn add_fields(&self, current: &'writer mut FormattedFields<Self>, fields: &Record<'_>) -> fmt::Result {
        if !current.fields.is_empty() {
            current.fields.push(' ');
        }
        self.format_fields(current.as_writer(), fields)
    }
}

struct HumanVisitor<'a, 'w> {
    writer: &'a mut Writer<'w>,
    sanitize: bool,
    empty: bool,
    result: fmt::Result,
}

impl HumanVisitor<'_, '_> {
    /// The separator and `name=` of a field other than the message.
    fn name(&mut self, field: &field::Field) -> fmt::Result {
        self.pad()?;
        let name = field.name();
        self.writer.write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')
    }

    fn pad(&mut self) -> fmt::Result {
        if std::mem::take(&mut self.empty) {
            Ok(())
        } else {
            self.writer.write_char(' ')
        }
    }

    fn message(&mut self, message: &dyn fmt::Debug) -> fmt::Result {
        self.pad()?;
        if self.sanitize {
            write!(Sanitized(&mut *self.writer), "{message:?}")
        } else {
            write!(self.writer, "{message:?}")
        }
    }
}

impl Visit for HumanVisitor<'_, '_> {
    fn record_str(&mut self, field: &field::Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            self.message(&format_args!("{value}"))
        } else {
            self.name(field).and_then(|()| {
                // `Debug` of a string of printable ASCII without a quote or
                // a backslash is the string in quotes.
                if value
                    .bytes()
                    .all(|b| matches!(b, b' '..=b'~') && b != b'"' && b != b'\\')
                {
                    self.writer.write_char('"')?;
                    self.writer.write_str(value)?;
                    self.writer.write_char('"')
                } else {
                    write!(self.writer, "{value:?}")
                }
            })
        };
    }

    fn record_debug(&mut self, field: &field::Field, value: &dyn fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            self.message(value)
        } else {
            self.name(field).and_then(|()| write!(self.writer, "{value:?}"))
        };
    }

    fn record_error(&mut self, field: &field::Field, value: &(dyn std::error::Error + 'static)) {
        if self.result.is_err() {
            return;
        }
        let sanitize = self.sanitize;
        let escaped = |text: &dyn fmt::Display, out: &mut dyn fmt::Write| {
            if sanitize {
                write!(Sanitized(out), "{text}")
            } else {
                write!(out, "{text}")
            }
        };
        let name = field.name();
        self.result = (|| {
            if name == "message" {
                self.pad()?;
            } else {
                self.name(field)?;
            }
            escaped(&value, &mut *self.writer)?;
            if let Some(source) = value.source() {
                write!(self.writer, " {name}.sources=[")?;
                let mut next = Some(source);
                let mut first = true;
                while let Some(error) = next {
                    if !std::mem::take(&mut first) {
                        self.writer.write_str(", ")?;
                    }
                    escaped(&error, &mut *self.writer)?;
                    next = error.source();
                }
                self.writer.write_char(']')?;
            }
            Ok(())
        })();
    }
}

/// Escapes the terminal control characters tracing-subscriber escapes in a
/// message (ESC, BEL, BS, FF, DEL and the C1 controls), as it does.
struct Sanitized<'a>(&'a mut dyn fmt::Write);

impl fmt::Write for Sanitized<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let control = |c: char| matches!(c, '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}');
        if !text.contains(control) {
            return self.0.write_str(text);
        }
        for c in text.chars() {
            match c {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                c if control(c) => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// One flat JSON object per event (see the module docs): the same text as
/// before issue 15 (members sorted by name, a name's last value kept), now
/// written from the fields' own JSON text, without parsing it into values.
struct JsonLines;

/// The fields of a JSON line or span: a JSON object of the fields in the
/// order they were recorded, each value as tracing-subscriber's `JsonFields`
/// writes it (strings, numbers and booleans as themselves, anything else as
/// the string of its `Debug`), written directly. Fields recorded on a span
/// later (the request's tenant, subject, kind, type) are appended to its
/// object (issue 15: `JsonFields` parsed the object into values and wrote it
/// again on every record). A field recorded twice appears twice; the line
/// keeps the later value.
struct JsonSpanFields;

impl<'writer> FormatFields<'writer> for JsonSpanFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut members = JsonMembers::default();
        fields.record(&mut members);
        let mut object = String::with_capacity(members.out.len() + 2);
        object.push('{');
        object.push_str(std::str::from_utf8(&members.out).map_err(|_| fmt::Error)?);
        object.push('}');
        writer.write_str(&object)
    }

    fn add_fields(&self, current: &'writer mut FormattedFields<Self>, fields: &Record<'_>) -> fmt::Result {
        let mut added = String::new();
        self.format_fields(Writer::new(&mut added), fields)?;
        append_object(&mut current.fields, &added);
        Ok(())
    }
}

/// The members of one object, comma-separated, as they are recorded.
#[derive(Default)]
struct JsonMembers {
    out: Vec<u8>,
    /// Where a `Debug` value is formatted before it is written as a string.
    scratch: String,
}

impl JsonMembers {
    fn name(&mut self, name: &str) {
        if !self.out.is_empty() {
            self.out.push(b',');
        }
        json::push_name(&mut self.out, name);
    }

    /// A value `serde_json` writes the way `JsonFields` does (through a `Value`).
    fn value(&mut self, name: &str, value: serde_json::Value) {
        self.name(name);
        // Writing into a `Vec` cannot fail, and a `Value` always serialises.
        let _ = serde_json::to_writer(&mut self.out, &value);
    }
}

impl Visit for JsonMembers {
    fn record_f64(&mut self, field: &field::Field, value: f64) {
        self.value(field.name(), value.into());
    }

    fn record_i64(&mut self, field: &field::Field, value: i64) {
        self.value(field.name(), value.into());
    }

    fn record_u64(&mut self, field: &field::Field, value: u64) {
        self.name(field.name());
        json::push_u64(&mut self.out, value);
    }

    fn record_bool(&mut self, field: &field::Field, value: bool) {
        self.name(field.name());
        self.out.extend_from_slice(if value { b"true" } else { b"false" });
    }

    fn record_str(&mut self, field: &field::Field, value: &str) {
        self.name(field.name());
        json::push_str(&mut self.out, value);
    }

    fn record_bytes(&mut self, field: &field::Field, value: &[u8]) {
        self.value(field.name(), value.into());
    }

    fn record_debug(&mut self, field: &field::Field, value: &dyn fmt::Debug) {
        let name = field.name();
        self.scratch.clear();
        if write!(self.scratch, "{value:?}").is_err() {
            return;
        }
        self.name(name.strip_prefix("r#").unwrap_or(name));
        json::push_str(&mut self.out, &self.scratch);
    }
}

/// `{"a":1}` + `{"b":2}` = `{"a":1,"b":2}`, for objects as [`JsonSpanFields`] writes them.
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

/// A value of a JSON line: JSON text as a field formatter wrote it, or one
/// of the line's own strings.
#[derive(Clone, Copy)]
enum Value<'a> {
    Json(&'a str),
    Text(&'a str),
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
        let mut timestamp = String::with_capacity(27);
        push_timestamp(&mut timestamp)?;
        let mut own = String::new();
        ctx.format_fields(Writer::new(&mut own), event)?;
        // The fields are borrowed where the formatter left them (the spans'
        // extensions): a line costs one copy.
        let spans: Vec<_> = ctx
            .event_scope()
            .map(|scope| scope.from_root().collect())
            .unwrap_or_default();
        let extensions: Vec<_> = spans.iter().map(|span| span.extensions()).collect();
        let mut line: Vec<(&str, Value<'_>)> = Vec::with_capacity(16);
        line.push(("timestamp", Value::Text(&timestamp)));
        line.push(("level", Value::Text(metadata.level().as_str())));
        line.push(("target", Value::Text(metadata.target())));
        for extension in &extensions {
            if let Some(fields) = extension.get::<FormattedFields<JsonSpanFields>>() {
                members(&fields.fields, &mut line);
            }
        }
        members(&own, &mut line);
        writer.write_str(&line_text(line))?;
        writer.write_char('\n')
    }
}

/// The line's object: members sorted by name, the last value of a name kept
/// (an inner span's field, then the event's, wins over an outer one's).
fn line_text(mut line: Vec<(&str, Value<'_>)>) -> String {
    // A stable sort keeps a name's values in the order they came.
    line.sort_by(|a, b| a.0.cmp(b.0));
    let size: usize = line
        .iter()
        .map(|(name, value)| {
            name.len()
                + 4
                + match value {
                    Value::Json(text) | Value::Text(text) => text.len() + 2,
                }
        })
        .sum();
    let mut out = Vec::with_capacity(size + 2);
    out.push(b'{');
    let mut members = line.iter().peekable();
    while let Some((name, value)) = members.next() {
        if members.peek().is_some_and(|(next, _)| next == name) {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        // Names come from the fields' JSON text, already escaped, or are the line's own.
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        match value {
            Value::Json(json) => out.extend_from_slice(json.as_bytes()),
            Value::Text(text) => json::push_str(&mut out, text),
        }
    }
    out.push(b'}');
    String::from_utf8(out).unwrap_or_default()
}

/// Adds the members of a JSON object as [`JsonSpanFields`] writes it to
/// `line`: each name (its JSON text between the quotes) and value (its JSON
/// text). A malformed object (never written here) adds what came before the fault.
fn members<'a>(object: &'a str, line: &mut Vec<(&'a str, Value<'a>)>) {
    let bytes = object.as_bytes();
    if bytes.first() != Some(&b'{') {
        return;
    }
    let mut at = 1;
    while bytes.get(at) == Some(&b'"') {
        let Some(name_end) = string_end(bytes, at) else { return };
        if bytes.get(name_end) != Some(&b':') {
            return;
        }
        let value_start = name_end + 1;
        let Some(value_end) = value_end(bytes, value_start) else {
            return;
        };
        line.push((
            &object[at + 1..name_end - 1],
            Value::Json(&object[value_start..value_end]),
        ));
        at = value_end;
        if bytes.get(at) == Some(&b',') {
            at += 1;
        }
    }
}

/// The index after the JSON string that starts (with its quote) at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut at = start + 1;
    loop {
        match bytes.get(at)? {
            b'\\' => at += 2,
            b'"' => return Some(at + 1),
            _ => at += 1,
        }
    }
}

/// The index after the JSON value that starts at `start`: a string, an
/// array or object (of any depth), or a number or literal.
fn value_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0_usize;
    let mut at = start;
    loop {
        match bytes.get(at)? {
            b'"' => at = string_end(bytes, at)?,
            b'[' | b'{' => {
                depth += 1;
                at += 1;
            }
            b',' | b']' | b'}' if depth == 0 => return (at > start).then_some(at),
            b']' | b'}' => {
                depth -= 1;
                at += 1;
            }
            _ => at += 1,
        }
    }
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

    /// A source of an error, for `record_error`.
    #[derive(Debug)]
    struct Failure(&'static str, Option<Box<Failure>>);

    impl fmt::Display for Failure {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
        }
    }

    /// Every kind of line the broker writes, with hostile client strings.
    fn log_every_kind_of_line() {
        let hostile = "a\"b\\c\nd\te\u{1b}[31mred\u{7f}\u{85}é雪😀'";
        let span = tracing::info_span!(
            "request",
            request_id = %"0191f1c2-7a4e",
            method = %"POST",
            route = %"/uploads/sign",
            tenant = tracing::field::Empty,
            subject = tracing::field::Empty,
            kind = tracing::field::Empty,
        );
        let _entered = span.enter();
        span.record("tenant", "acme").record("subject", hostile);
        tracing::info!(target: "audit", action = "sign", tenant = "acme", subject = hostile, key = "-", outcome = "ok", reason = "ok", "audit");
        span.record("kind", "avatar");
        tracing::info!(path = %"/uploads/sign", status = 200_u16, elapsed_ms = 0_u64, "request");
        tracing::warn!(r#type = "x", ok = true, delta = -3_i64, ratio = 0.5_f64, debug = ?Some("q\"uote"), "message {} with {hostile}", 1);
        tracing::error!(message = hostile, other = hostile);
        {
            let inner = tracing::debug_span!("inner");
            let _inner = inner.enter();
            tracing::debug!(count = 3, "nested");
            tracing::trace!("no fields in the span");
        }
        let failure = Failure(
            "outer \u{1b}",
            Some(Box::new(Failure("inner", Some(Box::new(Failure("root \u{7}", None)))))),
        );
        tracing::error!(error = &failure as &(dyn std::error::Error + 'static), "failed");
        tracing::error!(error = &Failure("alone", None) as &(dyn std::error::Error + 'static));
        drop(_entered);
        tracing::info!(fields_only = "outside any span");
        tracing::info!("message only");
    }

    /// `text` without the timestamp at the start of each line, checking its shape.
    fn without_timestamps(text: &str) -> String {
        let shape = "0000-00-00T00:00:00.000000Z ";
        text.split_inclusive('\n')
            .map(|line| {
                let stamped = line.len() > shape.len()
                    && line.bytes().zip(shape.bytes()).all(|(b, s)| match s {
                        b'0' => b.is_ascii_digit(),
                        _ => b == s,
                    });
                if stamped { &line[shape.len()..] } else { line }
            })
            .collect()
    }

    #[test]
    fn human_lines_are_tracing_subscribers_default_format() {
        let (ours, theirs) = (Shared::default(), Shared::default());
        let (o, t) = (ours.clone(), theirs.clone());
        let subscriber = tracing_subscriber::registry()
            .with(layer(LogFormat::Human, move || o.clone(), false))
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(move || t.clone()),
            );
        tracing::subscriber::with_default(subscriber, log_every_kind_of_line);
        let text = |out: &Shared| String::from_utf8(lock(&out.0).clone()).expect("utf-8");
        let (ours, theirs) = (text(&ours), text(&theirs));
        assert_eq!(without_timestamps(&ours), without_timestamps(&theirs));
        // Ten lines, two of whose messages carry the client's line break as
        // tracing-subscriber writes it; fields are escaped.
        assert_eq!(without_timestamps(&ours).matches('\n').count(), 12, "{ours}");
        assert!(ours.contains(
            r#" INFO request{request_id=0191f1c2-7a4e method=POST route=/uploads/sign tenant="acme" subject="a\"b\\c\nd\te\u{1b}[31mred\u{7f}\u{85}é雪😀'"}: audit: audit action="sign""#
        ), "{ours}");
        assert!(
            ours.contains(r#"WARN request{"#) && ours.contains(r"message 1 with a"),
            "{ours}"
        );
        assert!(
            ours.contains(r"e\x1b[31mred\x7f\u{85}é雪😀'"),
            "the message's controls are escaped: {ours}"
        );
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
        let mut line = vec![("level", Value::Text("INFO"))];
        members(&object, &mut line);
        assert_eq!(
            line_text(line),
            r#"{"level":"INFO","request_id":"r1","route":"/x","subject":"a\"b","tenant":"globex"}"#
        );
        // Nested values and strings that look like delimiters are single values.
        let mut line = Vec::new();
        members(
            r#"{"a":[1,[2,{"b":"}"}]],"c":"x,\"]}","d":-1.5e3,"e":true,"f":null}"#,
            &mut line,
        );
        assert_eq!(
            line_text(line),
            r#"{"a":[1,[2,{"b":"}"}]],"c":"x,\"]}","d":-1.5e3,"e":true,"f":null}"#
        );
        // A malformed object adds what came before the fault.
        let mut line = Vec::new();
        members(r#"{"a":1,"b":"open"#, &mut line);
        assert_eq!(line_text(line), r#"{"a":1}"#);
    }

    /// The JSON lines of this module before issue 15, as a reference:
    /// tracing-subscriber's `JsonFields`, and each line's fields merged into
    /// one sorted map of values (a name's last value kept).
    struct ReferenceJsonLines;

    impl<S> FormatEvent<S, tracing_subscriber::fmt::format::JsonFields> for ReferenceJsonLines
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        fn format_event(
            &self,
            ctx: &FmtContext<'_, S, tracing_subscriber::fmt::format::JsonFields>,
            mut writer: Writer<'_>,
            event: &Event<'_>,
        ) -> fmt::Result {
            use serde_json::{Map, Value as Json};
            let mut line = std::collections::BTreeMap::new();
            let mut timestamp = String::new();
            SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
            line.insert("timestamp".to_owned(), Json::from(timestamp));
            line.insert("level".to_owned(), Json::from(event.metadata().level().as_str()));
            line.insert("target".to_owned(), Json::from(event.metadata().target()));
            let mut objects = Vec::new();
            for span in ctx.event_scope().into_iter().flat_map(|scope| scope.from_root()) {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<tracing_subscriber::fmt::format::JsonFields>>() {
                    objects.push(fields.fields.clone());
                }
            }
            let mut own = String::new();
            ctx.format_fields(Writer::new(&mut own), event)?;
            objects.push(own);
            for object in objects {
                let fields: Map<String, Json> = serde_json::from_str(&object).map_err(|_| fmt::Error)?;
                line.extend(fields);
            }
            writeln!(writer, "{}", serde_json::to_string(&line).map_err(|_| fmt::Error)?)
        }
    }

    #[test]
    fn json_lines_are_the_text_they_were_before() {
        let (ours, reference) = (Shared::default(), Shared::default());
        let (o, r) = (ours.clone(), reference.clone());
        let subscriber = tracing_subscriber::registry()
            .with(layer(LogFormat::Json, move || o.clone(), false))
            .with(
                tracing_subscriber::fmt::layer()
                    .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                    .event_format(ReferenceJsonLines)
                    .with_writer(move || r.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            log_every_kind_of_line();
            let span = tracing::info_span!("outer", shared = "outer", only_outer = 1_u64);
            let _outer = span.enter();
            let inner = tracing::info_span!("inner", shared = "inner", bytes = tracing::field::Empty);
            let _inner = inner.enter();
            inner.record("shared", "inner, recorded again");
            tracing::info!(
                shared = "event",
                big = u64::MAX,
                small = i64::MIN,
                nan = f64::NAN,
                tiny = 1e-300_f64,
                "overrides"
            );
        });
        let text = |out: &Shared| String::from_utf8(lock(&out.0).clone()).expect("utf-8");
        let (ours, reference) = (text(&ours), text(&reference));
        let strip = |text: &str| -> Vec<String> {
            text.lines()
                .map(|line| {
                    let value: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
                    let stamp = value["timestamp"].as_str().expect("a timestamp");
                    assert_eq!(without_timestamps(&format!("{stamp} x")), "x", "{stamp}");
                    line.replace(stamp, "-")
                })
                .collect()
        };
        let (ours, reference) = (strip(&ours), strip(&reference));
        assert_eq!(ours.len(), 11);
        for (ours, reference) in ours.iter().zip(&reference) {
            assert_eq!(ours, reference);
        }
        assert!(
            ours[10].contains(r#""only_outer":1,"shared":"event","small":-9223372036854775808"#),
            "{}",
            ours[10]
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
