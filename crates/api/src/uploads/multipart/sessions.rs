//! The registry of multipart sessions: which principal started which
//! multipart upload, for what, and until when.
//!
//! A multipart upload is a store-side object with no record of who may use
//! it, so the broker keeps one: `{uploadId, key, tenant, subject, profile,
//! declared size, part size, expiry}`, written at create and checked by every
//! later call. It lives in Redis when `REDIS_URL` is set ([`RedisSessions`],
//! over the API's one connection), otherwise in the embedded SQLite file (the
//! binary's implementation, injected as a [`SessionRegistry`] so this crate
//! never compiles SQLite).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use broker_core::TenantId;
use broker_core::secret::Secret;
use serde::{Deserialize, Serialize};

use crate::auth::SharedRedis;

/// How long a multipart upload may take, from create to complete. The part
/// URLs are short-lived (`S3_PRESIGN_TTL`) and signed on demand within it.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// One multipart upload and the principal it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MultipartSession {
    /// The store's multipart upload id.
    pub upload_id: String,
    /// The staging key the upload completes to.
    pub key: String,
    pub tenant: String,
    pub subject: String,
    pub profile: String,
    /// The declared size in bytes; `None` for a Companion-style create, which
    /// does not send one (the profile's maximum bounds it then).
    pub size: Option<u64>,
    /// Every part but the last has exactly this many bytes.
    pub part_size: u64,
    /// Started with `checksumAlgorithm: "SHA256"`: every part is signed with
    /// its SHA-256, which the store checks.
    #[serde(default)]
    pub part_sha256: bool,
    /// Unix seconds after which the session is over (and `cleanup` aborts it).
    pub expires_at: u64,
}

impl MultipartSession {
    /// Whether `tenant`/`subject` started it, and it has not expired.
    pub fn belongs_to(&self, tenant: &TenantId, subject: &str, now: u64) -> bool {
        self.tenant == tenant.as_str() && self.subject == subject && now < self.expires_at
    }
}

/// Unix seconds of `time`.
pub fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Why the registry could not answer; callers answer 503.
#[derive(Debug, thiserror::Error)]
#[error("the multipart session registry is unavailable: {0}")]
pub struct RegistryError(pub String);

/// Where sessions are kept. Every call is one round trip.
#[async_trait::async_trait]
pub trait SessionRegistry: Send + Sync {
    async fn insert(&self, session: &MultipartSession) -> Result<(), RegistryError>;
    async fn get(&self, upload_id: &str) -> Result<Option<MultipartSession>, RegistryError>;
    async fn remove(&self, upload_id: &str) -> Result<(), RegistryError>;
    /// The sessions whose `expires_at` is at or before `now` (unix seconds).
    async fn expired(&self, now: u64) -> Result<Vec<MultipartSession>, RegistryError>;
}

/// Sessions in Redis: one JSON value per session (`broker:multipart:{id}`,
/// kept a day past its expiry so `cleanup` can still abort it) and a sorted
/// set of ids by expiry (`broker:multipart:expiry`).
pub struct RedisSessions {
    redis: Arc<SharedRedis>,
}

const EXPIRY_SET: &str = "broker:multipart:expiry";
/// How long a record outlives its session in Redis, for `cleanup`.
const KEEP_AFTER_EXPIRY: u64 = 24 * 3600;

fn record_key(upload_id: &str) -> String {
    format!("broker:multipart:{upload_id}")
}

impl RedisSessions {
    pub(crate) fn new(redis: Arc<SharedRedis>) -> Self {
        RedisSessions { redis }
    }

    /// A registry over its own connection to `url` (the `cleanup` command).
    pub fn open(url: &Secret) -> Result<Self, RegistryError> {
        let client =
            redis::Client::open(url.expose()).map_err(|e| RegistryError(format!("REDIS_URL is not usable: {e}")))?;
        Ok(Self::new(Arc::new(SharedRedis::new(client))))
    }

    async fn call<T, F, Fut>(&self, call: F) -> Result<T, RegistryError>
    where
        F: FnOnce(redis::aio::ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.redis
            .call(call)
            .await
            .map_err(|e| RegistryError(format!("redis: {e}")))
    }
}

#[async_trait::async_trait]
impl SessionRegistry for RedisSessions {
    async fn insert(&self, session: &MultipartSession) -> Result<(), RegistryError> {
        let json = serde_json::to_string(session).map_err(|e| RegistryError(e.to_string()))?;
        let ttl = session
            .expires_at
            .saturating_sub(unix_secs(SystemTime::now()))
            .saturating_add(KEEP_AFTER_EXPIRY);
        let (key, id, score) = (
            record_key(&session.upload_id),
            session.upload_id.clone(),
            session.expires_at,
        );
        self.call(|mut connection| async move {
            redis::pipe()
                .atomic()
                .set_ex(&key, json, ttl)
                .ignore()
                .zadd(EXPIRY_SET, id, score)
                .ignore()
                .query_async::<()>(&mut connection)
                .await
        })
        .await
    }

    async fn get(&self, upload_id: &str) -> Result<Option<MultipartSession>, RegistryError> {
        let key = record_key(upload_id);
        let json: Option<String> = self
            .call(|mut connection| async move { redis::cmd("GET").arg(&key).query_async(&mut connection).await })
            .await?;
        json.map(|json| serde_json::from_str(&json).map_err(|e| RegistryError(e.to_string())))
            .transpose()
    }

    async fn remove(&self, upload_id: &str) -> Result<(), RegistryError> {
        let (key, id) = (record_key(upload_id), upload_id.to_owned());
        self.call(|mut connection| async move {
            redis::pipe()
                .atomic()
                .del(&key)
                .ignore()
                .zrem(EXPIRY_SET, id)
                .ignore()
                .query_async::<()>(&mut connection)
                .await
        })
        .await
    }

    async fn expired(&self, now: u64) -> Result<Vec<MultipartSession>, RegistryError> {
        let ids: Vec<String> = self
            .call(|mut connection| async move {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(EXPIRY_SET)
                    .arg("-inf")
                    .arg(now)
                    .query_async(&mut connection)
                    .await
            })
            .await?;
        let mut sessions = Vec::with_capacity(ids.len());
        for id in ids {
            match self.get(&id).await? {
                Some(session) => sessions.push(session),
                // Its record is gone already: only the index entry is left.
                None => self.remove(&id).await?,
            }
        }
        Ok(sessions)
    }
}
