//! `GET /objects` and `POST /objects/delete` as plain functions over the
//! store: the verified objects a caller may read, page by page, and the
//! deletion of one they may write (docs/objects.md).
//!
//! A listing walks ListObjectsV2 over the prefixes of the scopes asked for
//! ([`KeyLayout::scope_prefixes`]), in order, and keeps only what
//! [`KeyLayout::classify`] places in the caller's tenant, in a scope they
//! may read and in the area asked for. The cursor is the last key returned,
//! base64url-encoded: it is accepted back only when it lies under one of the
//! prefixes of the same query, so it can never move a listing elsewhere.

use std::time::UNIX_EPOCH;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use broker_core::keys::Area;
use broker_core::profile::{EXPORTS_AREA, served_areas};
use broker_core::record::ObjectRecord;
use broker_core::store::{Listed, Store, StoreError};
use broker_core::{ObjectKey, Scope, ScopeRequest};
use futures_util::{StreamExt as _, TryStreamExt as _};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::audit::Audited;
use crate::auth::{Caller, Quotas};
use crate::cache::rfc3339;
use crate::error::ApiError;
use crate::uploads::download::readable_key;
use crate::uploads::verification::Verification;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 200;
/// HEADs in flight while a page is described.
const HEADS_IN_FLIGHT: usize = 8;

/// `GET /objects?scope=&area=&cursor=&limit=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `user`, `team:{id}` or `tenant`; default: every scope the caller may
    /// read (an API key: every object of its tenant).
    pub scope: Option<String>,
    /// One served area (`avatars`, `uploads`, `documents`, `exports`); default: all.
    pub area: Option<String>,
    /// The `nextCursor` of the previous page of the same query.
    pub cursor: Option<String>,
    /// Objects per page, 1 to 200 (default 50).
    pub limit: Option<usize>,
}

/// One verified object.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectEntry {
    /// The served key (for `POST /uploads/download` and `POST /objects/delete`).
    pub object_key: String,
    pub size: u64,
    pub content_type: String,
    /// The browser's original file name, from the signed record.
    pub filename: String,
    /// When the object was written (RFC 3339).
    pub created: String,
    /// `user:{subject hash}`, `team:{id}` or `tenant`.
    pub scope: String,
    pub area: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectPage {
    pub objects: Vec<ObjectEntry>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next_cursor: Option<String>,
    /// Nothing in a listing expires: 0.
    pub expires_in: u64,
}

impl Audited for ObjectPage {}

/// What one listing covers.
struct Listing {
    /// Walked in order.
    prefixes: Vec<String>,
    /// Only this scope (when the query names one).
    scope: Option<Scope>,
    area: Option<&'static str>,
}

impl Listing {
    fn plan(store: &Store, caller: &Caller, query: &ListQuery) -> Result<Self, ApiError> {
        let area = match &query.area {
            Some(raw) => Some(served_areas().find(|a| a == raw).ok_or_else(|| {
                ApiError::InvalidRequest(format!(
                    "`area` must be one of: {}",
                    served_areas().collect::<Vec<_>>().join(", ")
                ))
            })?),
            None => None,
        };
        let layout = store.layout();
        let tenant = &caller.tenant;
        let (prefixes, scope) = match &query.scope {
            Some(raw) => {
                let scope = caller.scope(&ScopeRequest::parse(raw).map_err(ApiError::InvalidScope)?)?;
                (layout.scope_prefixes(tenant, &scope, area), Some(scope))
            }
            // An API key reads the whole tenant: one prefix covers every scope.
            None if caller.tenant_wide => (vec![layout.tenant_prefixes(tenant)[0].clone()], None),
            None => {
                let prefixes = caller
                    .scopes()
                    .iter()
                    .flat_map(|scope| layout.scope_prefixes(tenant, scope, area))
                    .collect();
                (prefixes, None)
            }
        };
        Ok(Listing { prefixes, scope, area })
    }

    /// Where a cursor resumes: the prefix it lies under, and the key itself.
    fn resume(&self, cursor: &str) -> Result<(usize, String), ApiError> {
        let refused = || ApiError::InvalidRequest("`cursor` is not a nextCursor of this listing".into());
        let key = URL_SAFE_NO_PAD
            .decode(cursor)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .filter(|key| ObjectKey::parse(key).is_ok())
            .ok_or_else(refused)?;
        let phase = self
            .prefixes
            .iter()
            .position(|prefix| key.starts_with(prefix.as_str()))
            .ok_or_else(refused)?;
        Ok((phase, key))
    }

    /// Where `listed` sits, if this listing shows it to `caller`.
    fn place(&self, store: &Store, caller: &Caller, listed: &Listed) -> Option<(Scope, &'static str)> {
        let key = ObjectKey::parse(&listed.key).ok()?;
        match store.layout().classify(&key) {
            Ok(Area::Served { tenant, scope, area })
                if tenant == caller.tenant
                    && caller.may_read(&scope)
                    && self.scope.as_ref().is_none_or(|s| *s == scope)
                    && self.area.is_none_or(|a| a == area) =>
            {
                Some((scope, area))
            }
            _ => None,
        }
    }
}

/// One page of the verified objects `caller` may read.
pub async fn list(store: &Store, caller: &Caller, query: &ListQuery) -> Result<ObjectPage, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::InvalidRequest(format!("`limit` must be 1 to {MAX_LIMIT}")));
    }
    let listing = Listing::plan(store, caller, query)?;
    let (first, mut after) = match &query.cursor {
        Some(cursor) => {
            let (phase, key) = listing.resume(cursor)?;
            (phase, Some(key))
        }
        None => (0, None),
    };
    // One more than a page: whether it exists decides `nextCursor`.
    let mut found: Vec<(Listed, Scope, &'static str)> = Vec::with_capacity(limit + 1);
    let page_size = i32::try_from(limit + 1).unwrap_or(i32::MAX);
    'phases: for prefix in &listing.prefixes[first..] {
        loop {
            let (page, more) = store.list_page(prefix, after.as_deref(), page_size).await?;
            after = page.last().map(|l| l.key.clone());
            for listed in page {
                if let Some((scope, area)) = listing.place(store, caller, &listed) {
                    found.push((listed, scope, area));
                    if found.len() > limit {
                        break 'phases;
                    }
                }
            }
            if !more || after.is_none() {
                break;
            }
        }
        after = None;
    }
    let next_cursor = if found.len() > limit {
        found.truncate(limit);
        found
            .last()
            .map(|(listed, ..)| URL_SAFE_NO_PAD.encode(listed.key.as_bytes()))
    } else {
        None
    };
    let objects = futures_util::stream::iter(found)
        .map(|(listed, scope, area)| describe(store, listed, scope, area))
        .buffered(HEADS_IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?
        .into_iter()
        .flatten()
        .collect();
    Ok(ObjectPage {
        objects,
        next_cursor,
        expires_in: 0,
    })
}

/// A listed object with what its HEAD says (type, original name); `None`
/// when it was deleted in between.
async fn describe(
    store: &Store,
    listed: Listed,
    scope: Scope,
    area: &'static str,
) -> Result<Option<ObjectEntry>, ApiError> {
    let key = ObjectKey::parse(&listed.key).map_err(|_| ApiError::Internal)?;
    let head = match store.head(&key).await {
        Ok(head) => head,
        Err(StoreError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let filename = ObjectRecord::from_metadata(&head.metadata)
        .filename
        .unwrap_or_else(|| listed.key.rsplit('/').next().unwrap_or("object").to_owned());
    Ok(Some(ObjectEntry {
        object_key: listed.key,
        size: head.size,
        content_type: head.content_type.unwrap_or_else(|| "application/octet-stream".into()),
        filename,
        created: rfc3339(listed.last_modified.unwrap_or(UNIX_EPOCH)),
        scope: scope.to_string(),
        area,
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteRequest {
    /// A served key of a verified upload the caller may write.
    #[schema(
        max_length = 512,
        examples("default/shared/avatars/2026/11/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.jpg")
    )]
    pub object_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeleteResponse {
    pub object_key: String,
    /// The bytes freed (and given back to the tenant's quota).
    pub size: u64,
    /// Nothing is signed: 0.
    pub expires_in: u64,
}

impl Audited for DeleteResponse {}

/// Deletes a verified upload the caller may write: one of their own `user`
/// scope, one they signed, or any of the tenant's with an API key. Exports
/// belong to their jobs and are not deleted here. The quota counter gets
/// the object's real size (from a HEAD) back.
pub async fn delete(
    store: &Store,
    verification: &Verification,
    quotas: &Quotas,
    caller: &Caller,
    request: &DeleteRequest,
) -> Result<DeleteResponse, ApiError> {
    let readable = readable_key(store.layout(), caller, &request.object_key, "deleted")?;
    if readable.area == EXPORTS_AREA {
        return Err(ApiError::ForbiddenKey("deleted"));
    }
    let key = &readable.key;
    // One delete of a key at a time in this process, so a repeated delete
    // finds nothing and gives nothing back twice.
    let _one = verification.uploads.lock(key.as_str()).await;
    let head = store.head(key).await?;
    let own = matches!(readable.scope, Scope::User(_));
    if !own && !caller.tenant_wide && !ObjectRecord::from_metadata(&head.metadata).signed_by(&caller.subject) {
        return Err(ApiError::ForbiddenKey("deleted"));
    }
    quotas
        .release(store, &caller.tenant, head.size, async {
            store.delete(key).await.map_err(ApiError::from)
        })
        .await?;
    Ok(DeleteResponse {
        object_key: key.to_string(),
        size: head.size,
        expires_in: 0,
    })
}
