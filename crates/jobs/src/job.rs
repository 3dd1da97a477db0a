//! What an export job carries through the queue, and the job's public state.
//!
//! The queued arguments stay small (ids, names, options): inline rows can be
//! megabytes, so they are stored once next to the job's status record (with
//! the same TTL, as the request body they came in: see [`crate::inline`]) and
//! dropped when the job ends, instead of being copied into every queued
//! attempt.

use broker_core::TenantId;
use broker_core::content_type::{self, ContentType};
use serde::{Deserialize, Serialize};

use crate::JobId;

/// The output format of an export.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Pdf,
}

impl ExportFormat {
    const ALL: [ExportFormat; 2] = [ExportFormat::Csv, ExportFormat::Pdf];

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|format| format.as_str() == raw)
    }

    /// The format's entry in the one table of file types.
    fn file_type(self) -> &'static ContentType {
        match self {
            ExportFormat::Csv => &content_type::CSV,
            ExportFormat::Pdf => &content_type::PDF,
        }
    }

    /// The format's name on the wire, which is also its extension.
    pub fn as_str(self) -> &'static str {
        self.file_type().extension
    }

    pub fn extension(self) -> &'static str {
        self.file_type().extension
    }

    /// The `Content-Type` the output is stored and served with: the table's
    /// MIME type, with the charset for text (the CSV writer writes UTF-8).
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Pdf => content_type::PDF.mime,
        }
    }
}

/// The name a browser saves the output under: the client's own (any
/// Unicode), ending with the format's extension.
pub fn download_name(filename: &str, format: ExportFormat) -> String {
    let extension = format.extension();
    match filename.rsplit_once('.') {
        Some((_, ext)) if ext.eq_ignore_ascii_case(extension) => filename.to_owned(),
        _ if filename.trim().is_empty() => format!("export.{extension}"),
        _ => format!("{filename}.{extension}"),
    }
}

/// Where the rows come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum JobSource {
    /// Rows sent in the request: the request body is stored beside the job's
    /// status and read back with [`crate::inline::for_each_row`].
    Inline,
    /// A verified export upload (CSV, a JSON array of objects, or NDJSON), streamed from the store.
    Object { key: String },
}

/// The queued arguments of one export attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportJob {
    pub job_id: JobId,
    pub tenant: TenantId,
    pub format: ExportFormat,
    /// The client's file name, used for `Content-Disposition` (the key uses a sanitised copy).
    pub filename: String,
    #[serde(default)]
    pub title: Option<String>,
    pub source: JobSource,
    /// CSV only: start with a UTF-8 byte-order mark (for Excel).
    #[serde(default)]
    pub bom: bool,
    /// CSV only: prefix cells that spreadsheets would evaluate with `'`.
    #[serde(default = "yes")]
    pub neutralize_formulas: bool,
}

fn yes() -> bool {
    true
}

/// A job's state as `GET /exports/{id}` reports it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Done => "done",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "queued" => JobStatus::Queued,
            "running" => JobStatus::Running,
            "done" => JobStatus::Done,
            "failed" => JobStatus::Failed,
            "cancelled" => JobStatus::Cancelled,
            _ => return None,
        })
    }

    /// Done, failed and cancelled jobs never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobStatus::Done | JobStatus::Failed | JobStatus::Cancelled)
    }
}

/// Why a job failed, with a stable code.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobError {
    pub code: String,
    pub message: String,
}

/// Everything known about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    pub job_id: JobId,
    pub tenant: TenantId,
    pub format: ExportFormat,
    pub filename: String,
    pub status: JobStatus,
    /// Rows written so far (the header is not counted).
    pub rows: u64,
    /// Rows in total, when known (inline rows; any job once done).
    pub total: Option<u64>,
    /// Attempts started so far.
    pub attempts: u32,
    /// The last failure: final for `failed`, the reason of the pending retry for `queued`.
    pub error: Option<JobError>,
    /// The output's key once `done`.
    pub object_key: Option<String>,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    /// When a queued retry is due (Unix seconds).
    pub retry_at: Option<u64>,
}

/// Unix time in seconds.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_come_from_the_content_type_table() {
        for format in ExportFormat::ALL {
            assert_eq!(ExportFormat::parse(format.as_str()), Some(format));
            let mime = format.file_type().mime;
            assert!(format.content_type().starts_with(mime), "{}", format.content_type());
        }
        assert_eq!(ExportFormat::Csv.content_type(), "text/csv; charset=utf-8");
        assert_eq!(ExportFormat::Pdf.extension(), "pdf");
        assert_eq!(ExportFormat::parse("xlsx"), None);
    }
}
