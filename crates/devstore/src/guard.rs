//! What one request may cost the store before anything knows who sent it.
//!
//! s3s parses a POST Object form and buffers its file (up to
//! `post_object_max_file_size`, 5 GiB unless configured) before it decides
//! that an anonymous request may not write, and hyper reads a body as slowly as
//! the client sends it. So every request body passes through [`GuardedBody`]:
//!
//! - a POST whose `Content-Length` is above the maximum is refused before one
//!   byte of its body is read ([`refuse_early`]);
//! - a POST body without a length (chunked) is counted while it streams and
//!   refused the moment it passes the maximum;
//! - a body that delivers nothing for the idle timeout is refused.
//!
//! The refusal is recorded in a [`Verdict`] and the server answers with it
//! (S3's `EntityTooLarge` or `RequestTimeout` XML, as AWS does) instead of
//! whatever error s3s made of the cut-off body.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use s3s::Body;
use tokio::time::{Instant, Sleep};

/// Why a request was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The POST body is (or announced to be) larger than `max`.
    TooLarge { max: u64, proposed: Option<u64> },
    /// The body stalled for longer than the idle timeout.
    Stalled,
}

impl Refusal {
    /// S3's error answer. The connection is closed after it: the rest of the
    /// body is never read, so the connection cannot carry another request.
    pub(crate) fn response(self) -> Response<Body> {
        let (code, message, extra) = match self {
            Refusal::TooLarge { max, proposed } => (
                "EntityTooLarge",
                "Your proposed upload exceeds the maximum allowed size",
                match proposed {
                    Some(proposed) => {
                        format!("<ProposedSize>{proposed}</ProposedSize><MaxSizeAllowed>{max}</MaxSizeAllowed>")
                    }
                    None => format!("<MaxSizeAllowed>{max}</MaxSizeAllowed>"),
                },
            ),
            Refusal::Stalled => (
                "RequestTimeout",
                "Your socket connection to the server was not read from or written to within the timeout period.",
                String::new(),
            ),
        };
        let xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>{message}</Message>{extra}</Error>"#
        );
        let mut response = Response::new(Body::from(xml));
        *response.status_mut() = StatusCode::BAD_REQUEST;
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        response
    }
}

/// A POST whose declared length is already too large: refused unread.
pub(crate) fn refuse_early(request: &Request<Incoming>, max_post_body: u64) -> Option<Refusal> {
    if request.method() != Method::POST {
        return None;
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse::<u64>()
        .ok()?;
    (declared > max_post_body).then_some(Refusal::TooLarge {
        max: max_post_body,
        proposed: Some(declared),
    })
}

/// The first refusal of a request's body, shared between the body (which
/// records it) and the server (which answers with it).
#[derive(Debug, Clone, Default)]
pub(crate) struct Verdict(Arc<OnceLock<Refusal>>);

impl Verdict {
    pub(crate) fn refusal(&self) -> Option<Refusal> {
        self.0.get().copied()
    }
}

/// A request body with a size cap (POST only) and an idle timeout.
pub(crate) struct GuardedBody {
    inner: Incoming,
    max: Option<u64>,
    read: u64,
    idle: Duration,
    /// Armed when the body has nothing to give; a frame disarms it.
    stall: Pin<Box<Sleep>>,
    waiting: bool,
    verdict: Verdict,
}

impl GuardedBody {
    /// Wraps `request`'s body; `max_post_body` applies to POST requests.
    pub(crate) fn guard(
        request: Request<Incoming>,
        max_post_body: u64,
        idle: Duration,
        verdict: &Verdict,
    ) -> Request<Body> {
        let max = (request.method() == Method::POST).then_some(max_post_body);
        request.map(|inner| {
            Body::http_body(GuardedBody {
                inner,
                max,
                read: 0,
                idle,
                stall: Box::pin(tokio::time::sleep(idle)),
                waiting: false,
                verdict: verdict.clone(),
            })
        })
    }

    fn refuse(&mut self, refusal: Refusal) -> io::Error {
        let recorded = *self.verdict.0.get_or_init(|| refusal);
        match recorded {
            Refusal::TooLarge { max, .. } => io::Error::other(format!("request body exceeds {max} bytes")),
            Refusal::Stalled => io::Error::new(io::ErrorKind::TimedOut, "request body stalled"),
        }
    }
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(refusal) = this.verdict.refusal() {
            return Poll::Ready(Some(Err(this.refuse(refusal))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.waiting = false;
                if let Some(data) = frame.data_ref() {
                    this.read = this.read.saturating_add(data.len() as u64);
                    if let Some(max) = this.max
                        && this.read > max
                    {
                        return Poll::Ready(Some(Err(this.refuse(Refusal::TooLarge { max, proposed: None }))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(io::Error::other(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if !this.waiting {
                    this.waiting = true;
                    let deadline = Instant::now() + this.idle;
                    this.stall.as_mut().reset(deadline);
                }
                if this.stall.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Some(Err(this.refuse(Refusal::Stalled))));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_text(response: Response<Body>) -> String {
        let bytes = response.into_body().bytes().expect("a refusal has an in-memory body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[test]
    fn refusals_answer_as_s3_does() {
        let response = Refusal::TooLarge {
            max: 10,
            proposed: Some(11),
        }
        .response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[CONNECTION], "close");
        let text = body_text(response);
        assert!(text.contains("<Code>EntityTooLarge</Code>"), "{text}");
        assert!(
            text.contains("<ProposedSize>11</ProposedSize><MaxSizeAllowed>10</MaxSizeAllowed>"),
            "{text}"
        );

        let text = body_text(Refusal::Stalled.response());
        assert!(text.contains("<Code>RequestTimeout</Code>"), "{text}");
    }
}
