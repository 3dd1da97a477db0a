//! The operators' routes (`/storage/info`, `/storage/usage`, for admins) and
//! a tenant's own usage (`/usage`); the work is in [`crate::storage`].

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::health::{Readiness, store_health};
use crate::auth::{Admin, Auth, Caller, audit};
use crate::error::ApiError;
use crate::exports::ExportService;
use crate::state::AppState;
use crate::storage::{self, PageQuery, StorageService};

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
    let info = audit::audited("storage_info", &caller, None, work).await?;
    Ok(no_store(info))
}

pub async fn usage(
    state: web::Data<AppState>,
    service: web::Data<StorageService>,
    Admin(caller): Admin,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let work = storage::usage_page(&service, &state.store, &query);
    let page = audit::audited("storage_usage", &caller, None, work).await?;
    Ok(no_store(page))
}

pub async fn own_usage(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    service: web::Data<StorageService>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let work = storage::own_usage(&service, &state.store, &auth.quotas, &caller);
    let usage = audit::audited("usage", &caller, None, work).await?;
    Ok(no_store(usage))
}

fn no_store(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}
