//! Key layout and the newtypes that make a bad key unrepresentable.
//!
//! Every key the broker hands out is generated here, so the set of keys it
//! accepts back can be tiny: `[A-Za-z0-9._-]` segments joined by `/`. Anything
//! else (`..`, `%2e`, a leading `/`, control bytes, an over-long key) cannot
//! have come from us and fails [`ObjectKey::parse`] before it reaches the store.
//!
//! ```text
//! {prefix}/staging/{tenant}/{scope}/{profile}/{uuid}.{ext}   written by browsers under a policy
//! {prefix}/{tenant}/{scope}/{area}/{yyyy}/{mm}/{uuid}.{ext}  verified, served
//! {prefix}/{tenant}/{scope}/exports/{job id}/{filename}      written by workers, served
//! ```
//! `{scope}` is who may read the object ([`Scope`]): `users/{subject hash}`
//! (its signer only), `teams/{team}` (the team's members) or `shared` (the
//! whole tenant). Subjects are hashed ([`SubjectHash`]), so no user id ever
//! appears in a key.
//!
//! Staging sits under one prefix so that one lifecycle rule can expire it. The
//! upload id is a UUIDv7, so the final key of an upload follows from its staging
//! key alone (the scope is in the staging key, the month comes from the id's
//! timestamp, the extension from the signed type): completing twice, or
//! concurrently, lands on one final object.
//!
//! Keys written before scopes existed have no scope segment
//! (`{tenant}/{area}/…`, `{tenant}/exports/…`, `staging/{tenant}/{profile}/…`):
//! they are read as the `tenant` scope, and a legacy staging key still
//! completes to a legacy served key. The tenant ids `shared`, `users` and
//! `teams` are refused, so a legacy key can never read as a scoped one.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::timestamp::context::{ContextV7, ThreadLocalContext};
use uuid::{Timestamp, Uuid};

use crate::content_type::{CSV, ContentType, JSON};
use crate::profile::{EXPORTS_AREA, PROFILES, Profile, served_areas, upload_areas};

/// The longest key we ever generate is far below this; S3 allows 1024 bytes.
pub const MAX_KEY_LEN: usize = 512;
const MAX_TENANT_LEN: usize = 64;
const STAGING: &str = "staging";
/// The scope segments: `shared`, `users/{hash}`, `teams/{team}`.
const SHARED: &str = "shared";
const USERS: &str = "users";
const TEAMS: &str = "teams";
/// Hex digits of a [`SubjectHash`] (128 bits).
const SUBJECT_HASH_HEX: usize = 32;

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
    "a tenant id is 1 to {MAX_TENANT_LEN} characters of [A-Za-z0-9_-], starts with a letter or digit, and is not 'staging', 'shared', 'users' or 'teams'"
)]
pub struct InvalidTenant;

/// 1 to 64 characters of `[A-Za-z0-9_-]`, starting with a letter or digit:
/// one key segment that is never `.`, `..` or hidden.
fn is_id_segment(raw: &str) -> bool {
    let valid_chars = raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    let starts_well = raw.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
    valid_chars && starts_well && raw.len() <= MAX_TENANT_LEN
}

/// A tenant id that is safe to use as one key segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, InvalidTenant> {
        // `staging` would put a tenant's served objects under the staging
        // prefix; a tenant named like a scope segment would make a legacy
        // key of a nested deployment (`env/acme/shared/avatars/…` under
        // `env`) read as a scoped one.
        if !is_id_segment(raw) || [STAGING, SHARED, USERS, TEAMS].contains(&raw) {
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

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a team id is 1 to {MAX_TENANT_LEN} characters of [A-Za-z0-9_-] and starts with a letter or digit")]
pub struct InvalidTeam;

/// A team id (from the caller's token) that is safe to use as one key segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TeamId(String);

impl TeamId {
    pub fn parse(raw: &str) -> Result<Self, InvalidTeam> {
        if !is_id_segment(raw) {
            return Err(InvalidTeam);
        }
        Ok(Self(raw.to_owned()))
    }
}

validated_string!(TeamId);

/// A subject as it appears in keys: the first 128 bits of
/// `SHA-256("upload-broker subject\0" + subject)`, in hex.
///
/// A plain (unkeyed) hash: keys stay the same across deployments, key
/// rotations and restores, and nothing secret is needed to find a user's
/// objects again. The trade-off: whoever can list the bucket *and* guesses a
/// subject (`jwt:{iss}#{sub}`) can confirm it; the id itself never appears.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectHash(String);

impl SubjectHash {
    pub fn of(subject: &str) -> Self {
        let digest = Sha256::new()
            .chain_update(b"upload-broker subject\0")
            .chain_update(subject.as_bytes())
            .finalize();
        Self(
            digest[..SUBJECT_HASH_HEX / 2]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }

    fn parse(raw: &str) -> Option<Self> {
        let hex = raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        (raw.len() == SUBJECT_HASH_HEX && hex).then(|| Self(raw.to_owned()))
    }
}

validated_string!(SubjectHash);

/// Who may read an object: the scope segment(s) of its key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Private to one subject: `users/{hash}`.
    User(SubjectHash),
    /// The members of one team: `teams/{team}`.
    Team(TeamId),
    /// Everyone in the tenant: `shared` (and every legacy key).
    Tenant,
}

impl Scope {
    /// The key segments, without slashes around them.
    fn path(&self) -> String {
        match self {
            Scope::User(hash) => format!("{USERS}/{hash}"),
            Scope::Team(team) => format!("{TEAMS}/{team}"),
            Scope::Tenant => SHARED.to_owned(),
        }
    }

    /// Splits the scope off the segments after the tenant: `None` when they
    /// start with no scope (a legacy key).
    fn split<'a, 'b>(segments: &'a [&'b str]) -> Option<(Scope, &'a [&'b str])> {
        match segments {
            [SHARED, rest @ ..] => Some((Scope::Tenant, rest)),
            [USERS, hash, rest @ ..] => Some((Scope::User(SubjectHash::parse(hash)?), rest)),
            [TEAMS, team, rest @ ..] => Some((Scope::Team(TeamId::parse(team).ok()?), rest)),
            _ => None,
        }
    }
}

/// `user:{subject hash}`, `team:{team}` or `tenant` (in usage replies and logs).
impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::User(hash) => write!(f, "user:{hash}"),
            Scope::Team(team) => write!(f, "team:{team}"),
            Scope::Tenant => f.write_str("tenant"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a scope is `user`, `team:{{id}}` (a team id: [A-Za-z0-9_-], at most {MAX_TENANT_LEN}) or `tenant`")]
pub struct InvalidScope;

/// A scope as a request names it: `user` (the caller), `team:{id}`, `tenant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeRequest {
    User,
    Team(TeamId),
    Tenant,
}

impl ScopeRequest {
    pub fn parse(raw: &str) -> Result<Self, InvalidScope> {
        match raw {
            "user" => Ok(ScopeRequest::User),
            "tenant" => Ok(ScopeRequest::Tenant),
            _ => match raw.strip_prefix("team:") {
                Some(team) => TeamId::parse(team).map(ScopeRequest::Team).map_err(|_| InvalidScope),
                None => Err(InvalidScope),
            },
        }
    }

    /// The scope this request names for `subject`.
    pub fn for_subject(&self, subject: &str) -> Scope {
        match self {
            ScopeRequest::User => Scope::User(SubjectHash::of(subject)),
            ScopeRequest::Team(team) => Scope::Team(team.clone()),
            ScopeRequest::Tenant => Scope::Tenant,
        }
    }
}

/// The id of one signed upload: a UUIDv7, so it carries its creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UploadId(Uuid);

std::thread_local! {
    /// Each thread's UUIDv7 counter: `Uuid::now_v7`'s one shared context is
    /// a mutex that the HTTP workers contended for on every sign (issue 15).
    /// Ids stay unique (the counter is reseeded at random every millisecond)
    /// and ordered within a thread; across threads, by their millisecond.
    static UPLOAD_ID_CONTEXT: ContextV7 = const { ContextV7::new() };
}

impl UploadId {
    pub fn new() -> Self {
        Self(Uuid::new_v7(Timestamp::now(ThreadLocalContext::new(
            &UPLOAD_ID_CONTEXT,
        ))))
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
    Served {
        tenant: TenantId,
        scope: Scope,
        area: &'static str,
    },
}

/// What a staging key says about its upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedUpload {
    pub tenant: TenantId,
    pub scope: Scope,
    /// Signed before scopes existed: its key has no scope segment, and it
    /// completes to a served key without one (its scope is `tenant`).
    pub legacy: bool,
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

/// A key that may be the source of an export: what it holds, and who may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSource {
    pub key: ObjectKey,
    pub format: DatasetFormat,
    /// The source's scope, which is also the scope of the export's output.
    pub scope: Scope,
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

    /// Where a CDN serving `base` serves `key`: only a verified, tenant-wide
    /// object of a profile marked for the CDN (never staging, never exports,
    /// never a user's or a team's object: a CDN URL is public).
    pub fn cdn_url(&self, base: &str, key: &ObjectKey) -> Option<String> {
        match self.classify(key) {
            Ok(Area::Served {
                area,
                scope: Scope::Tenant,
                ..
            }) if PROFILES.iter().any(|p| p.cdn && p.served_area == area) => Some(format!("{base}/{key}")),
            _ => None,
        }
    }

    /// Where a listing of `scope` (in one `area`, or in all) looks, in
    /// order: the scope's prefix, then, for the `tenant` scope, the prefixes
    /// of the legacy keys it also covers. Every served key of the scope
    /// starts with one of them; keys of other scopes may too, under the
    /// legacy prefixes, so a listing filters with [`KeyLayout::classify`].
    pub fn scope_prefixes(&self, tenant: &TenantId, scope: &Scope, area: Option<&str>) -> Vec<String> {
        let within = |base: String| match area {
            Some(area) => format!("{base}{area}/"),
            None => base,
        };
        let mut prefixes = vec![within(format!("{}{tenant}/{}/", self.prefix, scope.path()))];
        if *scope == Scope::Tenant {
            let legacy = |area: &str| format!("{}{tenant}/{area}/", self.prefix);
            match area {
                Some(area) => prefixes.push(legacy(area)),
                None => prefixes.extend(served_areas().map(legacy)),
            }
        }
        prefixes
    }

    /// Everything browsers write lives under this prefix (for lifecycle rules and cleanup).
    pub fn staging_prefix(&self) -> String {
        format!("{}{STAGING}/", self.prefix)
    }

    /// `{tenant}/{scope}/`, or `{tenant}/` for a legacy upload.
    fn scoped(tenant: &TenantId, scope: &Scope, legacy: bool) -> String {
        if legacy {
            format!("{tenant}/")
        } else {
            format!("{tenant}/{}/", scope.path())
        }
    }

    pub fn staging_key(&self, upload: &StagedUpload) -> ObjectKey {
        ObjectKey(format!(
            "{}{}{}/{}.{}",
            self.staging_prefix(),
            Self::scoped(&upload.tenant, &upload.scope, upload.legacy),
            upload.profile.name,
            upload.upload_id,
            upload.content_type.extension
        ))
    }

    /// The final key of a verified upload: a function of its staging key alone.
    pub fn served_key(&self, upload: &StagedUpload) -> ObjectKey {
        let created = upload.upload_id.created();
        ObjectKey(format!(
            "{}{}{}/{:04}/{:02}/{}.{}",
            self.prefix,
            Self::scoped(&upload.tenant, &upload.scope, upload.legacy),
            upload.profile.served_area,
            created.year(),
            u8::from(created.month()),
            upload.upload_id,
            upload.content_type.extension
        ))
    }

    /// Where an export job writes its result:
    /// `{prefix}/{tenant}/{scope}/exports/{job id}/{name}.{extension}`.
    ///
    /// The key is a function of the job id, so a retried job overwrites its own
    /// output instead of adding another object. `filename` comes from the
    /// client: it is reduced to `[A-Za-z0-9._-]` (see [`export_file_name`]).
    /// The scope is the source's ([`ExportSource::scope`]), `tenant` for inline rows.
    pub fn export_key(
        &self,
        tenant: &TenantId,
        scope: &Scope,
        job_id: &str,
        filename: &str,
        extension: &str,
    ) -> Result<ObjectKey, KeyError> {
        let key = format!(
            "{}{}{EXPORTS_AREA}/{job_id}/{}",
            self.prefix,
            Self::scoped(tenant, scope, false),
            export_file_name(filename, extension)
        );
        ObjectKey::parse(&key)
    }

    /// The one rule for which keys may be the source of an export: a verified
    /// upload of `tenant` in the `file` profile's area, holding CSV or JSON.
    /// The API checks it when a job is submitted (with the caller's right to
    /// read its scope) and the worker again when it runs, since a queued job
    /// outlives the request that made it.
    pub fn export_source(&self, tenant: &TenantId, raw: &str) -> Result<ExportSource, NotExportSource> {
        let key = ObjectKey::parse(raw)?;
        let scope = match self.classify(&key) {
            Ok(Area::Served {
                tenant: owner,
                scope,
                area,
            }) if &owner == tenant => {
                if area != EXPORT_SOURCE_AREA {
                    return Err(NotExportSource::NotDataset);
                }
                scope
            }
            _ => return Err(NotExportSource::NotTenantsUpload),
        };
        let format = match key.as_str().rsplit_once('.').map(|(_, extension)| extension) {
            Some(extension) if extension == CSV.extension => DatasetFormat::Csv,
            Some(extension) if extension == JSON.extension => DatasetFormat::Json,
            _ => return Err(NotExportSource::NotDataset),
        };
        Ok(ExportSource { key, format, scope })
    }

    pub fn classify(&self, key: &ObjectKey) -> Result<Area, OutsideLayout> {
        let rest = key.as_str().strip_prefix(&self.prefix).ok_or(OutsideLayout)?;
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            [STAGING, tenant, rest @ ..] => {
                let tenant = TenantId::parse(tenant).map_err(|_| OutsideLayout)?;
                let (scope, legacy, rest) = match Scope::split(rest) {
                    Some((scope, rest)) => (scope, false, rest),
                    None => (Scope::Tenant, true, rest),
                };
                let [profile, file] = rest else {
                    return Err(OutsideLayout);
                };
                let profile = Profile::find(profile).ok_or(OutsideLayout)?;
                let (id, extension) = file.split_once('.').ok_or(OutsideLayout)?;
                let upload_id = UploadId::parse(id).ok_or(OutsideLayout)?;
                let content_type = profile.by_extension(extension).ok_or(OutsideLayout)?;
                Ok(Area::Staging(StagedUpload {
                    tenant,
                    scope,
                    legacy,
                    profile,
                    upload_id,
                    content_type,
                }))
            }
            [tenant, rest @ ..] => {
                let tenant = TenantId::parse(tenant).map_err(|_| OutsideLayout)?;
                let (scope, rest) = Scope::split(rest).unwrap_or((Scope::Tenant, rest));
                // Each served area has one depth, so the tenant is always the
                // first segment after the prefix: with nested prefixes in one
                // bucket (`env` and `env/acme`), another deployment's
                // `env/acme/avatars/shared/avatars/2026/11/x.jpg` is not acme's avatar.
                let area = match rest {
                    [area, year, month, _] if is_number(year, 4) && is_number(month, 2) => {
                        upload_areas().find(|a| a == area).ok_or(OutsideLayout)?
                    }
                    [EXPORTS_AREA, _, _] => EXPORTS_AREA,
                    _ => return Err(OutsideLayout),
                };
                Ok(Area::Served { tenant, scope, area })
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
        for served in [
            "env/acme/avatars/2026/11/0b5c.png",
            "env/acme/shared/avatars/2026/11/0b5c.png",
        ] {
            assert_eq!(url(served), Some(format!("https://cdn.example/{served}")), "{served}");
        }
        let hash = SubjectHash::of("jwt:x#alice");
        for none in [
            // A CDN URL is public: never for a user's or a team's object.
            format!("env/acme/users/{hash}/avatars/2026/11/0b5c.png"),
            "env/acme/teams/red/avatars/2026/11/0b5c.png".to_owned(),
        ] {
            assert_eq!(url(&none), None, "{none}");
        }
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
        for bad in [
            "",
            "staging",
            "shared",
            "users",
            "teams",
            "-x",
            "a/b",
            "a.b",
            "ü",
            &"a".repeat(65),
        ] {
            assert_eq!(TenantId::parse(bad), Err(InvalidTenant), "{bad:?}");
        }
    }

    #[test]
    fn scopes_are_parsed_from_requests_and_teams_are_single_segments() {
        assert_eq!(ScopeRequest::parse("user"), Ok(ScopeRequest::User));
        assert_eq!(ScopeRequest::parse("tenant"), Ok(ScopeRequest::Tenant));
        assert_eq!(
            ScopeRequest::parse("team:red-1"),
            Ok(ScopeRequest::Team(TeamId::parse("red-1").expect("team")))
        );
        for bad in [
            "", "users", "User", "team", "team:", "team:a/b", "team:..", "team:-x", "team:ü", "shared", " user",
        ] {
            assert_eq!(ScopeRequest::parse(bad), Err(InvalidScope), "{bad:?}");
        }
        assert_eq!(
            ScopeRequest::User.for_subject("jwt:x#alice"),
            Scope::User(SubjectHash::of("jwt:x#alice"))
        );
        assert_eq!(ScopeRequest::Tenant.for_subject("s").to_string(), "tenant");
        assert_eq!(
            ScopeRequest::parse("team:red")
                .expect("team")
                .for_subject("s")
                .to_string(),
            "team:red"
        );
    }

    #[test]
    fn subjects_are_hashed_to_a_fixed_hex_segment() {
        let alice = SubjectHash::of("jwt:https://id.example#alice");
        assert_eq!(alice.as_str().len(), 32);
        assert_eq!(SubjectHash::parse(alice.as_str()), Some(alice.clone()));
        assert_eq!(alice, SubjectHash::of("jwt:https://id.example#alice"), "stable");
        assert_ne!(alice, SubjectHash::of("jwt:https://id.example#bob"));
        assert!(!alice.as_str().contains("alice"));
        for bad in ["", "shared", &"A".repeat(32), &"a".repeat(31), &"a".repeat(33)] {
            assert_eq!(SubjectHash::parse(bad), None, "{bad:?}");
        }
    }

    fn upload(profile: &str, mime: &str) -> StagedUpload {
        let profile = Profile::find(profile).expect("profile");
        StagedUpload {
            tenant: tenant(),
            scope: Scope::Tenant,
            legacy: false,
            profile,
            upload_id: UploadId::new(),
            content_type: profile.accepts(mime).expect("type"),
        }
    }

    /// The staged upload the staging key `raw` names (a panic if it names none).
    fn staged(layout: &KeyLayout, raw: &str) -> StagedUpload {
        match layout.classify(&ObjectKey::parse(raw).expect("key")) {
            Ok(Area::Staging(staged)) => staged,
            other => panic!("{raw} should name a staged upload, not {other:?}"),
        }
    }

    #[test]
    fn staging_keys_round_trip_through_classify() {
        let layout = KeyLayout::new("/env/prod/").expect("prefix");
        let upload = upload("avatar", "image/png");
        let key = layout.staging_key(&upload);
        assert_eq!(
            key.as_str(),
            format!("env/prod/staging/acme/shared/avatar/{}.png", upload.upload_id)
        );
        assert_eq!(ObjectKey::parse(key.as_str()).as_ref(), Ok(&key));
        assert_eq!(layout.classify(&key), Ok(Area::Staging(upload)));
    }

    #[test]
    fn every_scope_round_trips_from_staging_to_served() {
        let layout = KeyLayout::new("p").expect("prefix");
        let hash = SubjectHash::of("jwt:x#alice");
        for (scope, path) in [
            (Scope::User(hash.clone()), format!("users/{hash}")),
            (Scope::Team(TeamId::parse("red").expect("team")), "teams/red".to_owned()),
            (Scope::Tenant, "shared".to_owned()),
        ] {
            let staged = StagedUpload {
                scope: scope.clone(),
                ..upload("file", "text/csv")
            };
            let key = layout.staging_key(&staged);
            assert_eq!(
                key.as_str(),
                format!("p/staging/acme/{path}/file/{}.csv", staged.upload_id)
            );
            assert_eq!(layout.classify(&key), Ok(Area::Staging(staged.clone())));
            let served = layout.served_key(&staged);
            assert!(
                served.as_str().starts_with(&format!("p/acme/{path}/uploads/")),
                "{served}"
            );
            assert_eq!(
                layout.classify(&served),
                Ok(Area::Served {
                    tenant: tenant(),
                    scope: scope.clone(),
                    area: "uploads"
                })
            );
            assert!(
                served
                    .as_str()
                    .starts_with(&layout.scope_prefixes(&tenant(), &scope, Some("uploads"))[0])
            );
        }
    }

    /// Keys signed before scopes existed keep working, as the `tenant` scope:
    /// a legacy staging key completes to a legacy served key (so completing
    /// it again after the upgrade finds the object it made before).
    #[test]
    fn legacy_keys_without_a_scope_are_the_tenant_scope() {
        let layout = KeyLayout::new("p").expect("prefix");
        let id = UploadId::new();
        let staging = format!("p/staging/acme/avatar/{id}.png");
        let staged = staged(&layout, &staging);
        assert_eq!((staged.scope.clone(), staged.legacy), (Scope::Tenant, true));
        assert_eq!(layout.staging_key(&staged).as_str(), staging);
        let served = layout.served_key(&staged);
        assert!(
            served.as_str().starts_with("p/acme/avatars/") && !served.as_str().contains("/shared/"),
            "{served}"
        );
        for (raw, area) in [
            (served.as_str().to_owned(), "avatars"),
            (format!("p/acme/exports/{id}/r.csv"), "exports"),
        ] {
            let key = ObjectKey::parse(&raw).expect("key");
            assert_eq!(
                layout.classify(&key),
                Ok(Area::Served {
                    tenant: tenant(),
                    scope: Scope::Tenant,
                    area
                }),
                "{raw}"
            );
        }
        // A tenant listing looks under the legacy prefixes too.
        assert_eq!(
            layout.scope_prefixes(&tenant(), &Scope::Tenant, Some("avatars")),
            ["p/acme/shared/avatars/", "p/acme/avatars/"]
        );
        assert_eq!(
            layout.scope_prefixes(&tenant(), &Scope::Tenant, None),
            [
                "p/acme/shared/",
                "p/acme/avatars/",
                "p/acme/uploads/",
                "p/acme/documents/",
                "p/acme/exports/"
            ]
        );
        let team = Scope::Team(TeamId::parse("red").expect("team"));
        assert_eq!(layout.scope_prefixes(&tenant(), &team, None), ["p/acme/teams/red/"]);
    }

    /// Adding a profile is one entry in `PROFILES`: its area is then signed,
    /// served, classified and listed in every scope with no other change.
    #[test]
    fn every_profile_area_is_served_in_every_scope() {
        let layout = KeyLayout::new("").expect("prefix");
        for profile in PROFILES {
            for scope in [
                Scope::User(SubjectHash::of("s")),
                Scope::Team(TeamId::parse("t").expect("team")),
                Scope::Tenant,
            ] {
                let staged = StagedUpload {
                    tenant: tenant(),
                    scope: scope.clone(),
                    legacy: false,
                    profile,
                    upload_id: UploadId::new(),
                    content_type: profile.content_types[0],
                };
                assert_eq!(
                    layout.classify(&layout.staging_key(&staged)),
                    Ok(Area::Staging(staged.clone()))
                );
                let served = layout.served_key(&staged);
                assert_eq!(
                    layout.classify(&served),
                    Ok(Area::Served {
                        tenant: tenant(),
                        scope: scope.clone(),
                        area: profile.served_area
                    })
                );
                let prefixes = layout.scope_prefixes(&tenant(), &scope, Some(profile.served_area));
                assert!(served.as_str().starts_with(&prefixes[0]), "{served}");
            }
            // An area named like a scope segment would make legacy keys ambiguous.
            assert!(![SHARED, USERS, TEAMS, STAGING].contains(&profile.served_area));
        }
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
        assert_eq!(
            key.as_str(),
            format!("acme/shared/uploads/2026/03/{}.csv", upload.upload_id)
        );
        assert_eq!(layout.served_key(&upload), key, "deterministic");
        assert_eq!(
            layout.classify(&key),
            Ok(Area::Served {
                tenant: tenant(),
                scope: Scope::Tenant,
                area: "uploads"
            })
        );
    }

    #[test]
    fn export_keys_are_per_job_sanitised_and_served() {
        let layout = KeyLayout::new("p").expect("prefix");
        let key = layout
            .export_key(
                &tenant(),
                &Scope::Tenant,
                "01J9Z8Q4J6R6W5W6T7Y8Z9A0BC",
                "Q3 résumé/../x.csv",
                "csv",
            )
            .expect("key");
        assert_eq!(
            key.as_str(),
            "p/acme/shared/exports/01J9Z8Q4J6R6W5W6T7Y8Z9A0BC/Q3_r_sum__.._x.csv"
        );
        assert_eq!(
            layout.classify(&key),
            Ok(Area::Served {
                tenant: tenant(),
                scope: Scope::Tenant,
                area: "exports"
            })
        );
        let team = Scope::Team(TeamId::parse("red").expect("team"));
        let key = layout.export_key(&tenant(), &team, "J1", "r", "pdf").expect("key");
        assert_eq!(key.as_str(), "p/acme/teams/red/exports/J1/r.pdf");
        assert_eq!(
            layout.classify(&key),
            Ok(Area::Served {
                tenant: tenant(),
                scope: team,
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
                .map(|source| (source.key.to_string(), source.format, source.scope))
        };
        let csv = format!("p/acme/uploads/2026/03/{id}.csv");
        assert_eq!(source(&csv), Ok((csv.clone(), DatasetFormat::Csv, Scope::Tenant)));
        let json = format!("p/acme/shared/uploads/2026/03/{id}.json");
        assert_eq!(source(&json), Ok((json.clone(), DatasetFormat::Json, Scope::Tenant)));
        let team = Scope::Team(TeamId::parse("red").expect("team"));
        let teams = format!("p/acme/teams/red/uploads/2026/03/{id}.csv");
        assert_eq!(source(&teams), Ok((teams.clone(), DatasetFormat::Csv, team)));
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
        let upload = staged(&layout, &format!("staging/acme/export/{}.csv", UploadId::new()));
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
        assert!(
            theirs.as_str().starts_with("env/acme/avatars/shared/avatars/"),
            "{theirs}"
        );
        assert_eq!(
            inner.classify(&theirs),
            Ok(Area::Served {
                tenant: upload.tenant.clone(),
                scope: Scope::Tenant,
                area: "avatars"
            })
        );
        assert_eq!(outer.classify(&theirs), Err(OutsideLayout), "not acme's avatar");
        let legacy = inner.served_key(&StagedUpload {
            legacy: true,
            ..upload.clone()
        });
        assert_eq!(outer.classify(&legacy), Err(OutsideLayout), "{legacy}");
        for scope in [
            Scope::User(SubjectHash::of("s")),
            Scope::Team(TeamId::parse("t").expect("team")),
        ] {
            let theirs = inner.served_key(&StagedUpload {
                scope,
                ..upload.clone()
            });
            assert_eq!(outer.classify(&theirs), Err(OutsideLayout), "{theirs}");
        }
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
            // A scope segment with a bad hash or team, or a scope and nothing after it.
            "p/acme/users/alice/avatars/2026/11/x.jpg",
            "p/acme/users/0123456789abcdef0123456789ABCDEF/avatars/2026/11/x.jpg",
            "p/acme/teams/-x/avatars/2026/11/x.jpg",
            "p/acme/shared/x.jpg",
            "p/acme/shared/shared/avatars/2026/11/x.jpg",
            "p/staging/acme/users/alice/avatar/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.png",
            "p/staging/acme/shared/extra/avatar/019ab0c5-8f35-7c47-9d0a-4d2f0e3b6c11.png",
        ] {
            let key = ObjectKey::parse(raw).expect("syntactically fine");
            assert_eq!(layout.classify(&key), Err(OutsideLayout), "{raw}");
        }
    }
}
