use actix_web::{HttpResponse, web};
use tracing::field::Empty;

use crate::auth::{Action, Auth, Caller, audit};
use crate::error::ApiError;
use crate::exports::{self, ExportService};
use crate::state::AppState;
use crate::uploads;

// Span fields hold validated values only: a raw request string could carry a
// line break and write a log line of its own. `kind` and `content_type` are
// recorded once the request has passed its profile's checks.
#[tracing::instrument(name = "sign", skip_all, fields(tenant = %caller.tenant, kind = Empty, content_type = Empty))]
pub async fn sign(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    caller: Caller,
    body: web::Json<uploads::sign::SignRequest>,
) -> Result<HttpResponse, ApiError> {
    let response = audit::audited("sign", &caller, None, async {
        auth.limiter.check(&caller, Action::Sign).await?;
        let plan = body.plan(state.store.upload_mode())?;
        tracing::Span::current()
            .record("kind", plan.profile.name.as_str())
            .record("content_type", plan.content_type.mime);
        auth.quotas.check(&state.store, &caller.tenant, body.size).await?;
        uploads::sign::sign_plan(&state.store, &caller, &plan).await
    })
    .await?;
    tracing::info!(object_key = %response.object_key, "signed upload");
    Ok(HttpResponse::Ok().json(response))
}

#[tracing::instrument(name = "download", skip_all, fields(tenant = %caller.tenant, object_key = audit::loggable_key(&body.object_key)))]
pub async fn download(
    state: web::Data<AppState>,
    export_service: web::Data<ExportService>,
    caller: Caller,
    body: web::Json<uploads::download::DownloadRequest>,
) -> Result<HttpResponse, ApiError> {
    let work = async {
        exports::check_download(&export_service, &state.store, &caller, &body.object_key).await?;
        uploads::download::download(&state.store, &caller, &body).await
    };
    let response = audit::audited("download", &caller, Some(&body.object_key), work).await?;
    Ok(HttpResponse::Ok().json(response))
}

#[tracing::instrument(name = "complete", skip_all, fields(tenant = %caller.tenant, object_key = audit::loggable_key(&body.object_key)))]
pub async fn complete(
    state: web::Data<AppState>,
    auth: web::Data<Auth>,
    caller: Caller,
    body: web::Json<uploads::complete::CompleteRequest>,
) -> Result<HttpResponse, ApiError> {
    let response = audit::audited("complete", &caller, Some(&body.object_key), async {
        auth.limiter.check(&caller, Action::Complete).await?;
        uploads::complete::complete(&state.store, &state.verification, &auth.quotas, &caller, &body).await
    })
    .await?;
    Ok(HttpResponse::Ok().json(response))
}
