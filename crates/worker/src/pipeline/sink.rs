//! The writer side of an export: [`ExportSink`] is created with the output,
//! learns the columns from the first thing a source feeds it (the header),
//! then writes rows as CSV or PDF, counting them into [`Progress`] and
//! stopping within [`CHECK_EVERY`] rows of a stop request.

use std::io::Write;

use broker_jobs::job::{ExportFormat, ExportJob};

use super::control::{CHECK_EVERY, Progress};
use crate::failure::{Failure, Fault};
use crate::{CsvExport, CsvOptions, PdfExport, WriteError};

/// What to produce.
#[derive(Debug, Clone)]
pub struct OutputSpec {
    pub format: ExportFormat,
    pub title: Option<String>,
    pub csv: CsvOptions,
    /// `EXPORT_MAX_PDF_PAGES`: a PDF is assembled in memory, so its length is bounded.
    pub max_pdf_pages: usize,
}

impl OutputSpec {
    pub fn of(job: &ExportJob, max_pdf_pages: usize) -> Self {
        OutputSpec {
            format: job.format,
            title: job.title.clone(),
            csv: CsvOptions {
                bom: job.bom,
                neutralize_formulas: job.neutralize_formulas,
            },
            max_pdf_pages,
        }
    }
}

enum SinkState<W: Write> {
    Waiting(W),
    Csv(Box<CsvExport<W>>),
    Pdf(Box<PdfExport>, W),
    Broken,
}

/// The writer side: created with the output, fed a header then rows.
pub struct ExportSink<'p, W: Write> {
    spec: OutputSpec,
    state: SinkState<W>,
    progress: &'p Progress,
    rows: u64,
}

impl<'p, W: Write> ExportSink<'p, W> {
    pub fn new(spec: OutputSpec, writer: W, progress: &'p Progress) -> Self {
        ExportSink {
            spec,
            state: SinkState::Waiting(writer),
            progress,
            rows: 0,
        }
    }

    pub fn header<S: AsRef<str>>(&mut self, columns: &[S]) -> Result<(), Failure> {
        let SinkState::Waiting(writer) = std::mem::replace(&mut self.state, SinkState::Broken) else {
            return Err(Failure::fault(Fault::Internal, "the header was written twice"));
        };
        self.state = match self.spec.format {
            ExportFormat::Csv => SinkState::Csv(Box::new(CsvExport::new(writer, columns, self.spec.csv)?)),
            ExportFormat::Pdf => {
                let pdf = PdfExport::new(self.spec.title.as_deref(), columns)?.with_max_pages(self.spec.max_pdf_pages);
                SinkState::Pdf(Box::new(pdf), writer)
            }
        };
        Ok(())
    }

    pub fn row<S: AsRef<str>>(&mut self, row: &[S]) -> Result<(), Failure> {
        match &mut self.state {
            SinkState::Csv(csv) => csv.write_row(row)?,
            SinkState::Pdf(pdf, _) => pdf.write_row(row)?,
            SinkState::Waiting(_) | SinkState::Broken => {
                return Err(Failure::fault(Fault::Internal, "a row came before the header"));
            }
        }
        self.rows += 1;
        self.progress.set_rows(self.rows);
        if self.rows.is_multiple_of(CHECK_EVERY)
            && let Some(reason) = self.progress.stopped()
        {
            return Err(Failure::Stopped(reason));
        }
        Ok(())
    }

    /// Finishes the document; returns the writer and the number of rows.
    pub fn finish(self) -> Result<(W, u64), Failure> {
        if let Some(reason) = self.progress.stopped() {
            return Err(Failure::Stopped(reason));
        }
        let writer = match self.state {
            SinkState::Csv(csv) => csv.finish()?,
            SinkState::Pdf(pdf, mut writer) => {
                let output = pdf.finish()?;
                writer.write_all(&output.bytes).map_err(WriteError::from)?;
                writer
            }
            SinkState::Waiting(_) => return Err(Failure::permanent("empty_source", "the data has no header row")),
            SinkState::Broken => return Err(Failure::fault(Fault::Internal, "the export broke earlier")),
        };
        Ok((writer, self.rows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::StopReason;

    #[test]
    fn a_stop_request_ends_the_export_within_a_few_hundred_rows() {
        let progress = Progress::default();
        let spec = OutputSpec {
            format: ExportFormat::Csv,
            title: None,
            csv: CsvOptions::default(),
            max_pdf_pages: 10,
        };
        let mut sink = ExportSink::new(spec, Vec::new(), &progress);
        sink.header(&["n"]).expect("header");
        progress.stop(StopReason::Cancelled);
        progress.stop(StopReason::Interrupted);
        let stopped = (0..1000).map(|n| sink.row(&[n.to_string()])).find_map(Result::err);
        assert_eq!(stopped, Some(Failure::Stopped(StopReason::Cancelled)));
        assert_eq!(progress.rows(), CHECK_EVERY);
    }
}
