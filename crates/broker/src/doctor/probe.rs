//! What a browser meets: doctor's requests to the store over plain HTTP.
//!
//! The round trip signs with the API's own signer and uploads the way a
//! browser does, with an `Origin`, so the answer also shows which CORS headers
//! the store really sends. Presigned URLs are never put into a report: HTTP
//! errors are shown without their URL. The client is the API's own HTTPS
//! client (hyper over rustls, [`broker_api::auth::jwks::https_connector`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use broker_core::config::{AllowedOrigins, UploadMode};
use broker_core::content_type::CSV;
use broker_core::profile::Profile;
use broker_core::record::ObjectRecord;
use broker_core::store::{PresignedUpload, Store, StoreError};
use broker_core::{ObjectKey, Scope, StagedUpload, TenantId, UploadId};
use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, CONTENT_TYPE, DATE, HeaderMap, HeaderName, ORIGIN,
};
use http::{Method, Request};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::verdict::{Preflight, UploadCors};

/// The origin doctor sends when `ALLOWED_ORIGINS=*`.
const ANY_ORIGIN_PROBE: &str = "https://doctor.invalid";
/// The tenant segment of the test object's staging key.
const TENANT: &str = "doctor";
const BODY: &[u8] = b"checked,by\nupload-broker,doctor\n";

/// How long one request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an answer's body that is read (S3 errors are small).
const MAX_ANSWER: usize = 1024 * 1024;

pub(super) struct Probes {
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
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
        let connector = broker_api::auth::jwks::https_connector()?;
        let http = Client::builder(TokioExecutor::new()).build(connector);
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
            .presign_upload(
                key,
                CSV.mime,
                store.uploads().single_request_max(profile),
                Some(size),
                &record,
            )
            .await
            .map_err(|e| format!("signing: {e}"))?;
        let origin = self
            .origins
            .first()
            .cloned()
            .unwrap_or_else(|| ANY_ORIGIN_PROBE.to_owned());
        let (method, url, mut headers, body) = match &signed {
            PresignedUpload::Post(post) => {
                let (content_type, body) = multipart_form(&post.fields);
                let headers = vec![(CONTENT_TYPE, content_type)];
                ("POST", post.url.as_str(), headers, body)
            }
            PresignedUpload::Put(put) => {
                found.signed_headers = put.headers.keys().cloned().collect();
                let mut headers = Vec::new();
                for (name, value) in &put.headers {
                    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| e.to_string())?;
                    headers.push((name, value.clone()));
                }
                ("PUT", put.url.as_str(), headers, Bytes::from_static(BODY))
            }
        };
        headers.push((ORIGIN, origin.clone()));
        let method_value = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        let response = self
            .send(method_value, url, &headers, body)
            .await
            .map_err(|e| format!("{method} upload: {e}"))?;
        found.upload_cors = Some(UploadCors {
            origin: origin.clone(),
            allow_origin: header(&response.headers, ACCESS_CONTROL_ALLOW_ORIGIN),
            expose: header(&response.headers, ACCESS_CONTROL_EXPOSE_HEADERS),
        });
        if !(200..300).contains(&response.status) {
            return Err(format!(
                "{method} upload answered {}: {}",
                response.status,
                s3_code(&response.body)
            ));
        }

        let head = store.head(key).await.map_err(|e| format!("HEAD: {e}"))?;
        found.sse = Some(head.server_side_encryption.clone());
        if head.size != size {
            return Err(format!("HEAD says {} bytes, {size} were uploaded", head.size));
        }
        if ObjectRecord::from_metadata(&head.metadata) != record {
            return Err("HEAD does not return the signed metadata record".into());
        }
        found.anonymous_get = Some(
            self.send(Method::GET, &self.object_url(key), &[], Bytes::new())
                .await
                .map(|a| a.status),
        );

        let url = store
            .presign_get(key, "attachment; filename=\"doctor.csv\"", CSV.mime)
            .await
            .map_err(|e| format!("presigning a GET: {e}"))?;
        let response = self
            .send(Method::GET, &url, &[(ORIGIN, origin)], Bytes::new())
            .await
            .map_err(|e| format!("presigned GET: {e}"))?;
        if !(200..300).contains(&response.status) {
            return Err(format!(
                "presigned GET answered {}: {}",
                response.status,
                s3_code(&response.body)
            ));
        }
        if response.body.as_bytes() != BODY {
            return Err("the presigned GET returned other bytes than were uploaded".into());
        }
        Ok(format!(
            "signed a {method}, uploaded {size} bytes, HEAD matched size and record, presigned GET returned them"
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
                let mut request = vec![
                    (ORIGIN, origin.clone()),
                    (ACCESS_CONTROL_REQUEST_METHOD, method.to_owned()),
                ];
                if !headers.is_empty() {
                    request.push((ACCESS_CONTROL_REQUEST_HEADERS, headers.join(",")));
                }
                let answer = self.send(Method::OPTIONS, &url, &request, Bytes::new()).await;
                preflights.push(match answer {
                    Ok(response) => Preflight {
                        origin: origin.clone(),
                        method,
                        status: Ok(response.status),
                        allow_origin: header(&response.headers, ACCESS_CONTROL_ALLOW_ORIGIN),
                        allow_methods: header(&response.headers, ACCESS_CONTROL_ALLOW_METHODS),
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
        let url = format!("{}/", self.bucket_url);
        self.send(Method::GET, &url, &[], Bytes::new()).await.map(|a| a.status)
    }

    /// The store's clock minus ours, in seconds, from the `Date` of an
    /// unsigned request (any answer carries one), against the middle of the request.
    pub async fn clock_skew(&self) -> Result<i64, String> {
        let sent = SystemTime::now();
        let url = format!("{}/", self.bucket_url);
        let response = self.send(Method::HEAD, &url, &[], Bytes::new()).await?;
        let received = SystemTime::now();
        let date = header(&response.headers, DATE).ok_or("the store sent no Date header")?;
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

    /// One request; errors never carry the URL (it may be presigned).
    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(HeaderName, String)],
        body: Bytes,
    ) -> Result<HttpAnswer, String> {
        let mut request = Request::builder().method(method).uri(url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let request = request
            .body(Full::new(body))
            .map_err(|_| "not a valid request (URL or header)".to_owned())?;
        let exchange = async {
            let response = self.http.request(request).await.map_err(|e| format!("{e}"))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            Ok(HttpAnswer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()))?
    }
}

struct HttpAnswer {
    status: u16,
    headers: HeaderMap,
    body: String,
}

/// A `multipart/form-data` body of `fields` then the test file, last as S3
/// requires; returns its content type and bytes.
fn multipart_form(fields: &std::collections::BTreeMap<String, String>) -> (String, Bytes) {
    let boundary = format!(
        "upload-broker-doctor-{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    );
    let mut body = Vec::with_capacity(4096);
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"doctor.csv\"\r\n\
             Content-Type: {}\r\n\r\n",
            CSV.mime
        )
        .as_bytes(),
    );
    body.extend_from_slice(BODY);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), Bytes::from(body))
}

/// A fresh staging key for the test object: lifecycle rules and `cleanup`
/// remove it even if doctor dies before deleting it.
fn test_key(store: &Store) -> Result<ObjectKey, String> {
    let profile = Profile::find("file").ok_or("no `file` profile")?;
    let upload = StagedUpload {
        tenant: TenantId::parse(TENANT).map_err(|e| e.to_string())?,
        scope: Scope::Tenant,
        legacy: false,
        profile,
        upload_id: UploadId::new(),
        content_type: &CSV,
    };
    Ok(store.layout().staging_key(&upload))
}

fn header(headers: &HeaderMap, name: HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// The `<Code>` of an S3 error body, or a note that there was none.
fn s3_code(body: &str) -> String {
    body.split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .map_or_else(|| "no S3 error code".to_owned(), str::to_owned)
}
