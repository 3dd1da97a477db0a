//! `POST /uploads/sign`: check the request against its profile, then sign a
//! POST policy that makes the store enforce the same limits.

use std::collections::BTreeMap;

use broker_core::disposition::encode_filename;
use broker_core::profile::{ContentType, PROFILES};
use broker_core::store::Store;
use broker_core::{Profile, StagedUpload, UploadId};
use serde::{Deserialize, Serialize};

use crate::caller::Caller;
use crate::error::ApiError;

const MAX_FILENAME_BYTES: usize = 255;

#[derive(Debug, Deserialize)]
pub struct SignRequest {
    pub kind: String,
    pub filename: String,
    pub content_type: String,
    /// Optional declared size, so an oversized file is refused before it is sent.
    pub size: Option<u64>,
}

/// The shape `@uppy/aws-s3` v4 `getUploadParameters` returns, plus our fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignResponse {
    pub method: &'static str,
    pub url: String,
    pub fields: BTreeMap<String, String>,
    pub object_key: String,
    pub expires_in: u64,
    pub max_bytes: u64,
}

/// A request that passed every check, normalised.
#[derive(Debug, PartialEq, Eq)]
pub struct UploadPlan {
    pub profile: &'static Profile,
    pub content_type: &'static ContentType,
    pub filename: String,
}

impl SignRequest {
    pub fn plan(&self) -> Result<UploadPlan, ApiError> {
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
            _ => {}
        }
        Ok(UploadPlan {
            profile,
            content_type,
            filename,
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
    sign_plan(store, caller, &request.plan()?).await
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
    let metadata = [
        ("profile", plan.profile.name.as_str().to_owned()),
        ("tenant", caller.tenant.as_str().to_owned()),
        ("filename", encode_filename(&plan.filename)),
        ("subject", encode_filename(&caller.subject)),
    ];
    let post = store
        .presign_post(&key, plan.content_type.mime, plan.profile.max_bytes, &metadata)
        .await?;
    Ok(SignResponse {
        method: "POST",
        url: post.url,
        fields: post.fields,
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
        assert_eq!(code(request("avatar", "me.jpg", "image/jpeg", Some(10)).plan()), "ok");
        assert_eq!(
            code(request("avatar", "C:\\Users\\me\\me.PNG", "image/png", None).plan()),
            "ok"
        );
        assert_eq!(
            code(request("document", "a.pdf", "application/pdf", None).plan()),
            "unknown_kind"
        );
        assert_eq!(
            code(request("avatar", "a.pdf", "application/pdf", None).plan()),
            "unsupported_type"
        );
        assert_eq!(
            code(request("avatar", "a.png", "image/jpeg", None).plan()),
            "extension_mismatch"
        );
        assert_eq!(
            code(request("avatar", "noext", "image/jpeg", None).plan()),
            "extension_mismatch"
        );
        assert_eq!(
            code(request("avatar", "a.jpg", "image/jpeg", Some(2_097_153)).plan()),
            "too_large"
        );
        assert_eq!(
            code(request("avatar", "a.jpg", "image/jpeg", Some(0)).plan()),
            "empty_file"
        );
        assert_eq!(
            code(request("avatar", "a\n.jpg", "image/jpeg", None).plan()),
            "invalid_filename"
        );
        assert_eq!(
            code(request("avatar", "../", "image/jpeg", None).plan()),
            "invalid_filename"
        );
        assert_eq!(
            code(request("export", "d.csv", "text/csv", Some(26_214_400)).plan()),
            "ok"
        );
    }

    #[test]
    fn the_plan_keeps_only_the_base_name_and_the_bare_type() {
        let plan = request("export", "../../etc/data.json", "application/json; charset=utf-8", None)
            .plan()
            .expect("valid");
        assert_eq!(plan.filename, "data.json");
        assert_eq!(plan.content_type.mime, "application/json");
    }
}
