//! What operators ask of the store, as plain functions: `/storage/info`
//! (what the broker is configured against and whether the store answers),
//! `/storage/usage` (bytes and objects per tenant and area, for admins) and
//! `/usage` (the caller's own tenant, with its quota, per scope and area).
//!
//! Usage is counted by listing the bucket (ListObjectsV2, page by page) and
//! placing every key with [`KeyLayout::classify`], the one module that knows
//! the layout: `staging` for uploads not verified yet, and the served areas
//! (`avatars`, `uploads`, `exports`). A key the layout does not know (another
//! deployment's prefix nested in this one, a hand-made object) is counted as
//! `unclassified`. One listing answers for `STORAGE_USAGE_TTL`, so polling
//! costs one listing per period per instance; a tenant's own view lists only
//! that tenant's prefixes.
//!
//! Nothing here carries a credential or a store's error text: the info names
//! the bucket, region, endpoint (scheme, host and port only) and prefix.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use broker_core::config::{Encryption, StoreBackend, StoreSettings, UploadMode};
use broker_core::keys::Area;
use broker_core::store::Store;
use broker_core::{KeyLayout, ObjectKey, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::audit::Audited;
use crate::auth::{Caller, Quotas};
use crate::cache::{Computed, TtlCell, rfc3339};
use crate::error::ApiError;

/// The area of uploads not verified yet, in usage replies.
pub const STAGING_AREA: &str = "staging";
pub const DEFAULT_PAGE: usize = 100;
pub const MAX_PAGE: usize = 1000;
/// Cached usage views kept at most; idle ones are dropped past it.
const MAX_CACHED_SCOPES: usize = 1024;

/// What kind of store the broker talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// The broker's own store (`S3_ENABLED` unset).
    Embedded,
    /// AWS S3, resolved from the region.
    AwsS3,
    /// Any other S3-compatible endpoint (`S3_ENDPOINT`).
    S3Compatible,
}

/// The operators' routes' state: the provider and the cached usage listings.
pub struct StorageService {
    provider: Provider,
    usage_ttl: Duration,
    usage: Mutex<HashMap<Scope, Arc<TtlCell<Arc<Usage>>>>>,
}

/// What one cached listing covers: one tenant's prefixes, or everything (`None`).
type Scope = Option<TenantId>;

impl StorageService {
    pub fn new(settings: &StoreSettings) -> Self {
        let provider = match &settings.backend {
            StoreBackend::Embedded { .. } => Provider::Embedded,
            StoreBackend::External { endpoint: None, .. } => Provider::AwsS3,
            StoreBackend::External { endpoint: Some(_), .. } => Provider::S3Compatible,
        };
        StorageService {
            provider,
            usage_ttl: settings.usage_ttl,
            usage: Mutex::new(HashMap::new()),
        }
    }

    /// The usage of `tenant`'s prefixes, or of the whole layout (`None`),
    /// from the listing of the last `STORAGE_USAGE_TTL`.
    pub async fn usage(&self, store: &Store, tenant: Option<&TenantId>) -> Result<Computed<Arc<Usage>>, ApiError> {
        let scope = tenant.cloned();
        let cell = {
            let mut cells = self.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !cells.contains_key(&scope) && cells.len() >= MAX_CACHED_SCOPES {
                cells.retain(|_, cell| Arc::strong_count(cell) > 1);
            }
            cells.entry(scope).or_default().clone()
        };
        let prefixes = match tenant {
            Some(tenant) => store.layout().tenant_prefixes(tenant).to_vec(),
            None => vec![store.layout().root().to_owned()],
        };
        cell.get(self.usage_ttl, || async {
            let mut listed = Vec::new();
            for prefix in &prefixes {
                listed.extend(store.list(prefix).await?);
            }
            Ok::<_, ApiError>(Arc::new(tally(
                store.layout(),
                listed.iter().map(|l| (l.key.as_str(), l.size)),
            )))
        })
        .await
    }
}

/// `GET /storage/info`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageInfo {
    pub provider: Provider,
    /// A bucket is named and credentials were found.
    pub configured: bool,
    /// The store check of the last readiness round passed.
    pub healthy: bool,
    /// When that round ran (RFC 3339).
    pub last_check: String,
    pub capabilities: Vec<&'static str>,
    pub bucket: String,
    pub region: String,
    /// Scheme, host and port; `None` for AWS (resolved from the region).
    pub endpoint: Option<String>,
    pub upload_mode: &'static str,
    /// `S3_PREFIX`, empty when unset.
    pub prefix: String,
}

impl Audited for StorageInfo {}

/// The info of `store`, with the health of the last readiness round.
pub fn info(service: &StorageService, store: &Store, healthy: bool, last_check: SystemTime) -> StorageInfo {
    StorageInfo {
        provider: service.provider,
        configured: !store.bucket().is_empty() && store.has_credentials(),
        healthy,
        last_check: rfc3339(last_check),
        capabilities: capabilities(service.provider, store),
        bucket: store.bucket().to_owned(),
        region: store.region().to_owned(),
        endpoint: store.endpoint().and_then(public_endpoint),
        upload_mode: store.upload_mode().as_str(),
        prefix: store.layout().prefix().to_owned(),
    }
}

/// What this deployment does with its store: how browsers upload, that
/// downloads are presigned GETs and exports multipart uploads, which
/// encryption every write asks for, whether the broker itself answers CORS
/// (the embedded store; an external bucket's CORS is checked by `doctor`),
/// and whether avatars have CDN URLs.
fn capabilities(provider: Provider, store: &Store) -> Vec<&'static str> {
    let mut capabilities = vec![
        match store.upload_mode() {
            UploadMode::Post => "presigned_post",
            UploadMode::Put => "presigned_put",
        },
        "presigned_get",
        "multipart",
    ];
    match store.encryption() {
        Some(Encryption::Aes256) => capabilities.push("sse_s3"),
        Some(Encryption::Kms { .. }) => capabilities.push("sse_kms"),
        None => {}
    }
    if provider == Provider::Embedded {
        capabilities.push("cors");
    }
    if store.has_cdn() {
        capabilities.push("cdn");
    }
    capabilities
}

/// `scheme://host[:port]`: never a user, password, path or query.
fn public_endpoint(raw: &str) -> Option<String> {
    let uri: http::Uri = raw.parse().ok()?;
    let authority = uri.authority()?;
    let host_port = authority.as_str().rsplit('@').next()?;
    Some(format!("{}://{host_port}", uri.scheme_str()?))
}

/// Bytes and objects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Tally {
    pub bytes: u64,
    pub objects: u64,
}

impl Tally {
    fn add(&mut self, size: u64) {
        self.bytes = self.bytes.saturating_add(size);
        self.objects += 1;
    }
}

/// One tenant's objects, in all, per area, and per scope and area.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct TenantUsage {
    pub tenant: String,
    pub bytes: u64,
    pub objects: u64,
    pub areas: BTreeMap<&'static str, Tally>,
    /// By scope (`tenant`, `team:{id}`, `user:{subject hash}`; legacy keys
    /// count as `tenant`), then by area.
    pub scopes: BTreeMap<String, ScopeUsage>,
}

/// One scope's objects, in all and per area.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct ScopeUsage {
    pub bytes: u64,
    pub objects: u64,
    pub areas: BTreeMap<&'static str, Tally>,
}

/// A listing, placed by the key layout.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// By tenant id, in order (the pagination cursor is a tenant id).
    pub tenants: BTreeMap<String, TenantUsage>,
    /// Keys outside the layout.
    pub unclassified: Tally,
}

/// Places every `(key, size)` in its tenant and area.
pub fn tally<'a>(layout: &KeyLayout, objects: impl IntoIterator<Item = (&'a str, u64)>) -> Usage {
    let mut usage = Usage::default();
    for (raw, size) in objects {
        let place = ObjectKey::parse(raw)
            .ok()
            .and_then(|key| layout.classify(&key).ok())
            .map(|area| match area {
                Area::Staging(upload) => (upload.tenant, upload.scope, STAGING_AREA),
                Area::Served { tenant, scope, area } => (tenant, scope, area),
            });
        let Some((tenant, scope, area)) = place else {
            usage.unclassified.add(size);
            continue;
        };
        let entry = usage
            .tenants
            .entry(tenant.as_str().to_owned())
            .or_insert_with(|| TenantUsage {
                tenant: tenant.as_str().to_owned(),
                ..TenantUsage::default()
            });
        entry.bytes = entry.bytes.saturating_add(size);
        entry.objects += 1;
        entry.areas.entry(area).or_default().add(size);
        let scoped = entry.scopes.entry(scope.to_string()).or_default();
        scoped.bytes = scoped.bytes.saturating_add(size);
        scoped.objects += 1;
        scoped.areas.entry(area).or_default().add(size);
    }
    usage
}

/// `?cursor=` (the last tenant of the previous page) and `?limit=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The `nextCursor` of the previous page.
    pub cursor: Option<String>,
    /// Tenants per page, 1 to 1000 (default 100).
    pub limit: Option<usize>,
}

/// `GET /storage/usage`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsagePage {
    pub tenants: Vec<TenantUsage>,
    /// Pass as `cursor` for the next page; `None` on the last one.
    pub next_cursor: Option<String>,
    pub unclassified: Tally,
    /// When the listing ran (RFC 3339), and for how long it answers.
    pub computed_at: String,
    pub max_age: u64,
}

impl Audited for UsagePage {}

/// One page of every tenant's usage.
pub async fn usage_page(service: &StorageService, store: &Store, query: &PageQuery) -> Result<UsagePage, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!("`limit` must be 1 to {MAX_PAGE}")));
    }
    let after = match &query.cursor {
        Some(cursor) => Bound::Excluded(
            TenantId::parse(cursor)
                .map_err(|_| ApiError::InvalidRequest("`cursor` is not a tenant id from a previous page".into()))?
                .as_str()
                .to_owned(),
        ),
        None => Bound::Unbounded,
    };
    let usage = service.usage(store, None).await?;
    let mut tenants: Vec<TenantUsage> = usage
        .value
        .tenants
        .range((after, Bound::Unbounded))
        .take(limit + 1)
        .map(|(_, tenant)| tenant.clone())
        .collect();
    let next_cursor = if tenants.len() > limit {
        tenants.truncate(limit);
        tenants.last().map(|t| t.tenant.clone())
    } else {
        None
    };
    Ok(UsagePage {
        tenants,
        next_cursor,
        unclassified: usage.value.unclassified,
        computed_at: rfc3339(usage.at),
        max_age: service.usage_ttl.as_secs(),
    })
}

/// `GET /usage`: the caller's tenant.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnUsage {
    #[serde(flatten)]
    pub usage: TenantUsage,
    pub quota: QuotaView,
    pub computed_at: String,
    pub max_age: u64,
}

impl Audited for OwnUsage {}

/// The tenant's quota: `limitBytes` and `remainingBytes` are `null` when unlimited.
#[derive(Debug, Serialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuotaView {
    pub limit_bytes: Option<u64>,
    /// Bytes of verified uploads, as the quota counts them.
    pub used_bytes: u64,
    pub remaining_bytes: Option<u64>,
}

pub async fn own_usage(
    service: &StorageService,
    store: &Store,
    quotas: &Quotas,
    caller: &Caller,
) -> Result<OwnUsage, ApiError> {
    let listed = service.usage(store, Some(&caller.tenant)).await?;
    let used = quotas.used(store, &caller.tenant).await?;
    let limit = quotas.limit(&caller.tenant);
    let mut usage = listed
        .value
        .tenants
        .get(caller.tenant.as_str())
        .cloned()
        .unwrap_or_else(|| TenantUsage {
            tenant: caller.tenant.as_str().to_owned(),
            ..TenantUsage::default()
        });
    // The totals are the tenant's; the scopes, the ones the caller may read
    // (another user's hash or another team's usage is not theirs to see).
    if !caller.tenant_wide {
        let visible: Vec<String> = caller.scopes().iter().map(ToString::to_string).collect();
        usage.scopes.retain(|name, _| visible.contains(name));
    }
    Ok(OwnUsage {
        usage,
        quota: QuotaView {
            limit_bytes: limit,
            used_bytes: used,
            remaining_bytes: limit.map(|limit| limit.saturating_sub(used)),
        },
        computed_at: rfc3339(listed.at),
        max_age: service.usage_ttl.as_secs(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_placed_by_the_layout() {
        let layout = KeyLayout::new("env").expect("layout");
        let usage = tally(
            &layout,
            [
                ("env/acme/avatars/2026/11/a.png", 10),
                ("env/acme/shared/avatars/2026/11/b.png", 5),
                ("env/acme/uploads/2026/11/c.csv", 7),
                ("env/acme/exports/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11/r.pdf", 3),
                ("env/staging/acme/avatar/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.png", 2),
                ("env/globex/uploads/2026/11/d.json", 1),
                ("env/acme/teams/red/uploads/2026/11/e.json", 4),
                ("env/acme/secrets/x", 100),
                ("env/acme/avatars/avatars/2026/11/x.jpg", 100),
                ("bad key", 100),
            ],
        );
        assert_eq!(usage.tenants.keys().collect::<Vec<_>>(), ["acme", "globex"]);
        let acme = &usage.tenants["acme"];
        assert_eq!((acme.bytes, acme.objects), (31, 6));
        assert_eq!(acme.areas["avatars"], Tally { bytes: 15, objects: 2 });
        assert_eq!(acme.areas["uploads"], Tally { bytes: 11, objects: 2 });
        assert_eq!(acme.areas["staging"], Tally { bytes: 2, objects: 1 });
        assert_eq!(acme.areas["exports"], Tally { bytes: 3, objects: 1 });
        assert_eq!(acme.scopes["tenant"].areas["avatars"], Tally { bytes: 15, objects: 2 });
        assert_eq!(acme.scopes["tenant"].areas["uploads"], Tally { bytes: 7, objects: 1 });
        assert_eq!((acme.scopes["team:red"].bytes, acme.scopes["team:red"].objects), (4, 1));
        assert_eq!(acme.scopes["team:red"].areas["uploads"], Tally { bytes: 4, objects: 1 });
        assert_eq!(usage.unclassified, Tally { bytes: 300, objects: 3 });
    }

    #[test]
    fn endpoints_lose_everything_but_scheme_host_and_port() {
        for (endpoint, public) in [
            ("https://user:pass@s3.example:9000/path?x=1", "https://s3.example:9000"),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000"),
        ] {
            assert_eq!(public_endpoint(endpoint).as_deref(), Some(public), "{endpoint}");
        }
    }
}
