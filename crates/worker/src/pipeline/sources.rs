//! The three source readers: inline rows (the stored request body), a CSV
//! file, and JSON (an array of objects, or NDJSON). Each feeds an [`ExportSink`] a header, then rows, and
//! sorts what can go wrong into a [`Failure`]: a malformed source is
//! permanent, a read that fails mid-stream (the store) transient.
//!
//! JSON objects become rows by their keys: the first object's keys, in
//! document order, are the columns; later objects may leave keys out (empty
//! cells) but not add new ones. Arrays are streamed element by element, never
//! collected.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};

use broker_jobs::inline::{self, InlineError};
use serde::Deserializer;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::sink::ExportSink;
use crate::failure::{Failure, Fault};

/// Feeds inline rows from the stored request body, one row at a time.
pub fn feed_inline<W: Write>(body: &[u8], sink: &mut ExportSink<'_, W>) -> Result<(), Failure> {
    let unreadable = |e| Failure::permanent("input_missing", format!("the stored rows are unreadable: {e}"));
    sink.header(&inline::columns(body).map_err(unreadable)?)?;
    inline::for_each_row(body, |row| sink.row(row)).map_err(|error| match error {
        InlineError::Stopped(failure) => failure,
        InlineError::Malformed(e) => unreadable(e),
    })
}

fn read_failure(kind: &str, error: impl fmt::Display, is_io: bool) -> Failure {
    if is_io {
        Failure::fault(Fault::StoreUnavailable, format!("reading the source failed: {error}"))
    } else {
        Failure::permanent("unparsable_source", format!("the {kind} source is malformed: {error}"))
    }
}

/// Feeds a CSV dataset: the first record is the header; rows must match it.
pub fn feed_csv<R: Read, W: Write>(reader: R, sink: &mut ExportSink<'_, W>) -> Result<(), Failure> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let csv_failure = |e: csv::Error| {
        let is_io = e.is_io_error();
        read_failure("CSV", e, is_io)
    };
    let header = csv.headers().map_err(csv_failure)?.clone();
    sink.header(&header.iter().collect::<Vec<_>>())?;
    let mut record = csv::StringRecord::new();
    while csv.read_record(&mut record).map_err(csv_failure)? {
        let fields: Vec<&str> = record.iter().collect();
        sink.row(&fields)?;
    }
    Ok(())
}

/// Feeds a JSON dataset: an array of objects, or NDJSON. Columns are the
/// keys of the first object, in order; a later object may omit keys (empty
/// cells) but not add new ones.
pub fn feed_json<R: Read, W: Write>(reader: R, sink: &mut ExportSink<'_, W>) -> Result<(), Failure> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let json_failure = |e: serde_json::Error| {
        let is_io = e.is_io();
        read_failure("JSON", e, is_io)
    };
    let first = loop {
        let buffer = reader.fill_buf().map_err(|e| read_failure("JSON", e, true))?;
        let Some(&first) = buffer.first() else {
            return Err(Failure::permanent("empty_source", "the JSON source is empty"));
        };
        if buffer.starts_with(b"\xEF\xBB\xBF") {
            reader.consume(3);
        } else if first.is_ascii_whitespace() {
            reader.consume(1);
        } else {
            break first;
        }
    };
    let mut table = Table::default();
    match first {
        b'[' => {
            let mut failure = None;
            let mut deserializer = serde_json::Deserializer::from_reader(reader);
            let result = deserializer
                .deserialize_seq(RowsVisitor {
                    table: &mut table,
                    sink,
                    failure: &mut failure,
                })
                .and_then(|()| deserializer.end());
            match (failure, result) {
                (Some(failure), _) => Err(failure),
                (None, Err(e)) => Err(json_failure(e)),
                (None, Ok(())) if table.columns.is_none() => {
                    Err(Failure::permanent("empty_source", "the JSON array is empty"))
                }
                (None, Ok(())) => Ok(()),
            }
        }
        b'{' => {
            let mut line = String::new();
            let mut number = 0u64;
            loop {
                line.clear();
                if reader.read_line(&mut line).map_err(|e| {
                    let is_io = e.kind() != io::ErrorKind::InvalidData;
                    read_failure("NDJSON", e, is_io)
                })? == 0
                {
                    break;
                }
                number += 1;
                if line.trim().is_empty() {
                    continue;
                }
                let object: OrderedObject = serde_json::from_str(&line).map_err(|e| {
                    Failure::permanent(
                        "unparsable_source",
                        format!("NDJSON line {number} is not a JSON object: {e}"),
                    )
                })?;
                table.push(object, sink)?;
            }
            if table.columns.is_none() {
                return Err(Failure::permanent("empty_source", "the NDJSON source has no objects"));
            }
            Ok(())
        }
        other => Err(Failure::permanent(
            "unparsable_source",
            format!(
                "a JSON source must be an array of objects or NDJSON (it starts with {:?})",
                other as char
            ),
        )),
    }
}

/// Column bookkeeping for object rows.
#[derive(Default)]
struct Table {
    columns: Option<HashMap<String, usize>>,
    width: usize,
    row: Vec<String>,
    rows: u64,
}

impl Table {
    fn push<W: Write>(&mut self, object: OrderedObject, sink: &mut ExportSink<'_, W>) -> Result<(), Failure> {
        self.rows += 1;
        let columns = match &self.columns {
            Some(columns) => columns,
            None => {
                let names: Vec<&str> = object.0.iter().map(|(k, _)| k.as_str()).collect();
                sink.header(&names)?;
                self.width = names.len();
                self.columns
                    .insert(object.0.iter().enumerate().map(|(i, (k, _))| (k.clone(), i)).collect())
            }
        };
        self.row.clear();
        self.row.resize(self.width, String::new());
        for (key, value) in object.0 {
            let Some(&index) = columns.get(&key) else {
                return Err(Failure::permanent(
                    "ragged_rows",
                    format!(
                        "object {} has the key {key:?}, which the first object does not have",
                        self.rows
                    ),
                ));
            };
            self.row[index] = cell(value);
        }
        sink.row(&self.row)
    }
}

/// A JSON scalar as a cell; arrays and objects as compact JSON.
fn cell(value: Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s,
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        nested => nested.to_string(),
    }
}

/// An object's entries in document order (serde_json's `Map` sorts them).
struct OrderedObject(Vec<(String, Value)>);

impl<'de> de::Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = OrderedObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    entries.push((key, value));
                }
                Ok(OrderedObject(entries))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

/// Streams the elements of a top-level array into the sink without collecting them.
struct RowsVisitor<'a, 'p, W: Write> {
    table: &'a mut Table,
    sink: &'a mut ExportSink<'p, W>,
    failure: &'a mut Option<Failure>,
}

impl<'de, W: Write> Visitor<'de> for RowsVisitor<'_, '_, W> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(object) = seq.next_element_seed(ObjectSeed)? {
            if let Err(failure) = self.table.push(object, self.sink) {
                *self.failure = Some(failure);
                return Err(de::Error::custom("export stopped"));
            }
        }
        Ok(())
    }
}

struct ObjectSeed;

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = OrderedObject;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<OrderedObject, D::Error> {
        de::Deserialize::deserialize(deserializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CsvOptions;
    use crate::pipeline::{OutputSpec, Progress};
    use broker_jobs::job::ExportFormat;

    fn run(
        format: ExportFormat,
        feed: impl FnOnce(&mut ExportSink<'_, Vec<u8>>) -> Result<(), Failure>,
    ) -> Result<(String, u64), Failure> {
        let progress = Progress::default();
        let spec = OutputSpec {
            format,
            title: None,
            csv: CsvOptions::default(),
            max_pdf_pages: 10,
        };
        let mut sink = ExportSink::new(spec, Vec::new(), &progress);
        feed(&mut sink)?;
        let (bytes, rows) = sink.finish()?;
        Ok((String::from_utf8(bytes).expect("utf-8"), rows))
    }

    #[test]
    fn json_arrays_keep_key_order_and_fill_missing_cells() {
        let source = br#" [{"b": 1, "a": "=x", "c": null}, {"a": true}, {"c": [1, 2], "b": 2.5}] "#;
        let (csv, rows) = run(ExportFormat::Csv, |sink| feed_json(&source[..], sink)).expect("export");
        assert_eq!(rows, 3);
        assert_eq!(csv, "b,a,c\r\n1,'=x,\r\n,true,\r\n2.5,,\"[1,2]\"\r\n");
    }

    #[test]
    fn ndjson_and_csv_sources_stream_rows() {
        let (csv, rows) = run(ExportFormat::Csv, |sink| {
            feed_json(&b"{\"x\":\"1\"}\n\n{\"x\":\"2\"}\n"[..], sink)
        })
        .expect("ndjson");
        assert_eq!((csv.as_str(), rows), ("x\r\n1\r\n2\r\n", 2));
        let (csv, rows) = run(ExportFormat::Csv, |sink| {
            feed_csv(&b"\xEF\xBB\xBFa,b\n1,\"x,y\"\n"[..], sink)
        })
        .expect("csv");
        assert_eq!((csv.as_str(), rows), ("a,b\r\n1,\"x,y\"\r\n", 1));
    }

    #[test]
    fn bad_sources_fail_permanently_with_a_code() {
        let code = |result: Result<(String, u64), Failure>| match result {
            Err(Failure::Permanent(e)) => e.code,
            other => panic!("expected a permanent failure, got {other:?}"),
        };
        assert_eq!(
            code(run(ExportFormat::Csv, |s| feed_csv(&b"a,b\n1\n"[..], s))),
            "ragged_rows"
        );
        for (source, expected) in [
            (&b"[{\"a\":1},{\"b\":2}]"[..], "ragged_rows"),
            (&b"[{\"a\":1},"[..], "unparsable_source"),
            (&b"[1, 2]"[..], "unparsable_source"),
            (&b"[]"[..], "empty_source"),
            (&b"  "[..], "empty_source"),
            (&b"\"x\""[..], "unparsable_source"),
        ] {
            let result = run(ExportFormat::Csv, |s| feed_json(source, s));
            assert_eq!(code(result), expected, "{}", String::from_utf8_lossy(source));
        }
    }
}
