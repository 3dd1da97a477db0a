//! The Companion-compatible routes `@uppy/aws-s3` 4.x calls when its
//! `endpoint` option points at the broker: `GET /s3/params` for a single
//! upload, `/s3/multipart…` for parts. Thin handlers over the same functions
//! as `/uploads/sign` and `/uploads/multipart…`, authenticated from the
//! headers Uppy sends (its `headers` option), with the profile from the file's
//! metadata (`metadata[kind]`, default `document`).
//!
//! Differences from Companion, on purpose: every call after create must come
//! from the principal that created the upload, and the `key` in the query
//! must be the upload's own (else 404 `upload_not_found`); the multipart
//! complete does not verify: the client then calls `POST /uploads/complete`.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Call;
use super::multipart::{MultipartCall, audited_abort, audited_create, audited_on_upload, limited_sign};
use crate::auth::{Action, Auth};
use crate::error::{ApiError, ErrorBody};
use crate::openapi::{CreateRefusals, RateLimited, Unauthenticated, UploadRefusals};
use crate::uploads::multipart::{self, AbortResponse, COMPANION_PART_SIZE, SignPartsRequest};
use crate::uploads::sign::{SignRequest, SignResponse};

/// The profile of an upload whose metadata names none.
const DEFAULT_KIND: &str = "document";

/// `GET /s3/params`: what `getUploadParameters` sends.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ParamsQuery {
    /// The file's name.
    pub filename: String,
    /// The file's type.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub content_type: String,
    /// The upload profile (Uppy sends the file's `meta.kind`); default `document`.
    #[serde(rename = "metadata[kind]")]
    #[param(rename = "metadata[kind]")]
    pub kind: Option<String>,
    /// The size in bytes, when the client adds it to the metadata (PUT mode needs it).
    #[serde(rename = "metadata[size]")]
    #[param(rename = "metadata[size]")]
    pub size: Option<u64>,
    /// Who may read the verified object (`user`, `team:{id}`, `tenant`); default: the kind's.
    #[serde(rename = "metadata[scope]")]
    #[param(rename = "metadata[scope]")]
    pub scope: Option<String>,
}

/// The file's metadata as Uppy sends it: every value a string.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CompanionMetadata {
    /// The upload profile; default `document`.
    pub kind: Option<String>,
    /// The size in bytes, when the client adds it: it then fixes the part count.
    pub size: Option<String>,
    /// Who may read the verified object (`user`, `team:{id}`, `tenant`); default: the kind's.
    pub scope: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompanionCreateRequest {
    pub filename: String,
    #[serde(rename = "type")]
    pub content_type: String,
    #[serde(default)]
    pub metadata: CompanionMetadata,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompanionCreateResponse {
    /// The staging key: `POST /uploads/complete` takes it as `objectKey` once the parts are assembled.
    pub key: String,
    pub upload_id: String,
    /// Seconds until the upload expires.
    pub expires_in: u64,
}

/// The `key` every call after create repeats.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// The key `POST /s3/multipart` returned.
    pub key: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignedPartUrl {
    pub url: String,
    #[schema(schema_with = put_schema)]
    pub method: &'static str,
    pub headers: BTreeMap<String, String>,
    /// Seconds until the URL expires (Companion's name).
    pub expires: u64,
    pub expires_in: u64,
}

fn put_schema() -> utoipa::openapi::schema::ObjectBuilder {
    crate::openapi::string_enum(&["PUT"])
}

/// One stored part, in S3's (and Companion's) spelling.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompanionPart {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "Size")]
    pub size: u64,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompanionCompletedPart {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompanionCompleteRequest {
    pub parts: Vec<CompanionCompletedPart>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompanionCompleteResponse {
    /// The staging key of the assembled object (not yet verified).
    pub location: String,
    /// The same key: send it to `POST /uploads/complete` as `objectKey`.
    pub key: String,
    /// Nothing expires: 0.
    pub expires_in: u64,
}

fn sign_request(
    filename: &str,
    content_type: &str,
    kind: Option<&str>,
    size: Option<u64>,
    scope: Option<&str>,
) -> SignRequest {
    SignRequest {
        kind: kind.unwrap_or(DEFAULT_KIND).to_owned(),
        filename: filename.to_owned(),
        content_type: content_type.to_owned(),
        size,
        sha256: None,
        scope: scope.map(str::to_owned),
    }
}

authed_route! {
    "companion" get "/s3/params", "companionParams", { params(ParamsQuery) },
    (status = 200, description = "As `/uploads/sign`", body = SignResponse),
    [
        (status = 400, description = "As `/uploads/sign`; `invalid_request` without `filename` or `type`", body = ErrorBody),
        (status = 403, description = "`quota_exceeded`", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, description = "`store_unavailable`, `quota_unavailable`", body = ErrorBody)
    ],
    /// Sign a single upload, Companion style
    ///
    /// `/uploads/sign` for `getUploadParameters`: the same checks, the same
    /// answer (`{method: "POST", url, fields}` or `{method: "PUT", url, headers}`, plus `objectKey`).
    pub async fn params(call: Call<Auth>, query: web::Query<ParamsQuery>) -> Result<HttpResponse, ApiError> {
        let request = sign_request(
            &query.filename,
            &query.content_type,
            query.kind.as_deref(),
            query.size,
            query.scope.as_deref(),
        );
        let response = super::uploads::signed_upload(&call.state, &call.service, &call.caller, &request).await?;
        Ok(super::uploads::sign_reply(&response))
    }
}

authed_route! {
    "companion" post "/s3/multipart", "companionCreateMultipart", { request_body = CompanionCreateRequest },
    (status = 200, description = "The key and the upload id", body = CompanionCreateResponse),
    [
        (status = 400, description = "As `POST /uploads/multipart`", body = ErrorBody),
        CreateRefusals
    ],
    /// Start a multipart upload, Companion style
    ///
    /// `POST /uploads/multipart` for `createMultipartUpload`. Parts are 5 MiB,
    /// `@uppy/aws-s3`'s default; without `metadata.size` the profile's maximum
    /// bounds the part count, and completion checks the total.
    #[tracing::instrument(name = "multipart_create", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn create(
        auth: web::Data<Auth>,
        call: MultipartCall,
        body: web::Json<CompanionCreateRequest>,
    ) -> Result<HttpResponse, ApiError> {
        let size = match body.metadata.size.as_deref().map(str::parse::<u64>) {
            Some(Ok(size)) => Some(size),
            Some(Err(_)) => {
                return Err(ApiError::InvalidRequest(
                    "metadata.size must be a number of bytes".into(),
                ));
            }
            None => None,
        };
        let request = sign_request(
            &body.filename,
            &body.content_type,
            body.metadata.kind.as_deref(),
            size,
            body.metadata.scope.as_deref(),
        );
        let response = audited_create(&call, &auth, &request, COMPANION_PART_SIZE, None).await?;
        Ok(HttpResponse::Ok().json(CompanionCreateResponse {
            key: response.key,
            upload_id: response.upload_id,
            expires_in: response.expires_in,
        }))
    }
}

authed_route! {
    "companion" get "/s3/multipart/{uploadId}/{partNumber}", "companionSignPart",
    {
        params(
            ("uploadId" = String, Path, description = "The upload id"),
            ("partNumber" = u32, Path, description = "1..=the part count"),
            KeyQuery,
        )
    },
    (status = 200, description = "A presigned UploadPart", body = SignedPartUrl),
    [
        (status = 400, description = "`invalid_part_number`", body = ErrorBody),
        (status = 404, description = "`upload_not_found` (also when `key` is not the upload's)", body = ErrorBody),
        (status = 429, response = RateLimited),
        (status = 503, description = "`sessions_unavailable`", body = ErrorBody)
    ],
    /// Sign one part, Companion style
    #[tracing::instrument(name = "multipart_sign", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn sign_part(
        auth: web::Data<Auth>,
        call: MultipartCall,
        path: web::Path<(String, String)>,
        query: web::Query<KeyQuery>,
    ) -> Result<HttpResponse, ApiError> {
        let (upload_id, part_number) = path.into_inner();
        let part_number: u32 = part_number
            .parse()
            .map_err(|_| ApiError::InvalidPartNumber("the part number must be a whole number".into()))?;
        let request = SignPartsRequest {
            part_numbers: vec![part_number],
            checksum_sha256: BTreeMap::new(),
        };
        let signed = limited_sign(&call, &auth, &upload_id, Some(&query.key), &request).await?;
        let expires_in = signed.expires_in;
        let part = signed.parts.into_iter().next().ok_or(ApiError::Internal)?;
        Ok(HttpResponse::Ok().json(SignedPartUrl {
            url: part.url,
            method: part.method,
            headers: part.headers,
            expires: expires_in,
            expires_in,
        }))
    }
}

authed_route! {
    "companion" get "/s3/multipart/{uploadId}", "companionListParts",
    { params(("uploadId" = String, Path, description = "The upload id"), KeyQuery) },
    (status = 200, description = "The parts the store holds", body = [CompanionPart]),
    [UploadRefusals],
    /// The stored parts, Companion style
    ///
    /// A bare JSON array (what `listParts` expects), so it carries no `expiresIn`.
    #[tracing::instrument(name = "multipart_list", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn list_parts(
        call: MultipartCall,
        upload_id: web::Path<String>,
        query: web::Query<KeyQuery>,
    ) -> Result<HttpResponse, ApiError> {
        let owned = call.owned(&upload_id, Some(&query.key)).await?;
        let status = multipart::status(&call.state.store, &owned).await?;
        let parts: Vec<CompanionPart> = status
            .parts
            .into_iter()
            .map(|p| CompanionPart {
                part_number: p.part_number,
                size: p.size,
                etag: p.etag,
            })
            .collect();
        Ok(HttpResponse::Ok().json(parts))
    }
}

authed_route! {
    "companion" post "/s3/multipart/{uploadId}/complete", "companionCompleteMultipart",
    { params(("uploadId" = String, Path, description = "The upload id"), KeyQuery), request_body = CompanionCompleteRequest },
    (status = 200, description = "Assembled in staging", body = CompanionCompleteResponse),
    [
        (status = 400, description = "`invalid_parts`, `invalid_part_number`, `too_large`", body = ErrorBody),
        (status = 429, response = RateLimited),
        UploadRefusals
    ],
    /// Assemble the parts, Companion style
    ///
    /// Checks the parts and calls CompleteMultipartUpload, like `POST
    /// /uploads/multipart/{uploadId}/complete`, but does not verify: send the
    /// returned key to `POST /uploads/complete` next.
    #[tracing::instrument(name = "multipart_complete", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn complete(
        auth: web::Data<Auth>,
        call: MultipartCall,
        upload_id: web::Path<String>,
        query: web::Query<KeyQuery>,
        body: web::Json<CompanionCompleteRequest>,
    ) -> Result<HttpResponse, ApiError> {
        let parts: Vec<(u32, String)> = body.parts.iter().map(|p| (p.part_number, p.etag.clone())).collect();
        let (store, multipart) = (&call.state.store, &*call.service);
        let limit = Some((&**auth, Action::Complete));
        let key = Some(query.key.as_str());
        audited_on_upload(
            "multipart_complete",
            limit,
            &call,
            &upload_id,
            key,
            |owned| async move { multipart::assemble(store, multipart, &owned, &parts).await },
        )
        .await?;
        Ok(HttpResponse::Ok().json(CompanionCompleteResponse {
            location: query.key.clone(),
            key: query.key.clone(),
            expires_in: 0,
        }))
    }
}

authed_route! {
    "companion" delete "/s3/multipart/{uploadId}", "companionAbortMultipart",
    { params(("uploadId" = String, Path, description = "The upload id"), KeyQuery) },
    (status = 200, description = "Aborted", body = AbortResponse),
    [UploadRefusals],
    /// Abort, Companion style
    #[tracing::instrument(name = "multipart_abort", skip_all, fields(tenant = %call.caller.tenant))]
    pub async fn abort(
        call: MultipartCall,
        upload_id: web::Path<String>,
        query: web::Query<KeyQuery>,
    ) -> Result<HttpResponse, ApiError> {
        let response = audited_abort(&call, &upload_id, Some(&query.key)).await?;
        Ok(HttpResponse::Ok().json(response))
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    use super::resource;
    // `…/complete` before `…/{partNumber}`: the first matching resource answers.
    cfg.service(resource("/s3/params").route(web::get().to(params)))
        .service(resource("/s3/multipart").route(web::post().to(create)))
        .service(resource("/s3/multipart/{uploadId}/complete").route(web::post().to(complete)))
        .service(resource("/s3/multipart/{uploadId}/{partNumber}").route(web::get().to(sign_part)))
        .service(
            resource("/s3/multipart/{uploadId}")
                .route(web::get().to(list_parts))
                .route(web::delete().to(abort)),
        );
}
