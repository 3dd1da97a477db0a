//! Upload profiles: one table of data.
//!
//! A profile says which content types a browser may upload, how large they may
//! be, and in which served area a verified object lands. Adding a profile is one
//! entry in [`PROFILES`]; nothing else in the broker names a profile.

use std::fmt;

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
    /// Exact MIME types (lowercase, no parameters) the store will accept.
    pub content_types: &'static [&'static str],
    /// Inclusive upper bound in bytes, pinned in the POST policy.
    pub max_bytes: u64,
    /// The served area verified objects are promoted to.
    pub served_area: &'static str,
}

pub const MIB: u64 = 1024 * 1024;

pub static PROFILES: &[Profile] = &[
    Profile {
        name: ProfileName("avatar"),
        content_types: &["image/jpeg", "image/png", "image/webp"],
        max_bytes: 2 * MIB,
        served_area: "avatars",
    },
    Profile {
        name: ProfileName("export"),
        content_types: &["text/csv", "application/json", "application/pdf", "application/zip"],
        max_bytes: 25 * MIB,
        served_area: "uploads",
    },
];

impl Profile {
    pub fn find(name: &str) -> Option<&'static Profile> {
        PROFILES.iter().find(|p| p.name.as_str() == name)
    }

    /// The canonical form of `content_type` when this profile accepts it.
    ///
    /// Parameters such as `; charset=utf-8` are dropped: the policy pins the
    /// bare type, so the store stores exactly what we verified against.
    pub fn accepts(&self, content_type: &str) -> Option<&'static str> {
        let bare = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        self.content_types.iter().copied().find(|t| *t == bare)
    }
}

/// The served areas: where verified or generated objects live and may be
/// downloaded from. Staging is never one of them.
pub fn served_areas() -> impl Iterator<Item = &'static str> {
    PROFILES.iter().map(|p| p.served_area).chain(std::iter::once(EXPORTS_AREA))
}

/// Where export workers write their results.
pub const EXPORTS_AREA: &str = "exports";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avatar_and_export_limits_match_the_product() {
        let avatar = Profile::find("avatar").expect("avatar profile");
        assert_eq!(avatar.max_bytes, 2_097_152);
        assert_eq!(avatar.accepts("image/webp"), Some("image/webp"));
        assert_eq!(avatar.accepts("application/pdf"), None);
        let export = Profile::find("export").expect("export profile");
        assert_eq!(export.max_bytes, 26_214_400);
        assert_eq!(export.accepts("Text/CSV; charset=utf-8"), Some("text/csv"));
        assert!(Profile::find("document").is_none());
    }

    #[test]
    fn staging_is_not_a_served_area() {
        let areas: Vec<_> = served_areas().collect();
        assert_eq!(areas, ["avatars", "uploads", "exports"]);
        assert!(!areas.contains(&"staging"));
    }
}
