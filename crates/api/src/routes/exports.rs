use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;

use crate::auth::Caller;
use crate::auth::{Action, Auth, audit};
use crate::error::ApiError;
use crate::exports::{self, Accepted, ExportService};
use crate::state::AppState;

/// Reads a JSON body of at most `limit` bytes (exports have their own bound),
/// into the one buffer the job then stores.
async fn read_json_body(request: &HttpRequest, mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::InvalidJson(format!("the body could not be read: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[tracing::instrument(name = "export", skip_all, fields(tenant = %caller.tenant))]
pub async fn create(
    state: web::Data<AppState>,
    service: web::Data<ExportService>,
    auth: web::Data<Auth>,
    caller: Caller,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (record, replayed) = audit::audited("export", &caller, None, async {
        auth.limiter.check(&caller, Action::Export).await?;
        let idempotency_key = exports::idempotency_key(request.headers().get("idempotency-key").map(|v| v.as_bytes()))?;
        let body = read_json_body(&request, payload, service.max_inline_bytes()).await?;
        exports::submit(&service, &state.store, &caller, body, idempotency_key).await
    })
    .await?;
    let location = format!("/exports/{}", record.job_id);
    let reply = Accepted {
        job_id: record.job_id,
        status: record.status.as_str(),
    };
    if replayed {
        tracing::info!(job_id = %record.job_id, "idempotent export request replayed");
        return Ok(HttpResponse::Ok()
            .insert_header((header::LOCATION, location))
            .insert_header(("Idempotent-Replayed", "true"))
            .json(reply));
    }
    tracing::info!(job_id = %record.job_id, format = record.format.as_str(), "export queued");
    Ok(HttpResponse::Accepted()
        .insert_header((header::LOCATION, location))
        .json(reply))
}

pub async fn get(
    state: web::Data<AppState>,
    service: web::Data<ExportService>,
    caller: Caller,
    job_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let work = exports::get(&service, &state.store, &caller, &job_id);
    let view = audit::audited("export_status", &caller, Some(&job_id), work).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(view))
}

// The job id is the percent-decoded path: logged only when it is well formed.
#[tracing::instrument(name = "cancel_export", skip_all, fields(tenant = %caller.tenant, job_id = audit::loggable_key(&job_id)))]
pub async fn cancel(
    state: web::Data<AppState>,
    service: web::Data<ExportService>,
    caller: Caller,
    job_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let work = exports::cancel(&service, &state.store, &caller, &job_id);
    let view = audit::audited("export_cancel", &caller, Some(&job_id), work).await?;
    tracing::info!("export cancelled");
    Ok(HttpResponse::Ok().json(view))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let method_not_allowed = || web::to(|| async { Err::<HttpResponse, _>(ApiError::MethodNotAllowed) });
    cfg.service(
        web::resource("/exports")
            .route(web::post().to(create))
            .default_service(method_not_allowed()),
    )
    .service(
        web::resource("/exports/{job_id}")
            .route(web::get().to(get))
            .route(web::delete().to(cancel))
            .default_service(method_not_allowed()),
    );
}
