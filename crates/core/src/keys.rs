//! Key layout and the newtypes that make a bad key unrepresentable.
//!
//! Every key the broker hands out is generated here, so the set of keys it
//! accepts back can be tiny: `[A-Za-z0-9._-]` segments joined by `/`. Anything
//! else (`..`, `%2e`, a leading `/`, control bytes, an over-long key) cannot
//! have come from us and fails [`ObjectKey::parse`] before it reaches the store.
//!
//! ```text
//! {prefix}/staging/{tenant}/{profile}/{uuid}             written by browsers under a policy
//! {prefix}/{tenant}/{area}/{yyyy}/{mm}/{uuid}.{ext}      verified, served
//! {prefix}/{tenant}/exports/{job id}/{filename}          written by workers, served
//! ```
//! Staging sits under one prefix so that one lifecycle rule can expire it.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::profile::{Profile, served_areas};

/// The longest key we ever generate is far below this; S3 allows 1024 bytes.
pub const MAX_KEY_LEN: usize = 512;
const MAX_TENANT_LEN: usize = 64;
const STAGING: &str = "staging";

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
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/')) {
            return Err(KeyError::BadCharacter);
        }
        if raw.split('/').any(|segment| matches!(segment, "" | "." | "..")) {
            return Err(KeyError::BadSegment);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a tenant id is 1 to {MAX_TENANT_LEN} characters of [A-Za-z0-9_-], starts with a letter or digit, and is not 'staging'")]
pub struct InvalidTenant;

/// A tenant id that is safe to use as one key segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantId(String);

impl TenantId {
    pub fn parse(raw: &str) -> Result<Self, InvalidTenant> {
        let valid_chars = raw.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
        let starts_well = raw.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric());
        // `staging` would put a tenant's served objects under the staging prefix.
        if !valid_chars || !starts_well || raw.len() > MAX_TENANT_LEN || raw == STAGING {
            return Err(InvalidTenant);
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a key sits in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Area {
    /// An upload that has not been verified yet.
    Staging { tenant: TenantId, profile: &'static Profile, upload_id: Uuid },
    /// A verified or generated object in a served area.
    Served { tenant: TenantId, area: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the key is outside every area this broker manages")]
pub struct OutsideLayout;

/// The key layout under one configured prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLayout {
    /// Empty, or the prefix followed by `/`.
    prefix: String,
}

impl KeyLayout {
    /// `prefix` is the `S3_PREFIX` setting; leading and trailing slashes are ignored.
    pub fn new(prefix: &str) -> Result<Self, KeyError> {
        let trimmed = prefix.trim_matches('/');
        if trimmed.is_empty() {
            return Ok(Self { prefix: String::new() });
        }
        ObjectKey::parse(trimmed)?;
        Ok(Self { prefix: format!("{trimmed}/") })
    }

    /// Everything browsers write lives under this prefix (for lifecycle rules and cleanup).
    pub fn staging_prefix(&self) -> String {
        format!("{}{STAGING}/", self.prefix)
    }

    pub fn staging_key(&self, tenant: &TenantId, profile: &Profile, upload_id: Uuid) -> ObjectKey {
        ObjectKey(format!("{}{tenant}/{}/{}", self.staging_prefix(), profile.name, upload_id.as_hyphenated()))
    }

    /// The final key of a verified upload; `extension` comes from the verified type.
    pub fn served_key(
        &self,
        tenant: &TenantId,
        profile: &Profile,
        uploaded: OffsetDateTime,
        upload_id: Uuid,
        extension: &str,
    ) -> ObjectKey {
        ObjectKey(format!(
            "{}{tenant}/{}/{:04}/{:02}/{}.{extension}",
            self.prefix,
            profile.served_area,
            uploaded.year(),
            u8::from(uploaded.month()),
            upload_id.as_hyphenated()
        ))
    }

    pub fn classify(&self, key: &ObjectKey) -> Result<Area, OutsideLayout> {
        let rest = key.as_str().strip_prefix(&self.prefix).ok_or(OutsideLayout)?;
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            [STAGING, tenant, profile, upload_id] => {
                let tenant = TenantId::parse(tenant).map_err(|_| OutsideLayout)?;
                let profile = Profile::find(profile).ok_or(OutsideLayout)?;
                let upload_id = Uuid::try_parse(upload_id).map_err(|_| OutsideLayout)?;
                Ok(Area::Staging { tenant, profile, upload_id })
            }
            [tenant, area, _, _, ..] => {
                let tenant = TenantId::parse(tenant).map_err(|_| OutsideLayout)?;
                let area = served_areas().find(|a| a == area).ok_or(OutsideLayout)?;
                Ok(Area::Served { tenant, area })
            }
            _ => Err(OutsideLayout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn tenant() -> TenantId {
        TenantId::parse("acme").expect("valid tenant")
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

    #[test]
    fn staging_keys_round_trip_through_classify() {
        let layout = KeyLayout::new("/env/prod/").expect("prefix");
        let profile = Profile::find("avatar").expect("avatar");
        let id = Uuid::new_v4();
        let key = layout.staging_key(&tenant(), profile, id);
        assert_eq!(key.as_str(), format!("env/prod/staging/acme/avatar/{id}"));
        assert_eq!(ObjectKey::parse(key.as_str()).as_ref(), Ok(&key));
        assert_eq!(
            layout.classify(&key),
            Ok(Area::Staging { tenant: tenant(), profile, upload_id: id })
        );
    }

    #[test]
    fn served_keys_are_dated_and_classified_as_served() {
        let layout = KeyLayout::new("").expect("prefix");
        let profile = Profile::find("export").expect("export");
        let id = Uuid::new_v4();
        let key = layout.served_key(&tenant(), profile, datetime!(2026-03-09 10:00 UTC), id, "csv");
        assert_eq!(key.as_str(), format!("acme/uploads/2026/03/{id}.csv"));
        assert_eq!(layout.classify(&key), Ok(Area::Served { tenant: tenant(), area: "uploads" }));
    }

    #[test]
    fn keys_outside_the_layout_are_not_classified() {
        let layout = KeyLayout::new("p").expect("prefix");
        for raw in ["other/acme/avatars/2026/01/x.jpg", "p/acme/secrets/2026/01/x", "p/acme/avatars", "p/staging/acme/avatar/not-a-uuid"] {
            let key = ObjectKey::parse(raw).expect("syntactically fine");
            assert_eq!(layout.classify(&key), Err(OutsideLayout), "{raw}");
        }
    }
}
