use actix_web::http::header;
use actix_web::{HttpResponse, web};
use tracing::field::Empty;

use crate::auth::{Action, Auth, Caller, audit};
use crate::error::ApiError;
use crate::exports::{self, ExportService};
use crate::state::AppState;
use crate::uploads;
use crate::uploads::download::{DownloadRequest, DownloadResponse};

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
    body: web::Json<DownloadRequest>,
) -> Result<HttpResponse, ApiError> {
    let response = signed_download(&state, &export_service, &caller, &body).await?;
    Ok(HttpResponse::Ok().json(response))
}

/// `GET /uploads/download?objectKey=…`: the same download, as a 302 to the
/// signed URL, so a link or an image works without JavaScript. The reply is
/// never cached (the URL expires); its body is the POST form's reply.
#[tracing::instrument(name = "download", skip_all, fields(tenant = %caller.tenant, object_key = audit::loggable_key(&query.object_key)))]
pub async fn download_redirect(
    state: web::Data<AppState>,
    export_service: web::Data<ExportService>,
    caller: Caller,
    query: web::Query<DownloadRequest>,
) -> Result<HttpResponse, ApiError> {
    let response = signed_download(&state, &export_service, &caller, &query).await?;
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, response.url.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(response))
}

/// Both forms of a download: the same checks and the same audit line.
async fn signed_download(
    state: &AppState,
    export_service: &ExportService,
    caller: &Caller,
    request: &DownloadRequest,
) -> Result<DownloadResponse, ApiError> {
    let work = async {
        exports::check_download(export_service, &state.store, caller, &request.object_key).await?;
        uploads::download::download(&state.store, caller, request).await
    };
    audit::audited("download", caller, Some(&request.object_key), work).await
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
