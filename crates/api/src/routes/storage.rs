//! The operators' routes (`/storage/info`, `/storage/usage`, for admins) and
//! a tenant's own usage (`/usage`); the work is in [`crate::storage`].

use actix_web::{HttpResponse, web};

use super::health::{Readiness, store_health};
use super::{Call, no_store};
use crate::auth::{Admin, Auth, audit};
use crate::error::{ApiError, ErrorBody};
use crate::exports::ExportService;
use crate::openapi::{AdminRefusals, Unauthenticated};
use crate::state::AppState;
use crate::storage::{self, OwnUsage, PageQuery, StorageInfo, StorageService, UsagePage};

/// An admin's storage route with its `#[utoipa::path]`: the path, operation
/// id, parameters, success and own refusals are the route's; the method
/// (`GET`), the tag and the admins' refusals are the family's.
macro_rules! admin_route {
    ($path:literal, $operation:literal, $ok:tt, $(params $params:tt,)? [$($refusal:tt),*], $handler:item) => {
        #[utoipa::path(
            get,
            path = $path,
            operation_id = $operation,
            tag = "storage",
            $(params $params,)?
            responses($ok, $($refusal,)* AdminRefusals)
        )]
        $handler
    };
}

admin_route! {
    "/storage/info", "storageInfo",
    (status = 200, description = "The store's provider, settings, capabilities and health", body = StorageInfo),
    [],
    /// The configured store and its health (admins)
    ///
    /// `healthy` and `lastCheck` come from the last background readiness round;
    /// the reply names no credential and no internal error text.
    pub async fn info(
        state: web::Data<AppState>,
        exports: web::Data<ExportService>,
        readiness: web::Data<Readiness>,
        service: web::Data<StorageService>,
        Admin(caller): Admin,
    ) -> Result<HttpResponse, ApiError> {
        let work = async {
            let (healthy, last_check) = store_health(&state, &exports, &readiness).await;
            Ok(storage::info(&service, &state.store, healthy, last_check))
        };
        audit::audited("storage_info", &caller, None, work).await.map(no_store)
    }
}

admin_route! {
    "/storage/usage", "storageUsage",
    (status = 200, description = "One page of tenants", body = UsagePage),
    params(PageQuery),
    [
        (status = 400, description = "`invalid_request`: a bad `limit` or `cursor`, or an unknown parameter", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody)
    ],
    /// Bytes and objects per tenant and area (admins)
    ///
    /// Counted by listing the bucket, one listing per `STORAGE_USAGE_TTL`,
    /// paginated by tenant id.
    pub async fn usage(
        state: web::Data<AppState>,
        service: web::Data<StorageService>,
        Admin(caller): Admin,
        query: web::Query<PageQuery>,
    ) -> Result<HttpResponse, ApiError> {
        let work = storage::usage_page(&service, &state.store, &query);
        audit::audited("storage_usage", &caller, None, work).await.map(no_store)
    }
}

authed_route! {
    "storage" get "/usage", "ownUsage", {},
    (status = 200, description = "The caller's tenant", body = OwnUsage),
    [(status = 503, description = "`store_unavailable`, `quota_unavailable`", body = ErrorBody)],
    /// The caller's own tenant: bytes and objects per area, and its quota
    pub async fn own_usage(call: Call<StorageService>, auth: web::Data<Auth>) -> Result<HttpResponse, ApiError> {
        let work = storage::own_usage(&call.service, &call.state.store, &auth.quotas, &call.caller);
        audit::audited("usage", &call.caller, None, work).await.map(no_store)
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/storage/info").route(web::get().to(info)))
        .service(super::resource("/storage/usage").route(web::get().to(usage)))
        .service(super::resource("/usage").route(web::get().to(own_usage)));
}
