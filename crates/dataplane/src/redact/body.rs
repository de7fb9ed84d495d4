//! The upstream's response body, scanned on its way to the client.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use auth::Credential;
use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};

use super::headers::redact_headers;
use super::stream::Scanner;

/// Occurrences of the key taken out of one response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Redactions {
    /// In header values and trailers, dropped `Authorization` headers included.
    pub(crate) headers: u64,
    /// In the body.
    pub(crate) body: u64,
}

impl Redactions {
    /// Whether anything was taken out.
    pub(crate) fn any(self) -> bool {
        self.headers > 0 || self.body > 0
    }
}

/// A response body whose every form of the organization's key is masked before the client
/// sees it (see [`Scanner`]); trailers get the headers' treatment. Same length as the inner
/// body, so its `Content-Length` stays true.
pub(crate) struct RedactingBody<B> {
    inner: B,
    scanner: Scanner,
    /// A frame to send before the inner body is polled again.
    queued: Option<Frame<Bytes>>,
    /// Occurrences found in trailers.
    trailers: u64,
}

impl<B> RedactingBody<B> {
    /// Scans `inner` for the key of `credential`.
    pub(crate) fn new(inner: B, credential: Arc<Credential>) -> Self {
        Self {
            inner,
            scanner: Scanner::new(credential),
            queued: None,
            trailers: 0,
        }
    }

    /// What was masked in the body and its trailers so far.
    pub(crate) fn redactions(&self) -> Redactions {
        Redactions {
            headers: self.trailers,
            body: self.scanner.found(),
        }
    }

    /// Bytes held back or queued, not yet sent.
    fn pending(&self) -> u64 {
        let queued = self
            .queued
            .as_ref()
            .and_then(Frame::data_ref)
            .map_or(0, Buf::remaining);
        (self.scanner.held() + queued) as u64
    }
}

impl<B> Body for RedactingBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        loop {
            if let Some(frame) = this.queued.take() {
                return Poll::Ready(Some(Ok(frame)));
            }
            let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
                Some(Ok(frame)) => frame,
                Some(Err(err)) => return Poll::Ready(Some(Err(err))),
                None => {
                    let rest = this.scanner.finish();
                    return Poll::Ready((!rest.is_empty()).then(|| Ok(Frame::data(rest))));
                }
            };
            let frame = match frame.into_data() {
                Ok(data) => {
                    let last = this.inner.is_end_stream();
                    let (first, second) = this.scanner.push(data, last);
                    match (first.is_empty(), second.is_empty()) {
                        (true, true) => continue,
                        (true, false) => return Poll::Ready(Some(Ok(Frame::data(second)))),
                        (false, true) => return Poll::Ready(Some(Ok(Frame::data(first)))),
                        (false, false) => {
                            this.queued = Some(Frame::data(second));
                            return Poll::Ready(Some(Ok(Frame::data(first))));
                        }
                    }
                }
                Err(frame) => frame,
            };
            // Trailers end the body: what was held back goes first.
            let frame = match frame.into_trailers() {
                Ok(mut trailers) => {
                    let patterns = this.scanner.patterns();
                    this.trailers += redact_headers(&mut trailers, patterns);
                    Frame::trailers(trailers)
                }
                Err(other) => other,
            };
            let rest = this.scanner.finish();
            if rest.is_empty() {
                return Poll::Ready(Some(Ok(frame)));
            }
            this.queued = Some(frame);
            return Poll::Ready(Some(Ok(Frame::data(rest))));
        }
    }

    fn is_end_stream(&self) -> bool {
        self.queued.is_none() && self.scanner.held() == 0 && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let inner = self.inner.size_hint();
        let pending = self.pending();
        let mut hint = SizeHint::new();
        hint.set_lower(inner.lower() + pending);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + pending);
        }
        hint
    }
}

impl<B> std::fmt::Debug for RedactingBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactingBody")
            .field("scanner", &self.scanner)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::HeaderMap;
    use http_body_util::{BodyExt, StreamBody};

    use super::*;
    use crate::redact::testing::credential;

    const KEY: &str = "KEY0123456789abcdef_real";

    fn body(
        frames: Vec<Frame<Bytes>>,
    ) -> RedactingBody<impl Body<Data = Bytes, Error = Infallible> + Unpin> {
        let stream = futures_util::stream::iter(frames.into_iter().map(Ok::<_, Infallible>));
        RedactingBody::new(StreamBody::new(stream), credential(KEY))
    }

    #[tokio::test]
    async fn a_key_cut_by_frames_is_masked_and_the_length_kept() {
        let text = format!("{{\"detail\":\"bad {KEY}\"}}");
        let frames = text
            .as_bytes()
            .chunks(5)
            .map(|chunk| Frame::data(Bytes::copy_from_slice(chunk)))
            .collect();
        let mut body = body(frames);
        let mut out = Vec::new();
        while let Some(frame) = body.frame().await {
            out.extend_from_slice(&frame.unwrap().into_data().unwrap());
        }
        assert_eq!(out.len(), text.len());
        assert!(!String::from_utf8(out).unwrap().contains(KEY));
        assert_eq!(
            body.redactions(),
            Redactions {
                headers: 0,
                body: 1
            }
        );
    }

    #[tokio::test]
    async fn held_back_bytes_go_out_before_the_trailers_which_are_redacted() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-echo-auth", format!("Bearer {KEY}").parse().unwrap());
        let mut body = body(vec![
            Frame::data(Bytes::from_static(
                b"0123456789012345678901234567890123456789",
            )),
            Frame::trailers(trailers),
        ]);
        let mut data = Vec::new();
        let mut seen_trailers = None;
        while let Some(frame) = body.frame().await {
            match frame.unwrap().into_data() {
                Ok(bytes) => {
                    assert!(seen_trailers.is_none(), "data after the trailers");
                    data.extend_from_slice(&bytes);
                }
                Err(frame) => seen_trailers = frame.into_trailers().ok(),
            }
        }
        assert_eq!(data.len(), 40);
        assert_eq!(seen_trailers.unwrap()["x-echo-auth"], "Bearer [redacted]");
        assert_eq!(
            body.redactions(),
            Redactions {
                headers: 1,
                body: 0
            }
        );
    }
}
