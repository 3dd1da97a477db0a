//! CORS for the embedded store: answers preflights and decorates responses.
//!
//! Browsers POST forms and GET downloads straight to the store from the app's
//! origin. Only configured origins are echoed back; nothing is `*` unless the
//! operator asked for it. A successful POST Object answers with `ETag` and
//! `Location`; both are exposed, or browser code cannot read them.

use broker_core::config::AllowedOrigins;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, HeaderMap, HeaderValue,
    ORIGIN, VARY,
};

const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT";
const EXPOSED_HEADERS: &str = "ETag, Location, Content-Length, Content-Type, x-amz-request-id";
const DEFAULT_ALLOWED_HEADERS: &str = "Content-Type, Range";

/// CORS answers for the configured origins.
pub(crate) trait Cors {
    fn allow_origin(&self, request: &HeaderMap) -> Option<HeaderValue>;
    fn preflight(&self, request: &HeaderMap) -> Option<HeaderMap>;
    fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap);
}

impl Cors for AllowedOrigins {
    /// The `Access-Control-Allow-Origin` value for a request, if it is allowed.
    fn allow_origin(&self, request: &HeaderMap) -> Option<HeaderValue> {
        let origin = request.get(ORIGIN)?;
        self.allows(origin.to_str().ok()?).then(|| origin.clone())
    }

    /// Headers for a preflight answer, or `None` when the origin is not allowed.
    fn preflight(&self, request: &HeaderMap) -> Option<HeaderMap> {
        let origin = self.allow_origin(request)?;
        let mut headers = HeaderMap::new();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
        let requested = request
            .get(ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or(HeaderValue::from_static(DEFAULT_ALLOWED_HEADERS));
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, requested);
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("3600"));
        headers.insert(VARY, HeaderValue::from_static("Origin"));
        Some(headers)
    }

    /// Adds the CORS headers to a normal response.
    fn decorate(&self, request: &HeaderMap, response: &mut HeaderMap) {
        response.append(VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = self.allow_origin(request) {
            response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            response.insert(ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED_HEADERS));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_str(origin).expect("ascii"));
        headers
    }

    #[test]
    fn only_listed_origins_are_echoed() {
        let origins = AllowedOrigins::List(vec!["http://127.0.0.1:8080".into()]);
        assert!(origins.preflight(&request("http://127.0.0.1:8080")).is_some());
        assert!(origins.preflight(&request("http://evil.example")).is_none());

        let mut response = HeaderMap::new();
        origins.decorate(&request("http://evil.example"), &mut response);
        assert!(response.get(ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        origins.decorate(&request("http://127.0.0.1:8080"), &mut response);
        assert_eq!(response[ACCESS_CONTROL_ALLOW_ORIGIN], "http://127.0.0.1:8080");
        // Browser clients read the POST answer's ETag (Uppy waits for it) and Location.
        let exposed = response[ACCESS_CONTROL_EXPOSE_HEADERS].to_str().unwrap_or("");
        for header in ["ETag", "Location"] {
            assert!(exposed.split(", ").any(|h| h == header), "{header} not in {exposed}");
        }
    }
}
