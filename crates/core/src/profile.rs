//! Upload profiles: one table of data.
//!
//! A profile says which content types a browser may upload, how large they may
//! be, and in which served area a verified object lands. Adding a profile is one
//! entry in [`PROFILES`]; nothing else in the broker names a profile.

use std::fmt;

use crate::content_type::{CSV, ContentType, JPEG, JSON, PDF, PNG, WEBP, ZIP};
use crate::keys::ScopeRequest;

/// A profile name as it appears in requests, keys and object metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProfileName(&'static str);

impl ProfileName {
    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub struct Profile {
    pub name: ProfileName,
    /// Former names, still accepted in requests and in the staging keys and
    /// records of uploads signed before a rename; never written.
    pub aliases: &'static [&'static str],
    /// The types (from the one table in [`crate::content_type`]) the store
    /// will accept, each with the extension its objects are stored under.
    pub content_types: &'static [&'static ContentType],
    /// Inclusive upper bound in bytes by default. What the broker enforces is
    /// [`UploadSettings::max_bytes`](crate::config::UploadSettings::max_bytes):
    /// this, or the value of `max_bytes_var` when it is set.
    pub max_bytes: u64,
    /// The environment variable that overrides `max_bytes`, if any.
    pub max_bytes_var: Option<&'static str>,
    /// The served area verified objects are promoted to.
    pub served_area: &'static str,
    /// The scope an upload gets when its request names none (docs/objects.md).
    pub default_scope: ScopeRequest,
    /// Its verified objects may be served by a CDN (`CDN_BASE_URL`): public to
    /// whoever has the URL, so only for objects meant to be shown to anyone.
    pub cdn: bool,
}

pub const MIB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * MIB;

pub static PROFILES: &[Profile] = &[
    Profile {
        name: ProfileName("avatar"),
        aliases: &[],
        content_types: &[&JPEG, &PNG, &WEBP],
        max_bytes: 2 * MIB,
        max_bytes_var: None,
        served_area: "avatars",
        // Shown to the whole tenant (a team page), as before scopes existed.
        default_scope: ScopeRequest::Tenant,
        cdn: true,
    },
    // Files of any of these kinds, served from `uploads/`. Called `export`
    // until it was renamed: export *jobs* write to `exports/`, which the old
    // name suggested this profile did; `dataset` would misname its PDFs and
    // ZIPs, and `document` is kept for a large-file profile.
    Profile {
        name: ProfileName("file"),
        aliases: &["export"],
        content_types: &[&CSV, &JSON, &PDF, &ZIP],
        max_bytes: 25 * MIB,
        max_bytes_var: None,
        served_area: "uploads",
        // Private to the uploader unless the request shares it.
        default_scope: ScopeRequest::User,
        cdn: false,
    },
    // Large files: above `MULTIPART_THRESHOLD` they are uploaded in parts
    // (docs/api.md), and completion verifies them streamed (docs/verifier.md).
    // 5 GiB is the most one CopyObject promotes.
    Profile {
        name: ProfileName("document"),
        aliases: &[],
        content_types: &[&PDF, &ZIP, &CSV, &JSON],
        max_bytes: 5 * GIB,
        max_bytes_var: Some("DOCUMENT_MAX_BYTES"),
        served_area: "documents",
        default_scope: ScopeRequest::User,
        cdn: false,
    },
];

impl Profile {
    /// The profile of a name, or of a former name.
    pub fn find(name: &str) -> Option<&'static Profile> {
        PROFILES
            .iter()
            .find(|p| p.name.as_str() == name || p.aliases.contains(&name))
    }

    /// The canonical form of `content_type` when this profile accepts it.
    ///
    /// Parameters such as `; charset=utf-8` are dropped: the policy pins the
    /// bare type, so the store stores exactly what we verified against.
    pub fn accepts(&self, content_type: &str) -> Option<&'static ContentType> {
        let bare = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        self.content_types.iter().copied().find(|t| t.mime == bare)
    }

    /// The allowed type served under `extension`.
    pub fn by_extension(&self, extension: &str) -> Option<&'static ContentType> {
        self.content_types.iter().copied().find(|t| t.extension == extension)
    }

    /// The allowed MIME types, for messages.
    pub fn mime_list(&self) -> String {
        self.content_types.iter().map(|t| t.mime).collect::<Vec<_>>().join(", ")
    }
}

/// Where verified uploads are served from, one area per profile. With
/// [`EXPORTS_AREA`], these are the served areas: where objects may be
/// downloaded from. Staging is never one of them.
pub fn upload_areas() -> impl Iterator<Item = &'static str> {
    PROFILES.iter().map(|p| p.served_area)
}

/// Where export workers write their results.
pub const EXPORTS_AREA: &str = "exports";

/// Every served area: the upload profiles' and [`EXPORTS_AREA`].
pub fn served_areas() -> impl Iterator<Item = &'static str> {
    upload_areas().chain([EXPORTS_AREA])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_and_file_limits_match_the_product() {
        let avatar = Profile::find("avatar").expect("avatar profile");
        assert_eq!(avatar.max_bytes, 2_097_152);
        assert_eq!(avatar.accepts("image/webp").map(|t| t.extension), Some("webp"));
        assert_eq!(avatar.accepts("application/pdf"), None);
        assert_eq!(avatar.by_extension("jpg").map(|t| t.mime), Some("image/jpeg"));
        let file = Profile::find("file").expect("file profile");
        assert_eq!(file.max_bytes, 26_214_400);
        assert_eq!(
            file.accepts("Text/CSV; charset=utf-8").map(|t| t.mime),
            Some("text/csv")
        );
        assert_eq!(
            file.mime_list(),
            "text/csv, application/json, application/pdf, application/zip"
        );
        let document = Profile::find("document").expect("document profile");
        assert_eq!(document.max_bytes, 5_368_709_120);
        assert_eq!(
            document.mime_list(),
            "application/pdf, application/zip, text/csv, application/json"
        );
        assert!(!document.cdn);
    }

    #[test]
    fn a_former_name_finds_the_renamed_profile() {
        let file = Profile::find("file").expect("file profile");
        assert_eq!(Profile::find("export"), Some(file));
        assert_eq!(file.name.as_str(), "file", "the alias is never written");
        let names: Vec<_> = PROFILES
            .iter()
            .flat_map(|p| p.aliases.iter().copied().chain([p.name.as_str()]))
            .collect();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "a name or alias names one profile: {names:?}"
        );
    }

    #[test]
    fn staging_is_not_a_served_area() {
        let areas: Vec<_> = upload_areas().collect();
        assert_eq!(areas, ["avatars", "uploads", "documents"]);
        assert!(!areas.contains(&"staging") && !areas.contains(&EXPORTS_AREA));
    }
}
