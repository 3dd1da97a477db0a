use actix_web::{HttpResponse, web};
use tracing::field::Empty;

use crate::auth::Caller;
use crate::auth::{Action, Auth, audit};
use crate::error::ApiError;
use crate::state::AppState;
use crate::uploads::{complete as cp, download as dl, sign as sg};

// Span fields hold validated values only: a raw request string could carry a
// line break and write a log line of its own. `kind` and `content_type` are
// recorded once the request has passed its profile's checks.
#[tracing::instrument(name = "sign", skip_all, fields(tenant = %caller.tenant, kind = Empty, content_type = Empty))]
pub async fn sign(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    caller: Caller,
    body: web::Json<sg::SignRequest>,
) -> Result<HttpResponse, ApiError> {
    let result = async {
        auth.limiter.check(&caller, Action::Sign).await?;
        let plan = body.plan(state.store.upload_mode())?;
        tracing::Span::current()
            .record("kind", plan.profile.name.as_str())
            .record("content_type", plan.content_type.mime);
        auth.quotas.check(&state.store, &caller.tenant, body.size).await?;
        sg::sign_plan(&state.store, &caller, &plan).await
    }
    .await;
    audit::record(
        "sign",
        &caller,
        result.as_ref().ok().map(|r| r.object_key.as_str()),
        result.as_ref().err(),
    );
    let response = result?;
    tracing::info!(object_key = %response.object_key, "signed upload");
    Ok(HttpResponse::Ok().json(response))
}

#[tracing::instrument(name = "download", skip_all, fields(tenant = %caller.tenant, object_key = audit::loggable_key(&body.object_key)))]
pub async fn download(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<dl::DownloadRequest>,
) -> Result<HttpResponse, ApiError> {
    let result = dl::download(&state.store, &caller, &body).await;
    audit::record("download", &caller, Some(&body.object_key), result.as_ref().err());
    Ok(HttpResponse::Ok().json(result?))
}

#[tracing::instrument(name = "complete", skip_all, fields(tenant = %caller.tenant, object_key = audit::loggable_key(&body.object_key)))]
pub async fn complete(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    caller: Caller,
    body: web::Json<cp::CompleteRequest>,
) -> Result<HttpResponse, ApiError> {
    let result = async {
        auth.limiter.check(&caller, Action::Complete).await?;
        cp::complete(&state.store, &state.verification, &auth.quotas, &caller, &body).await
    }
    .await;
    audit::record("complete", &caller, Some(&body.object_key), result.as_ref().err());
    Ok(HttpResponse::Ok().json(result?))
}
