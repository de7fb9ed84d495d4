//! The upstream client: pooled keep-alive connections, TLS with ALPN (HTTP/2 when offered),
//! timeouts, and the classification of what went wrong.

use std::pin::Pin;
use std::sync::Arc;
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

    /// Sends `request` and waits for the response headers.
    ///
    /// The response timeout starts when the request body has been sent (or abandoned), so a
    /// large upload is not cut by it; the response body then streams without a deadline.
    ///
    /// # Errors
    /// [`UpstreamError::Unavailable`] when no connection could be made (nothing was sent),
    /// [`UpstreamError::Timeout`] when the headers did not arrive in time,
    /// [`UpstreamError::Failed`] for anything else.
    pub(crate) async fn send(
        &self,
        request: Request<Incoming>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let (body, uploaded) = UploadBody::new(request);
        let response = self.client.request(body);
        let deadline = async {
            // Resolves when the body ends or is dropped; either way the upload is over.
            let _ = uploaded.await;
            tokio::time::sleep(self.response_timeout).await;
        };
        tokio::select! {
            biased;
            result = response => result.map_err(|err| {
                if err.is_connect() {
                    UpstreamError::Unavailable(err)
                } else {
                    UpstreamError::Failed(err)
                }
            }),
            () = deadline => Err(UpstreamError::Timeout),
        }
    }
}

/// The client's request body, streamed to the upstream frame by frame, that reports when it
/// has been fully sent (or dropped). Never buffers.
#[derive(Debug)]
pub(crate) struct UploadBody {
    inner: Incoming,
    /// Dropped when the upload is over, which wakes the receiver.
    uploading: Option<oneshot::Sender<()>>,
}

impl UploadBody {
    fn new(request: Request<Incoming>) -> (Request<Self>, oneshot::Receiver<()>) {
        let (sender, receiver) = oneshot::channel();
        let request = request.map(|inner| {
            // An empty body may never be polled; its upload is over already.
            let uploading = (!inner.is_end_stream()).then_some(sender);
            Self { inner, uploading }
        });
        (request, receiver)
    }
}

impl Body for UploadBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        let finished = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if finished {
            this.uploading = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
