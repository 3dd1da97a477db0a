use actix_web::{HttpResponse, web};

use crate::caller::Caller;
use crate::error::ApiError;
use crate::state::AppState;
use crate::uploads::{complete as cp, download as dl, sign as sg};

#[tracing::instrument(name = "sign", skip_all, fields(tenant = %caller.tenant, kind = %body.kind, content_type = %body.content_type))]
pub async fn sign(state: web::Data<AppState>, caller: Caller, body: web::Json<sg::SignRequest>) -> Result<HttpResponse, ApiError> {
    let response = sg::sign(&state.store, &caller, &body).await?;
    tracing::info!(object_key = %response.object_key, "signed upload");
    Ok(HttpResponse::Ok().json(response))
}

#[tracing::instrument(name = "download", skip_all, fields(tenant = %caller.tenant, object_key = %body.object_key))]
pub async fn download(state: web::Data<AppState>, caller: Caller, body: web::Json<dl::DownloadRequest>) -> Result<HttpResponse, ApiError> {
    let response = dl::download(&state.store, &caller, &body).await?;
    Ok(HttpResponse::Ok().json(response))
}

#[tracing::instrument(name = "complete", skip_all, fields(tenant = %caller.tenant, object_key = %body.object_key))]
pub async fn complete(state: web::Data<AppState>, caller: Caller, body: web::Json<cp::CompleteRequest>) -> Result<HttpResponse, ApiError> {
    let response = cp::complete(&state.store, &state.verification, &caller, &body).await?;
    Ok(HttpResponse::Ok().json(response))
}
