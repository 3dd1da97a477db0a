//! `/uploads/multipart…`: the broker's own multipart routes, thin handlers
//! over [`crate::uploads::multipart`].

use actix_web::{HttpResponse, web};

use super::Call;
use crate::auth::{Action, Auth, audit};
use crate::error::{ApiError, ErrorBody};
use crate::openapi::{CreateRefusals, RateLimited, Unauthenticated, UploadRefusals};
use crate::uploads::complete::CompleteResponse;
use crate::uploads::multipart::{
    self, AbortResponse, ChecksumAlgorithm, CompleteMultipartRequest, CreateMultipartRequest, CreateMultipartResponse,
    Multipart, MultipartStatus, Owned, SignPartsRequest, SignPartsResponse,
};
use crate::uploads::sign::SignRequest;

authed_route! {
    "multipart" post "/uploads/multipart", "createMultipartUpload", { request_body = CreateMultipartRequest },
    (status = 201, description = "The upload id, the staging key and the part layout", body = CreateMultipartResponse),
    [
        (status = 400, description = "`unknown_kind`, `unsupported_type`, `extension_mismatch`, `invalid_filename`, \
            `too_large` (over the profile's maximum), `empty_file`, `too_many_parts`, `invalid_json`, `invalid_request`", body = ErrorBody),
        CreateRefusals
    ],
    /// Start a multipart upload
    ///
    /// Checks the request like `/uploads/sign` (profile, type, extension, name,
    /// size, quota), makes the staging key, starts the store's multipart upload
    /// with the signed object record, and records the session for the caller
    /// (tenant and subject): only they may sign, list, complete or abort it.
    #[tracing::instrument(name = "multipart_create", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn create(
        auth: web::Data<Auth>,
        call: MultipartCall,
        body: web::Json<CreateMultipartRequest>,
    ) -> Result<HttpResponse, ApiError> {
        let part_size = call.state.store.uploads().multipart_part_size;
        let request = body.sign_request();
        let response = audited_create(&call, &auth, &request, part_size, body.checksum_algorithm).await?;
        Ok(HttpResponse::Created().json(response))
    }
}

authed_route! {
    "multipart" post "/uploads/multipart/{uploadId}/parts", "signMultipartParts",
    { params(("uploadId" = String, Path, description = "The upload id `POST /uploads/multipart` returned")), request_body = SignPartsRequest },
    (status = 200, description = "One URL per part number", body = SignPartsResponse),
    [
        (status = 400, description = "`invalid_part_number` (none, 0, or above `partCount`), `too_many_parts` \
            (more than 100), `invalid_checksum` (a part's `checksumSha256` missing, not 32 bytes in base64, or \
            sent for an upload without `checksumAlgorithm`), `invalid_json`, `invalid_request`", body = ErrorBody),
        (status = 404, description = "`upload_not_found`: no such upload of the caller (another principal's \
            looks the same), or it expired", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, description = "`sessions_unavailable`", body = ErrorBody)
    ],
    /// Sign parts of a multipart upload
    ///
    /// Presigned UploadPart URLs (`S3_PRESIGN_TTL`), at most 100 per call, each
    /// bound by its signature to this upload id, key and part number, to the
    /// part's exact length (every part but the last is `partSize` bytes) and, for
    /// an upload created with `checksumAlgorithm`, to the part's SHA-256. Each
    /// part takes a token from the caller's part-signing bucket (see
    /// docs/auth.md): a 1,000-part upload fits in it whole.
    #[tracing::instrument(name = "multipart_sign", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn sign_parts(
        auth: web::Data<Auth>,
        call: MultipartCall,
        upload_id: web::Path<String>,
        body: web::Json<SignPartsRequest>,
    ) -> Result<HttpResponse, ApiError> {
        let response = limited_sign(&call, &auth, &upload_id, None, &body).await?;
        Ok(HttpResponse::Ok().json(response))
    }
}

authed_route! {
    "multipart" get "/uploads/multipart/{uploadId}", "getMultipartUpload",
    { params(("uploadId" = String, Path, description = "The upload id")) },
    (status = 200, description = "The layout and the stored parts", body = MultipartStatus),
    [UploadRefusals],
    /// The parts uploaded so far (resume)
    ///
    /// What the store holds for this upload, with each part's ETag, so a client
    /// that lost its state (a reload) uploads only the missing parts.
    #[tracing::instrument(name = "multipart_list", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn status(call: MultipartCall, upload_id: web::Path<String>) -> Result<HttpResponse, ApiError> {
        let owned = call.owned(&upload_id, None).await?;
        Ok(HttpResponse::Ok().json(multipart::status(&call.state.store, &owned).await?))
    }
}

authed_route! {
    "multipart" post "/uploads/multipart/{uploadId}/complete", "completeMultipartUpload",
    { params(("uploadId" = String, Path, description = "The upload id")), request_body = CompleteMultipartRequest },
    (status = 200, description = "The verified object", body = CompleteResponse),
    [
        (status = 400, description = "`invalid_parts` (missing, out of order, wrong ETag, wrong sizes), \
            `invalid_part_number`, `too_large`, `invalid_json`, `invalid_request`", body = ErrorBody),
        (status = 403, description = "`quota_exceeded` (the upload is deleted)", body = ErrorBody),
        (status = 404, description = "`upload_not_found`", body = ErrorBody),
        (status = 422, description = "Refused and deleted, as by `/uploads/complete`", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, description = "`store_unavailable`, `quota_unavailable`, `sessions_unavailable`", body = ErrorBody)
    ],
    /// Complete a multipart upload, then verify and promote it
    ///
    /// Checks the parts against what the store holds (ascending, ETags, every
    /// part but the last exactly `partSize`, the declared size in total), calls
    /// CompleteMultipartUpload, then verifies and promotes the staged object
    /// exactly as `POST /uploads/complete` does, and answers as it does.
    #[tracing::instrument(name = "multipart_complete", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn complete(
        auth: web::Data<Auth>,
        call: MultipartCall,
        upload_id: web::Path<String>,
        body: web::Json<CompleteMultipartRequest>,
    ) -> Result<HttpResponse, ApiError> {
        let parts: Vec<(u32, String)> = body.parts.iter().map(|p| (p.part_number, p.etag.clone())).collect();
        let (store, verification, quotas) = (&call.state.store, &call.state.verification, &auth.quotas);
        let (multipart, caller) = (&*call.service, &call.caller);
        let limit = Some((&**auth, Action::Complete));
        let response = audited_on_upload("multipart_complete", limit, &call, &upload_id, None, |owned| async move {
            multipart::complete(store, multipart, verification, quotas, caller, &owned, &parts).await
        })
        .await?;
        Ok(HttpResponse::Ok().json(response))
    }
}

authed_route! {
    "multipart" delete "/uploads/multipart/{uploadId}", "abortMultipartUpload",
    { params(("uploadId" = String, Path, description = "The upload id")) },
    (status = 200, description = "Aborted", body = AbortResponse),
    [UploadRefusals],
    /// Abort a multipart upload
    ///
    /// Discards the upload and its parts in the store; the upload id is then unknown.
    #[tracing::instrument(name = "multipart_abort", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn abort(call: MultipartCall, upload_id: web::Path<String>) -> Result<HttpResponse, ApiError> {
        let response = audited_abort(&call, &upload_id, None).await?;
        Ok(HttpResponse::Ok().json(response))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    use super::resource;
    // `…/complete` before the companion family's `…/{partNumber}`: the first
    // matching resource answers.
    cfg.service(resource("/uploads/multipart").route(web::post().to(create)))
        .service(resource("/uploads/multipart/{uploadId}/parts").route(web::post().to(sign_parts)))
        .service(resource("/uploads/multipart/{uploadId}/complete").route(web::post().to(complete)))
        .service(
            resource("/uploads/multipart/{uploadId}")
                .route(web::get().to(status))
                .route(web::delete().to(abort)),
        );
}

/// What every handler of both multipart route families takes; its service
/// is the multipart sessions.
pub type MultipartCall = Call<Multipart>;

impl MultipartCall {
    /// The caller's upload `upload_id` (`key`: see [`multipart::owned`]).
    pub(crate) async fn owned(&self, upload_id: &str, key: Option<&str>) -> Result<Owned, ApiError> {
        multipart::owned(&self.service, &self.caller, upload_id, key).await
    }
}

/// Part URLs for `request` of the caller's upload `upload_id` (`key`: see
/// [`multipart::owned`]), after taking one token per part from the caller's
/// part-signing bucket (both route families).
pub(crate) async fn limited_sign(
    call: &MultipartCall,
    auth: &Auth,
    upload_id: &str,
    key: Option<&str>,
    request: &SignPartsRequest,
) -> Result<SignPartsResponse, ApiError> {
    let parts = u32::try_from(request.part_numbers.len()).unwrap_or(u32::MAX);
    auth.limiter.take(&call.caller, Action::SignParts, parts).await?;
    let owned = call.owned(upload_id, key).await?;
    multipart::sign_parts(
        &call.state.store,
        &owned,
        &request.part_numbers,
        &request.checksum_sha256,
    )
    .await
}

/// A create and its audit line (both route families).
pub(crate) async fn audited_create(
    call: &MultipartCall,
    auth: &Auth,
    request: &SignRequest,
    part_size: u64,
    checksum: Option<ChecksumAlgorithm>,
) -> Result<CreateMultipartResponse, ApiError> {
    let Call {
        state,
        service: multipart,
        caller,
    } = call;
    audit::audited("multipart_create", caller, None, async {
        auth.limiter.check(caller, Action::Sign).await?;
        let plan = multipart::plan(request, state.store.uploads())?;
        auth.quotas.check(&state.store, &caller.tenant, plan.size).await?;
        multipart::create(&state.store, multipart, caller, &plan, part_size, checksum).await
    })
    .await
}

/// `work` on the caller's upload `upload_id` (`key`: see [`multipart::owned`])
/// after the rate limit `limit`, if any, and its audit line `action`, which
/// names the upload's staging key (both route families).
pub(crate) async fn audited_on_upload<T, F, Fut>(
    action: &str,
    limit: Option<(&Auth, Action)>,
    call: &MultipartCall,
    upload_id: &str,
    key: Option<&str>,
    work: F,
) -> Result<T, ApiError>
where
    F: FnOnce(Owned) -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let keyed = audit::audited(action, &call.caller, None, async {
        if let Some((auth, action)) = limit {
            auth.limiter.check(&call.caller, action).await?;
        }
        let owned = call.owned(upload_id, key).await?;
        let key = owned.session.key.clone();
        Ok(Keyed(key, work(owned).await?))
    })
    .await?;
    Ok(keyed.1)
}

/// An abort and its audit line (both route families).
pub(crate) async fn audited_abort(
    call: &MultipartCall,
    upload_id: &str,
    key: Option<&str>,
) -> Result<AbortResponse, ApiError> {
    let (store, multipart) = (&call.state.store, &*call.service);
    audited_on_upload("multipart_abort", None, call, upload_id, key, |owned| async move {
        multipart::abort(store, multipart, &owned).await
    })
    .await
}

/// A result and the staging key of the upload it concerns, for the audit line.
struct Keyed<T>(String, T);

impl<T> audit::Audited for Keyed<T> {
    fn created_key(&self) -> Option<String> {
        Some(self.0.clone())
    }
}
