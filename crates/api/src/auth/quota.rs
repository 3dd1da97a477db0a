//! Per-tenant storage quotas (`TENANT_QUOTA_BYTES`, `TENANT_QUOTAS`).
//!
//! A tenant's usage is the bytes of its verified uploads: every object in the
//! served areas of the upload profiles, in every scope (`{tenant}/{scope}/avatars/`,
//! `{tenant}/{scope}/uploads/`, and the legacy `{tenant}/avatars/`, …).
//! Generated exports are not counted. Deleting an object (`POST /objects/delete`)
//! gives its bytes back. The counter starts from one listing of
//! those areas, so it is correct after any restart with no other state:
//!
//! - sign refuses when usage plus the declared `size` would exceed the quota
//!   (and requires `size` when the tenant has a quota). Nothing is reserved:
//!   an abandoned upload costs nothing.
//! - completion charges the real, sanitised size atomically *before* the
//!   object appears, refusing (and deleting the upload) when it does not fit,
//!   and gives the charge back if the write then fails or loses a race.
//!
//! With `REDIS_URL` the counter lives in Redis (`broker:quota:…`, checked and
//! charged by one Lua script, recounted from the store once a day), so every
//! API instance sees the same usage; otherwise it lives in this process.
//! When Redis cannot be reached, quota decisions fail closed (503).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use broker_core::config::QuotaSettings;
use broker_core::profile::EXPORTS_AREA;
use broker_core::store::{Store, classify};
use broker_core::{Area, ObjectKey, TenantId};

use super::redis_handle::SharedRedis;
use crate::error::ApiError;

/// A Redis counter is recounted from the store this often, healing any drift
/// (objects removed behind the broker's back).
const RECOUNT_SECS: u64 = 24 * 3600;

/// KEYS[1]: the counter; ARGV: bytes, quota. Returns {-1, 0} when the counter
/// does not exist yet, {0, used} when the bytes do not fit, {1, used} when charged.
const CHARGE: &str = r"
local used = redis.call('GET', KEYS[1])
if not used then return {-1, 0} end
used = tonumber(used)
local bytes = tonumber(ARGV[1])
if used + bytes > tonumber(ARGV[2]) then return {0, used} end
return {1, redis.call('INCRBY', KEYS[1], bytes)}
";

/// KEYS[1]: the counter; ARGV[1]: bytes to give back (never below zero).
const REFUND: &str = r"
local used = redis.call('GET', KEYS[1])
if not used then return 0 end
local left = math.max(0, tonumber(used) - tonumber(ARGV[1]))
redis.call('SET', KEYS[1], left, 'KEEPTTL')
return left
";

pub struct Quotas {
    settings: QuotaSettings,
    backend: Backend,
}

enum Backend {
    Local(Mutex<HashMap<TenantId, Arc<tokio::sync::OnceCell<AtomicU64>>>>),
    Redis {
        redis: Arc<SharedRedis>,
        charge: redis::Script,
        refund: redis::Script,
    },
}

/// Bytes charged to a tenant by a completion, to give back if it does not land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Charge(u64);

impl Quotas {
    pub fn new(settings: QuotaSettings, redis: Option<Arc<SharedRedis>>) -> Self {
        let backend = match redis {
            Some(redis) => Backend::Redis {
                redis,
                charge: redis::Script::new(CHARGE),
                refund: redis::Script::new(REFUND),
            },
            None => Backend::Local(Mutex::new(HashMap::new())),
        };
        Quotas { settings, backend }
    }

    /// The tenant's quota in bytes, `None` when unlimited.
    pub fn limit(&self, tenant: &TenantId) -> Option<u64> {
        self.settings.for_tenant(tenant)
    }

    /// At sign: would `declared` more bytes still fit?
    pub async fn check(&self, store: &Store, tenant: &TenantId, declared: Option<u64>) -> Result<(), ApiError> {
        let Some(quota) = self.limit(tenant) else { return Ok(()) };
        let size = declared
            .ok_or_else(|| ApiError::InvalidRequest("`size` is required: this tenant has a storage quota".into()))?;
        let used = self.used(store, tenant).await?;
        if used.saturating_add(size) > quota {
            return Err(ApiError::QuotaExceeded { quota, used, size });
        }
        Ok(())
    }

    /// At completion: charges `size` bytes if they fit, atomically.
    pub async fn charge(&self, store: &Store, tenant: &TenantId, size: u64) -> Result<Charge, ApiError> {
        let Some(quota) = self.limit(tenant) else {
            return Ok(Charge(0));
        };
        match &self.backend {
            Backend::Local(_) => {
                let counter = self.local_counter(store, tenant).await?;
                counter
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                        used.checked_add(size).filter(|total| *total <= quota)
                    })
                    .map(|_| Charge(size))
                    .map_err(|used| ApiError::QuotaExceeded { quota, used, size })
            }
            Backend::Redis { redis, charge, .. } => {
                let key = redis_key(store, tenant);
                for _ in 0..3 {
                    let (status, used): (i64, u64) = redis_call(redis, |mut c| {
                        let key = key.clone();
                        async move { charge.key(&key).arg(size).arg(quota).invoke_async(&mut c).await }
                    })
                    .await?;
                    match status {
                        1 => return Ok(Charge(size)),
                        0 => return Err(ApiError::QuotaExceeded { quota, used, size }),
                        _ => self.redis_init(redis, store, tenant, &key).await.map(drop)?,
                    }
                }
                tracing::error!(%tenant, "the quota counter disappeared three times in a row");
                Err(ApiError::QuotaUnavailable)
            }
        }
    }

    /// Gives back a charge whose object was not written.
    pub async fn refund(&self, store: &Store, tenant: &TenantId, charge: Charge) {
        if charge.0 == 0 {
            return;
        }
        match &self.backend {
            Backend::Local(_) => {
                if let Ok(counter) = self.local_counter(store, tenant).await {
                    let _ = counter.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                        Some(used.saturating_sub(charge.0))
                    });
                }
            }
            Backend::Redis { redis, refund, .. } => {
                let key = redis_key(store, tenant);
                let result: Result<u64, ApiError> = redis_call(redis, |mut c| async move {
                    refund.key(&key).arg(charge.0).invoke_async(&mut c).await
                })
                .await;
                if result.is_err() {
                    tracing::warn!(%tenant, bytes = charge.0, "a quota refund was lost; the daily recount will correct it");
                }
            }
        }
    }

    /// Deletes a verified object of `size` bytes with `delete` and gives the
    /// bytes back. The counter is read first (counted from the store if it
    /// was not yet), so the object is counted exactly once: before the
    /// delete, and then given back.
    pub async fn release(
        &self,
        store: &Store,
        tenant: &TenantId,
        size: u64,
        delete: impl Future<Output = Result<(), ApiError>>,
    ) -> Result<(), ApiError> {
        let limited = self.limit(tenant).is_some();
        if limited {
            self.used(store, tenant).await?;
        }
        delete.await?;
        self.refund(store, tenant, Charge(if limited { size } else { 0 })).await;
        Ok(())
    }

    /// The tenant's usage in bytes.
    pub async fn used(&self, store: &Store, tenant: &TenantId) -> Result<u64, ApiError> {
        match &self.backend {
            Backend::Local(_) => Ok(self.local_counter(store, tenant).await?.load(Ordering::SeqCst)),
            Backend::Redis { redis, .. } => {
                let key = redis_key(store, tenant);
                let used: Option<u64> = redis_call(redis, |mut c| {
                    let key = key.clone();
                    async move { redis::cmd("GET").arg(&key).query_async(&mut c).await }
                })
                .await?;
                match used {
                    Some(used) => Ok(used),
                    None => self.redis_init(redis, store, tenant, &key).await,
                }
            }
        }
    }

    /// The tenant's in-process counter, counted from the store on first use.
    async fn local_counter(&self, store: &Store, tenant: &TenantId) -> Result<LocalCounter, ApiError> {
        let Backend::Local(counters) = &self.backend else {
            unreachable!("only the local backend has local counters")
        };
        let cell = counters
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(tenant.clone())
            .or_default()
            .clone();
        cell.get_or_try_init(|| async { count(store, tenant).await.map(AtomicU64::new) })
            .await?;
        Ok(LocalCounter(cell))
    }

    /// Counts the store and publishes the count unless another instance already did.
    async fn redis_init(
        &self,
        redis: &SharedRedis,
        store: &Store,
        tenant: &TenantId,
        key: &str,
    ) -> Result<u64, ApiError> {
        let counted = count(store, tenant).await?;
        let key = key.to_owned();
        redis_call(redis, |mut c| {
            let key = key.clone();
            async move {
                let () = redis::cmd("SET")
                    .arg(&key)
                    .arg(counted)
                    .arg("NX")
                    .arg("EX")
                    .arg(RECOUNT_SECS)
                    .query_async(&mut c)
                    .await?;
                redis::cmd("GET")
                    .arg(&key)
                    .query_async::<Option<u64>>(&mut c)
                    .await
                    .map(|v| v.unwrap_or(counted))
            }
        })
        .await
    }
}

/// An initialised in-process counter.
struct LocalCounter(Arc<tokio::sync::OnceCell<AtomicU64>>);

impl std::ops::Deref for LocalCounter {
    type Target = AtomicU64;

    #[allow(
        clippy::expect_used,
        reason = "only `local_counter` makes one, after initialising the cell"
    )]
    fn deref(&self) -> &AtomicU64 {
        self.0
            .get()
            .expect("local_counter initialises the cell before handing it out")
    }
}

/// One counter per bucket, prefix and tenant: the key says whose bytes it counts.
fn redis_key(store: &Store, tenant: &TenantId) -> String {
    // `{prefix}{tenant}/bytes/`, as before scopes: a counter survives the upgrade.
    format!(
        "broker:quota:{}:{}bytes/",
        store.bucket(),
        store.layout().tenant_prefixes(tenant)[0]
    )
}

async fn redis_call<T, F, Fut>(redis: &SharedRedis, call: F) -> Result<T, ApiError>
where
    F: FnOnce(redis::aio::ConnectionManager) -> Fut,
    Fut: Future<Output = redis::RedisResult<T>>,
{
    redis.call(call).await.map_err(|_| ApiError::QuotaUnavailable)
}

/// A verified upload: in a profile's served area (any scope), not an export.
fn is_upload(store: &Store, key: &str) -> bool {
    ObjectKey::parse(key)
        .is_ok_and(|key| matches!(store.layout().classify(&key), Ok(Area::Served { area, .. }) if area != EXPORTS_AREA))
}

/// The bytes of the tenant's verified uploads, from one listing of the
/// tenant's prefix (every scope, and the legacy keys without one), summed
/// page by page.
pub async fn count(store: &Store, tenant: &TenantId) -> Result<u64, ApiError> {
    let [served, _staging] = store.layout().tenant_prefixes(tenant);
    let mut pages = store
        .client()
        .list_objects_v2()
        .bucket(store.bucket())
        .prefix(&served)
        .into_paginator()
        .send();
    let mut total = 0u64;
    while let Some(page) = pages.next().await {
        let page = page.map_err(classify)?;
        total += page
            .contents()
            .iter()
            // Only keys at the layout's depth: a deeper one belongs to
            // another deployment whose prefix nests inside this one's.
            .filter(|o| o.key().is_some_and(|key| is_upload(store, key)))
            .filter_map(|o| o.size())
            .map(|s| u64::try_from(s).unwrap_or(0))
            .sum::<u64>();
    }
    Ok(total)
}
