//! `POST /uploads/sign`: check the request against its profile, then sign an
//! upload that makes the store enforce the same limits: a POST policy, or in
//! `S3_UPLOAD_MODE=put` a presigned PUT whose signed headers pin the type, the
//! exact size and the metadata record.

use std::collections::BTreeMap;

use broker_core::config::{UploadMode, UploadSettings};
use broker_core::content_type::ContentType;
use broker_core::json;
use broker_core::profile::PROFILES;
use broker_core::record::{ObjectRecord, Sha256Digest};
use broker_core::store::{PresignedUpload, Store};
use broker_core::{ObjectKey, Profile, ScopeRequest, StagedUpload, UploadId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa::openapi::schema::ObjectBuilder;

use crate::auth::Caller;
use crate::auth::audit::Audited;
use crate::error::ApiError;
use crate::openapi::string_enum;

const MAX_FILENAME_BYTES: usize = 255;

#[derive(Debug, Deserialize, ToSchema)]
pub struct SignRequest {
    #[schema(schema_with = kind_schema)]
    pub kind: String,
    /// The file's name, at most 255 bytes of UTF-8 without control
    /// characters; a path is cut to its last component.
    #[schema(examples("me.jpg"))]
    pub filename: String,
    /// One of the kind's types; parameters such as `; charset=utf-8` are dropped.
    #[schema(examples("image/jpeg"))]
    pub content_type: String,
    /// The declared size: optional for POST (an oversized file is then refused
    /// before it is sent), required for PUT, whose URL pins it, and when the
    /// tenant has a storage quota. Above `MULTIPART_THRESHOLD` the file must be
    /// uploaded in parts (`multipart_required`); a POST is never signed for more.
    #[schema(minimum = 1)]
    pub size: Option<u64>,
    /// The SHA-256 of the whole file, 64 hex digits. Signed into the upload's
    /// record, so the browser cannot change it; completion refuses stored
    /// bytes with another digest (`checksum_mismatch`).
    #[serde(default)]
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub sha256: Option<String>,
    /// Who may read the verified object: `user` (the signer only),
    /// `team:{id}` (members of a team the caller belongs to) or `tenant`.
    /// Default: the kind's (`avatar`: `tenant`; the others: `user`).
    /// Signed into the key, so the store enforces it (docs/objects.md).
    #[serde(default)]
    #[schema(examples("user", "team:design", "tenant"), nullable = false)]
    pub scope: Option<String>,
}

/// `kind` in the OpenAPI document, from the profile table itself.
fn kind_schema() -> ObjectBuilder {
    let mut names = Vec::new();
    let mut description = String::from("The upload profile:");
    for profile in PROFILES {
        names.push(profile.name.as_str());
        names.extend(profile.aliases);
        description.push_str(&format!(
            "\n- `{}`: {}, at most {} bytes",
            profile.name.as_str(),
            profile.mime_list(),
            profile.max_bytes
        ));
        if let Some(var) = profile.max_bytes_var {
            description.push_str(&format!(" by default (`{var}`)"));
        }
        for alias in profile.aliases {
            description.push_str(&format!(" (`{alias}`, its former name, is still accepted)"));
        }
    }
    string_enum(&names).description(Some(description))
}

/// The shape `@uppy/aws-s3` v4 `getUploadParameters` returns, plus our
/// fields: `{method: "POST", url, fields}` or `{method: "PUT", url, headers}`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignResponse {
    /// `POST`: send `fields` then the file (last) as multipart form data to
    /// `url`. `PUT` (`S3_UPLOAD_MODE=put`): send the file as the body with
    /// exactly `headers`.
    #[schema(schema_with = method_schema)]
    pub method: &'static str,
    pub url: String,
    /// POST only: every form field, in any order before the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub fields: Option<BTreeMap<String, String>>,
    /// PUT only: the headers the signature pins.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub headers: Option<BTreeMap<String, String>>,
    /// The staging key to pass to `POST /uploads/complete`.
    pub object_key: String,
    /// Seconds until the signature expires.
    pub expires_in: u64,
    /// The largest body the store accepts for this upload: the kind's
    /// maximum, or `MULTIPART_THRESHOLD` when that is smaller.
    pub max_bytes: u64,
}

impl SignResponse {
    /// The reply's JSON text: what `serde_json` writes for this struct (a
    /// test holds them equal), without escaping the ~1 KB policy and the other
    /// signed fields byte by byte (issue 15: every sign writes one).
    pub fn to_json(&self) -> Vec<u8> {
        let size = |members: &Option<BTreeMap<String, String>>| -> usize {
            members
                .iter()
                .flatten()
                .map(|(name, value)| name.len() + value.len() + 6)
                .sum()
        };
        let mut out =
            Vec::with_capacity(self.url.len() + self.object_key.len() + size(&self.fields) + size(&self.headers) + 128);
        out.extend_from_slice(br#"{"method":"#);
        json::push_str(&mut out, self.method);
        out.extend_from_slice(br#","url":"#);
        json::push_str(&mut out, &self.url);
        for (name, members) in [("fields", &self.fields), ("headers", &self.headers)] {
            if let Some(members) = members {
                out.push(b',');
                json::push_name(&mut out, name);
                json::push_object(&mut out, members);
            }
        }
        out.extend_from_slice(br#","objectKey":"#);
        json::push_str(&mut out, &self.object_key);
        out.extend_from_slice(br#","expiresIn":"#);
        json::push_u64(&mut out, self.expires_in);
        out.extend_from_slice(br#","maxBytes":"#);
        json::push_u64(&mut out, self.max_bytes);
        out.push(b'}');
        out
    }
}

fn method_schema() -> ObjectBuilder {
    string_enum(&["POST", "PUT"])
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
    pub sha256: Option<Sha256Digest>,
    /// The requested scope, or the profile's default.
    pub scope: ScopeRequest,
}

impl UploadPlan {
    /// A new staging key for this upload by `caller`, and the record the
    /// object is signed with: its own tamper-proof record of why it was
    /// signed, and by whom (only this subject may complete it). Refused when
    /// the caller may not write into the requested scope.
    pub fn staged(&self, store: &Store, caller: &Caller) -> Result<(ObjectKey, ObjectRecord), ApiError> {
        let upload = StagedUpload {
            tenant: caller.tenant.clone(),
            scope: caller.scope(&self.scope)?,
            legacy: false,
            profile: self.profile,
            upload_id: UploadId::new(),
            content_type: self.content_type,
        };
        let record = ObjectRecord::signed(
            self.profile.name.as_str(),
            caller.tenant.as_str(),
            &self.filename,
            &caller.subject,
        )
        .with_sha256(self.sha256.as_ref());
        Ok((store.layout().staging_key(&upload), record))
    }
}

impl SignRequest {
    pub fn plan(&self, mode: UploadMode, uploads: &UploadSettings) -> Result<UploadPlan, ApiError> {
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
        let (max, threshold) = (uploads.max_bytes(profile), uploads.multipart_threshold);
        match self.size {
            Some(0) => return Err(ApiError::EmptyFile),
            Some(size) if size > max => return Err(ApiError::TooLarge { size, max }),
            Some(size) if size > threshold => return Err(ApiError::MultipartRequired { size, threshold }),
            None if mode == UploadMode::Put => return Err(ApiError::SizeRequired),
            _ => {}
        }
        let sha256 = self
            .sha256
            .as_deref()
            .map(Sha256Digest::parse)
            .transpose()
            .map_err(ApiError::InvalidChecksum)?;
        let scope = match &self.scope {
            Some(raw) => ScopeRequest::parse(raw).map_err(ApiError::InvalidScope)?,
            None => profile.default_scope.clone(),
        };
        Ok(UploadPlan {
            profile,
            content_type,
            filename,
            size: self.size,
            sha256,
            scope,
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
    sign_plan(store, caller, &request.plan(store.upload_mode(), store.uploads())?).await
}

/// Signs a checked request (the route checks rate limits and quotas in between).
pub async fn sign_plan(store: &Store, caller: &Caller, plan: &UploadPlan) -> Result<SignResponse, ApiError> {
    let (key, record) = plan.staged(store, caller)?;
    // One POST or PUT never carries more than the multipart threshold.
    let max_bytes = store.uploads().single_request_max(plan.profile);
    let signed = store
        .presign_upload(&key, plan.content_type.mime, max_bytes, plan.size, &record)
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
        max_bytes,
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
            sha256: None,
            scope: None,
        }
    }

    fn code(result: Result<UploadPlan, ApiError>) -> &'static str {
        result.map(|_| "ok").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn the_reply_is_the_json_serde_writes() {
        let reply = |method, fields, headers| SignResponse {
            method,
            url: "http://127.0.0.1:9000/uploads".into(),
            fields,
            headers,
            object_key: "staging/acme/avatar/a.jpg".into(),
            expires_in: 3600,
            max_bytes: 2_097_152,
        };
        let fields = BTreeMap::from([
            ("key".to_owned(), "staging/acme/avatar/a.jpg".to_owned()),
            ("policy".to_owned(), "eyJleHBpcmF0aW9uIjoi".repeat(50)),
            (
                "x-amz-meta-filename".to_owned(),
                "a \"quoted\"\\name\u{1b}.jpg".to_owned(),
            ),
        ]);
        let headers = BTreeMap::from([("content-length".to_owned(), "10".to_owned())]);
        for reply in [
            reply("POST", Some(fields), None),
            reply("PUT", None, Some(headers)),
            reply("PUT", None, None),
        ] {
            assert_eq!(
                String::from_utf8(reply.to_json()).expect("utf-8"),
                serde_json::to_string(&reply).expect("serialises")
            );
        }
    }

    #[test]
    fn requests_are_checked_against_their_profile() {
        use UploadMode::{Post, Put};
        let cases = [
            ("avatar", "me.jpg", "image/jpeg", Some(10), Post, "ok"),
            ("avatar", "me.jpg", "image/jpeg", Some(10), Put, "ok"),
            ("avatar", "me.jpg", "image/jpeg", None, Put, "size_required"),
            ("avatar", "C:\\Users\\me\\me.PNG", "image/png", None, Post, "ok"),
            ("dossier", "a.pdf", "application/pdf", None, Post, "unknown_kind"),
            ("document", "a.pdf", "application/pdf", None, Post, "ok"),
            ("document", "a.zip", "application/zip", Some(104_857_600), Put, "ok"),
            (
                "document",
                "a.zip",
                "application/zip",
                Some(104_857_601),
                Post,
                "multipart_required",
            ),
            (
                "document",
                "a.zip",
                "application/zip",
                Some(5_368_709_121),
                Post,
                "too_large",
            ),
            ("avatar", "a.pdf", "application/pdf", None, Post, "unsupported_type"),
            ("avatar", "a.png", "image/jpeg", None, Post, "extension_mismatch"),
            ("avatar", "noext", "image/jpeg", None, Post, "extension_mismatch"),
            ("avatar", "a.jpg", "image/jpeg", Some(2_097_153), Post, "too_large"),
            ("avatar", "a.jpg", "image/jpeg", Some(0), Post, "empty_file"),
            ("avatar", "a\n.jpg", "image/jpeg", None, Post, "invalid_filename"),
            ("avatar", "../", "image/jpeg", None, Post, "invalid_filename"),
            ("export", "d.csv", "text/csv", Some(26_214_400), Post, "ok"),
        ];
        for (kind, filename, content_type, size, mode, expected) in cases {
            let plan = request(kind, filename, content_type, size).plan(mode, &UploadSettings::default());
            assert_eq!(
                code(plan),
                expected,
                "{kind} {filename:?} {content_type} {size:?} {mode:?}"
            );
        }
    }

    #[test]
    fn the_plan_keeps_only_the_base_name_and_the_bare_type() {
        let plan = request("export", "../../etc/data.json", "application/json; charset=utf-8", None)
            .plan(UploadMode::Post, &UploadSettings::default())
            .expect("valid");
        assert_eq!(plan.filename, "data.json");
        assert_eq!(plan.content_type.mime, "application/json");
    }

    #[test]
    fn the_scope_is_the_requested_one_or_the_kinds_default() {
        let plan = |kind: &str, name: &str, mime: &str, scope: Option<&str>| {
            let mut signed = request(kind, name, mime, Some(10));
            signed.scope = scope.map(str::to_owned);
            signed.plan(UploadMode::Post, &UploadSettings::default())
        };
        let scope = |result: Result<UploadPlan, ApiError>| result.map(|p| p.scope).map_err(|e| e.code());
        assert_eq!(
            scope(plan("avatar", "a.png", "image/png", None)),
            Ok(ScopeRequest::Tenant)
        );
        assert_eq!(scope(plan("file", "a.csv", "text/csv", None)), Ok(ScopeRequest::User));
        assert_eq!(
            scope(plan("document", "a.pdf", "application/pdf", None)),
            Ok(ScopeRequest::User)
        );
        assert_eq!(
            scope(plan("avatar", "a.png", "image/png", Some("user"))),
            Ok(ScopeRequest::User)
        );
        assert_eq!(
            scope(plan("file", "a.csv", "text/csv", Some("team:red"))),
            Ok(ScopeRequest::Team(broker_core::TeamId::parse("red").expect("team")))
        );
        for bad in ["team:../x", "everyone", "team:", ""] {
            assert_eq!(
                scope(plan("file", "a.csv", "text/csv", Some(bad))),
                Err("invalid_scope"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_declared_sha256_is_parsed_into_the_plan() {
        let mut signed = request("document", "d.csv", "text/csv", Some(10));
        signed.sha256 = Some("AB".repeat(32));
        let plan = signed
            .plan(UploadMode::Post, &UploadSettings::default())
            .expect("valid");
        assert_eq!(plan.sha256.map(|d| d.as_str().to_owned()), Some("ab".repeat(32)));
        signed.sha256 = Some("ab".repeat(31));
        assert_eq!(
            code(signed.plan(UploadMode::Post, &UploadSettings::default())),
            "invalid_checksum"
        );
    }
}
