//! The store client: aws-sdk-s3 for calls and presigned GETs, plus the
//! presigned-POST signer, behind one type that works the same against AWS,
//! any S3-compatible endpoint and the embedded dev store.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, ProvideCredentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    SharedCredentialsProvider,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::types::{MetadataDirective, ServerSideEncryption};

use crate::config::{Encryption, StaticCredentials, StoreSettings, UploadMode, UploadSettings};
pub use crate::endpoint::StoreEndpoint;
use crate::keys::{KeyLayout, ObjectKey};
use crate::post_policy::{Destination, PostPolicy, PresignedPost, SigningCredentials, SigningKeyCache, Stored};
use crate::presigned_put::{PartRequest, PresignedPut, PutRequest};
use crate::record::ObjectRecord;
use crate::secret::Secret;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the object does not exist")]
    NotFound,
    /// A create-only write found the object already there.
    #[error("the object already exists")]
    AlreadyExists,
    /// The store could not be reached or failed on its side; callers answer 503.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store refused the call (bad credentials, missing bucket, ...).
    #[error("the store refused the request: {code}: {message}")]
    Refused { code: String, message: String },
}

use aws_runtime::auth::PayloadSigningOverride;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
pub use aws_sdk_s3::primitives::{ByteStream, SdkBody};

/// A signed upload in the store's mode.
#[derive(Debug, Clone)]
pub enum PresignedUpload {
    Post(PresignedPost),
    Put(PresignedPut),
}

/// `request` (a PutObject, CopyObject or CreateMultipartUpload builder of
/// `store`, which share no trait) with the object's headers from `options`:
/// its type, its disposition (none when empty), its metadata, and the store's
/// server-side encryption when configured.
macro_rules! with_object_headers {
    ($request:expr, $store:expr, $options:expr) => {
        $request
            .content_type($options.content_type)
            .set_content_disposition(
                (!$options.content_disposition.is_empty()).then(|| $options.content_disposition.to_owned()),
            )
            .set_metadata(Some($options.metadata))
            .set_server_side_encryption($store.sse_algorithm())
            .set_ssekms_key_id($store.sse_kms_key_id())
    };
}

/// An [`ObjectHead`] from a HeadObject or a GetObject answer (the same
/// accessors, no shared trait).
macro_rules! object_head {
    ($answer:expr) => {
        ObjectHead {
            size: $answer
                .content_length()
                .and_then(|n| u64::try_from(n).ok())
                .unwrap_or(0),
            content_type: $answer.content_type().map(str::to_owned),
            content_disposition: $answer.content_disposition().map(str::to_owned),
            server_side_encryption: $answer.server_side_encryption().map(|sse| sse.as_str().to_owned()),
            metadata: $answer.metadata().cloned().unwrap_or_default(),
            etag: $answer.e_tag().map(str::to_owned),
        }
    };
}

/// How a verified or generated object is written.
#[derive(Debug, Clone)]
pub struct PutOptions<'a> {
    pub content_type: &'a str,
    /// Empty: no `Content-Disposition` (an object copied as it was).
    pub content_disposition: &'a str,
    /// `x-amz-meta-*` values (ASCII), names without the prefix.
    pub metadata: HashMap<String, String>,
    /// Refuse to overwrite (`If-None-Match: *`): the first writer wins.
    pub create_only: bool,
}

/// The digest a [`Store::put_checked`] body must have.
#[derive(Debug, Clone, Copy)]
pub enum BodyDigest<'a> {
    /// `Content-MD5` (base64), which every S3 store checks.
    Md5(&'a str),
    /// The SHA-256 (hex), signed into the request as its SigV4 payload hash
    /// (`x-amz-content-sha256`), as the SDK does itself for a body in memory
    /// (a streamed one would go unsigned): every SigV4 store checks it.
    Sha256(&'a str),
}

/// Signs a streamed body's known SHA-256 into its request ([`BodyDigest::Sha256`]).
#[derive(Debug)]
struct SignedPayload(String);

impl Intercept for SignedPayload {
    fn name(&self) -> &'static str {
        "SignedPayload"
    }

    fn modify_before_signing(
        &self,
        _: &mut BeforeTransmitInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(PayloadSigningOverride::Precomputed(self.0.clone()));
        Ok(())
    }
}

/// An object listed under a prefix.
#[derive(Debug, Clone)]
pub struct Listed {
    pub key: String,
    pub last_modified: Option<SystemTime>,
    pub size: u64,
}

impl Listed {
    /// A listed object that has a key.
    fn of(object: &aws_sdk_s3::types::Object) -> Option<Self> {
        Some(Listed {
            key: object.key()?.to_owned(),
            last_modified: object.last_modified().and_then(|t| SystemTime::try_from(*t).ok()),
            size: object.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
        })
    }
}

/// A part of a multipart upload, as the store lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    pub number: u32,
    pub etag: String,
    pub size: u64,
    /// The part's `x-amz-checksum-sha256` (base64), when it was uploaded with one.
    pub checksum_sha256: Option<String>,
}

/// A multipart upload in progress.
#[derive(Debug, Clone)]
pub struct OpenUpload {
    pub key: String,
    pub upload_id: String,
    pub initiated: Option<SystemTime>,
}

/// What a HEAD tells us about an object.
#[derive(Debug, Clone)]
pub struct ObjectHead {
    pub size: u64,
    pub content_type: Option<String>,
    pub content_disposition: Option<String>,
    /// `x-amz-server-side-encryption` as the store reports it (`AES256`, `aws:kms`).
    pub server_side_encryption: Option<String>,
    /// `x-amz-meta-*` values, names without the prefix.
    pub metadata: HashMap<String, String>,
    /// The version's ETag, quoted as the store sends it: only ever compared
    /// (`If-Match`), never taken for a content hash (a multipart upload's is `…-N`).
    pub etag: Option<String>,
}

/// Where the signing credentials come from and how long they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialInfo {
    /// `S3_ACCESS_KEY`, or the default AWS chain.
    pub source: &'static str,
    /// A session token comes with them (STS, SSO, an instance role).
    pub temporary: bool,
    /// When temporary credentials stop working; `None` for long-lived keys.
    pub expiry: Option<SystemTime>,
    /// Credentials rotate this long before `expiry`, so a URL signed just
    /// before the rotation lives at least this long.
    pub refresh_margin: Duration,
}

pub struct Store {
    client: Client,
    bucket: String,
    region: String,
    post_url: String,
    credentials: CredentialSource,
    signing_keys: SigningKeyCache,
    layout: KeyLayout,
    presign_ttl: Duration,
    encryption: Option<Encryption>,
    upload_mode: UploadMode,
    uploads: UploadSettings,
    /// `S3_ENDPOINT` (or the embedded store's address); `None` for AWS.
    endpoint: Option<String>,
    cdn_base_url: Option<String>,
}

impl Store {
    pub async fn connect(settings: &StoreSettings, endpoint: StoreEndpoint) -> Self {
        let region = Region::new(settings.region.clone());
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region.clone());
        if let Some(credentials) = &endpoint.credentials {
            loader = loader.credentials_provider(static_credentials(credentials));
        }
        let sdk_config = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(endpoint.force_path_style)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            // Checksums only where an operation requires them. The SDK's default
            // sends streamed bodies as `aws-chunked` with a CRC trailer, which
            // Garage (and other S3-compatible stores) refuse with "Invalid payload
            // signature"; AWS accepts both. Content is proven by the verifier's own
            // SHA-256, so nothing is lost. See docs/stores.md.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(2))
                    .operation_attempt_timeout(Duration::from_secs(30))
                    .build(),
            );
        if let Some(url) = &endpoint.endpoint {
            builder = builder.endpoint_url(url);
        }
        let credentials = match (&endpoint.credentials, sdk_config.credentials_provider()) {
            (Some(static_creds), _) => CredentialSource::Static(signing_credentials(static_creds)),
            (None, Some(provider)) => CredentialSource::Chain {
                provider,
                cached: RwLock::new(None),
            },
            (None, None) => CredentialSource::Missing,
        };
        Store {
            client: Client::from_conf(builder.build()),
            post_url: endpoint.post_url(&settings.bucket, &settings.region),
            bucket: settings.bucket.clone(),
            region: settings.region.clone(),
            credentials,
            signing_keys: SigningKeyCache::default(),
            layout: settings.layout.clone(),
            presign_ttl: settings.presign_ttl,
            encryption: settings.encryption.clone(),
            upload_mode: settings.upload_mode,
            uploads: settings.uploads.clone(),
            endpoint: endpoint.endpoint.clone(),
            cdn_base_url: settings.cdn_base_url.clone(),
        }
    }

    pub fn layout(&self) -> &KeyLayout {
        &self.layout
    }

    pub fn presign_ttl(&self) -> Duration {
        self.presign_ttl
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    pub fn region(&self) -> &str {
        &self.region
    }

    /// The endpoint calls go to (`S3_ENDPOINT`, or the embedded store's
    /// address); `None` when the SDK resolves AWS from the region.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Whether credentials were found (static ones, or an AWS credential chain).
    pub fn has_credentials(&self) -> bool {
        !matches!(self.credentials, CredentialSource::Missing)
    }

    /// Server-side encryption applied to every write, when configured.
    pub fn encryption(&self) -> Option<&Encryption> {
        self.encryption.as_ref()
    }

    /// Whether `CDN_BASE_URL` is set.
    pub fn has_cdn(&self) -> bool {
        self.cdn_base_url.is_some()
    }

    /// The CDN URL of `key` when `CDN_BASE_URL` is set and the key is a
    /// verified object of a profile served by the CDN (avatars).
    pub fn cdn_url(&self, key: &ObjectKey) -> Option<String> {
        self.layout.cdn_url(self.cdn_base_url.as_deref()?, key)
    }

    /// How browsers upload to this store (`S3_UPLOAD_MODE`).
    pub fn upload_mode(&self) -> UploadMode {
        self.upload_mode
    }

    /// How large uploads may be, and from which size they go in parts.
    pub fn uploads(&self) -> &UploadSettings {
        &self.uploads
    }

    /// A presigned upload of exactly `key` in the configured mode; pure CPU
    /// once credentials are cached. `size` is the declared size, which the PUT
    /// mode requires and pins.
    pub async fn presign_upload(
        &self,
        key: &ObjectKey,
        content_type: &str,
        max_bytes: u64,
        size: Option<u64>,
        record: &ObjectRecord,
    ) -> Result<PresignedUpload, StoreError> {
        let metadata = record.to_metadata();
        match (self.upload_mode, size) {
            (UploadMode::Post, _) => Ok(PresignedUpload::Post(
                self.presign_post(key, content_type, max_bytes, &metadata).await?,
            )),
            (UploadMode::Put, Some(size)) => {
                let credentials = self.credentials.current().await?;
                let put = PutRequest {
                    to: self.destination(key),
                    object: self.stored(content_type, &metadata),
                    content_length: size,
                    expires_in: self.presign_ttl,
                };
                put.sign(&credentials, SystemTime::now())
                    .map(PresignedUpload::Put)
                    .map_err(|e| StoreError::Refused {
                        code: "PresignFailed".into(),
                        message: e.to_string(),
                    })
            }
            (UploadMode::Put, None) => Err(StoreError::Refused {
                code: "SizeRequired".into(),
                message: "a presigned PUT pins the exact size".into(),
            }),
        }
    }

    /// Where a presigned upload of `key` goes.
    fn destination<'a>(&'a self, key: &'a ObjectKey) -> Destination<'a> {
        Destination {
            bucket_url: &self.post_url,
            region: &self.region,
            key,
        }
    }

    /// What a presigned upload stores its object with: `content_type`,
    /// `metadata` and the configured encryption.
    fn stored<'a>(&'a self, content_type: &'a str, metadata: &'a [(&'a str, String)]) -> Stored<'a> {
        Stored {
            content_type,
            encryption: self.encryption.as_ref(),
            metadata,
        }
    }

    /// A presigned POST for exactly `key`; pure CPU once credentials are cached.
    pub async fn presign_post(
        &self,
        key: &ObjectKey,
        content_type: &str,
        max_bytes: u64,
        metadata: &[(&str, String)],
    ) -> Result<PresignedPost, StoreError> {
        let credentials = self.credentials.current().await?;
        let policy = PostPolicy {
            to: self.destination(key),
            bucket: &self.bucket,
            object: self.stored(content_type, metadata),
            max_bytes,
            expires_in: self.presign_ttl,
        };
        let now = SystemTime::now();
        let signing_key = self.signing_keys.get(&credentials, now, &self.region);
        Ok(policy.sign_with(&credentials, now, &signing_key))
    }

    /// A presigned GET that pins how the browser saves the object.
    pub async fn presign_get(
        &self,
        key: &ObjectKey,
        content_disposition: &str,
        content_type: &str,
    ) -> Result<String, StoreError> {
        let config = PresigningConfig::expires_in(self.presign_ttl).map_err(|e| StoreError::Refused {
            code: "InvalidPresignTtl".into(),
            message: e.to_string(),
        })?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .response_content_disposition(content_disposition)
            .response_content_type(content_type)
            .presigned(config)
            .await
            .map_err(classify)?;
        Ok(request.uri().to_owned())
    }

    pub async fn head(&self, key: &ObjectKey) -> Result<ObjectHead, StoreError> {
        let head = sent(
            "head_object",
            self.client.head_object().bucket(&self.bucket).key(key.as_str()).send(),
        )
        .await?;
        Ok(object_head!(head))
    }

    /// The object's head and body in one request (a GET): the body is the
    /// version the head describes. Dropping the body unread abandons it.
    pub async fn open(&self, key: &ObjectKey) -> Result<(ObjectHead, ByteStream), StoreError> {
        let object = sent(
            "get_object",
            self.client.get_object().bucket(&self.bucket).key(key.as_str()).send(),
        )
        .await?;
        Ok((object_head!(object), object.body))
    }

    /// The object's body as a stream.
    pub async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StoreError> {
        self.open(key).await.map(|(_, body)| body)
    }

    /// Writes a whole object, with server-side encryption when configured.
    pub async fn put(&self, key: &ObjectKey, body: ByteStream, options: PutOptions<'_>) -> Result<(), StoreError> {
        sent("put_object", self.put_request(key, body, options).send()).await?;
        Ok(())
    }

    /// [`Store::put`] of a body of exactly `size` bytes with this `digest`:
    /// the store refuses the write (`BadDigest`) when what arrives differs, so
    /// a streamed copy is proven end to end.
    pub async fn put_checked(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        size: u64,
        digest: BodyDigest<'_>,
        options: PutOptions<'_>,
    ) -> Result<(), StoreError> {
        let length = i64::try_from(size).map_err(|_| StoreError::Refused {
            code: "EntityTooLarge".into(),
            message: format!("{size} bytes"),
        })?;
        let request = self.put_request(key, body, options).content_length(length);
        match digest {
            BodyDigest::Md5(md5) => sent("put_object", request.content_md5(md5).send()).await?,
            BodyDigest::Sha256(sha256) => {
                let signed = request.customize().interceptor(SignedPayload(sha256.to_owned()));
                sent("put_object", signed.send()).await?
            }
        };
        Ok(())
    }

    /// Copies the version `source_etag` of `source` to `key` inside the store
    /// (CopyObject, at most 5 GiB), with the type, disposition and metadata
    /// of `options` instead of the source's, and encryption when configured.
    /// A source that changed since is [`StoreError::AlreadyExists`] (a 412),
    /// like an existing `key` under `create_only`.
    pub async fn copy(
        &self,
        source: &ObjectKey,
        source_etag: &str,
        key: &ObjectKey,
        options: PutOptions<'_>,
    ) -> Result<(), StoreError> {
        let request = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            // Keys are `[A-Za-z0-9._-/]` (ObjectKey), so they need no escaping.
            .copy_source(format!("{}/{}", self.bucket, source.as_str()))
            .copy_source_if_match(source_etag)
            .metadata_directive(MetadataDirective::Replace);
        let mut request = with_object_headers!(request, self, options);
        if options.create_only {
            request = request.if_none_match("*");
        }
        sent("copy_object", request.send()).await?;
        Ok(())
    }

    fn put_request(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        options: PutOptions<'_>,
    ) -> aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key.as_str())
            .body(body);
        let mut request = with_object_headers!(request, self, options);
        if options.create_only {
            request = request.if_none_match("*");
        }
        request
    }

    /// `x-amz-server-side-encryption` of every write, when configured.
    fn sse_algorithm(&self) -> Option<ServerSideEncryption> {
        self.encryption.as_ref().map(|e| e.algorithm().into())
    }

    /// `x-amz-server-side-encryption-aws-kms-key-id`, when a KMS key is named.
    fn sse_kms_key_id(&self) -> Option<String> {
        match &self.encryption {
            Some(Encryption::Kms { key_id }) => key_id.clone(),
            _ => None,
        }
    }

    /// Starts a multipart upload with the object's final headers (and
    /// server-side encryption when configured); returns the upload id.
    /// With `sha256_parts`, every part must carry its `x-amz-checksum-sha256`
    /// (`ChecksumAlgorithm=SHA256`), which the store checks.
    /// Nothing is visible at `key` until [`Store::complete_multipart`].
    pub async fn create_multipart(
        &self,
        key: &ObjectKey,
        options: PutOptions<'_>,
        sha256_parts: bool,
    ) -> Result<String, StoreError> {
        let request = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key.as_str())
            .set_checksum_algorithm(sha256_parts.then_some(aws_sdk_s3::types::ChecksumAlgorithm::Sha256));
        let output = sent(
            "create_multipart_upload",
            with_object_headers!(request, self, options).send(),
        )
        .await?;
        output
            .upload_id()
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Refused {
                code: "NoUploadId".into(),
                message: "CreateMultipartUpload returned no upload id".into(),
            })
    }

    /// Uploads part `number` (1-based); returns its ETag for completion.
    pub async fn upload_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        number: i32,
        body: Vec<u8>,
    ) -> Result<String, StoreError> {
        let output = sent(
            "upload_part",
            self.client
                .upload_part()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(body))
                .send(),
        )
        .await?;
        output.e_tag().map(str::to_owned).ok_or_else(|| StoreError::Refused {
            code: "NoETag".into(),
            message: format!("UploadPart {number} returned no ETag"),
        })
    }

    /// A presigned UploadPart of part `part_number` of the multipart upload
    /// `upload_id` at `key` (see [`PartRequest`]); pure CPU once credentials
    /// are cached.
    pub async fn presign_part(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part_number: u32,
        content_length: Option<u64>,
        checksum_sha256: Option<&str>,
    ) -> Result<PresignedPut, StoreError> {
        let credentials = self.credentials.current().await?;
        let part = PartRequest {
            to: self.destination(key),
            upload_id,
            part_number,
            content_length,
            checksum_sha256,
            expires_in: self.presign_ttl,
        };
        part.sign(&credentials, SystemTime::now())
            .map_err(|e| StoreError::Refused {
                code: "PresignFailed".into(),
                message: e.to_string(),
            })
    }

    /// The parts of a multipart upload the store holds, by part number;
    /// [`StoreError::NotFound`] when the upload does not exist (any more).
    pub async fn list_parts(&self, key: &ObjectKey, upload_id: &str) -> Result<Vec<UploadedPart>, StoreError> {
        let mut parts = Vec::new();
        let mut pages = self
            .client
            .list_parts()
            .bucket(&self.bucket)
            .key(key.as_str())
            .upload_id(upload_id)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(classify).observed("list_parts")?;
            parts.extend(page.parts().iter().filter_map(|part| {
                Some(UploadedPart {
                    number: u32::try_from(part.part_number()?).ok()?,
                    etag: part.e_tag()?.to_owned(),
                    size: part.size().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
                    checksum_sha256: part.checksum_sha256().map(str::to_owned),
                })
            }));
        }
        parts.sort_by_key(|part| part.number);
        Ok(parts)
    }

    /// The multipart uploads in progress under `prefix`.
    pub async fn list_multipart_uploads(&self, prefix: &str) -> Result<Vec<OpenUpload>, StoreError> {
        let mut uploads = Vec::new();
        let (mut key_marker, mut upload_id_marker) = (None, None);
        loop {
            let page = sent(
                "list_multipart_uploads",
                self.client
                    .list_multipart_uploads()
                    .bucket(&self.bucket)
                    .prefix(prefix)
                    .set_key_marker(key_marker.take())
                    .set_upload_id_marker(upload_id_marker.take())
                    .send(),
            )
            .await?;
            uploads.extend(page.uploads().iter().filter_map(|upload| {
                Some(OpenUpload {
                    key: upload.key()?.to_owned(),
                    upload_id: upload.upload_id()?.to_owned(),
                    initiated: upload.initiated().and_then(|t| SystemTime::try_from(*t).ok()),
                })
            }));
            if page.is_truncated() != Some(true) {
                return Ok(uploads);
            }
            key_marker = page.next_key_marker().map(str::to_owned);
            upload_id_marker = page.next_upload_id_marker().map(str::to_owned);
            if key_marker.is_none() {
                return Ok(uploads);
            }
        }
    }

    /// Makes the object appear, atomically, from the uploaded parts `(number, etag)`.
    pub async fn complete_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<(), StoreError> {
        let parts = parts.iter().map(|(number, etag)| (*number, etag.as_str(), None));
        self.complete_parts(key, upload_id, parts).await
    }

    /// Makes the object appear, atomically, from parts as [`Store::list_parts`]
    /// answered them, with their checksums (which the store compares with
    /// the ones it checked at upload).
    pub async fn complete_listed_multipart(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: &[UploadedPart],
    ) -> Result<(), StoreError> {
        let parts = parts.iter().map(|part| {
            let number = i32::try_from(part.number).unwrap_or(i32::MAX);
            (number, part.etag.as_str(), part.checksum_sha256.as_deref())
        });
        self.complete_parts(key, upload_id, parts).await
    }

    /// CompleteMultipartUpload of `(number, etag, checksum_sha256)`.
    async fn complete_parts<'a>(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        parts: impl Iterator<Item = (i32, &'a str, Option<&'a str>)>,
    ) -> Result<(), StoreError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let parts = parts
            .map(|(number, etag, sha256)| {
                CompletedPart::builder()
                    .part_number(number)
                    .e_tag(etag)
                    .set_checksum_sha256(sha256.map(str::to_owned))
                    .build()
            })
            .collect();
        sent(
            "complete_multipart_upload",
            self.client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(upload_id)
                .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                .send(),
        )
        .await?;
        Ok(())
    }

    /// Discards a multipart upload and its parts; an unknown upload is not an error.
    pub async fn abort_multipart(&self, key: &ObjectKey, upload_id: &str) -> Result<(), StoreError> {
        match sent(
            "abort_multipart_upload",
            self.client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key.as_str())
                .upload_id(upload_id)
                .send(),
        )
        .await
        {
            Ok(_) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes an object; deleting a missing one is not an error.
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), StoreError> {
        match sent(
            "delete_object",
            self.client
                .delete_object()
                .bucket(&self.bucket)
                .key(key.as_str())
                .send(),
        )
        .await
        {
            Ok(_) | Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every object under `prefix`, page by page.
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StoreError> {
        let mut listed = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(classify).observed("list_objects_v2")?;
            listed.extend(page.contents().iter().filter_map(Listed::of));
        }
        Ok(listed)
    }

    /// One ListObjectsV2 page under `prefix`, after `start_after`, of at most
    /// `max` keys; and whether more follow.
    pub async fn list_page(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        max: i32,
    ) -> Result<(Vec<Listed>, bool), StoreError> {
        let page = sent(
            "list_objects_v2",
            self.client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_start_after(start_after.map(str::to_owned))
                .max_keys(max)
                .send(),
        )
        .await?;
        let listed = page.contents().iter().filter_map(Listed::of).collect();
        Ok((listed, page.is_truncated().unwrap_or(false)))
    }

    /// Where the signing credentials come from and until when they hold.
    pub async fn credential_info(&self) -> Result<CredentialInfo, StoreError> {
        self.credentials.info().await
    }

    /// Readiness: the bucket answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sent("head_bucket", self.client.head_bucket().bucket(&self.bucket).send()).await?;
        Ok(())
    }

    /// Creates the bucket when it does not exist (the embedded store starts empty).
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        match self.ping().await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound) => {
                sent("create_bucket", self.client.create_bucket().bucket(&self.bucket).send()).await?;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }
}

/// The outcome of the SDK call `request` (a `send()`): its error classified,
/// the call counted as `op`.
async fn sent<T, E>(
    op: &'static str,
    request: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
) -> Result<T, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    request.await.map_err(classify).observed(op)
}

/// Counts every call to the store by operation and outcome
/// (`upload_broker_store_requests_total`).
trait Observed {
    fn observed(self, op: &'static str) -> Self;
}

impl<T> Observed for Result<T, StoreError> {
    fn observed(self, op: &'static str) -> Self {
        let outcome = match &self {
            Ok(_) => "ok",
            Err(StoreError::NotFound) => "not_found",
            Err(StoreError::AlreadyExists) => "already_exists",
            Err(StoreError::Unavailable(_)) => "unavailable",
            Err(StoreError::Refused { .. }) => "refused",
        };
        crate::metrics::store_request(op, outcome);
        self
    }
}

/// Maps any SDK error to what a caller can act on.
pub fn classify<E>(error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &error {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(DisplayErrorContext(&error).to_string())
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = error.code().unwrap_or("Unknown").to_owned();
            if status == 404 || matches!(code.as_str(), "NoSuchKey" | "NotFound" | "NoSuchBucket") {
                StoreError::NotFound
            } else if status == 412 || code == "PreconditionFailed" {
                StoreError::AlreadyExists
            } else if status >= 500 {
                StoreError::Unavailable(format!("{code} (HTTP {status})"))
            } else {
                StoreError::Refused {
                    code,
                    message: error.message().unwrap_or_default().to_owned(),
                }
            }
        }
        _ => StoreError::Unavailable(DisplayErrorContext(&error).to_string()),
    }
}

/// Where browsers POST: path-style for custom endpoints that ask for it, else virtual-hosted.
fn static_credentials(credentials: &StaticCredentials) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        &credentials.access_key,
        credentials.secret_key.expose(),
        None,
        None,
        "broker-config",
    ))
}

fn signing_credentials(credentials: &StaticCredentials) -> SigningCredentials {
    SigningCredentials {
        access_key: credentials.access_key.clone(),
        secret_key: credentials.secret_key.clone(),
        session_token: None,
    }
}

/// Signing needs the raw credentials. Chain credentials (instance roles, SSO)
/// expire, so they are cached and refreshed five minutes before expiry.
enum CredentialSource {
    Static(SigningCredentials),
    Chain {
        provider: SharedCredentialsProvider,
        cached: RwLock<Option<(Credentials, SystemTime)>>,
    },
    Missing,
}

const REFRESH_MARGIN: Duration = Duration::from_secs(300);
const NO_EXPIRY_RECHECK: Duration = Duration::from_secs(3600);

impl CredentialSource {
    async fn current(&self) -> Result<SigningCredentials, StoreError> {
        match self {
            CredentialSource::Static(credentials) => Ok(credentials.clone()),
            CredentialSource::Missing => Err(StoreError::Unavailable("no AWS credentials are configured".into())),
            CredentialSource::Chain { provider, cached } => {
                let now = SystemTime::now();
                if let Ok(guard) = cached.read()
                    && let Some((credentials, refresh_at)) = guard.as_ref()
                    && now < *refresh_at
                {
                    return Ok(to_signing(credentials));
                }
                let fresh = provider
                    .provide_credentials()
                    .await
                    .map_err(|e| StoreError::Unavailable(format!("credentials could not be loaded: {e}")))?;
                let refresh_at = fresh
                    .expiry()
                    .and_then(|expiry| expiry.checked_sub(REFRESH_MARGIN))
                    .unwrap_or(now + NO_EXPIRY_RECHECK);
                let signing = to_signing(&fresh);
                if let Ok(mut guard) = cached.write() {
                    *guard = Some((fresh, refresh_at));
                }
                Ok(signing)
            }
        }
    }
}

impl CredentialSource {
    async fn info(&self) -> Result<CredentialInfo, StoreError> {
        let fresh = match self {
            CredentialSource::Static(_) => {
                return Ok(CredentialInfo {
                    source: "S3_ACCESS_KEY",
                    temporary: false,
                    expiry: None,
                    refresh_margin: REFRESH_MARGIN,
                });
            }
            CredentialSource::Missing => {
                return Err(StoreError::Unavailable("no AWS credentials are configured".into()));
            }
            CredentialSource::Chain { provider, .. } => provider
                .provide_credentials()
                .await
                .map_err(|e| StoreError::Unavailable(format!("credentials could not be loaded: {e}")))?,
        };
        Ok(CredentialInfo {
            source: "the default AWS credential chain",
            temporary: fresh.session_token().is_some(),
            expiry: fresh.expiry(),
            refresh_margin: REFRESH_MARGIN,
        })
    }
}

fn to_signing(credentials: &Credentials) -> SigningCredentials {
    SigningCredentials {
        access_key: credentials.access_key_id().to_owned(),
        secret_key: Secret::new(credentials.secret_access_key()),
        session_token: credentials.session_token().map(Secret::new),
    }
}
