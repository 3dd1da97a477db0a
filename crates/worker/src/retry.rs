//! The retry policy, as pure functions of the attempt number and the limits.
//!
//! apalis-redis 1.0 hard-codes 25 attempts with a linear delay, so the policy
//! is ours, and the handler only carries out what these functions decide:
//! * the attempt counter lives in the job's status record and is incremented
//!   when an attempt starts, so a crash (SIGKILL) counts as an attempt too;
//!   a job found past `EXPORT_MAX_ATTEMPTS` at its start fails
//!   ([`before_attempt`]);
//! * a permanent failure (bad source, unparsable data, ragged rows) fails the
//!   job at once;
//! * a transient failure (store or queue unavailable) retries after
//!   `EXPORT_RETRY_BASE × 2^(n-1)`, capped at `EXPORT_RETRY_MAX`
//!   ([`backoff`]), until `EXPORT_MAX_ATTEMPTS`, then fails with its reason
//!   and the number of attempts;
//! * an attempt interrupted by shutdown runs again, and is not counted.

use std::time::Duration;

use broker_core::config::ExportSettings;
use broker_jobs::job::JobError;

/// The settings the policy depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `EXPORT_MAX_ATTEMPTS`.
    pub max_attempts: u32,
    /// `EXPORT_RETRY_BASE`: the delay before the first retry.
    pub base: Duration,
    /// `EXPORT_RETRY_MAX`: the longest delay.
    pub cap: Duration,
}

impl Limits {
    pub fn of(settings: &ExportSettings) -> Self {
        Limits {
            max_attempts: settings.max_attempts,
            base: settings.retry_base,
            cap: settings.retry_max,
        }
    }
}

/// How an unsuccessful attempt ended, as far as the policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorClass<'a> {
    /// Bad input: another attempt would fail the same way.
    Permanent(&'a JobError),
    /// A dependency failed: another attempt may succeed.
    Transient(&'a JobError),
    /// The worker is shutting down: not the job's fault.
    Interrupted,
}

/// What happens to the job next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// It is `failed`, for this reason.
    Fail { reason: JobError },
    /// Back to `queued` (reporting this reason), with a new task after `delay`.
    RetryAfter { delay: Duration, reason: JobError },
    /// The same task runs again soon, and this attempt does not count.
    RunAgainUncounted,
}

/// The delay before retry number `attempt` (1-based attempts already made):
/// `base × 2^(attempt-1)`, capped.
pub fn backoff(limits: &Limits, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(20));
    limits.base.saturating_mul(factor).min(limits.cap)
}

/// Whether attempt number `attempt` (1-based, already counted) may run at all:
/// past the limit it can only be a job whose attempts kept being cut short
/// (crashed workers), and it fails instead.
pub fn before_attempt(attempt: u32, limits: &Limits) -> Result<(), JobError> {
    if attempt > limits.max_attempts {
        return Err(JobError {
            code: "too_many_attempts".into(),
            message: format!("the job was interrupted {} times", attempt - 1),
        });
    }
    Ok(())
}

/// What follows attempt number `attempt` (1-based) ending with `class`.
pub fn after_failure(class: ErrorClass<'_>, attempt: u32, limits: &Limits) -> Next {
    match class {
        ErrorClass::Permanent(error) => Next::Fail { reason: error.clone() },
        ErrorClass::Transient(error) if attempt >= limits.max_attempts => Next::Fail {
            reason: JobError {
                code: error.code.clone(),
                message: format!("{} (after {attempt} attempts)", error.message),
            },
        },
        ErrorClass::Transient(error) => Next::RetryAfter {
            delay: backoff(limits, attempt),
            reason: error.clone(),
        },
        ErrorClass::Interrupted => Next::RunAgainUncounted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_attempts: 3,
        base: Duration::from_secs(1),
        cap: Duration::from_secs(10),
    };

    fn error(code: &str) -> JobError {
        JobError {
            code: code.into(),
            message: "the store is down".into(),
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let limits = Limits {
            base: Duration::from_secs(2),
            ..LIMITS
        };
        let delays: Vec<u64> = (1..=5).map(|a| backoff(&limits, a).as_secs()).collect();
        assert_eq!(delays, [2, 4, 8, 10, 10]);
        assert_eq!(backoff(&limits, u32::MAX), limits.cap, "no overflow");
    }

    #[test]
    fn limits_come_from_the_export_settings() {
        let settings = broker_core::Settings::from_lookup(|name| match name {
            "EXPORT_MAX_ATTEMPTS" => Some("4".into()),
            "EXPORT_RETRY_BASE" => Some("2".into()),
            "EXPORT_RETRY_MAX" => Some("10".into()),
            "AUTH_MODE" => Some("none".into()),
            _ => None,
        })
        .expect("valid")
        .exports;
        assert_eq!(
            Limits::of(&settings),
            Limits {
                max_attempts: 4,
                base: Duration::from_secs(2),
                cap: Duration::from_secs(10),
            }
        );
    }

    #[test]
    fn a_permanent_error_fails_at_once_with_its_reason() {
        let bad = JobError {
            code: "ragged_rows".into(),
            message: "row 2 has 1 fields, expected 2".into(),
        };
        for attempt in 1..=LIMITS.max_attempts {
            assert_eq!(
                after_failure(ErrorClass::Permanent(&bad), attempt, &LIMITS),
                Next::Fail { reason: bad.clone() }
            );
        }
    }

    #[test]
    fn transient_errors_retry_with_exponential_backoff_until_the_last_attempt() {
        let down = error("store_unavailable");
        let retry = |secs| Next::RetryAfter {
            delay: Duration::from_secs(secs),
            reason: down.clone(),
        };
        assert_eq!(after_failure(ErrorClass::Transient(&down), 1, &LIMITS), retry(1));
        assert_eq!(after_failure(ErrorClass::Transient(&down), 2, &LIMITS), retry(2));
        let many = Limits {
            max_attempts: 10,
            ..LIMITS
        };
        let next: Vec<Next> = (1..=6)
            .map(|attempt| after_failure(ErrorClass::Transient(&down), attempt, &many))
            .collect();
        assert_eq!(next, [1, 2, 4, 8, 10, 10].map(retry), "base × 2^(n-1), capped");
    }

    #[test]
    fn out_of_attempts_fails_with_the_reason_and_the_count() {
        let down = error("store_unavailable");
        for attempt in [LIMITS.max_attempts, LIMITS.max_attempts + 1] {
            let Next::Fail { reason } = after_failure(ErrorClass::Transient(&down), attempt, &LIMITS) else {
                panic!("attempt {attempt} must be the last");
            };
            assert_eq!(reason.code, "store_unavailable");
            assert_eq!(reason.message, format!("the store is down (after {attempt} attempts)"));
        }
    }

    #[test]
    fn an_interrupted_attempt_runs_again_uncounted_whatever_the_count() {
        for attempt in [1, LIMITS.max_attempts, LIMITS.max_attempts + 5] {
            assert_eq!(
                after_failure(ErrorClass::Interrupted, attempt, &LIMITS),
                Next::RunAgainUncounted
            );
        }
    }

    #[test]
    fn an_attempt_past_the_limit_does_not_start() {
        assert_eq!(before_attempt(1, &LIMITS), Ok(()));
        assert_eq!(before_attempt(LIMITS.max_attempts, &LIMITS), Ok(()));
        let refused = before_attempt(LIMITS.max_attempts + 1, &LIMITS).expect_err("past the limit");
        assert_eq!(refused.code, "too_many_attempts");
        assert_eq!(refused.message, "the job was interrupted 3 times");
    }
}
