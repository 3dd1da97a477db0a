//! SigV4 presigned PUT, for stores without POST Object (Cloudflare R2,
//! Backblaze B2): the signature travels in the query string, as specified in
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html>.
//!
//! A POST policy pins its limits as conditions; a presigned PUT can only pin
//! headers, so every limit becomes a signed header the browser must send
//! unchanged: `Content-Type`, the exact `Content-Length` (so the size is the
//! one declared at signing), the object's metadata record and the SSE header.
//! A store that checks signed headers refuses anything else. Some stores do
//! not check them all, so completion stays the real gate.
//!
//! Signing is aws-sigv4's own `http_request::sign`; nothing here hashes.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::post_policy::{Destination, SigningCredentials, Stored};

/// Everything a presigned PUT pins.
#[derive(Debug)]
pub struct PutRequest<'a> {
    pub to: Destination<'a>,
    pub object: Stored<'a>,
    /// The exact size the body must have.
    pub content_length: u64,
    pub expires_in: Duration,
}

/// What the browser needs: PUT the bytes to `url` with exactly these `headers`.
/// The browser adds `Content-Length` itself; it is signed all the same.
#[derive(Debug, Clone)]
pub struct PresignedPut {
    pub url: String,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
#[error("the PUT could not be signed: {0}")]
pub struct PutSignError(String);

/// Unreserved characters and `/` stay as they are in an object path.
const PATH: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');
/// Unreserved characters stay as they are in a query value.
const UNRESERVED: &AsciiSet = &PATH.add(b'/');

/// The object's URL: the key, percent-encoded as a path, under the bucket's.
fn object_url(to: &Destination) -> String {
    format!(
        "{}/{}",
        to.bucket_url.trim_end_matches('/'),
        utf8_percent_encode(to.key.as_str(), PATH)
    )
}

impl PutRequest<'_> {
    pub fn sign(&self, credentials: &SigningCredentials, now: SystemTime) -> Result<PresignedPut, PutSignError> {
        let url = object_url(&self.to);
        let mut headers = BTreeMap::new();
        headers.insert("content-type".to_owned(), self.object.content_type.to_owned());
        headers.extend(self.object.headers());
        let length = self.content_length.to_string();
        let signed_headers = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("content-length", length.as_str())]);
        let url = presign_url(&url, signed_headers, self.to.region, self.expires_in, credentials, now)?;
        Ok(PresignedPut { url, headers })
    }
}

/// One part of a multipart upload: the URL pins the key, the upload id and
/// the part number in its signed query (editing any of them breaks the
/// signature), and the part's exact length when it is known.
#[derive(Debug)]
pub struct PartRequest<'a> {
    pub to: Destination<'a>,
    /// The store's multipart upload id.
    pub upload_id: &'a str,
    pub part_number: u32,
    /// The exact size the part must have, when known.
    pub content_length: Option<u64>,
    /// `x-amz-checksum-sha256` (base64) the store checks the part against.
    pub checksum_sha256: Option<&'a str>,
    pub expires_in: Duration,
}

impl PartRequest<'_> {
    pub fn sign(&self, credentials: &SigningCredentials, now: SystemTime) -> Result<PresignedPut, PutSignError> {
        let url = format!(
            "{}?partNumber={}&uploadId={}",
            object_url(&self.to),
            self.part_number,
            utf8_percent_encode(self.upload_id, UNRESERVED)
        );
        let mut headers = BTreeMap::new();
        if let Some(checksum) = self.checksum_sha256 {
            headers.insert("x-amz-checksum-sha256".to_owned(), checksum.to_owned());
        }
        let length = self.content_length.map(|n| n.to_string());
        let signed_headers = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(length.as_deref().map(|n| ("content-length", n)));
        let url = presign_url(&url, signed_headers, self.to.region, self.expires_in, credentials, now)?;
        Ok(PresignedPut { url, headers })
    }
}

/// A SigV4 query-string signature of a PUT of `url` with `signed_headers`:
/// the signed URL.
fn presign_url<'a>(
    url: &'a str,
    signed_headers: impl Iterator<Item = (&'a str, &'a str)>,
    region: &str,
    expires_in: Duration,
    credentials: &SigningCredentials,
    now: SystemTime,
) -> Result<String, PutSignError> {
    let identity = Credentials::new(
        &credentials.access_key,
        credentials.secret_key.expose(),
        credentials.session_token.as_ref().map(|t| t.expose().to_owned()),
        None,
        "broker-presign",
    )
    .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires_in);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("s3")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| PutSignError(e.to_string()))?
        .into();
    let request = SignableRequest::new("PUT", url, signed_headers, SignableBody::UnsignedPayload)
        .map_err(|e| PutSignError(e.to_string()))?;
    let (instructions, _signature) = sign(request, &params)
        .map_err(|e| PutSignError(e.to_string()))?
        .into_parts();
    let mut signed = http::Request::builder()
        .method("PUT")
        .uri(url)
        .body(())
        .map_err(|e| PutSignError(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut signed);
    Ok(signed.uri().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Encryption;
    use crate::keys::ObjectKey;
    use crate::secret::Secret;

    fn credentials() -> SigningCredentials {
        SigningCredentials {
            access_key: "AKIDEXAMPLE".into(),
            secret_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        }
    }

    #[test]
    fn the_url_signs_every_limit_as_a_header() {
        let key = ObjectKey::parse("staging/acme/avatar/0190c3a0-0000-7000-8000-000000000000.jpg").expect("key");
        let metadata = [("profile", "avatar".to_owned()), ("filename", "me%20.jpg".to_owned())];
        let put = PutRequest {
            to: Destination {
                bucket_url: "http://127.0.0.1:9000/uploads",
                region: "us-east-1",
                key: &key,
            },
            object: Stored {
                content_type: "image/jpeg",
                encryption: Some(&Encryption::Aes256),
                metadata: &metadata,
            },
            content_length: 1234,
            expires_in: Duration::from_secs(600),
        }
        .sign(
            &credentials(),
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )
        .expect("signs");
        assert!(
            put.url.starts_with(
                "http://127.0.0.1:9000/uploads/staging/acme/avatar/0190c3a0-0000-7000-8000-000000000000.jpg?"
            ),
            "{}",
            put.url
        );
        let query = put.url.split_once('?').expect("query").1;
        assert!(query.contains("X-Amz-Expires=600"), "{query}");
        let signed = query
            .split('&')
            .find_map(|p| p.strip_prefix("X-Amz-SignedHeaders="))
            .expect("signed headers");
        assert_eq!(
            signed,
            "content-length%3Bcontent-type%3Bhost%3Bx-amz-meta-filename%3Bx-amz-meta-profile%3Bx-amz-server-side-encryption"
        );
        assert_eq!(put.headers["content-type"], "image/jpeg");
        assert_eq!(put.headers["x-amz-meta-filename"], "me%20.jpg");
        assert!(
            !put.headers.contains_key("content-length"),
            "browsers set it themselves"
        );
    }

    #[test]
    fn a_part_url_signs_its_upload_id_part_number_and_length() {
        let key = ObjectKey::parse("staging/acme/document/0190c3a0-0000-7000-8000-000000000000.zip").expect("key");
        let part = |upload_id, part_number, content_length| {
            PartRequest {
                to: Destination {
                    bucket_url: "http://127.0.0.1:9000/uploads",
                    region: "us-east-1",
                    key: &key,
                },
                upload_id,
                part_number,
                content_length,
                checksum_sha256: None,
                expires_in: Duration::from_secs(600),
            }
            .sign(
                &credentials(),
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            )
            .expect("signs")
            .url
        };
        let signature = |url: &str| url.split("X-Amz-Signature=").nth(1).expect("signature").to_owned();
        let url = part("a/b+c", 3, Some(5_242_880));
        assert!(url.contains("?partNumber=3&uploadId=a%2Fb%2Bc&"), "{url}");
        assert!(url.contains("X-Amz-SignedHeaders=content-length%3Bhost&"), "{url}");
        let others = [
            part("a/b+d", 3, Some(5_242_880)),
            part("a/b+c", 4, Some(5_242_880)),
            part("a/b+c", 3, Some(5_242_879)),
        ];
        for other in others {
            assert_ne!(signature(&other), signature(&url), "{other}");
        }
        let unpinned = part("a/b+c", 3, None);
        assert!(unpinned.contains("X-Amz-SignedHeaders=host&"), "{unpinned}");
    }
}
