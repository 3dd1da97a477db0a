//! Key layout and the newtypes that make a bad key unrepresentable.
//!
//! Every key the broker hands out is generated here, so the set of keys it
//! accepts back can be tiny: `[A-Za-z0-9._-]` segments joined by `/`. Anything
//! else (`..`, `%2e`, a leading `/`, control bytes, an over-long key) cannot
//! have come from us and fails [`ObjectKey::parse`] before it reaches the store.
//!
//! ```text
//! {prefix}/staging/{tenant}/{profile}/{uuid}.{ext}       written by browsers under a policy
//! {prefix}/{tenant}/{area}/{yyyy}/{mm}/{uuid}.{ext}      verified, served
//! {prefix}/{tenant}/exports/{job id}/{filename}          written by workers, served
//! ```
//! Staging sits under one prefix so that one lifecycle rule can expire it. The
//! upload id is a UUIDv7, so the final key of an upload follows from its staging
//! key alone (the month comes from the id's timestamp, the extension from the
//! signed type): completing twice, or concurrently, lands on one final object.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::content_type::{CSV, ContentType, JSON};
use crate::profile::{EXPORTS_AREA, PROFILES, Profile, upload_areas};

/// The longest key we ever generate is far below this; S3 allows 1024 bytes.
pub const MAX_KEY_LEN: usize = 512;
const MAX_TENANT_LEN: usize = 64;
const STAGING: &str = "staging";

/// `as_str` and `Display` (the string itself) of a string newtype whose
/// only constructor is its `parse`.
macro_rules! validated_string {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the key is empty")]
    Empty,
    #[error("the key is longer than {MAX_KEY_LEN} bytes")]
    TooLong,
    #[error("the key contains a character outside [A-Za-z0-9._-/]")]
    BadCharacter,
    #[error("the key has an empty, '.' or '..' segment, or a leading or trailing '/'")]
    BadSegment,
}

/// A syntactically safe object key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        if raw.is_empty() {
            return Err(KeyError::Empty);
        }
        if raw.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong);
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        {
            return Err(KeyError::BadCharacter);
        }
        if raw.split('/').any(|segment| matches!(segment, "" | "." | "..")) {
            return Err(KeyError::BadSegment);
        }
        Ok(Self(raw.to_owned()))
    }
}

validated_string!(ObjectKey);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a tenant id is 1 to {MAX_TENANT_LEN} characters of [A-Za-z0-9_-], starts with a letter or digit, and is not 'staging'"
)]
pub struct InvalidTenant;

/// A tenant id that is safe to use as one key segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, InvalidTenant> {
        let valid_chars = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
        let starts_well = raw.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        // `staging` would put a tenant's served objects under the staging prefix.
        if !valid_chars || !starts_well || raw.len() > MAX_TENANT_LEN || raw == STAGING {
            return Err(InvalidTenant);
        }
        Ok(Self(raw.to_owned()))
    }
}

validated_string!(TenantId);

/// As its string; read back through [`TenantId::parse`], so a queued job or a
/// stored record can never carry a tenant that is not one key segment.
impl Serialize for TenantId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        TenantId::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// The id of one signed upload: a UUIDv7, so it carries its creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadId(Uuid);

impl UploadId {
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    fn parse(raw: &str) -> Option<Self> {
        let uuid = Uuid::try_parse(raw).ok()?;
        (uuid.get_version_num() == 7).then_some(Self(uuid))
    }

    /// When the upload was signed, from the id itself.
    pub fn created(self) -> OffsetDateTime {
        let (secs, nanos) = self.0.get_timestamp().map(|t| t.to_unix()).unwrap_or((0, 0));
        OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
            .map(|t| t + time::Duration::nanoseconds(i64::from(nanos)))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

impl Default for UploadId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.as_hyphenated(), f)
    }
}

/// The longest file name segment of an export key (before the extension).
const MAX_EXPORT_STEM: usize = 100;

/// A key-safe file name for an export: every character outside `[A-Za-z0-9._-]`
/// becomes `_`, leading dots are dropped (no hidden or `..` names), the stem is
/// cut at 100 bytes and the name always ends with `.{extension}`: a client's
/// `report.csv` stays `report.csv`, `Q3 résumé` becomes `Q3_r_sum_.pdf`.
pub fn export_file_name(filename: &str, extension: &str) -> String {
    let stem = match filename.rsplit_once('.') {
        Some((stem, ext)) if ext.eq_ignore_ascii_case(extension) => stem,
        _ => filename,
    };
    let mut safe: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    safe = safe.trim_start_matches('.').to_owned();
    safe.truncate(MAX_EXPORT_STEM);
    let safe = safe.trim_end_matches('.');
    let stem = if safe.is_empty() { "export" } else { safe };
    format!("{stem}.{extension}")
}

/// Where a key sits in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    /// An upload that has not been verified yet.
    Staging(StagedUpload),
    /// A verified or generated object in a served area.
    Served { tenant: TenantId, area: &'static str },
}

/// What a staging key says about its upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedUpload {
    pub tenant: TenantId,
    pub profile: &'static Profile,
    pub upload_id: UploadId,
    /// The type the upload was signed for.
    pub content_type: &'static ContentType,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key is outside every area this broker manages")]
pub struct OutsideLayout;

/// Export sources are verified uploads of the `file` profile, which are served from this area.
const EXPORT_SOURCE_AREA: &str = "uploads";

/// What an export source holds, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetFormat {
    Csv,
    /// A JSON array of objects, or NDJSON (one object per line).
    Json,
}

/// Why a key cannot be the source of an export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotExportSource {
    #[error("not a valid object key: {0}")]
    InvalidKey(#[from] KeyError),
    /// Outside the layout, still in staging (not verified), or another tenant's.
    #[error("not a verified upload of this tenant")]
    NotTenantsUpload,
    /// The tenant's, but not a verified CSV or JSON upload of the `file` profile.
    #[error("not a verified CSV or JSON export upload")]
    NotDataset,
}

/// The key layout under one configured prefix (by default, none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyLayout {
    /// Empty, or the prefix followed by `/`.
    prefix: String,
}

impl KeyLayout {
    /// `prefix` is the `S3_PREFIX` setting; leading and trailing slashes are ignored.
    pub fn new(prefix: &str) -> Result<Self, KeyError> {
        let trimmed = prefix.trim_matches('/');
        if trimmed.is_empty() {
            return Ok(Self::default());
        }
        ObjectKey::parse(trimmed)?;
        Ok(Self {
            prefix: format!("{trimmed}/"),
        })
    }

    /// `S3_PREFIX` as configured, without slashes (empty when unset).
    pub fn prefix(&self) -> &str {
        self.prefix.trim_end_matches('/')
    }

    /// Everything this deployment manages lives under this prefix (the
    /// prefix with its `/`, or empty): what a listing of all usage covers.
    pub fn root(&self) -> &str {
        &self.prefix
    }

    /// Where a tenant's objects live: its served areas, and its staging uploads.
    pub fn tenant_prefixes(&self, tenant: &TenantId) -> [String; 2] {
        [
            format!("{}{tenant}/", self.prefix),
            format!("{}{tenant}/", self.staging_prefix()),
        ]
    }

    /// Where a CDN serving `base` serves `key`: only a verified object of a
    /// profile marked for the CDN (never staging, never exports).
    pub fn cdn_url(&self, base: &str, key: &ObjectKey) -> Option<String> {
        match self.classify(key) {
            Ok(Area::Served { area, .. }) if PROFILES.iter().any(|p| p.cdn && p.served_area == area) => {
                Some(format!("{base}/{key}"))
            }
            _ => None,
        }
    }

    /// Everything browsers write lives under this prefix (for lifecycle rules and cleanup).
    pub fn staging_prefix(&self) -> String {
        format!("{}{STAGING}/", self.prefix)
    }

    /// Where one served area of a tenant lives: `{prefix}{tenant}/{area}/` (quota accounting lists it).
    pub fn served_prefix(&self, tenant: &TenantId, area: &str) -> String {
        format!("{}{tenant}/{area}/", self.prefix)
    }

    pub fn staging_key(&self, upload: &StagedUpload) -> ObjectKey {
        ObjectKey(format!(
            "{}{}/{}/{}.{}",
            self.staging_prefix(),
            upload.tenant,
            upload.profile.name,
            upload.upload_id,
            upload.content_type.extension
        ))
    }

    /// The final key of a verified upload: a function of its staging key alone.
    pub fn served_key(&self, upload: &StagedUpload) -> ObjectKey {
        let created = upload.upload_id.created();
        ObjectKey(format!(
            "{}{}/{}/{:04}/{:02}/{}.{}",
            self.prefix,
            upload.tenant,
            upload.profile.served_area,
            created.year(),
            u8::from(created.month()),
            upload.upload_id,
            upload.content_type.extension
        ))
    }

    /// Where an export job writes its result: `{prefix}/{tenant}/exports/{job id}/{name}.{extension}`.
    ///
    /// The key is a function of the job id, so a retried job overwrites its own
    /// output instead of adding another object. `filename` comes from the
    /// client: it is reduced to `[A-Za-z0-9._-]` (see [`export_file_name`]).
    pub fn export_key(
        &self,
        tenant: &TenantId,
        job_id: &str,
        filename: &str,
        extension: &str,
    ) -> Result<ObjectKey, KeyError> {
        let key = format!(
            "{}{tenant}/{EXPORTS_AREA}/{job_id}/{}",
            self.prefix,
            export_file_name(filename, extension)
        );
        ObjectKey::parse(&key)
    }

    /// The one rule for which keys may be the source of an export: a verified
    /// upload of `tenant` in the `file` profile's area, holding CSV or JSON.
    /// The API checks it when a job is submitted and the worker again when it
    /// runs, since a queued job outlives the request that made it.
    pub fn export_source(&self, tenant: &TenantId, raw: &str) -> Result<(ObjectKey, DatasetFormat), NotExportSource> {
        let key = ObjectKey::parse(raw)?;
        match self.classify(&key) {
            Ok(Area::Served { tenant: owner, area }) if &owner == tenant => {
                if area != EXPORT_SOURCE_AREA {
                    return Err(NotExportSource::NotDataset);
                }
            }
            _ => return Err(NotExportSource::NotTenantsUpload),
        }
        let format = match key.as_str().rsplit_once('.').map(|(_, extension)| extension) {
            Some(extension) if extension == CSV.extension => DatasetFormat::Csv,
            Some(extension) if extension == JSON.extension => DatasetFormat::Json,
            _ => return Err(NotExportSource::NotDataset),
        };
        Ok((key, format))
    }

    pub fn classify(&self, key: &ObjectKey) -> Result<Area, OutsideLayout> {
        let rest = key.as_str().strip_prefix(&self.prefix).ok_or(OutsideLayout)?;
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            [STAGING, tenant, profile, file] => {
                let tenant = TenantId::parse(tenant).map_err(|_| OutsideLayout)?;
                let profile = Profile::find(profile).ok_or(OutsideLayout)?;
                let (id, extension) = file.split_once('.').ok_or(OutsideLayout)?;
                let upload_id = UploadId::parse(id).ok_or(OutsideLayout)?;
                let content_type = profile.by_extension(extension).ok_or(OutsideLayout)?;
                Ok(Area::Staging(StagedUpload {
                    tenant,
                    profile,
                    upload_id,
                    content_type,
                }))
            }
            // Each served area has one depth, so the tenant is always the
            // first segment after the prefix: with nested prefixes in one
            // bucket (`env` and `env/acme`), another deployment's
            // `env/acme/avatars/avatars/2026/11/x.jpg` is not acme's avatar.
            [tenant, area, year, month, _] if is_number(year, 4) && is_number(month, 2) => {
                let tenant = TenantId::parse(tenant).map_err(|_| OutsideLayout)?;
                let area = upload_areas().find(|a| a == area).ok_or(OutsideLayout)?;
                Ok(Area::Served { tenant, area })
            }
            [tenant, EXPORTS_AREA, _, _] => {
                let tenant = TenantId::parse(tenant).map_err(|_| OutsideLayout)?;
                Ok(Area::Served {
                    tenant,
                    area: EXPORTS_AREA,
                })
            }
            _ => Err(OutsideLayout),
        }
    }
}

/// `digits` ASCII digits (a key's year or month).
fn is_number(segment: &str, digits: usize) -> bool {
    segment.len() == digits && segment.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn tenant() -> TenantId {
        TenantId::parse("acme").expect("valid tenant")
    }

    #[test]
    fn only_verified_objects_of_cdn_profiles_have_a_cdn_url() {
        let layout = KeyLayout::new("env").expect("layout");
        let base = "https://cdn.example";
        let url = |raw: &str| layout.cdn_url(base, &ObjectKey::parse(raw).expect("key"));
        assert_eq!(
            url("env/acme/avatars/2026/11/0b5c.png").as_deref(),
            Some("https://cdn.example/env/acme/avatars/2026/11/0b5c.png")
        );
        for none in [
            "env/acme/uploads/2026/11/0b5c.csv",
            "env/acme/exports/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11/r.csv",
            "env/staging/acme/avatar/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.png",
            // A tenant named like the area does not make staging servable.
            "env/staging/avatars/avatar/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.png",
            "acme/avatars/2026/11/0b5c.png",
        ] {
            assert_eq!(url(none), None, "{none}");
        }
        assert_eq!(layout.prefix(), "env");
        assert_eq!(KeyLayout::new("").expect("layout").prefix(), "");
    }

    #[test]
    fn parse_refuses_everything_we_never_generate() {
        for (raw, expected) in [
            ("", KeyError::Empty),
            ("a/../b", KeyError::BadSegment),
            ("/etc/passwd", KeyError::BadSegment),
            ("a//b", KeyError::BadSegment),
            ("a/./b", KeyError::BadSegment),
            ("a/b/", KeyError::BadSegment),
            ("a/%2e%2e/b", KeyError::BadCharacter),
            ("a\\b", KeyError::BadCharacter),
            ("a/b\n", KeyError::BadCharacter),
            ("a/é", KeyError::BadCharacter),
        ] {
            assert_eq!(ObjectKey::parse(raw), Err(expected), "{raw:?}");
        }
        assert_eq!(ObjectKey::parse(&"a".repeat(MAX_KEY_LEN + 1)), Err(KeyError::TooLong));
        assert!(ObjectKey::parse("acme/avatars/2026/11/x.jpg").is_ok());
    }

    #[test]
    fn tenants_are_single_safe_segments() {
        assert!(TenantId::parse("acme-01_x").is_ok());
        for bad in ["", "staging", "-x", "a/b", "a.b", "ü", &"a".repeat(65)] {
            assert_eq!(TenantId::parse(bad), Err(InvalidTenant), "{bad:?}");
        }
    }

    fn upload(profile: &str, mime: &str) -> StagedUpload {
        let profile = Profile::find(profile).expect("profile");
        StagedUpload {
            tenant: tenant(),
            profile,
            upload_id: UploadId::new(),
            content_type: profile.accepts(mime).expect("type"),
        }
    }

    #[test]
    fn staging_keys_round_trip_through_classify() {
        let layout = KeyLayout::new("/env/prod/").expect("prefix");
        let upload = upload("avatar", "image/png");
        let key = layout.staging_key(&upload);
        assert_eq!(
            key.as_str(),
            format!("env/prod/staging/acme/avatar/{}.png", upload.upload_id)
        );
        assert_eq!(ObjectKey::parse(key.as_str()).as_ref(), Ok(&key));
        assert_eq!(layout.classify(&key), Ok(Area::Staging(upload)));
    }

    #[test]
    fn served_keys_are_dated_by_the_upload_id_and_classified_as_served() {
        let layout = KeyLayout::new("").expect("prefix");
        let mut upload = upload("file", "text/csv");
        // 2026-03-09T10:00:00Z as a UUIDv7 timestamp.
        let ts = uuid::Timestamp::from_unix(uuid::NoContext, 1_773_050_400, 0);
        upload.upload_id = UploadId(Uuid::new_v7(ts));
        assert_eq!(upload.upload_id.created(), datetime!(2026-03-09 10:00 UTC));
        let key = layout.served_key(&upload);
        assert_eq!(key.as_str(), format!("acme/uploads/2026/03/{}.csv", upload.upload_id));
        assert_eq!(layout.served_key(&upload), key, "deterministic");
        assert_eq!(
            layout.classify(&key),
            Ok(Area::Served {
                tenant: tenant(),
                area: "uploads"
            })
        );
    }

    #[test]
    fn export_keys_are_per_job_sanitised_and_served() {
        let layout = KeyLayout::new("p").expect("prefix");
        let key = layout
            .export_key(&tenant(), "01J9Z8Q4J6R6W5W6T7Y8Z9A0BC", "Q3 résumé/../x.csv", "csv")
            .expect("key");
        assert_eq!(
            key.as_str(),
            "p/acme/exports/01J9Z8Q4J6R6W5W6T7Y8Z9A0BC/Q3_r_sum__.._x.csv"
        );
        assert_eq!(
            layout.classify(&key),
            Ok(Area::Served {
                tenant: tenant(),
                area: "exports"
            })
        );
        assert_eq!(export_file_name("report.CSV", "csv"), "report.csv");
        assert_eq!(export_file_name("report.xlsx", "csv"), "report.xlsx.csv");
        assert_eq!(export_file_name("...", "pdf"), "export.pdf");
        assert_eq!(export_file_name("", "pdf"), "export.pdf");
        assert_eq!(export_file_name(&"a".repeat(300), "pdf").len(), 104);
    }

    #[test]
    fn export_sources_are_verified_csv_or_json_uploads_of_the_tenant() {
        let layout = KeyLayout::new("p").expect("prefix");
        let id = UploadId::new();
        let source = |raw: &str| {
            layout
                .export_source(&tenant(), raw)
                .map(|(key, format)| (key.to_string(), format))
        };
        let csv = format!("p/acme/uploads/2026/03/{id}.csv");
        assert_eq!(source(&csv), Ok((csv.clone(), DatasetFormat::Csv)));
        let json = format!("p/acme/uploads/2026/03/{id}.json");
        assert_eq!(source(&json), Ok((json.clone(), DatasetFormat::Json)));
        assert!(matches!(source("p/acme/../x.csv"), Err(NotExportSource::InvalidKey(_))));
        for raw in [
            format!("p/other/uploads/2026/03/{id}.csv"),
            format!("p/staging/acme/export/{id}.csv"),
            format!("q/acme/uploads/2026/03/{id}.csv"),
        ] {
            assert_eq!(source(&raw), Err(NotExportSource::NotTenantsUpload), "{raw}");
        }
        for raw in [
            format!("p/acme/uploads/2026/03/{id}.pdf"),
            format!("p/acme/avatars/2026/03/{id}.csv"),
            format!("p/acme/exports/{id}/report.csv"),
        ] {
            assert_eq!(source(&raw), Err(NotExportSource::NotDataset), "{raw}");
        }
    }

    #[test]
    fn staging_keys_of_a_former_profile_name_still_classify() {
        let layout = KeyLayout::new("").expect("prefix");
        let id = UploadId::new();
        let key = ObjectKey::parse(&format!("staging/acme/export/{id}.csv")).expect("key");
        let Ok(Area::Staging(upload)) = layout.classify(&key) else {
            panic!("an upload signed as `export` is still a staged upload")
        };
        assert_eq!(upload.profile.name.as_str(), "file");
        assert!(
            layout.staging_key(&upload).as_str().contains("/file/"),
            "new keys use the name"
        );
    }

    #[test]
    fn a_nested_prefix_cannot_pass_for_a_tenant() {
        // Two deployments share a bucket: `env`, and `env/acme` whose tenant is named `avatars`.
        let outer = KeyLayout::new("env").expect("prefix");
        let inner = KeyLayout::new("env/acme").expect("prefix");
        let upload = StagedUpload {
            tenant: TenantId::parse("avatars").expect("tenant"),
            ..upload("avatar", "image/png")
        };
        let theirs = inner.served_key(&upload);
        assert!(theirs.as_str().starts_with("env/acme/avatars/avatars/"), "{theirs}");
        assert_eq!(
            inner.classify(&theirs),
            Ok(Area::Served {
                tenant: upload.tenant.clone(),
                area: "avatars"
            })
        );
        assert_eq!(outer.classify(&theirs), Err(OutsideLayout), "not acme's avatar");
    }

    #[test]
    fn tenants_round_trip_through_serde_and_are_checked_on_the_way_in() {
        let json = serde_json::to_string(&tenant()).expect("serialize");
        assert_eq!(json, "\"acme\"");
        assert_eq!(serde_json::from_str::<TenantId>(&json).ok(), Some(tenant()));
        assert!(serde_json::from_str::<TenantId>("\"a/b\"").is_err());
    }

    #[test]
    fn keys_outside_the_layout_are_not_classified() {
        let layout = KeyLayout::new("p").expect("prefix");
        for raw in [
            "other/acme/avatars/2026/01/x.jpg",
            "p/acme/secrets/2026/01/x",
            "p/acme/avatars",
            "p/staging/acme/avatar/not-a-uuid.png",
            "p/staging/acme/avatar/0b5c3a5e-8f35-4c47-9d0a-4d2f0e3b6c11.png",
            "p/staging/acme/avatar/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.pdf",
            // Served keys have one depth per area; deeper or shallower is not ours.
            "p/acme/avatars/2026/11/extra/x.jpg",
            "p/acme/avatars/2026/x.jpg",
            "p/acme/avatars/26/11/x.jpg",
            "p/acme/exports/job/sub/report.csv",
            "p/acme/exports/report.csv",
        ] {
            let key = ObjectKey::parse(raw).expect("syntactically fine");
            assert_eq!(layout.classify(&key), Err(OutsideLayout), "{raw}");
        }
    }
}
