//! One exchange with the upstream: a request sent on a pooled connection (HTTP/1.1, driven
//! here until the response head arrives, or the shared HTTP/2 one), its timeouts, retries on
//! another connection for a request that was never written, and what went wrong.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use http::header::HOST;
use http::uri::Parts;
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http2};
use tokio::sync::oneshot;

use super::body::UpstreamBody;
use super::pool::{Checkout, Http1, Pool, Reuse};
use super::upload::{Upload, UploadBody, UploadState};
use crate::error::{DataplaneError, UpstreamError};
use crate::metrics::ConnectionCounters;
use crate::settings::UpstreamSettings;

/// How many times a request that was never written is tried on another connection (a reused
/// connection the upstream closed while it sat idle).
const MAX_ATTEMPTS: usize = 3;

/// The client every request goes through. Cheap to share.
#[derive(Debug)]
pub(crate) struct UpstreamClient {
    pub(super) pool: Arc<Pool>,
    pub(super) response_timeout: Duration,
}

impl UpstreamClient {
    /// The client for `settings.origin`; no connection is opened yet.
    ///
    /// # Errors
    /// [`DataplaneError`] when the TLS configuration cannot be built (`ca_file`).
    pub(crate) fn new(settings: &UpstreamSettings) -> Result<Self, DataplaneError> {
        Ok(Self {
            pool: Arc::new(Pool::new(settings)?),
            response_timeout: settings.response_timeout,
        })
    }

    /// Stops the client's tasks and closes its connections, for good; resolves when every
    /// task it started has ended. No connection is opened afterwards: a later request fails
    /// with [`UpstreamError::Unavailable`] (unless it finds an HTTP/1.1 connection that was
    /// lent out during the close and handed back since).
    pub(crate) async fn close(&self) {
        self.pool.close().await;
    }

    /// How many of the client's tasks still run (0 once [`UpstreamClient::close`] resolved).
    pub(crate) fn tasks(&self) -> usize {
        self.pool.tasks()
    }

    /// Sends `request` (origin-form target, upstream headers already set except `Host`) and
    /// waits for the response head. `upload`: the progress of a request body that is not
    /// empty, shared with the access record. `max_body_bytes` caps the bytes streamed
    /// upstream; a body that grows past it aborts the upstream request. A connection opened
    /// for the request is counted in `opened`.
    ///
    /// The response timeout starts when the request body has been sent (or abandoned), so a
    /// large upload is not cut by it; the response body then streams without a deadline.
    ///
    /// # Errors
    /// [`SendError::BodyTooLarge`] when the body passed `max_body_bytes` before the response
    /// head arrived; [`UpstreamError::Unavailable`] when no connection could be made or the
    /// request was never written, [`UpstreamError::Timeout`] when the head did not arrive in
    /// time, [`UpstreamError::Failed`] for anything else.
    pub(crate) async fn send(
        &self,
        request: Request<Incoming>,
        max_body_bytes: Option<u64>,
        upload: Option<Arc<Upload>>,
        opened: &ConnectionCounters,
    ) -> Result<Response<UpstreamBody>, SendError> {
        let (parts, body) = request.into_parts();
        let mut request = Request::from_parts(parts, UploadBody::new(body, max_body_bytes, upload));
        let mut attempts = 0;
        loop {
            attempts += 1;
            let connection = match self.pool.checkout() {
                Some(connection) => connection,
                None => {
                    // Boxed: connecting (TCP, TLS, the HTTP handshakes) is a future of
                    // kilobytes that every request's future would otherwise carry.
                    let connection = Box::pin(self.pool.connect())
                        .await
                        .map_err(SendError::Upstream)?;
                    opened.opened(matches!(connection, Checkout::Http2(_)));
                    connection
                }
            };
            let sent = match connection {
                Checkout::Http1(connection, reuse) => {
                    let outcome = self.send_http1(connection, request).await;
                    match outcome {
                        Err(Attempt::Unsent(unsent, error))
                            if reuse == Reuse::Reused && attempts < MAX_ATTEMPTS =>
                        {
                            tracing::debug!(%error, "idle upstream connection closed; trying another");
                            request = *unsent;
                            continue;
                        }
                        other => other,
                    }
                }
                Checkout::Http2(sender) => self.send_http2(sender, request).await,
            };
            return sent.map_err(|attempt| match attempt {
                Attempt::Failed(err) => err,
                Attempt::Unsent(_, error) => {
                    SendError::Upstream(UpstreamError::Unavailable(error.into()))
                }
            });
        }
    }

    /// One exchange on an HTTP/1.1 connection, driven here until the response head arrives.
    async fn send_http1(
        &self,
        mut connection: Box<Http1>,
        mut request: Request<UploadBody>,
    ) -> Result<Response<UpstreamBody>, Attempt> {
        // The target is origin-form already; HTTP/1.1 names the upstream in Host.
        request.headers_mut().insert(HOST, self.pool.host.clone());
        let upload = request.body().upload.clone();
        // The response future does not borrow the handle.
        let mut response = std::pin::pin!(connection.sender.try_send_request(request));
        let mut connection = Some(connection);
        let mut timeout = std::pin::pin!(tokio::time::sleep(self.response_timeout));
        let outcome = poll_fn(|cx| {
            // The connection writes the request (and its body) and reads the answer.
            if let Some(running) = &mut connection
                && Pin::new(&mut running.driver).poll(cx).is_ready()
            {
                // Closed or failed: dropping it hands a request still queued back, and fails
                // one in flight; the response future reports which.
                connection = None;
            }
            if let Poll::Ready(result) = response.as_mut().poll(cx) {
                return Poll::Ready(result.map_err(|err| Stopped::Failed(Box::new(err))));
            }
            match upload.as_deref().map_or(UploadState::Done, Upload::state) {
                UploadState::TooLarge => Poll::Ready(Err(Stopped::TooLarge)),
                UploadState::Done if timeout.as_mut().poll(cx).is_ready() => {
                    Poll::Ready(Err(Stopped::TimedOut))
                }
                UploadState::Done | UploadState::Streaming => Poll::Pending,
            }
        })
        .await;
        match outcome {
            Ok(response) => {
                Ok(response.map(|incoming| UpstreamBody::new(incoming, connection, &self.pool)))
            }
            // An upload cut by the size limit wins over the error it causes upstream.
            Err(Stopped::Failed(_) | Stopped::TooLarge)
                if upload.as_deref().map(Upload::state) == Some(UploadState::TooLarge) =>
            {
                Err(Attempt::Failed(SendError::BodyTooLarge))
            }
            Err(Stopped::Failed(err)) => Err(Attempt::from(*err)),
            // Dropping the connection aborts the upstream request.
            Err(Stopped::TooLarge) => Err(Attempt::Failed(SendError::BodyTooLarge)),
            Err(Stopped::TimedOut) => {
                Err(Attempt::Failed(SendError::Upstream(UpstreamError::Timeout)))
            }
        }
    }

    /// One exchange on the shared HTTP/2 connection, whose task writes the body: the upload's
    /// end is signalled over a oneshot channel.
    async fn send_http2(
        &self,
        mut sender: http2::SendRequest<UploadBody>,
        mut request: Request<UploadBody>,
    ) -> Result<Response<UpstreamBody>, Attempt> {
        // HTTP/2 names the upstream in :scheme and :authority, taken from an absolute URI.
        let mut parts = Parts::default();
        parts.scheme = self.pool.origin.scheme().cloned();
        parts.authority = self.pool.origin.authority().cloned();
        parts.path_and_query = request.uri().path_and_query().cloned();
        *request.uri_mut() = Uri::from_parts(parts).map_err(|err| {
            Attempt::Failed(SendError::Upstream(UpstreamError::Unavailable(err.into())))
        })?;
        let upload = request.body().upload.clone();
        let mut ended = None;
        if upload.is_some() {
            let (sender, receiver) = oneshot::channel();
            request.body_mut().ended = Some(sender);
            ended = Some(receiver);
        }
        let response = sender.try_send_request(request);
        tokio::pin!(response);
        let too_large = || upload.as_deref().map(Upload::state) == Some(UploadState::TooLarge);
        let classify =
            |result: Result<Response<Incoming>, TrySendError<Request<UploadBody>>>| match result {
                Ok(response) => {
                    Ok(response.map(|incoming| UpstreamBody::new(incoming, None, &self.pool)))
                }
                Err(_) if too_large() => Err(Attempt::Failed(SendError::BodyTooLarge)),
                Err(err) => Err(Attempt::from(err)),
            };
        if let Some(ended) = ended {
            tokio::select! {
                biased;
                _ = ended => {}
                result = &mut response => return classify(result),
            }
            if too_large() {
                // Dropping the response future resets the stream.
                return Err(Attempt::Failed(SendError::BodyTooLarge));
            }
        }
        tokio::select! {
            biased;
            result = &mut response => classify(result),
            () = tokio::time::sleep(self.response_timeout) => {
                Err(Attempt::Failed(SendError::Upstream(UpstreamError::Timeout)))
            }
        }
    }
}

/// Why an exchange on an HTTP/1.1 connection ended without a response head.
enum Stopped {
    Failed(Box<TrySendError<Request<UploadBody>>>),
    TooLarge,
    TimedOut,
}

/// A failed attempt: final, or a request that was never written and may go elsewhere.
enum Attempt {
    Failed(SendError),
    Unsent(Box<Request<UploadBody>>, hyper::Error),
}

impl From<TrySendError<Request<UploadBody>>> for Attempt {
    fn from(mut err: TrySendError<Request<UploadBody>>) -> Self {
        match err.take_message() {
            Some(unsent) => Self::Unsent(Box::new(unsent), err.into_error()),
            None => Self::Failed(SendError::Upstream(UpstreamError::Failed(err.into_error()))),
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
