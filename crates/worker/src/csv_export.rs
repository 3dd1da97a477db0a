//! Streaming CSV writer for exports.
//!
//! Why not hand callers a bare `csv::Writer`: exports are opened by people in
//! spreadsheet applications, which brings two concerns the csv crate does not
//! address on its own:
//!
//! * **Formula injection** (OWASP "CSV Injection"): a cell starting with `=`,
//!   `+`, `-`, `@`, tab or carriage return may be evaluated as a formula by
//!   Excel or LibreOffice. With [`CsvOptions::neutralize_formulas`] (the
//!   default) every such cell — header included — gets a leading `'`, which
//!   spreadsheets treat as "this is text". This is applied to *every* cell
//!   with a leading trigger, including harmless-looking numbers such as `-5`
//!   (it becomes `'-5`): telling a number from a crafted payload like
//!   `-2+3+cmd|' /C calc'!A0` is exactly the kind of guessing OWASP warns
//!   against. Exports of trusted numeric data can switch it off.
//! * **Encoding detection**: Excel only reads UTF-8 CSV correctly when it
//!   starts with a byte-order mark, so [`CsvOptions::bom`] can emit one.
//!   It is off by default because most programs treat the BOM as data.
//!
//! Output is RFC 4180: fields are quoted only when needed (separator, quote,
//! CR or LF inside), quotes are doubled, records end with CRLF. Rows are
//! written through to the wrapped writer as they come; only the csv crate's
//! 8 KiB buffer sits in between.

use std::io::Write;

use crate::error::WriteError;

/// UTF-8 byte-order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Leading characters that make spreadsheet applications evaluate a cell
/// (OWASP CSV injection list).
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// How a CSV export is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// Start the file with a UTF-8 byte-order mark (for Excel). Default: off.
    pub bom: bool,
    /// Prefix cells that start with a formula trigger with `'`. Default: on.
    pub neutralize_formulas: bool,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            bom: false,
            neutralize_formulas: true,
        }
    }
}

/// A CSV export in progress: the header is written by [`CsvExport::new`],
/// then one [`CsvExport::write_row`] per row, then [`CsvExport::finish`].
pub struct CsvExport<W: Write> {
    writer: csv::Writer<W>,
    columns: usize,
    rows: u64,
    neutralize: bool,
    /// Reused buffer for neutralised cells, so prefixing allocates once.
    scratch: String,
}

impl<W: Write> CsvExport<W> {
    /// Starts an export: writes the BOM (if asked for) and the header row.
    pub fn new<S: AsRef<str>>(mut writer: W, columns: &[S], options: CsvOptions) -> Result<Self, WriteError> {
        if columns.is_empty() {
            return Err(WriteError::NoColumns);
        }
        if options.bom {
            writer.write_all(BOM)?;
        }
        let writer = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(writer);
        let mut export = CsvExport {
            writer,
            columns: columns.len(),
            rows: 0,
            neutralize: options.neutralize_formulas,
            scratch: String::new(),
        };
        export.write_record(columns)?;
        Ok(export)
    }

    /// Writes one data row. A row with the wrong number of fields is
    /// rejected before anything of it is written, so the output stays
    /// well-formed and the caller may skip the row or abort the export.
    pub fn write_row<S: AsRef<str>>(&mut self, row: &[S]) -> Result<(), WriteError> {
        if row.len() != self.columns {
            return Err(WriteError::RowLength {
                expected: self.columns,
                got: row.len(),
                row: self.rows + 1,
            });
        }
        self.write_record(row)?;
        self.rows += 1;
        Ok(())
    }

    /// Number of data rows written so far (the header is not counted).
    pub fn rows_written(&self) -> u64 {
        self.rows
    }

    /// Flushes buffered output and returns the wrapped writer.
    pub fn finish(self) -> Result<W, WriteError> {
        self.writer.into_inner().map_err(|e| WriteError::Io(e.into_error()))
    }

    fn write_record<S: AsRef<str>>(&mut self, fields: &[S]) -> Result<(), WriteError> {
        for field in fields {
            let field = field.as_ref();
            if self.neutralize && needs_neutralizing(field) {
                self.scratch.clear();
                self.scratch.push('\'');
                self.scratch.push_str(field);
                self.writer.write_field(&self.scratch)?;
            } else {
                self.writer.write_field(field)?;
            }
        }
        // An empty record terminates the fields written above.
        self.writer.write_record(None::<&[u8]>)?;
        Ok(())
    }
}

/// Whether a cell starts with a character that spreadsheets may evaluate.
fn needs_neutralizing(field: &str) -> bool {
    field.starts_with(FORMULA_TRIGGERS)
}

#[cfg(test)]
mod tests {
    use super::needs_neutralizing;

    #[test]
    fn triggers_only_at_the_start() {
        for cell in ["=1+1", "+1", "-5", "@SUM(A1)", "\tx", "\rx"] {
            assert!(needs_neutralizing(cell), "{cell:?}");
        }
        for cell in ["", "5-3", "a=b", "'=x", " =1", "café", "x@y.z"] {
            assert!(!needs_neutralizing(cell), "{cell:?}");
        }
    }
}
