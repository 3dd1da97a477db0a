//! Where objects live and how browsers reach them: `S3_*`, `DEVSTORE_BIND_ADDR`,
//! `CLEANUP_GRACE`, `CDN_BASE_URL` and `STORAGE_USAGE_TTL`, and the upload
//! sizes (`uploads`: `DOCUMENT_MAX_BYTES`, `MULTIPART_*`). With `S3_ENABLED`
//! unset the broker runs its embedded store; with it, an external one whose
//! region and bucket must be named.

use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::time::Duration;

use super::Reader;
use super::uploads::{self, UploadSettings};
use crate::keys::KeyLayout;
use crate::secret::Secret;

pub const DEFAULT_DEVSTORE_BIND: &str = "127.0.0.1:9000";
pub const DEFAULT_PRESIGN_TTL_SECS: u64 = 3600;
pub const MAX_PRESIGN_TTL_SECS: u64 = 604_800;

#[derive(Debug, Clone)]
pub struct StoreSettings {
    pub backend: StoreBackend,
    pub region: String,
    pub bucket: String,
    /// `S3_ACCESS_KEY` / `S3_SECRET_KEY`; `None` means the default AWS credential chain.
    pub credentials: Option<StaticCredentials>,
    pub presign_ttl: Duration,
    /// `CLEANUP_GRACE`: extra age, beyond the presign TTL, before `cleanup`
    /// deletes a staging object.
    pub cleanup_grace: Duration,
    /// `S3_UPLOAD_MODE`: how browsers upload.
    pub upload_mode: UploadMode,
    pub layout: KeyLayout,
    pub encryption: Option<Encryption>,
    /// `CDN_BASE_URL`: where a CDN serves the objects of the profiles marked
    /// for it (avatars), without a trailing `/`; see docs/cdn.md.
    pub cdn_base_url: Option<String>,
    /// `STORAGE_USAGE_TTL`: how long one listing answers `/storage/usage` and `/usage`.
    pub usage_ttl: Duration,
    /// How large uploads may be, and from which size they go in parts.
    pub uploads: UploadSettings,
}

/// How browsers send a file to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadMode {
    /// A presigned POST form: the store enforces type, size range, key and
    /// metadata through the policy (AWS, Garage, MinIO, Ceph, the embedded store).
    Post,
    /// A presigned PUT with signed headers, for stores without POST Object
    /// (R2, B2); the exact size must be declared at signing.
    Put,
}

impl UploadMode {
    pub fn as_str(self) -> &'static str {
        match self {
            UploadMode::Post => "post",
            UploadMode::Put => "put",
        }
    }
}

#[derive(Debug, Clone)]
pub enum StoreBackend {
    /// `S3_ENABLED=true`: AWS S3 or any S3-compatible endpoint.
    External {
        endpoint: Option<String>,
        force_path_style: bool,
    },
    /// The in-process dev store, keeping its objects under `data_dir`.
    Embedded { bind: SocketAddr, data_dir: PathBuf },
}

#[derive(Debug, Clone)]
pub struct StaticCredentials {
    pub access_key: String,
    pub secret_key: Secret,
}

/// Server-side encryption pinned in every policy and applied to every write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encryption {
    Aes256,
    Kms { key_id: Option<String> },
}

impl Encryption {
    pub fn algorithm(&self) -> &'static str {
        match self {
            Encryption::Aes256 => "AES256",
            Encryption::Kms { .. } => "aws:kms",
        }
    }
}

/// The store's settings; the embedded store keeps its objects under `data_dir`.
pub(super) fn parse<F: Fn(&str) -> Option<String>>(env: &mut Reader<'_, F>, data_dir: &Path) -> StoreSettings {
    let s3_enabled = env.bool_or("S3_ENABLED", false);
    let region = env.string("S3_REGION");
    let bucket = env.string("S3_BUCKET");
    let endpoint = env.string("S3_ENDPOINT");
    let force_path_style = env.bool_or("S3_FORCE_PATH_STYLE", false);
    let access_key = env.string("S3_ACCESS_KEY");
    let secret_key = env.string("S3_SECRET_KEY").map(Secret::new);
    let ttl_secs: u64 = env.parse_or(
        "S3_PRESIGN_TTL",
        &DEFAULT_PRESIGN_TTL_SECS.to_string(),
        "a whole number of seconds",
    );
    let prefix = env.string("S3_PREFIX").unwrap_or_default();
    let cleanup_grace = env.secs_or("CLEANUP_GRACE", "3600");
    let upload_mode = match env.string("S3_UPLOAD_MODE").as_deref() {
        None | Some("post") => UploadMode::Post,
        Some("put") => UploadMode::Put,
        Some(other) => {
            env.problem(format!("S3_UPLOAD_MODE must be 'post' or 'put' (got {other:?})"));
            UploadMode::Post
        }
    };
    let sse = env.string("S3_SSE");
    let kms_key_id = env.string("S3_SSE_KMS_KEY_ID");
    let cdn_base_url = env.string("CDN_BASE_URL").and_then(|raw| {
        let base = cdn_base_url(&raw);
        if base.is_none() {
            env.problem(format!(
                "CDN_BASE_URL must be an http(s):// URL without user:password@, query or fragment (got {raw:?})"
            ));
        }
        base
    });
    let usage_ttl = env.secs_or("STORAGE_USAGE_TTL", "60");
    let uploads = uploads::parse(env);
    let devstore_bind = env.parse_or(
        "DEVSTORE_BIND_ADDR",
        DEFAULT_DEVSTORE_BIND,
        "an address such as 127.0.0.1:9000",
    );

    if !(1..=MAX_PRESIGN_TTL_SECS).contains(&ttl_secs) {
        env.problem(format!(
            "S3_PRESIGN_TTL must be between 1 and {MAX_PRESIGN_TTL_SECS} seconds (got {ttl_secs})"
        ));
    }
    let layout = KeyLayout::new(&prefix).unwrap_or_else(|e| {
        env.problem(format!("S3_PREFIX is not a valid key prefix: {e}"));
        KeyLayout::default()
    });
    let encryption = match (sse.as_deref(), kms_key_id) {
        (None, None) => None,
        (Some("AES256"), None) => Some(Encryption::Aes256),
        (Some("aws:kms"), key_id) => Some(Encryption::Kms { key_id }),
        (Some("AES256") | None, Some(_)) => {
            env.problem("S3_SSE_KMS_KEY_ID is set but S3_SSE is not 'aws:kms'".into());
            None
        }
        (Some(other), _) => {
            env.problem(format!("S3_SSE must be 'AES256' or 'aws:kms' (got {other:?})"));
            None
        }
    };
    let credentials = match (access_key, secret_key) {
        (Some(access_key), Some(secret_key)) => Some(StaticCredentials { access_key, secret_key }),
        (None, None) => None,
        (Some(_), None) => {
            env.problem("S3_ACCESS_KEY is set but S3_SECRET_KEY is not".into());
            None
        }
        (None, Some(_)) => {
            env.problem("S3_SECRET_KEY is set but S3_ACCESS_KEY is not".into());
            None
        }
    };
    if let Some(endpoint) = &endpoint
        && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
    {
        env.problem(format!(
            "S3_ENDPOINT must start with http:// or https:// (got {endpoint:?})"
        ));
    }

    let backend = if s3_enabled {
        for (name, value) in [("S3_REGION", &region), ("S3_BUCKET", &bucket)] {
            if value.is_none() {
                env.problem(format!("{name} is required when S3_ENABLED=true"));
            }
        }
        StoreBackend::External {
            endpoint,
            force_path_style,
        }
    } else {
        if endpoint.is_some() {
            env.problem("S3_ENDPOINT is set but S3_ENABLED is not true; set S3_ENABLED=true to use it".into());
        }
        StoreBackend::Embedded {
            bind: devstore_bind,
            data_dir: data_dir.to_owned(),
        }
    };
    if let Some(bucket) = &bucket
        && !valid_bucket_name(bucket)
    {
        env.problem(format!(
            "S3_BUCKET {bucket:?} is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')"
        ));
    }

    StoreSettings {
        backend,
        region: region.unwrap_or_else(|| "us-east-1".into()),
        bucket: bucket.unwrap_or_else(|| "uploads".into()),
        credentials,
        presign_ttl: Duration::from_secs(ttl_secs),
        cleanup_grace,
        upload_mode,
        layout,
        encryption,
        cdn_base_url,
        usage_ttl,
        uploads,
    }
}

/// The base of CDN URLs, without a trailing `/`: object keys are appended to it.
fn cdn_base_url(raw: &str) -> Option<String> {
    let uri: http::Uri = raw.parse().ok()?;
    let fine = matches!(uri.scheme_str(), Some("https" | "http"))
        && uri.authority().is_some_and(|a| !a.as_str().contains('@'))
        && uri.query().is_none()
        && !raw.contains('#');
    fine.then(|| raw.trim_end_matches('/').to_owned())
}

fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::parse;

    #[test]
    fn ttl_bounds_and_encryption_are_checked() {
        assert!(parse(&[("S3_PRESIGN_TTL", "604800")]).is_ok());
        assert!(parse(&[("S3_PRESIGN_TTL", "604801")]).is_err());
        let kms = parse(&[("S3_SSE", "aws:kms"), ("S3_SSE_KMS_KEY_ID", "alias/uploads")]).expect("valid");
        assert_eq!(
            kms.store.encryption,
            Some(Encryption::Kms {
                key_id: Some("alias/uploads".into())
            })
        );
        assert!(parse(&[("S3_SSE", "AES256"), ("S3_SSE_KMS_KEY_ID", "k")]).is_err());
    }

    #[test]
    fn the_cdn_base_url_is_a_plain_http_url() {
        let cdn = |raw: &str| parse(&[("CDN_BASE_URL", raw)]).map(|s| s.store.cdn_base_url);
        assert_eq!(
            cdn("https://cdn.example/assets/").expect("valid"),
            Some("https://cdn.example/assets".into())
        );
        assert_eq!(parse(&[]).expect("valid").store.cdn_base_url, None);
        for bad in [
            "cdn.example",
            "ftp://cdn.example",
            "https://u:p@cdn.example",
            "https://cdn.example/?a=1",
            "https://cdn.example/#x",
        ] {
            assert!(cdn(bad).is_err(), "{bad}");
        }
    }
}
