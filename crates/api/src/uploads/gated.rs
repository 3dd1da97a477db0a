//! A PUT body whose last byte waits for a verdict.
//!
//! An avatar's stripped copy is written to its served key while its decode
//! still runs ([`broker_verifier::verify_image_with`] hands the copy over
//! before the decode ends): the body sends all but its last byte at once, and
//! the last one only once the [`Gate`] is opened. A store keeps no object
//! whose body ended short of its `Content-Length`, and checks the body's
//! SHA-256 (signed into the request) as well, so an image that fails its
//! decode, or does not fit the quota, never appears: its gate is dropped
//! closed, the body fails, and the request is dropped unfinished.
//!
//! Writing and decoding overlap, so a completion pays for the slower of the
//! two, not their sum. The body stays retryable (the SDK rebuilds it on a
//! transient failure), each attempt waiting for the same verdict.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use broker_core::store::{ByteStream, SdkBody};
use bytes::Bytes;
use futures_util::FutureExt as _;
use futures_util::future::Shared;
use http_body::{Body, Frame, SizeHint};
use tokio::sync::oneshot;

/// Lets a [`gated`] body finish. Dropping it unopened fails the body.
pub struct Gate(oneshot::Sender<()>);

impl Gate {
    pub fn open(self) {
        // A body no one reads any more (its request failed) needs no verdict.
        let _ = self.0.send(());
    }
}

/// `bytes` as a PUT body whose last byte waits for the returned [`Gate`].
pub fn gated(bytes: Bytes) -> (ByteStream, Gate) {
    let (open, verdict) = oneshot::channel();
    let verdict = verdict.shared();
    let body = SdkBody::retryable(move || {
        let mut head = bytes.clone();
        let tail = head.split_off(head.len().saturating_sub(1));
        SdkBody::from_body_1_x(Gated {
            head: (!head.is_empty()).then_some(head),
            tail: (!tail.is_empty()).then_some(tail),
            verdict: verdict.clone(),
        })
    });
    (ByteStream::new(body), Gate(open))
}

struct Gated {
    head: Option<Bytes>,
    tail: Option<Bytes>,
    verdict: Shared<oneshot::Receiver<()>>,
}

/// The body of an object whose verdict was "no".
#[derive(Debug, thiserror::Error)]
#[error("the object was not verified: its write is abandoned")]
struct NotVerified;

impl Body for Gated {
    type Data = Bytes;
    type Error = NotVerified;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, NotVerified>>> {
        let this = self.get_mut();
        if let Some(head) = this.head.take() {
            return Poll::Ready(Some(Ok(Frame::data(head))));
        }
        if this.tail.is_none() {
            return Poll::Ready(None);
        }
        let verdict = ready!(Pin::new(&mut this.verdict).poll(cx));
        let tail = this.tail.take();
        Poll::Ready(match verdict {
            Ok(()) => tail.map(|tail| Ok(Frame::data(tail))),
            Err(_) => Some(Err(NotVerified)),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.head.is_none() && self.tail.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let len = |part: &Option<Bytes>| part.as_ref().map_or(0, Bytes::len) as u64;
        SizeHint::with_exact(len(&self.head) + len(&self.tail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    async fn read(stream: ByteStream) -> Result<Vec<u8>, String> {
        stream
            .collect()
            .await
            .map(|bytes| bytes.into_bytes().to_vec())
            .map_err(|e| e.to_string())
    }

    #[tokio::test]
    async fn the_last_byte_waits_for_the_gate() {
        let (body, gate) = gated(Bytes::from_static(b"stripped image"));
        let mut body = body.into_inner();
        assert_eq!(body.size_hint().exact(), Some(14));
        let first = body.frame().await.expect("a frame").expect("data");
        assert_eq!(first.into_data().ok().as_deref(), Some(&b"stripped imag"[..]));
        // Nothing more until the verdict.
        let waiting = tokio::time::timeout(std::time::Duration::from_millis(50), body.frame()).await;
        assert!(waiting.is_err(), "the last byte was sent before the gate opened");
        gate.open();
        let last = body.frame().await.expect("a frame").expect("data");
        assert_eq!(last.into_data().ok().as_deref(), Some(&b"e"[..]));
        assert!(body.frame().await.is_none());
    }

    #[tokio::test]
    async fn a_gate_dropped_closed_fails_the_body_short_of_its_length() {
        let (body, gate) = gated(Bytes::from_static(b"not verified"));
        drop(gate);
        let mut body = body.into_inner();
        let mut sent = Vec::new();
        let failed = loop {
            match body.frame().await {
                Some(Ok(frame)) => sent.extend_from_slice(&frame.into_data().unwrap_or_default()),
                Some(Err(e)) => break e.to_string(),
                None => panic!("the body ended without its verdict"),
            }
        };
        assert_eq!(sent, b"not verifie");
        assert!(failed.contains("not verified"), "{failed}");
    }

    #[tokio::test]
    async fn every_retry_waits_for_the_same_verdict() {
        let (body, gate) = gated(Bytes::from_static(b"abc"));
        let inner = body.into_inner();
        let retry = inner.try_clone().expect("a retryable body");
        gate.open();
        assert_eq!(read(ByteStream::new(inner)).await.as_deref(), Ok(&b"abc"[..]));
        assert_eq!(read(ByteStream::new(retry)).await.as_deref(), Ok(&b"abc"[..]));
    }
}
