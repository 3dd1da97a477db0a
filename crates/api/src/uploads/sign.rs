//! `POST /uploads/sign`: check the request against its profile, then sign an
//! upload that makes the store enforce the same limits: a POST policy, or in
//! `S3_UPLOAD_MODE=put` a presigned PUT whose signed headers pin the type, the
//! exact size and the metadata record.

use std::collections::BTreeMap;

use broker_core::config::UploadMode;
use broker_core::content_type::ContentType;
use broker_core::profile::PROFILES;
use broker_core::record::ObjectRecord;
use broker_core::store::{PresignedUpload, Store};
use broker_core::{Profile, StagedUpload, UploadId};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::auth::audit::Audited;
use crate::error::ApiError;

const MAX_FILENAME_BYTES: usize = 255;

#[derive(Debug, Deserialize)]
pub struct SignRequest {
    pub kind: String,
    pub filename: String,
    pub content_type: String,
    /// The declared size: optional for POST (an oversized file is then refused
    /// before it is sent), required for PUT, whose URL pins it.
    pub size: Option<u64>,
}

/// The shape `@uppy/aws-s3` v4 `getUploadParameters` returns, plus our
/// fields: `{method: "POST", url, fields}` or `{method: "PUT", url, headers}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignResponse {
    pub method: &'static str,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    pub object_key: String,
    pub expires_in: u64,
    pub max_bytes: u64,
}

/// The staging key it generated names the audit line.
impl Audited for SignResponse {
    fn created_key(&self) -> Option<String> {
        Some(self.object_key.clone())
    }
}

/// A request that passed every check, normalised.
#[derive(Debug, PartialEq, Eq)]
pub struct UploadPlan {
    pub profile: &'static Profile,
    pub content_type: &'static ContentType,
    pub filename: String,
    pub size: Option<u64>,
}

impl SignRequest {
    pub fn plan(&self, mode: UploadMode) -> Result<UploadPlan, ApiError> {
        let profile = Profile::find(&self.kind).ok_or_else(|| {
            let known: Vec<_> = PROFILES.iter().map(|p| p.name.as_str()).collect();
            ApiError::UnknownKind(self.kind.clone(), known.join(", "))
        })?;
        let content_type = profile
            .accepts(&self.content_type)
            .ok_or_else(|| ApiError::UnsupportedType(self.content_type.clone(), profile.mime_list()))?;
        let filename = clean_filename(&self.filename)?;
        let guessed = mime_guess::from_path(&filename);
        let mime = content_type.mime;
        if !guessed.iter().any(|m| m.essence_str() == mime) {
            return Err(ApiError::ExtensionMismatch(match guessed.first() {
                Some(m) => format!(
                    "{filename:?} looks like {} but the content type is {mime}",
                    m.essence_str()
                ),
                None => format!("{filename:?} has no extension that matches {mime}"),
            }));
        }
        match self.size {
            Some(0) => return Err(ApiError::EmptyFile),
            Some(size) if size > profile.max_bytes => {
                return Err(ApiError::TooLarge {
                    size,
                    max: profile.max_bytes,
                });
            }
            None if mode == UploadMode::Put => return Err(ApiError::SizeRequired),
            _ => {}
        }
        Ok(UploadPlan {
            profile,
            content_type,
            filename,
            size: self.size,
        })
    }
}

/// Browsers send a base name, but nothing forces them to: keep the last path
/// component and refuse what could never be a real file name.
fn clean_filename(raw: &str) -> Result<String, ApiError> {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("").trim();
    if base.is_empty() || base == "." || base == ".." {
        return Err(ApiError::InvalidFilename("the filename is empty".into()));
    }
    if base.len() > MAX_FILENAME_BYTES {
        return Err(ApiError::InvalidFilename(format!(
            "the filename is longer than {MAX_FILENAME_BYTES} bytes"
        )));
    }
    if base.chars().any(char::is_control) {
        return Err(ApiError::InvalidFilename(
            "the filename contains control characters".into(),
        ));
    }
    Ok(base.to_owned())
}

pub async fn sign(store: &Store, caller: &Caller, request: &SignRequest) -> Result<SignResponse, ApiError> {
    sign_plan(store, caller, &request.plan(store.upload_mode())?).await
}

/// Signs a checked request (the route checks rate limits and quotas in between).
pub async fn sign_plan(store: &Store, caller: &Caller, plan: &UploadPlan) -> Result<SignResponse, ApiError> {
    let upload = StagedUpload {
        tenant: caller.tenant.clone(),
        profile: plan.profile,
        upload_id: UploadId::new(),
        content_type: plan.content_type,
    };
    let key = store.layout().staging_key(&upload);
    // The object carries its own tamper-proof record of why it was signed,
    // and by whom: only this subject may complete it.
    let record = ObjectRecord::signed(
        plan.profile.name.as_str(),
        caller.tenant.as_str(),
        &plan.filename,
        &caller.subject,
    );
    let signed = store
        .presign_upload(&key, plan.content_type.mime, plan.profile.max_bytes, plan.size, &record)
        .await?;
    broker_core::metrics::upload_signed(plan.profile.name.as_str(), store.upload_mode());
    let (method, url, fields, headers) = match signed {
        PresignedUpload::Post(post) => ("POST", post.url, Some(post.fields), None),
        PresignedUpload::Put(put) => ("PUT", put.url, None, Some(put.headers)),
    };
    Ok(SignResponse {
        method,
        url,
        fields,
        headers,
        object_key: key.to_string(),
        expires_in: store.presign_ttl().as_secs(),
        max_bytes: plan.profile.max_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str, filename: &str, content_type: &str, size: Option<u64>) -> SignRequest {
        SignRequest {
            kind: kind.into(),
            filename: filename.into(),
            content_type: content_type.into(),
            size,
        }
    }

    fn code(result: Result<UploadPlan, ApiError>) -> &'static str {
        result.map(|_| "ok").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn requests_are_checked_against_their_profile() {
        assert_eq!(
            code(request("avatar", "me.jpg", "image/jpeg", Some(10)).plan(UploadMode::Post)),
            "ok"
        );
        assert_eq!(
            code(request("avatar", "me.jpg", "image/jpeg", Some(10)).plan(UploadMode::Put)),
            "ok"
        );
        assert_eq!(
            code(request("avatar", "me.jpg", "image/jpeg", None).plan(UploadMode::Put)),
            "size_required"
        );
        assert_eq!(
            code(request("avatar", "C:\\Users\\me\\me.PNG", "image/png", None).plan(UploadMode::Post)),
            "ok"
        );
        assert_eq!(
            code(request("document", "a.pdf", "application/pdf", None).plan(UploadMode::Post)),
            "unknown_kind"
        );
        assert_eq!(
            code(request("avatar", "a.pdf", "application/pdf", None).plan(UploadMode::Post)),
            "unsupported_type"
        );
        assert_eq!(
            code(request("avatar", "a.png", "image/jpeg", None).plan(UploadMode::Post)),
            "extension_mismatch"
        );
        assert_eq!(
            code(request("avatar", "noext", "image/jpeg", None).plan(UploadMode::Post)),
            "extension_mismatch"
        );
        assert_eq!(
            code(request("avatar", "a.jpg", "image/jpeg", Some(2_097_153)).plan(UploadMode::Post)),
            "too_large"
        );
        assert_eq!(
            code(request("avatar", "a.jpg", "image/jpeg", Some(0)).plan(UploadMode::Post)),
            "empty_file"
        );
        assert_eq!(
            code(request("avatar", "a\n.jpg", "image/jpeg", None).plan(UploadMode::Post)),
            "invalid_filename"
        );
        assert_eq!(
            code(request("avatar", "../", "image/jpeg", None).plan(UploadMode::Post)),
            "invalid_filename"
        );
        assert_eq!(
            code(request("export", "d.csv", "text/csv", Some(26_214_400)).plan(UploadMode::Post)),
            "ok"
        );
    }

    #[test]
    fn the_plan_keeps_only_the_base_name_and_the_bare_type() {
        let plan = request("export", "../../etc/data.json", "application/json; charset=utf-8", None)
            .plan(UploadMode::Post)
            .expect("valid");
        assert_eq!(plan.filename, "data.json");
        assert_eq!(plan.content_type.mime, "application/json");
    }
}
