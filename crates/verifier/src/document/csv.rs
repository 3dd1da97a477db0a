//! CSV: UTF-8 text with the same number of fields on every row.
//!
//! The `csv` crate parses records one at a time into a reused buffer
//! (`flexible(false)` enforces the field count); a leading UTF-8 BOM is
//! accepted. Memory is bounded by the longest record, not the file.

use std::io::Read;

use csv::{ErrorKind, ReaderBuilder, StringRecord};

use crate::Rejection;

pub(super) fn check(reader: impl Read) -> Result<(), Rejection> {
    let mut csv = ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(reader);
    let mut record = StringRecord::new();
    let mut rows = 0u64;
    loop {
        match csv.read_record(&mut record) {
            Ok(true) => rows += 1,
            Ok(false) if rows == 0 => return Err(Rejection::corrupt("the CSV file has no rows")),
            Ok(false) => return Ok(()),
            Err(error) => return Err(rejection(error.into_kind())),
        }
    }
}

fn rejection(kind: ErrorKind) -> Rejection {
    match kind {
        ErrorKind::Utf8 { pos, .. } => Rejection::corrupt(format!(
            "the CSV file is not UTF-8 text (row {})",
            pos.map_or(0, |p| p.record() + 1)
        )),
        ErrorKind::UnequalLengths { pos, expected_len, len } => Rejection::corrupt(format!(
            "CSV row {} has {len} fields where earlier rows have {expected_len}",
            pos.map_or(0, |p| p.record() + 1)
        )),
        ErrorKind::Io(error) => super::read_error(&error),
        other => Rejection::corrupt(format!("the CSV file cannot be parsed: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(csv: &[u8]) -> Result<(), &'static str> {
        check(csv).map_err(|r| r.code())
    }

    #[test]
    fn consistent_utf8_rows_pass() {
        assert_eq!(
            code(b"name,city\n\"Ann, Jr.\",\"Z\xC3\xBCrich\"\nbob,\"multi\nline\"\n"),
            Ok(())
        );
        assert_eq!(code(b"\xEF\xBB\xBFa,b\r\n1,2\r\n"), Ok(()));
        assert_eq!(code(b"single column without newline"), Ok(()));
    }

    #[test]
    fn ragged_empty_and_non_utf8_are_corrupt() {
        let ragged = check(&b"a,b,c\n1,2,3\n4,5\n"[..]).unwrap_err();
        assert_eq!(
            ragged.to_string(),
            "the file is damaged or malformed: CSV row 3 has 2 fields where earlier rows have 3"
        );
        assert_eq!(code(b"caf\xE9,1\n"), Err("corrupt_file"));
        assert_eq!(code(b""), Err("corrupt_file"));
    }
}
