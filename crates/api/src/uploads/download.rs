//! `POST /uploads/download` (and its redirecting `GET` form): a short-lived
//! signed GET, only for served keys of the caller's tenant in a scope the
//! caller may read (a key of another tenant, team or user answers
//! `not_found`, like a missing object); with
//! `CDN_BASE_URL`, also the CDN URL of a verified avatar (docs/cdn.md).

use broker_core::disposition::attachment;
use broker_core::keys::Area;
use broker_core::record::ObjectRecord;
use broker_core::store::Store;
use broker_core::{KeyLayout, ObjectKey, Scope};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::auth::audit::Audited;
use crate::error::ApiError;

#[derive(Debug, Deserialize, ToSchema, IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DownloadRequest {
    /// A served key of the caller's tenant (from `POST /uploads/complete`).
    #[schema(
        max_length = 512,
        examples("default/avatars/2026/11/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.jpg")
    )]
    pub object_key: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownloadResponse {
    /// A presigned GET that pins `response-content-disposition` (attachment)
    /// and `response-content-type`.
    pub url: String,
    /// Seconds until the URL expires.
    pub expires_in: u64,
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    /// The object's CDN URL, for a verified avatar when `CDN_BASE_URL` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cdn_url: Option<String>,
}

impl Audited for DownloadResponse {}

/// A served key the caller may read, and where it sits.
#[derive(Debug)]
pub struct Readable {
    pub key: ObjectKey,
    pub scope: Scope,
    pub area: &'static str,
}

/// The key, if `caller` may read it: served area, caller's tenant, a scope
/// they may read, never staging. A served key of another tenant, team or
/// user is `not_found` (as a missing object); staging and keys outside the
/// layout are `forbidden_key`, with `action` naming what is refused.
pub fn readable_key(
    layout: &KeyLayout,
    caller: &Caller,
    raw: &str,
    action: &'static str,
) -> Result<Readable, ApiError> {
    let key = ObjectKey::parse(raw).map_err(|e| ApiError::InvalidKey(e.to_string()))?;
    match layout.classify(&key) {
        Ok(Area::Served { tenant, scope, area }) if tenant == caller.tenant && caller.may_read(&scope) => {
            Ok(Readable { key, scope, area })
        }
        Ok(Area::Served { .. }) => Err(ApiError::NotVisible),
        _ => Err(ApiError::ForbiddenKey(action)),
    }
}

pub async fn download(store: &Store, caller: &Caller, request: &DownloadRequest) -> Result<DownloadResponse, ApiError> {
    let key = readable_key(store.layout(), caller, &request.object_key, "downloaded")?.key;
    let head = store.head(&key).await?;
    let filename = ObjectRecord::from_metadata(&head.metadata)
        .filename
        .unwrap_or_else(|| key.as_str().rsplit('/').next().unwrap_or("download").to_owned());
    let content_type = head.content_type.unwrap_or_else(|| "application/octet-stream".into());
    let url = store.presign_get(&key, &attachment(&filename), &content_type).await?;
    broker_core::metrics::download_signed();
    Ok(DownloadResponse {
        url,
        expires_in: store.presign_ttl().as_secs(),
        filename,
        content_type,
        size: head.size,
        cdn_url: store.cdn_url(&key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_callers_served_keys_are_readable() {
        let layout = KeyLayout::new("").expect("layout");
        let caller = Caller::development();
        let code = |raw: &str| {
            readable_key(&layout, &caller, raw, "downloaded")
                .map(|_| "ok")
                .unwrap_or_else(|e| e.code())
        };
        let mine = broker_core::SubjectHash::of(&caller.subject);
        let theirs = broker_core::SubjectHash::of("jwt:x#bob");
        assert_eq!(code("default/avatars/2026/11/0b5c.jpg"), "ok");
        assert_eq!(code("default/shared/avatars/2026/11/0b5c.jpg"), "ok");
        assert_eq!(code(&format!("default/users/{mine}/uploads/2026/11/0b5c.csv")), "ok");
        // Another tenant's, another user's, a team the caller is not in: like a missing object.
        assert_eq!(code("other/avatars/2026/11/0b5c.jpg"), "not_found");
        assert_eq!(
            code(&format!("default/users/{theirs}/uploads/2026/11/0b5c.csv")),
            "not_found"
        );
        assert_eq!(code("default/teams/red/uploads/2026/11/0b5c.csv"), "not_found");
        let member = Caller {
            teams: vec![broker_core::TeamId::parse("red").expect("team")],
            ..Caller::development()
        };
        assert!(
            readable_key(
                &layout,
                &member,
                "default/teams/red/uploads/2026/11/0b5c.csv",
                "downloaded"
            )
            .is_ok()
        );
        let api_key = Caller {
            tenant_wide: true,
            ..Caller::development()
        };
        for raw in [
            format!("default/users/{theirs}/uploads/2026/11/0b5c.csv"),
            "default/teams/red/uploads/2026/11/0b5c.csv".to_owned(),
        ] {
            assert!(readable_key(&layout, &api_key, &raw, "downloaded").is_ok(), "{raw}");
        }
        assert_eq!(
            code("staging/default/avatar/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.png"),
            "forbidden_key"
        );
        assert_eq!(code("default/../other/avatars/x"), "invalid_key");
        assert_eq!(code("default/avatars/%2e%2e/x"), "invalid_key");
    }
}
