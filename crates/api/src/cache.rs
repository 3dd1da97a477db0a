//! A value computed at most once per period, by one caller at a time.
//!
//! `/readyz`, `/storage/info` and the usage routes answer from a result that
//! costs store calls (a HEAD, a listing of the bucket): anyone polling them
//! costs at most one computation per period per instance, and concurrent
//! callers of a stale value wait for one computation instead of each running
//! their own.

use std::time::{Duration, Instant, SystemTime};

/// The last computed value, when it was computed, and (by its lock) the one
/// computation in flight.
pub struct TtlCell<T> {
    last: tokio::sync::Mutex<Option<Computed<T>>>,
}

/// A value and when it was computed (wall clock, for replies).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Computed<T> {
    pub value: T,
    pub at: SystemTime,
    fresh_until: Instant,
}

impl<T> Default for TtlCell<T> {
    fn default() -> Self {
        TtlCell {
            last: tokio::sync::Mutex::new(None),
        }
    }
}

impl<T: Clone> TtlCell<T> {
    /// The value of the last `ttl`, or of a new run of `compute`. A failed
    /// run is not kept: the next caller tries again.
    pub async fn get<E, F: Future<Output = Result<T, E>>>(
        &self,
        ttl: Duration,
        compute: impl FnOnce() -> F,
    ) -> Result<Computed<T>, E> {
        let mut last = self.last.lock().await;
        if let Some(computed) = last.as_ref().filter(|c| Instant::now() < c.fresh_until) {
            return Ok(computed.clone());
        }
        let value = compute().await?;
        let computed = Computed {
            value,
            at: SystemTime::now(),
            fresh_until: Instant::now() + ttl,
        };
        *last = Some(computed.clone());
        Ok(computed)
    }
}

impl<T: Clone> TtlCell<T> {
    /// The last computed value, however old (waiting for one in flight).
    pub async fn last(&self) -> Option<Computed<T>> {
        self.last.lock().await.clone()
    }
}

/// `at` as RFC 3339 in UTC (`2026-11-29T23:40:00Z`).
pub fn rfc3339(at: SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn one_computation_answers_for_a_period_and_failures_are_not_kept() {
        let cell = TtlCell::<u32>::default();
        let runs = AtomicUsize::new(0);
        let failing = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            Err::<u32, &str>("down")
        };
        assert_eq!(cell.get(Duration::from_secs(60), failing).await, Err("down"));
        let ok = || async { Ok::<u32, &str>(runs.fetch_add(1, Ordering::SeqCst) as u32) };
        let (a, b) = tokio::join!(
            cell.get(Duration::from_secs(60), ok),
            cell.get(Duration::from_secs(60), ok)
        );
        assert_eq!(a, b, "concurrent callers share one computation");
        assert_eq!(a.map(|c| c.value), Ok(1));
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        let expired = cell.get(Duration::ZERO, ok).await.map(|c| c.value);
        assert_eq!(
            expired,
            Ok(1),
            "still fresh: the period is the one it was computed with"
        );
        assert!(rfc3339(SystemTime::UNIX_EPOCH) == "1970-01-01T00:00:00Z");
    }
}
