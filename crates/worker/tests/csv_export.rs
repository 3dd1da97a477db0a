//! CSV exports parsed back with the csv crate.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::io;

use broker_testkit::csv_rows;
use broker_worker::{CsvExport, CsvOptions, WriteError};

const RAW: CsvOptions = CsvOptions {
    bom: false,
    neutralize_formulas: false,
};

fn export(columns: &[&str], rows: &[Vec<&str>], options: CsvOptions) -> Vec<u8> {
    let mut csv = CsvExport::new(Vec::new(), columns, options).expect("header");
    for row in rows {
        csv.write_row(row).expect("row");
    }
    assert_eq!(csv.rows_written(), rows.len() as u64);
    csv.finish().expect("finish")
}

#[test]
fn round_trips_awkward_fields() {
    let columns = ["id", "name, full", "note \"quoted\""];
    let rows = vec![
        vec!["1", "Zoë Ångström", "café, crème brûlée"],
        vec!["2", "say \"hi\"", "line one\nline two"],
        vec!["3", "crlf\r\ninside", ""],
        vec!["4", "日本語 🚀", " padded "],
        vec!["5", "", "a,b,\"c\"\n"],
    ];
    let bytes = export(&columns, &rows, RAW);
    let parsed = csv_rows(&bytes);
    assert_eq!(parsed[0], columns);
    assert_eq!(parsed.len(), rows.len() + 1);
    for (got, want) in parsed[1..].iter().zip(&rows) {
        assert_eq!(got, want);
    }
}

#[test]
fn records_end_with_crlf_and_quote_only_when_needed() {
    let bytes = export(&["a", "b"], &[vec!["x", "y,z"]], RAW);
    assert_eq!(String::from_utf8(bytes).unwrap(), "a,b\r\nx,\"y,z\"\r\n");
}

#[test]
fn single_empty_field_is_not_an_empty_line() {
    let bytes = export(&["only"], &[vec![""], vec!["x"]], RAW);
    assert_eq!(csv_rows(&bytes), [["only"], [""], ["x"]]);
}

#[test]
fn bom_only_when_asked() {
    let with = export(
        &["naïve"],
        &[vec!["1"]],
        CsvOptions {
            bom: true,
            ..CsvOptions::default()
        },
    );
    assert!(with.starts_with(b"\xEF\xBB\xBFna\xC3\xAFve\r\n"));

    let without = export(&["naïve"], &[vec!["1"]], CsvOptions::default());
    assert!(without.starts_with("naïve\r\n".as_bytes()));
    assert!(!CsvOptions::default().bom);
}

#[test]
fn neutralizes_every_formula_trigger_by_default() {
    assert!(CsvOptions::default().neutralize_formulas);
    let triggers = ["=1+1", "+1", "-5", "@SUM(A1)", "\tcmd", "\rcmd"];
    let rows: Vec<Vec<&str>> = triggers.iter().map(|t| vec![*t]).collect();
    let parsed = csv_rows(&export(&["cell"], &rows, CsvOptions::default()));
    for (got, trigger) in parsed[1..].iter().zip(triggers) {
        assert_eq!(got[0], format!("'{trigger}"), "trigger {trigger:?}");
    }
}

#[test]
fn leaves_safe_cells_alone() {
    let safe = ["5-3", "a=b", "x@y.z", "café", " =1", "'=quoted"];
    let rows: Vec<Vec<&str>> = safe.iter().map(|s| vec![*s]).collect();
    let parsed = csv_rows(&export(&["cell"], &rows, CsvOptions::default()));
    for (got, cell) in parsed[1..].iter().zip(safe) {
        assert_eq!(got[0], cell);
    }
}

#[test]
fn neutralizes_header_and_can_be_disabled() {
    let parsed = csv_rows(&export(&["=evil", "ok"], &[vec!["-5", "=A1"]], CsvOptions::default()));
    assert_eq!(parsed, [["'=evil", "ok"], ["'-5", "'=A1"]]);

    let parsed = csv_rows(&export(&["=evil", "ok"], &[vec!["-5", "=A1"]], RAW));
    assert_eq!(parsed, [["=evil", "ok"], ["-5", "=A1"]]);
}

#[test]
fn ragged_rows_are_rejected_without_corrupting_output() {
    let mut csv = CsvExport::new(Vec::new(), &["a", "b", "c"], RAW).unwrap();
    csv.write_row(&["1", "2", "3"]).unwrap();
    match csv.write_row(&["x", "y"]) {
        Err(WriteError::RowLength { expected, got, row }) => {
            assert_eq!((expected, got, row), (3, 2, 2));
        }
        other => panic!("expected RowLength, got {other:?}"),
    }
    assert!(matches!(
        csv.write_row(&["1", "2", "3", "4"]),
        Err(WriteError::RowLength { got: 4, .. })
    ));
    csv.write_row(&["4", "5", "6"]).unwrap();
    assert_eq!(csv.rows_written(), 2);
    let parsed = csv_rows(&csv.finish().unwrap());
    assert_eq!(parsed, [["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]]);
}

#[test]
fn no_columns_is_an_error() {
    let columns: [&str; 0] = [];
    assert!(matches!(
        CsvExport::new(Vec::new(), &columns, RAW),
        Err(WriteError::NoColumns)
    ));
}

/// A sink that fails every write, like a multipart upload that was aborted.
struct Broken;

impl io::Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(io::ErrorKind::BrokenPipe, "upload aborted"))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn writer_errors_surface_as_io() {
    let err = CsvExport::new(Broken, &["a"], CsvOptions { bom: true, ..RAW })
        .err()
        .expect("BOM write fails");
    assert!(matches!(err, WriteError::Io(ref e) if e.kind() == io::ErrorKind::BrokenPipe));

    let mut csv = CsvExport::new(Broken, &["a"], RAW).expect("header is buffered");
    let big = "x".repeat(64 * 1024);
    let err = csv.write_row(&[big.as_str()]).expect_err("buffer flush fails");
    assert!(matches!(err, WriteError::Io(ref e) if e.kind() == io::ErrorKind::BrokenPipe));
}

#[test]
fn streams_rows_to_the_writer_before_finish() {
    use std::cell::Cell;
    use std::rc::Rc;

    /// Counts the bytes that reached the sink.
    struct Counting(Rc<Cell<usize>>);
    impl io::Write for Counting {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.set(self.0.get() + buf.len());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let written = Rc::new(Cell::new(0));
    let mut csv = CsvExport::new(Counting(written.clone()), &["a", "b"], RAW).unwrap();
    for i in 0..10_000 {
        csv.write_row(&[i.to_string(), "some text".to_owned()]).unwrap();
    }
    // 10k rows are ~150 KB; all but the last buffer's worth must be out.
    assert!(written.get() > 140_000, "only {} bytes reached the sink", written.get());
    csv.finish().unwrap();
    assert!(written.get() > 150_000);
}
