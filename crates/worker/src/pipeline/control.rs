//! Progress and the stop request: the only state the blocking export and the
//! async side share. The sink counts rows into [`Progress`] and reads the stop
//! flag every [`CHECK_EVERY`] rows; the attempt reports the count and raises
//! the flag when the job is cancelled or the worker shuts down.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

/// How often (in rows) the stop flag is read.
pub const CHECK_EVERY: u64 = 256;

/// Why a running export stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `DELETE /exports/{id}`.
    Cancelled,
    /// A later attempt took the job over (this one's worker was taken for
    /// dead, or the task was delivered twice): it owns the job and the output.
    Superseded,
    /// The worker is shutting down (or lost its queue): the job goes back to the queue.
    Interrupted,
}

/// Shared between the blocking export and the async side.
#[derive(Debug, Default)]
pub struct Progress {
    rows: AtomicU64,
    stop: AtomicU8,
}

impl Progress {
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    pub(crate) fn set_rows(&self, rows: u64) {
        self.rows.store(rows, Ordering::Relaxed);
    }

    /// Asks the export to stop; the first reason wins.
    pub fn stop(&self, reason: StopReason) {
        let code = match reason {
            StopReason::Cancelled => 1,
            StopReason::Superseded => 2,
            StopReason::Interrupted => 3,
        };
        let _ = self.stop.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
    }

    pub fn stopped(&self) -> Option<StopReason> {
        match self.stop.load(Ordering::SeqCst) {
            1 => Some(StopReason::Cancelled),
            2 => Some(StopReason::Superseded),
            3 => Some(StopReason::Interrupted),
            _ => None,
        }
    }
}
