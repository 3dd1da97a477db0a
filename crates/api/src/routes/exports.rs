use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use broker_jobs::JobId;

use super::{Call, no_store};
use crate::auth::{Action, Auth, audit};
use crate::error::{ApiError, ErrorBody};
use crate::exports::{self, Accepted, ExportRequest, ExportService, JobView};
use crate::openapi::{JobRefusals, Unauthenticated};

/// Queue a CSV or PDF export
///
/// Of inline rows or of a verified upload; see docs/exports.md. The body may
/// be up to `EXPORT_MAX_INLINE_BYTES` (10 MiB), not 64 KiB.
#[utoipa::path(
    post,
    path = "/exports",
    operation_id = "createExport",
    tag = "exports",
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255,
            description = "Replays the job of an earlier identical request instead of queueing another"),
    ),
    request_body = ExportRequest,
    responses(
        (status = 202, description = "Queued; `Location` names the job", body = Accepted,
            headers(("Location" = String, description = "`/exports/{jobId}`"))),
        (status = 200, description = "An `Idempotency-Key` replay of an existing job", body = Accepted,
            headers(("Location" = String, description = "`/exports/{jobId}`"),
                ("Idempotent-Replayed" = String, description = "`true`"))),
        (status = 400, description = "`unknown_format`, `ragged_rows`, `invalid_request` (missing or extra fields, \
            both or neither of rows and `source`, empty `columns`, a nested cell, a bad `Idempotency-Key`), \
            `invalid_filename`, `invalid_source`, `invalid_json`", body = ErrorBody),
        (status = 401, response = Unauthenticated),
        (status = 413, description = "`payload_too_large`: body over `EXPORT_MAX_INLINE_BYTES`; \
            `queued_exports_too_large`: the tenant's queued jobs would hold more than `EXPORT_MAX_QUEUED_BYTES`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: not `application/json`", body = ErrorBody),
        (status = 422, description = "`source_not_found`, `idempotency_key_reused`", body = ErrorBody),
        (status = 429, description = "`rate_limited` (with `Retry-After`), or `too_many_queued_exports`: \
            the tenant has `EXPORT_MAX_QUEUED_JOBS` jobs queued or running", body = ErrorBody,
            headers(("Retry-After" = u64, description = "With `rate_limited`: seconds until the next request is allowed"))),
        (status = 503, description = "`queue_unavailable`, `store_unavailable`", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "export", skip_all, fields(tenant = %call.caller.tenant))]
pub async fn create(
    call: Call<ExportService>,
    auth: web::Data<Auth>,
    request: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Call { state, service, caller } = &call;
    let (record, replayed) = audit::audited("export", caller, None, async {
        auth.limiter.check(caller, Action::Export).await?;
        let idempotency_key = exports::idempotency_key(request.headers().get("idempotency-key").map(|v| v.as_bytes()))?;
        let body = exports::read_json_body(&request, payload, service.max_inline_bytes()).await?;
        exports::submit(service, &state.store, caller, body, idempotency_key).await
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

/// A route on one export job with its `#[utoipa::path]`: the method,
/// operation id, the description of its `JobView` reply and its own refusals
/// are the route's; the path and its `jobId`, the tag and the job refusals
/// are the family's.
macro_rules! job_route {
    ($method:ident, $operation:literal, $ok:literal, [$($refusal:tt),*], $handler:item) => {
        #[utoipa::path(
            $method,
            path = "/exports/{jobId}",
            operation_id = $operation,
            tag = "exports",
            params(("jobId" = JobId, Path)),
            responses((status = 200, description = $ok, body = JobView), $($refusal,)* JobRefusals)
        )]
        $handler
    };
}

job_route! {
    get, "getExport", "The job's status", [],
    /// Job status, with a freshly signed URL once done
    pub async fn get(call: Call<ExportService>, job_id: web::Path<String>) -> Result<HttpResponse, ApiError> {
        let work = exports::get(&call.service, &call.state.store, &call.caller, &job_id);
        audit::audited("export_status", &call.caller, Some(&job_id), work)
            .await
            .map(no_store)
    }
}

job_route! {
    delete, "cancelExport", "The cancelled job",
    [(status = 409, description = "`not_cancellable`: the job is already done, failed or cancelled", body = ErrorBody)],
    // The job id is the percent-decoded path: logged only when it is well formed.
    /// Cancel a queued or running job
    #[tracing::instrument(name = "cancel_export", skip_all, fields(tenant = %call.caller.tenant, job_id = audit::loggable_key(&job_id)))]
    pub async fn cancel(call: Call<ExportService>, job_id: web::Path<String>) -> Result<HttpResponse, ApiError> {
        let work = exports::cancel(&call.service, &call.state.store, &call.caller, &job_id);
        let view = audit::audited("export_cancel", &call.caller, Some(&job_id), work).await?;
        tracing::info!("export cancelled");
        Ok(HttpResponse::Ok().json(view))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/exports").route(web::post().to(create)))
        .service(
            super::resource("/exports/{jobId}")
                .route(web::get().to(get))
                .route(web::delete().to(cancel)),
        );
}
