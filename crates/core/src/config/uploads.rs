//! Upload sizes: each profile's `*_MAX_BYTES` override (`DOCUMENT_MAX_BYTES`),
//! `MULTIPART_THRESHOLD` and `MULTIPART_PART_SIZE`.

use super::Reader;
use crate::profile::{MIB, PROFILES, Profile, ProfileName};

/// The smallest part S3 accepts, except for the last part of an upload.
pub const MIN_PART_SIZE: u64 = 5 * MIB;
/// The largest object one PUT, POST or CopyObject may write (S3's limit).
pub const MAX_SINGLE_REQUEST_BYTES: u64 = 5 * 1024 * MIB;

/// How large uploads may be, and from which size they go in parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSettings {
    /// The profiles whose maximum is overridden, with the value.
    maxima: Vec<(ProfileName, u64)>,
    /// `MULTIPART_THRESHOLD`: a larger upload must use multipart; a single
    /// POST or PUT is never signed for more.
    pub multipart_threshold: u64,
    /// `MULTIPART_PART_SIZE`: the size of every part but the last.
    pub multipart_part_size: u64,
}

impl UploadSettings {
    /// The largest object `profile` accepts, in bytes.
    pub fn max_bytes(&self, profile: &Profile) -> u64 {
        self.maxima
            .iter()
            .find(|(name, _)| *name == profile.name)
            .map_or(profile.max_bytes, |(_, max)| *max)
    }

    /// The largest object one presigned POST or PUT of `profile` may carry:
    /// its maximum, or the multipart threshold when that is smaller.
    pub fn single_request_max(&self, profile: &Profile) -> u64 {
        self.max_bytes(profile).min(self.multipart_threshold)
    }
}

impl Default for UploadSettings {
    fn default() -> Self {
        UploadSettings {
            maxima: Vec::new(),
            multipart_threshold: 100 * MIB,
            multipart_part_size: 16 * MIB,
        }
    }
}

pub(super) fn parse<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>) -> UploadSettings {
    let defaults = UploadSettings::default();
    let mut maxima = Vec::new();
    for profile in PROFILES {
        let Some(var) = profile.max_bytes_var else { continue };
        let max: u64 = env.parse_or(var, &profile.max_bytes.to_string(), "a number of bytes");
        if !(1..=MAX_SINGLE_REQUEST_BYTES).contains(&max) {
            env.problem(format!(
                "{var} must be between 1 and {MAX_SINGLE_REQUEST_BYTES} bytes, the most one CopyObject promotes (got {max})"
            ));
        }
        maxima.push((profile.name, max));
    }
    let multipart_threshold: u64 = env.parse_or(
        "MULTIPART_THRESHOLD",
        &defaults.multipart_threshold.to_string(),
        "a number of bytes",
    );
    let multipart_part_size: u64 = env.parse_or(
        "MULTIPART_PART_SIZE",
        &defaults.multipart_part_size.to_string(),
        "a number of bytes",
    );
    if !(1..=MAX_SINGLE_REQUEST_BYTES).contains(&multipart_threshold) {
        env.problem(format!(
            "MULTIPART_THRESHOLD must be between 1 and {MAX_SINGLE_REQUEST_BYTES} bytes (got {multipart_threshold})"
        ));
    }
    if !(MIN_PART_SIZE..=MAX_SINGLE_REQUEST_BYTES).contains(&multipart_part_size) {
        env.problem(format!(
            "MULTIPART_PART_SIZE must be between {MIN_PART_SIZE} (S3's smallest part) and {MAX_SINGLE_REQUEST_BYTES} bytes (got {multipart_part_size})"
        ));
    }
    // With parts of at least 5 MiB, 5 GiB is 1,024 parts: within S3's 10,000.
    UploadSettings {
        maxima,
        multipart_threshold,
        multipart_part_size,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::parse;
    use crate::profile::{GIB, MIB, Profile};

    fn find(name: &str) -> &'static Profile {
        Profile::find(name).unwrap_or_else(|| panic!("{name} profile"))
    }

    #[test]
    fn documents_go_up_to_5_gib_in_parts_above_100_mib() {
        let uploads = parse(&[]).expect("defaults").store.uploads;
        let (document, avatar) = (find("document"), find("avatar"));
        assert_eq!(uploads.max_bytes(document), 5 * GIB);
        assert_eq!(uploads.single_request_max(document), 100 * MIB);
        assert_eq!(uploads.max_bytes(avatar), 2 * MIB);
        assert_eq!(uploads.single_request_max(avatar), 2 * MIB);
        assert_eq!(uploads.multipart_part_size, 16 * MIB);
    }

    #[test]
    fn the_document_maximum_and_the_multipart_sizes_are_configurable() {
        let uploads = parse(&[
            ("DOCUMENT_MAX_BYTES", "1073741824"),
            ("MULTIPART_THRESHOLD", "10485760"),
            ("MULTIPART_PART_SIZE", "5242880"),
        ])
        .expect("valid")
        .store
        .uploads;
        assert_eq!(uploads.max_bytes(find("document")), GIB);
        assert_eq!(uploads.single_request_max(find("document")), 10 * MIB);
        assert_eq!(uploads.single_request_max(find("file")), 10 * MIB);
        assert_eq!(
            uploads.max_bytes(find("file")),
            25 * MIB,
            "other profiles keep their maximum"
        );
        assert_eq!(uploads.multipart_part_size, 5 * MIB);
    }

    #[test]
    fn sizes_outside_what_s3_allows_are_refused() {
        for (name, value) in [
            ("DOCUMENT_MAX_BYTES", "0"),
            ("DOCUMENT_MAX_BYTES", "5368709121"),
            ("DOCUMENT_MAX_BYTES", "big"),
            ("MULTIPART_THRESHOLD", "0"),
            ("MULTIPART_PART_SIZE", "5242879"),
        ] {
            let err = parse(&[(name, value)]).expect_err("out of range");
            assert!(err.to_string().contains(name), "{name}={value}: {err}");
        }
    }
}
