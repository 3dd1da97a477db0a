//! Recording an attempt's transitions through a queue outage.
//!
//! A Redis restart is an infrastructure fault, not the job's: an attempt that
//! has done its work (or knows how it failed) keeps trying to record that
//! while the queue comes back, instead of losing the work or counting the
//! outage against the job. Every transition it retries is conditional on the
//! attempt's token, so trying again after a reply was lost is harmless: once
//! applied, it reads as no longer current.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use broker_jobs::QueueError;

/// How long a transition is retried while the queue is unavailable. Past it
/// the record keeps naming this attempt, and the next delivery counts it as a
/// lost worker.
const PATIENCE: Duration = Duration::from_secs(60);

/// The first pause between two tries; it doubles up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// Runs `operation` until it succeeds, fails otherwise than by the queue
/// being unavailable, or [`PATIENCE`] has passed.
pub(crate) async fn patiently<T, F, Fut>(what: &str, mut operation: F) -> Result<T, QueueError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QueueError>>,
{
    let started = Instant::now();
    let mut pause = FIRST_PAUSE;
    loop {
        match operation().await {
            Err(QueueError::Unavailable(detail)) if started.elapsed() < PATIENCE => {
                tracing::debug!(%detail, "the queue is unavailable; {what} is tried again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_PAUSE);
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn an_outage_is_waited_out_and_other_errors_are_not() {
        let mut calls = 0;
        let result = patiently("a test", || {
            calls += 1;
            let attempt = calls;
            async move {
                if attempt < 4 {
                    Err(QueueError::Unavailable("down".into()))
                } else {
                    Ok(attempt)
                }
            }
        })
        .await;
        assert_eq!(result.ok(), Some(4));

        let mut calls = 0;
        let corrupt = patiently("a test", || {
            calls += 1;
            async { Err::<(), _>(QueueError::Corrupt("bad".into())) }
        })
        .await;
        assert!(matches!(corrupt, Err(QueueError::Corrupt(_))));
        assert_eq!(calls, 1);

        let started = tokio::time::Instant::now();
        let given_up = patiently("a test", || async {
            Err::<(), _>(QueueError::Unavailable("down".into()))
        })
        .await;
        assert!(matches!(given_up, Err(QueueError::Unavailable(_))));
        assert!(started.elapsed() >= PATIENCE);
    }
}
