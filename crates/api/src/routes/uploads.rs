use actix_web::http::header;
use actix_web::{HttpResponse, web};

use super::Call;
use crate::auth::{Action, Auth, Caller, audit};
use crate::error::{ApiError, ErrorBody};
use crate::exports::{self, ExportService};
use crate::openapi::{DownloadRefusals, JsonRefusals, RateLimited, Unauthenticated};
use crate::state::AppState;
use crate::uploads;
use crate::uploads::complete::{CompleteRequest, CompleteResponse};
use crate::uploads::download::{DownloadRequest, DownloadResponse};
use crate::uploads::sign::{SignRequest, SignResponse};

// Span fields hold validated values only: a raw request string could carry a
// line break and write a log line of its own. `kind` and `content_type` are
// recorded on the request's span once the request has passed its profile's checks.
authed_route! {
    "uploads" post "/uploads/sign", "signUpload", { request_body = SignRequest },
    (status = 200, description = "The URL and form fields (or headers) for an upload straight to the store", body = SignResponse),
    [
        (status = 400, description = "`unknown_kind`, `unsupported_type`, `extension_mismatch`, `invalid_filename`, \
            `too_large` (declared `size` over the kind's maximum), `multipart_required` (declared `size` over \
            `MULTIPART_THRESHOLD`), `invalid_checksum` (`sha256` not 64 hex digits), `empty_file`, `size_required`, \
            `invalid_request` (no `size` although the tenant has a quota), `invalid_json`", body = ErrorBody),
        (status = 403, description = "`quota_exceeded`: the tenant's verified bytes plus `size` would exceed its quota", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, description = "`store_unavailable`, `quota_unavailable`", body = ErrorBody),
        JsonRefusals
    ],
    /// Sign a browser upload (presigned POST, or PUT)
    ///
    /// Checks the request against its profile, then signs an upload that makes the
    /// store enforce the same limits: a POST policy (or, with `S3_UPLOAD_MODE=put`,
    /// a presigned PUT) pinning the key, the type, the size range, the expiry and
    /// the `x-amz-meta-*` record. The store answers a violation itself (docs/api.md).
    pub async fn sign(call: Call<Auth>, body: web::Json<SignRequest>) -> Result<HttpResponse, ApiError> {
        let response = signed_upload(&call.state, &call.service, &call.caller, &body).await?;
        Ok(sign_reply(&response))
    }
}

/// A sign's 200 reply (`/uploads/sign` and `/s3/params`), written by
/// [`SignResponse::to_json`].
pub(crate) fn sign_reply(response: &SignResponse) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(header::ContentType::json())
        .body(response.to_json())
}

/// A sign and its audit line (`/uploads/sign` and `/s3/params`); the
/// request's span (see `crate::request`) records the checked kind and type.
/// No span of its own: every field it would carry is on the request's.
pub(crate) async fn signed_upload(
    state: &AppState,
    auth: &Auth,
    caller: &Caller,
    request: &SignRequest,
) -> Result<SignResponse, ApiError> {
    let response = audit::audited("sign", caller, None, async {
        auth.limiter.check(caller, Action::Sign).await?;
        let plan = request.plan(state.store.upload_mode(), state.store.uploads())?;
        tracing::Span::current()
            .record("kind", plan.profile.name.as_str())
            .record("content_type", plan.content_type.mime);
        auth.quotas.check(&state.store, &caller.tenant, request.size).await?;
        uploads::sign::sign_plan(&state.store, caller, &plan).await
    })
    .await?;
    // The audit line names the signed key: no second line repeats it.
    Ok(response)
}

authed_route! {
    "uploads" post "/uploads/download", "downloadUpload", { request_body = DownloadRequest },
    (status = 200, description = "The signed URL", body = DownloadResponse),
    [
        (status = 400, description = "`invalid_key`: `..`, absolute, percent-encoded, over 512 bytes, \
            characters outside `[A-Za-z0-9._-/]`; `invalid_json`, `invalid_request`", body = ErrorBody),
        DownloadRefusals,
        JsonRefusals
    ],
    /// A short-lived signed GET for a served key
    ///
    /// Any principal of the tenant may download its verified objects; the URL
    /// pins `response-content-disposition` (attachment) and `response-content-type`.
    #[tracing::instrument(name = "download", skip_all, fields(tenant = %call.caller.tenant, object_key = audit::loggable_key(&body.object_key)))]
    pub async fn download(call: Call<ExportService>, body: web::Json<DownloadRequest>) -> Result<HttpResponse, ApiError> {
        let response = signed_download(&call, &body).await?;
        Ok(HttpResponse::Ok().json(response))
    }
}

authed_route! {
    "uploads" get "/uploads/download", "downloadRedirect", { params(DownloadRequest) },
    (status = 302, description = "To the signed URL (`Cache-Control: no-store`)", body = DownloadResponse,
        headers(("Location" = String, description = "The signed GET"), ("Cache-Control" = String, description = "`no-store`"))),
    [
        (status = 400, description = "`invalid_key`: `..`, absolute, percent-encoded, over 512 bytes, \
            characters outside `[A-Za-z0-9._-/]`; `invalid_request`: no `objectKey`", body = ErrorBody),
        DownloadRefusals
    ],
    /// The same download, as a redirect to the signed URL
    ///
    /// `GET /uploads/download?objectKey=…` answers 302 to the signed GET, so a
    /// link or an image works without JavaScript. The reply is never cached (the
    /// URL expires); its body is the POST form's reply. Same checks and errors as
    /// the POST form.
    #[tracing::instrument(name = "download", skip_all, fields(tenant = %call.caller.tenant, object_key = audit::loggable_key(&query.object_key)))]
    pub async fn download_redirect(
        call: Call<ExportService>,
        query: web::Query<DownloadRequest>,
    ) -> Result<HttpResponse, ApiError> {
        let response = signed_download(&call, &query).await?;
        Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, response.url.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(response))
    }
}

/// Both forms of a download: the same checks and the same audit line.
async fn signed_download(call: &Call<ExportService>, request: &DownloadRequest) -> Result<DownloadResponse, ApiError> {
    let (store, caller) = (&call.state.store, &call.caller);
    let work = async {
        exports::check_download(&call.service, store, caller, &request.object_key).await?;
        uploads::download::download(store, caller, request).await
    };
    audit::audited("download", caller, Some(&request.object_key), work).await
}

authed_route! {
    "uploads" post "/uploads/complete", "completeUpload", { request_body = CompleteRequest },
    (status = 200, description = "The verified object", body = CompleteResponse),
    [
        (status = 400, description = "`invalid_key`: malformed key; `invalid_json`, `invalid_request`", body = ErrorBody),
        (status = 403, description = "`forbidden_key`: not a staging key of the caller's tenant, or signed by another \
            principal; `quota_exceeded`: the sanitised size would exceed the tenant's quota (the upload is deleted)", body = ErrorBody),
        (status = 404, description = "`not_found`: nothing was uploaded (and nothing was completed)", body = ErrorBody),
        (status = 422, description = "The upload is refused and deleted: `not_signed_for_profile`, `too_large`, \
            `checksum_mismatch` (the stored bytes are not the `sha256` signed), \
            `type_mismatch`, `not_an_image`, `dimensions_too_large`, `corrupt_file`, `unsafe_content` (docs/verifier.md)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, description = "`store_unavailable`, `quota_unavailable`", body = ErrorBody),
        JsonRefusals
    ],
    /// Verify a staged upload by content and promote it
    ///
    /// Checks, cheapest first: the key, the object's signed record (only the
    /// principal that signed it may complete it), its size, its real type, and the
    /// deep check for that type; avatars are stripped of metadata losslessly. The
    /// sanitised object is written to its served key and the staging object
    /// deleted; a refused upload is deleted too. Completing twice, or
    /// concurrently, returns the same result.
    #[tracing::instrument(name = "complete", skip_all, fields(tenant = %call.caller.tenant, object_key = audit::loggable_key(&body.object_key)))]
    pub async fn complete(call: Call<Auth>, body: web::Json<CompleteRequest>) -> Result<HttpResponse, ApiError> {
        let Call { state, service: auth, caller } = &call;
        let response = audit::audited("complete", caller, Some(&body.object_key), async {
            auth.limiter.check(caller, Action::Complete).await?;
            uploads::complete::complete(&state.store, &state.verification, &auth.quotas, caller, &body).await
        })
        .await?;
        Ok(HttpResponse::Ok().json(response))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::resource("/uploads/sign").route(web::post().to(sign)))
        .service(super::resource("/uploads/complete").route(web::post().to(complete)))
        .service(
            super::resource("/uploads/download")
                .route(web::post().to(download))
                .route(web::get().to(download_redirect)),
        );
}
