//! What every request gets, before and after its handler: an id, a span, one
//! log line, and the `x-request-id` response header.
//!
//! The id is the caller's `x-request-id` when it is well formed (at most
//! [`MAX_REQUEST_ID_LEN`] bytes of `[A-Za-z0-9._:-]`, so it cannot break a log
//! line or a header), else a new UUID. Every line logged while the request
//! runs is inside its `request` span, which carries the id, the method, the
//! route pattern and, once the [`crate::auth::Caller`] is known, the tenant
//! and subject (and for a sign, its checked `kind` and `content_type`); the JSON log format puts them on every such line (see
//! docs/operations.md). The path is logged, never the query string, which
//! could carry a token.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument as _;
use tracing::field::Empty;

/// The header that carries the request id, both ways.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest request id taken from a caller.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The caller's request id when it is well formed, else a new one.
pub fn request_id(sent: Option<&HeaderValue>) -> String {
    sent.and_then(|value| value.to_str().ok())
        .filter(|id| well_formed(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

fn well_formed(id: &str) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// The middleware (`actix_web::middleware::from_fn`): runs the request in its
/// span, answers with its id, and logs one line when it is answered.
pub async fn traced(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = request_id(request.headers().get(&REQUEST_ID));
    // The route's pattern (`/exports/{jobId}`), not the path: bounded and safe.
    let route = request.match_pattern().unwrap_or_else(|| "-".to_owned());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        route = %route,
        tenant = Empty,
        subject = Empty,
        // A sign's checked profile and type (`routes::uploads::signed_upload`).
        kind = Empty,
        content_type = Empty,
    );
    // The path only: query strings could carry tokens.
    let path = request.path().to_owned();
    let started = Instant::now();
    let answered = span.in_scope(|| next.call(request)).instrument(span.clone()).await;
    // Handlers and extractors answer their errors as responses; an error
    // that still gets here is answered by actix itself (without the header).
    let status = match &answered {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    span.in_scope(|| {
        tracing::info!(
            %path,
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request"
        );
    });
    let mut response = answered?.map_into_boxed_body();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_ids_are_kept() {
        let kept = |raw: &str| request_id(Some(&HeaderValue::from_str(raw).expect("header"))) == raw;
        assert!(kept("abc-123"));
        assert!(kept("0191f1c2-7a4e-7c1b-9d2e-3f4a5b6c7d8e"));
        assert!(kept("Root:1-5759e988.bd862e3f_x"));
        assert!(kept(&"a".repeat(MAX_REQUEST_ID_LEN)));
        assert!(!kept(&"a".repeat(MAX_REQUEST_ID_LEN + 1)));
        assert!(!kept("a b"));
        assert!(!kept("a\"b"));
        assert!(!kept("id=1;x"));
        assert!(!kept(""));
        let generated = request_id(None);
        assert!(well_formed(&generated) && generated.len() == 36, "{generated}");
        assert_ne!(generated, request_id(None));
    }
}
