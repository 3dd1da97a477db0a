//! Token buckets per subject and action (`RATE_LIMIT_RATE`, `RATE_LIMIT_BURST`,
//! `RATE_LIMIT_COMPLETE_BURST`).
//!
//! Each `(action, tenant, subject)` has a bucket of `burst` tokens (the
//! action's own size) refilled at `rate` per second; a request takes one or is answered 429 with the seconds
//! until the next token in `Retry-After`. Signing multipart parts counts
//! parts, not requests: its bucket holds [`PARTS_PER_TOKEN`] parts per
//! signing token and refills as many times faster, so one call of up to 100
//! parts costs what one `/uploads/sign` does, and a client that signs one
//! part per call (Uppy) gets the same budget in parts. With `REDIS_URL` the bucket lives in
//! Redis and is updated by one Lua script (atomic, on the server's clock), so
//! every API instance draws from the same bucket. If Redis cannot be reached
//! the limiter lets requests through and logs a warning: a rate limit protects
//! capacity, it is not an access control.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker_core::config::RateLimitSettings;

use super::Caller;
use super::redis_handle::{REDIS_TIMEOUT, SharedRedis};
use crate::error::ApiError;

/// What a bucket is for: each action has its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Sign,
    /// Each completion reads and verifies a whole object: a smaller bucket.
    Complete,
    Export,
    /// Signing multipart parts: one token per part (see [`PARTS_PER_TOKEN`]).
    SignParts,
}

/// How many parts one signing token buys: a bucket of `RATE_LIMIT_BURST` ×
/// this many parts (3,000 by default: a 5 GiB upload in 5 MiB parts is
/// 1,024), refilled at `RATE_LIMIT_RATE` × this many parts per second.
pub const PARTS_PER_TOKEN: u32 = crate::uploads::multipart::MAX_PARTS_PER_CALL as u32;

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Sign => "sign",
            Action::Complete => "complete",
            Action::Export => "export",
            Action::SignParts => "sign_parts",
        }
    }

    /// The action's bucket.
    fn bucket(self, settings: &RateLimitSettings) -> BucketSize {
        let (rate_per_sec, burst) = match self {
            Action::Complete => (settings.rate_per_sec, settings.complete_burst),
            Action::Sign | Action::Export => (settings.rate_per_sec, settings.burst),
            Action::SignParts => (
                settings.rate_per_sec * f64::from(PARTS_PER_TOKEN),
                settings.burst.saturating_mul(PARTS_PER_TOKEN),
            ),
        };
        BucketSize { rate_per_sec, burst }
    }
}

/// Buckets idle long enough to be full again are dropped past this many.
const LOCAL_PRUNE_AT: usize = 10_000;

/// KEYS[1]: the bucket; ARGV: rate per second, burst, tokens to take.
/// Returns 0 when they were taken, else the milliseconds until they are available.
const TAKE_TOKEN: &str = r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + (now - ts) * rate / 1000)
  ts = now
end
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return wait
";

pub struct RateLimiter {
    settings: Option<RateLimitSettings>,
    backend: Backend,
}

enum Backend {
    Local(Mutex<HashMap<(Action, String), Bucket>>),
    Redis {
        redis: Arc<SharedRedis>,
        script: redis::Script,
    },
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub fn new(settings: Option<RateLimitSettings>, redis: Option<Arc<SharedRedis>>) -> Self {
        let backend = match redis {
            Some(redis) => Backend::Redis {
                redis,
                script: redis::Script::new(TAKE_TOKEN),
            },
            None => Backend::Local(Mutex::new(HashMap::new())),
        };
        RateLimiter { settings, backend }
    }

    /// Takes one token from the caller's bucket for `action`, or says when to retry.
    pub async fn check(&self, caller: &Caller, action: Action) -> Result<(), ApiError> {
        self.take(caller, action, 1).await
    }

    /// Takes `cost` tokens (at most the bucket's size) from the caller's
    /// bucket for `action`, or says when to retry.
    pub async fn take(&self, caller: &Caller, action: Action, cost: u32) -> Result<(), ApiError> {
        let Some(settings) = self.settings else { return Ok(()) };
        // A tenant id never contains ':', so the subject cannot forge another tenant's bucket.
        let subject = format!("{}:{}", caller.tenant, caller.subject);
        let bucket = action.bucket(&settings);
        let cost = cost.clamp(1, bucket.burst.max(1));
        let wait = match &self.backend {
            Backend::Local(buckets) => take_local(buckets, bucket, action, subject, cost),
            Backend::Redis { redis, script } => {
                let key = format!("broker:ratelimit:{}:{subject}", action.as_str());
                match take_redis(redis, script, bucket, &key, cost).await {
                    Ok(wait) => wait,
                    Err(e) => {
                        tracing::warn!(error = %e, "the rate limiter cannot reach Redis; letting the request through");
                        Duration::ZERO
                    }
                }
            }
        };
        if wait.is_zero() {
            Ok(())
        } else {
            broker_core::metrics::rate_limited(action.as_str());
            Err(ApiError::RateLimited {
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            })
        }
    }
}

/// One action's bucket: its size and refill rate.
#[derive(Debug, Clone, Copy)]
struct BucketSize {
    rate_per_sec: f64,
    burst: u32,
}

fn take_local(
    buckets: &Mutex<HashMap<(Action, String), Bucket>>,
    settings: BucketSize,
    action: Action,
    subject: String,
    cost: u32,
) -> Duration {
    let now = Instant::now();
    let burst = f64::from(settings.burst);
    let mut buckets = buckets.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if buckets.len() >= LOCAL_PRUNE_AT {
        let refill = Duration::from_secs_f64(burst / settings.rate_per_sec);
        buckets.retain(|_, bucket| now.duration_since(bucket.updated) < refill);
    }
    let bucket = buckets.entry((action, subject)).or_insert(Bucket {
        tokens: burst,
        updated: now,
    });
    let elapsed = now.duration_since(bucket.updated).as_secs_f64();
    bucket.tokens = (bucket.tokens + elapsed * settings.rate_per_sec).min(burst);
    bucket.updated = now;
    let cost = f64::from(cost);
    if bucket.tokens >= cost {
        bucket.tokens -= cost;
        Duration::ZERO
    } else {
        Duration::from_secs_f64((cost - bucket.tokens) / settings.rate_per_sec)
    }
}

async fn take_redis(
    redis: &SharedRedis,
    script: &redis::Script,
    settings: BucketSize,
    key: &str,
    cost: u32,
) -> Result<Duration, String> {
    let call = async {
        let mut connection = redis.connection().await?;
        script
            .key(key)
            .arg(settings.rate_per_sec)
            .arg(settings.burst)
            .arg(cost)
            .invoke_async::<u64>(&mut connection)
            .await
    };
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(Ok(wait_ms)) => Ok(Duration::from_millis(wait_ms)),
        Ok(Err(e)) => Err(format!("{:?}: {}", e.kind(), e.detail().unwrap_or("no detail"))),
        Err(_) => Err("timed out".into()),
    }
}

#[cfg(test)]
mod tests {
    use broker_core::TenantId;

    use super::*;

    fn caller(tenant: &str, subject: &str) -> Caller {
        Caller {
            tenant: TenantId::parse(tenant).expect("tenant"),
            subject: subject.into(),
            ..Caller::development()
        }
    }

    #[tokio::test]
    async fn a_bucket_allows_its_burst_then_says_when_to_retry() {
        let limiter = RateLimiter::new(
            Some(RateLimitSettings {
                rate_per_sec: 0.5,
                burst: 2,
                complete_burst: 1,
            }),
            None,
        );
        let alice = caller("acme", "alice");
        assert!(limiter.check(&alice, Action::Sign).await.is_ok());
        assert!(limiter.check(&alice, Action::Sign).await.is_ok());
        match limiter.check(&alice, Action::Sign).await {
            Err(ApiError::RateLimited { retry_after }) => assert_eq!(retry_after, 2),
            other => panic!("expected a 429, got {other:?}"),
        }
        // Other actions, subjects and tenants have their own buckets, and
        // completions a bucket of their own size.
        assert!(limiter.check(&alice, Action::Export).await.is_ok());
        assert!(limiter.check(&alice, Action::Complete).await.is_ok());
        assert!(limiter.check(&alice, Action::Complete).await.is_err());
        assert!(limiter.check(&caller("acme", "bob"), Action::Sign).await.is_ok());
        assert!(limiter.check(&caller("globex", "alice"), Action::Sign).await.is_ok());
    }

    #[tokio::test]
    async fn part_signing_counts_parts_in_a_bucket_of_its_own() {
        let limiter = RateLimiter::new(
            Some(RateLimitSettings {
                rate_per_sec: 0.001,
                burst: 2,
                complete_burst: 1,
            }),
            None,
        );
        let alice = caller("acme", "alice");
        // Two signing tokens buy 200 parts, in calls of any size.
        assert!(limiter.take(&alice, Action::SignParts, 100).await.is_ok());
        for _ in 0..99 {
            assert!(limiter.take(&alice, Action::SignParts, 1).await.is_ok());
        }
        match limiter.take(&alice, Action::SignParts, 2).await {
            Err(ApiError::RateLimited { retry_after }) => assert!(retry_after >= 10, "{retry_after}"),
            other => panic!("expected a 429, got {other:?}"),
        }
        assert!(
            limiter.take(&alice, Action::SignParts, 1).await.is_ok(),
            "the last part"
        );
        assert!(limiter.take(&alice, Action::SignParts, 1).await.is_err());
        assert!(limiter.check(&alice, Action::Sign).await.is_ok(), "a bucket of its own");
    }

    #[tokio::test]
    async fn no_settings_means_no_limit() {
        let limiter = RateLimiter::new(None, None);
        for _ in 0..100 {
            assert!(limiter.check(&caller("acme", "alice"), Action::Sign).await.is_ok());
        }
    }
}
