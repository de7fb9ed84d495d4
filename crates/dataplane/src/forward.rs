//! The upstream client: pooled keep-alive connections, TLS with ALPN (HTTP/2 when offered),
//! timeouts, and the classification of what went wrong.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::oneshot;

use crate::error::{DataplaneError, UpstreamError};
use crate::settings::DataplaneSettings;

/// Idle connections kept per upstream host; enough for bursts without hoarding sockets.
const MAX_IDLE_PER_HOST: usize = 256;

/// The pooled client every request goes through.
#[derive(Debug, Clone)]
pub(crate) struct UpstreamClient {
    client: Client<HttpsConnector<HttpConnector>, UploadBody>,
    response_timeout: Duration,
}

impl UpstreamClient {
    /// Builds the connector (TCP: connect timeout, keep-alive, nodelay; TLS: webpki roots,
    /// aws-lc-rs, ALPN h2 + http/1.1) and the pool.
    pub(crate) fn new(settings: &DataplaneSettings) -> Result<Self, DataplaneError> {
        let mut tcp = HttpConnector::new();
        // The TLS layer decides the scheme; the TCP connector must accept `https` URIs.
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(settings.connect_timeout));
        tcp.set_keepalive(Some(settings.pool_idle_timeout));
        tcp.set_nodelay(true);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let connector = HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(DataplaneError::Tls)?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(settings.pool_idle_timeout)
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        Ok(Self {
            client,
            response_timeout: settings.response_timeout,
        })
    }

    /// Sends `request` and waits for the response headers. `max_body_bytes` caps the bytes
    /// streamed upstream; a body that grows past it aborts the upstream request. `uploaded`
    /// counts the body bytes streamed upstream (for the access log).
    ///
    /// The response timeout starts when the request body has been sent (or abandoned), so a
    /// large upload is not cut by it; the response body then streams without a deadline.
    ///
    /// # Errors
    /// [`SendError::BodyTooLarge`] when the body passed `max_body_bytes` before the response
    /// headers arrived; [`UpstreamError::Unavailable`] when no connection could be made
    /// (nothing was sent), [`UpstreamError::Timeout`] when the headers did not arrive in time,
    /// [`UpstreamError::Failed`] for anything else.
    pub(crate) async fn send(
        &self,
        request: Request<Incoming>,
        max_body_bytes: Option<u64>,
        uploaded_bytes: Arc<AtomicU64>,
    ) -> Result<Response<Incoming>, SendError> {
        let (body, mut uploaded) = UploadBody::new(request, max_body_bytes, uploaded_bytes);
        let response = self.client.request(body);
        tokio::pin!(response);
        let classify = |result: Result<Response<Incoming>, hyper_util::client::legacy::Error>| {
            result.map_err(|err| {
                if err.is_connect() {
                    SendError::Upstream(UpstreamError::Unavailable(err))
                } else {
                    SendError::Upstream(UpstreamError::Failed(err))
                }
            })
        };
        // Until the upload is over: the response may come early (the upstream refused the
        // body); an upload cut by the size limit wins over the error it causes upstream.
        let ended = tokio::select! {
            biased;
            end = &mut uploaded => end.ok(),
            result = &mut response => {
                return match uploaded.try_recv() {
                    Ok(UploadEnd::TooLarge) => Err(SendError::BodyTooLarge),
                    Err(_) => classify(result),
                };
            }
        };
        if ended == Some(UploadEnd::TooLarge) {
            // Dropping the response future aborts the upstream request.
            return Err(SendError::BodyTooLarge);
        }
        tokio::select! {
            biased;
            result = &mut response => classify(result),
            () = tokio::time::sleep(self.response_timeout) => {
                Err(SendError::Upstream(UpstreamError::Timeout))
            }
        }
    }
}

/// Why a request was not answered by the upstream.
#[derive(Debug)]
pub(crate) enum SendError {
    /// The client's body passed `max_body_bytes` before the upstream answered (413).
    BodyTooLarge,
    /// The upstream failed (502/504).
    Upstream(UpstreamError),
}

/// How an upload ended early; a normal end drops the sender instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UploadEnd {
    /// The body passed `max_body_bytes`.
    TooLarge,
}

/// Why the request body stopped streaming upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    /// Reading the client's body failed.
    #[error("reading the client's request body failed")]
    Client(#[source] hyper::Error),
    /// The body passed `max_body_bytes`.
    #[error("request body exceeds the size limit")]
    TooLarge,
}

/// The client's request body, streamed to the upstream frame by frame, that reports when it
/// has been fully sent (or dropped) and stops at the size limit. Never buffers.
#[derive(Debug)]
pub(crate) struct UploadBody {
    inner: Incoming,
    /// Bytes still allowed through; `None`: no limit.
    remaining: Option<u64>,
    /// Dropped when the upload is over, which wakes the receiver; sent on when cut short.
    uploading: Option<oneshot::Sender<UploadEnd>>,
    /// Bytes passed upstream so far.
    uploaded: Arc<AtomicU64>,
}

impl UploadBody {
    fn new(
        request: Request<Incoming>,
        max_body_bytes: Option<u64>,
        uploaded: Arc<AtomicU64>,
    ) -> (Request<Self>, oneshot::Receiver<UploadEnd>) {
        let (sender, receiver) = oneshot::channel();
        let request = request.map(|inner| {
            // An empty body may never be polled; its upload is over already.
            let uploading = (!inner.is_end_stream()).then_some(sender);
            Self {
                inner,
                remaining: max_body_bytes,
                uploading,
                uploaded,
            }
        });
        (request, receiver)
    }
}

impl Body for UploadBody {
    type Data = Bytes;
    type Error = UploadError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UploadError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            let len = frame.data_ref().map_or(0, |data| data.len() as u64);
            if let Some(remaining) = &mut this.remaining {
                match remaining.checked_sub(len) {
                    Some(left) => *remaining = left,
                    None => {
                        if let Some(sender) = this.uploading.take() {
                            let _ = sender.send(UploadEnd::TooLarge);
                        }
                        return Poll::Ready(Some(Err(UploadError::TooLarge)));
                    }
                }
            }
            this.uploaded.fetch_add(len, Ordering::Relaxed);
        }
        let finished = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if finished {
            this.uploading = None;
        }
        polled.map(|frame| frame.map(|result| result.map_err(UploadError::Client)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
