//! What a browser meets: doctor's requests to the store over plain HTTP.
//!
//! The round trip signs with the API's own signer and uploads the way a
//! browser does, with an `Origin`, so the answer also shows which CORS headers
//! the store really sends. Presigned URLs are never put into a report: HTTP
//! errors are shown without their URL.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use broker_core::config::{AllowedOrigins, UploadMode};
use broker_core::content_type::CSV;
use broker_core::profile::Profile;
use broker_core::record::ObjectRecord;
use broker_core::store::{PresignedUpload, Store, StoreError};
use broker_core::{ObjectKey, StagedUpload, TenantId, UploadId};
use reqwest::Method;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, DATE, HeaderMap, ORIGIN,
};

use super::verdict::{Preflight, UploadCors};

/// The origin doctor sends when `ALLOWED_ORIGINS=*`.
const ANY_ORIGIN_PROBE: &str = "https://doctor.invalid";
/// The tenant segment of the test object's staging key.
const TENANT: &str = "doctor";
const BODY: &[u8] = b"checked,by\nupload-broker,doctor\n";

pub(super) struct Probes {
    http: reqwest::Client,
    bucket_url: String,
    origins: Vec<String>,
}

/// What the round trip found, for the checks that read it.
pub(super) struct RoundTrip {
    /// What was done, or the step that failed and why.
    pub outcome: Result<String, String>,
    /// The headers a browser must send with a presigned PUT (for the preflight).
    pub signed_headers: Vec<String>,
    /// The CORS headers on the upload's answer.
    pub upload_cors: Option<UploadCors>,
    /// The status of an unsigned GET of the test object.
    pub anonymous_get: Option<Result<u16, String>>,
    /// `x-amz-server-side-encryption` on the test object's HEAD; `None` if no HEAD ran.
    pub sse: Option<Option<String>>,
}

impl Probes {
    pub fn new(bucket_url: &str, origins: &AllowedOrigins) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("no HTTP client: {e}"))?;
        let origins = match origins {
            AllowedOrigins::Any => vec![ANY_ORIGIN_PROBE.to_owned()],
            AllowedOrigins::List(list) => list.clone(),
        };
        Ok(Probes {
            http,
            bucket_url: bucket_url.trim_end_matches('/').to_owned(),
            origins,
        })
    }

    /// The origins browsers use (`ALLOWED_ORIGINS`), or one stand-in for `*`.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }

    fn object_url(&self, key: &ObjectKey) -> String {
        // Keys are `[A-Za-z0-9._-/]`: nothing to encode.
        format!("{}/{key}", self.bucket_url)
    }

    /// Sign, upload, HEAD, presigned GET, delete; the test object is deleted
    /// whatever step fails.
    pub async fn round_trip(&self, store: &Store) -> RoundTrip {
        let mut found = RoundTrip {
            outcome: Err(String::new()),
            signed_headers: Vec::new(),
            upload_cors: None,
            anonymous_get: None,
            sse: None,
        };
        let key = match test_key(store) {
            Ok(key) => key,
            Err(e) => {
                found.outcome = Err(e);
                return found;
            }
        };
        let outcome = self.round_trip_steps(store, &key, &mut found).await;
        let deleted = match store.delete(&key).await {
            Ok(()) => match store.head(&key).await {
                Err(StoreError::NotFound) => Ok(()),
                Ok(_) => Err("the test object is still there after DELETE".to_owned()),
                Err(e) => Err(format!("HEAD after DELETE: {e}")),
            },
            Err(e) => Err(format!("DELETE: {e}")),
        };
        found.outcome = match (outcome, deleted) {
            (Ok(done), Ok(())) => Ok(format!("{done}, deleted {key}")),
            (Ok(_), Err(e)) => Err(e),
            (Err(e), _) => Err(e),
        };
        found
    }

    async fn round_trip_steps(&self, store: &Store, key: &ObjectKey, found: &mut RoundTrip) -> Result<String, String> {
        let profile = Profile::find("file").ok_or("no `file` profile")?;
        let record = ObjectRecord::signed(profile.name.as_str(), TENANT, "doctor.csv", "upload-broker doctor");
        let size = BODY.len() as u64;
        let signed = store
            .presign_upload(key, CSV.mime, profile.max_bytes, Some(size), &record)
            .await
            .map_err(|e| format!("signing: {e}"))?;
        let origin = self.origins.first().cloned().unwrap_or_else(|| ANY_ORIGIN_PROBE.to_owned());
        let (method, request) = match &signed {
            PresignedUpload::Post(post) => {
                let mut form = reqwest::multipart::Form::new();
                for (name, value) in &post.fields {
                    form = form.text(name.clone(), value.clone());
                }
                let file = reqwest::multipart::Part::bytes(BODY)
                    .file_name("doctor.csv")
                    .mime_str(CSV.mime)
                    .map_err(|e| e.to_string())?;
                ("POST", self.http.post(&post.url).multipart(form.part("file", file)))
            }
            PresignedUpload::Put(put) => {
                found.signed_headers = put.headers.keys().cloned().collect();
                let mut request = self.http.put(&put.url).body(BODY);
                for (name, value) in &put.headers {
                    request = request.header(name, value);
                }
                ("PUT", request)
            }
        };
        let response = request
            .header(ORIGIN, &origin)
            .send()
            .await
            .map_err(|e| format!("{method} upload: {}", e.without_url()))?;
        let status = response.status();
        found.upload_cors = Some(UploadCors {
            origin,
            allow_origin: header(response.headers(), ACCESS_CONTROL_ALLOW_ORIGIN),
            expose: header(response.headers(), ACCESS_CONTROL_EXPOSE_HEADERS),
        });
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("{method} upload answered {status}: {}", s3_code(&body)));
        }

        let head = store.head(key).await.map_err(|e| format!("HEAD: {e}"))?;
        found.sse = Some(head.server_side_encryption.clone());
        if head.size != size {
            return Err(format!("HEAD says {} bytes, {size} were uploaded", head.size));
        }
        if ObjectRecord::from_metadata(&head.metadata) != record {
            return Err("HEAD does not return the signed metadata record".into());
        }
        found.anonymous_get = Some(self.status_of(self.http.get(self.object_url(key))).await);

        let url = store
            .presign_get(key, "attachment; filename=\"doctor.csv\"", CSV.mime)
            .await
            .map_err(|e| format!("presigning a GET: {e}"))?;
        let response = self
            .http
            .get(&url)
            .header(ORIGIN, &found.upload_cors.as_ref().map(|c| c.origin.clone()).unwrap_or_default())
            .send()
            .await
            .map_err(|e| format!("presigned GET: {}", e.without_url()))?;
        let get_status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("presigned GET: {}", e.without_url()))?;
        if !get_status.is_success() {
            return Err(format!(
                "presigned GET answered {get_status}: {}",
                s3_code(&String::from_utf8_lossy(&bytes))
            ));
        }
        if bytes.as_ref() != BODY {
            return Err("the presigned GET returned other bytes than were uploaded".into());
        }
        Ok(format!(
            "signed a {method}, uploaded {size} bytes ({}), HEAD matched size and record, presigned GET returned them",
            status.as_u16()
        ))
    }

    /// A browser's preflight, from every origin, for the upload method and GET.
    pub async fn preflights(&self, mode: UploadMode, signed_headers: &[String]) -> Vec<Preflight> {
        let upload = match mode {
            UploadMode::Post => "POST",
            UploadMode::Put => "PUT",
        };
        // Any key will do: a preflight is answered from the bucket's rules.
        let url = format!("{}/doctor-preflight", self.bucket_url);
        let mut preflights = Vec::new();
        for origin in &self.origins {
            for method in [upload, "GET"] {
                let headers: Vec<&str> = if method == "PUT" {
                    signed_headers
                        .iter()
                        .map(String::as_str)
                        .filter(|h| !h.eq_ignore_ascii_case("host"))
                        .collect()
                } else {
                    Vec::new()
                };
                let mut request = self
                    .http
                    .request(Method::OPTIONS, &url)
                    .header(ORIGIN, origin)
                    .header(ACCESS_CONTROL_REQUEST_METHOD, method);
                if !headers.is_empty() {
                    request = request.header(ACCESS_CONTROL_REQUEST_HEADERS, headers.join(","));
                }
                let answer = request.send().await.map_err(|e| e.without_url().to_string());
                preflights.push(match answer {
                    Ok(response) => Preflight {
                        origin: origin.clone(),
                        method,
                        status: Ok(response.status().as_u16()),
                        allow_origin: header(response.headers(), ACCESS_CONTROL_ALLOW_ORIGIN),
                        allow_methods: header(response.headers(), ACCESS_CONTROL_ALLOW_METHODS),
                    },
                    Err(e) => Preflight {
                        origin: origin.clone(),
                        method,
                        status: Err(e),
                        allow_origin: None,
                        allow_methods: None,
                    },
                });
            }
        }
        preflights
    }

    /// The status of an unsigned listing of the bucket.
    pub async fn anonymous_list(&self) -> Result<u16, String> {
        self.status_of(self.http.get(format!("{}/", self.bucket_url))).await
    }

    /// The store's clock minus ours, in seconds, from the `Date` of an
    /// unsigned request (any answer carries one), against the middle of the request.
    pub async fn clock_skew(&self) -> Result<i64, String> {
        let sent = SystemTime::now();
        let response = self
            .http
            .head(format!("{}/", self.bucket_url))
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let received = SystemTime::now();
        let date = header(response.headers(), DATE).ok_or("the store sent no Date header")?;
        let store_time = DateTime::from_str(&date, DateTimeFormat::HttpDate)
            .map_err(|e| format!("unreadable Date {date:?}: {e}"))?
            .secs();
        let midpoint = sent + received.duration_since(sent).unwrap_or_default() / 2;
        let ours = midpoint
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs_f64();
        // `Date` has whole seconds: round ours to the nearest.
        Ok(store_time - ours.round() as i64)
    }

    async fn status_of(&self, request: reqwest::RequestBuilder) -> Result<u16, String> {
        request
            .send()
            .await
            .map(|r| r.status().as_u16())
            .map_err(|e| e.without_url().to_string())
    }
}

/// A fresh staging key for the test object: lifecycle rules and `cleanup`
/// remove it even if doctor dies before deleting it.
fn test_key(store: &Store) -> Result<ObjectKey, String> {
    let profile = Profile::find("file").ok_or("no `file` profile")?;
    let upload = StagedUpload {
        tenant: TenantId::parse(TENANT).map_err(|e| e.to_string())?,
        profile,
        upload_id: UploadId::new(),
        content_type: &CSV,
    };
    Ok(store.layout().staging_key(&upload))
}

fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The `<Code>` of an S3 error body, or a note that there was none.
fn s3_code(body: &str) -> String {
    body.split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .map_or_else(|| "no S3 error code".to_owned(), str::to_owned)
}
