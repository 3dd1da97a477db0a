//! The retry policy, as pure functions of the job's counters and the limits.
//!
//! apalis-redis 1.0 hard-codes 25 attempts with a linear delay, so the policy
//! is ours, and the handler only carries out what these functions decide. It
//! keeps apart three ways an attempt can end without a result, because only
//! one of them says anything about the job:
//! * a transient failure (the store unavailable or refusing) is the job's
//!   own: it retries after `EXPORT_RETRY_BASE × 2^(n-1)`, capped at
//!   `EXPORT_RETRY_MAX` ([`backoff`]), until `EXPORT_MAX_ATTEMPTS` such
//!   failures, then fails with its reason and the count ([`after_failure`]);
//! * an attempt interrupted by the worker (shutdown, or the queue itself
//!   unreachable, as in a Redis restart) runs again and is not counted;
//! * an attempt whose worker was lost (SIGKILL, a crash, a worker taken for
//!   dead) cannot count itself: the next attempt finds it and counts it apart,
//!   against the higher `EXPORT_MAX_LOST_WORKERS`, so infrastructure faults do
//!   not use up the attempts of the store errors, while a poison job that kills
//!   every worker still fails ([`before_attempt`]).
//!
//! A permanent failure (bad source, unparsable data, ragged rows, too many
//! pages) fails the job at once.

use std::time::Duration;

use broker_core::config::ExportSettings;
use broker_jobs::job::JobError;

/// The settings the policy depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `EXPORT_MAX_ATTEMPTS`: transient failures before the job fails.
    pub max_attempts: u32,
    /// `EXPORT_MAX_LOST_WORKERS`: lost workers tolerated before the job fails.
    pub max_lost_workers: u32,
    /// `EXPORT_RETRY_BASE`: the delay before the first retry.
    pub base: Duration,
    /// `EXPORT_RETRY_MAX`: the longest delay.
    pub cap: Duration,
}

impl Limits {
    pub fn of(settings: &ExportSettings) -> Self {
        Limits {
            max_attempts: settings.max_attempts,
            max_lost_workers: settings.max_lost_workers,
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
    /// The worker is shutting down or lost the queue: not the job's fault.
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

/// The delay before retry number `failures` (1-based transient failures so
/// far): `base × 2^(failures-1)`, capped.
pub fn backoff(limits: &Limits, failures: u32) -> Duration {
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(20));
    limits.base.saturating_mul(factor).min(limits.cap)
}

/// Whether an attempt may run, given how many workers were lost under the
/// job before it: past the limit it is a job that kills its workers.
pub fn before_attempt(lost_workers: u32, limits: &Limits) -> Result<(), JobError> {
    if lost_workers > limits.max_lost_workers {
        return Err(JobError {
            code: "too_many_attempts".into(),
            message: format!("the job's worker was lost {lost_workers} times"),
        });
    }
    Ok(())
}

/// What follows an attempt ending with `class`, after `failures` earlier
/// transient failures.
pub fn after_failure(class: ErrorClass<'_>, failures: u32, limits: &Limits) -> Next {
    match class {
        ErrorClass::Permanent(error) => Next::Fail { reason: error.clone() },
        ErrorClass::Transient(error) => {
            let failures = failures.saturating_add(1);
            if failures >= limits.max_attempts {
                Next::Fail {
                    reason: JobError {
                        code: error.code.clone(),
                        message: format!("{} (after {failures} attempts)", error.message),
                    },
                }
            } else {
                Next::RetryAfter {
                    delay: backoff(limits, failures),
                    reason: error.clone(),
                }
            }
        }
        ErrorClass::Interrupted => Next::RunAgainUncounted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_attempts: 3,
        max_lost_workers: 5,
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
            "EXPORT_MAX_LOST_WORKERS" => Some("7".into()),
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
                max_lost_workers: 7,
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
        for failures in 0..LIMITS.max_attempts {
            assert_eq!(
                after_failure(ErrorClass::Permanent(&bad), failures, &LIMITS),
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
        assert_eq!(after_failure(ErrorClass::Transient(&down), 0, &LIMITS), retry(1));
        assert_eq!(after_failure(ErrorClass::Transient(&down), 1, &LIMITS), retry(2));
        let many = Limits {
            max_attempts: 10,
            ..LIMITS
        };
        let next: Vec<Next> = (0..6)
            .map(|failures| after_failure(ErrorClass::Transient(&down), failures, &many))
            .collect();
        assert_eq!(next, [1, 2, 4, 8, 10, 10].map(retry), "base × 2^(n-1), capped");
    }

    #[test]
    fn out_of_attempts_fails_with_the_reason_and_the_count() {
        let down = error("store_unavailable");
        for failures in [LIMITS.max_attempts - 1, LIMITS.max_attempts] {
            let Next::Fail { reason } = after_failure(ErrorClass::Transient(&down), failures, &LIMITS) else {
                panic!("after {failures} failures, one more must be the last");
            };
            assert_eq!(reason.code, "store_unavailable");
            assert_eq!(
                reason.message,
                format!("the store is down (after {} attempts)", failures + 1)
            );
        }
    }

    #[test]
    fn an_interrupted_attempt_runs_again_uncounted_whatever_the_count() {
        for failures in [0, LIMITS.max_attempts, LIMITS.max_attempts + 5] {
            assert_eq!(
                after_failure(ErrorClass::Interrupted, failures, &LIMITS),
                Next::RunAgainUncounted
            );
        }
    }

    #[test]
    fn lost_workers_have_their_own_higher_limit() {
        for lost in 0..=LIMITS.max_lost_workers {
            assert_eq!(
                before_attempt(lost, &LIMITS),
                Ok(()),
                "{lost} lost workers are tolerated"
            );
        }
        let refused = before_attempt(LIMITS.max_lost_workers + 1, &LIMITS).expect_err("past the limit");
        assert_eq!(refused.code, "too_many_attempts");
        assert_eq!(refused.message, "the job's worker was lost 6 times");
    }
}
