//! The upstream client: keep-alive connections owned by the proxy, TLS with ALPN (HTTP/2 when
//! the upstream offers it), timeouts, and the classification of what went wrong.
//!
//! An HTTP/1.1 upstream connection is driven by the request that uses it, in that request's
//! own task: while waiting for the response head by the sending future, then by the response
//! body ([`UpstreamBody`]) until its last byte, when the connection goes back to the idle list.
//! There is no connection task, no channel hop between tasks and no pool key per request; this
//! is most of what a general-purpose pooled client costs on a proxy's hot path
//! (`docs/performance.md`). An HTTP/2 upstream connection is shared by all requests and runs
//! in its own task, as multiplexing needs.

use std::future::poll_fn;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_queue::ArrayQueue;
use http::header::HOST;
use http::uri::Parts;
use http::{HeaderValue, Request, Response, Uri};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1, http2};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connection as _, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tower_service::Service as _;

use crate::error::{DataplaneError, UpstreamError};
use crate::metrics::ConnectionCounters;
use crate::settings::UpstreamSettings;

/// Idle connections kept to the upstream; enough for bursts without hoarding sockets.
const MAX_IDLE: usize = 256;

/// How many times a request that was never written is tried on another connection (a reused
/// connection the upstream closed while it sat idle).
const MAX_ATTEMPTS: usize = 3;

/// A connection's byte stream: TCP, or TLS over TCP.
type Io = MaybeHttpsStream<TokioIo<TcpStream>>;

/// The client every request goes through. Cheap to share.
#[derive(Debug)]
pub(crate) struct UpstreamClient {
    pool: Arc<Pool>,
    response_timeout: Duration,
}

impl UpstreamClient {
    /// Builds the connector (TCP: connect timeout, keep-alive, nodelay; TLS: Mozilla's roots
    /// plus `ca_file`'s, aws-lc-rs, ALPN h2 + http/1.1). No connection is opened yet.
    pub(crate) fn new(settings: &UpstreamSettings) -> Result<Self, DataplaneError> {
        let upstream = &settings.origin;
        let mut tcp = HttpConnector::new();
        // The TLS layer decides the scheme; the TCP connector must accept `https` URIs.
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(settings.connect_timeout));
        tcp.set_keepalive(Some(settings.pool_idle_timeout));
        tcp.set_nodelay(true);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(settings.ca_file.as_deref())?)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        Ok(Self {
            pool: Arc::new(Pool {
                connector,
                origin: upstream.to_uri(),
                host: upstream.host_header(),
                idle_timeout: settings.pool_idle_timeout,
                connect_timeout: settings.connect_timeout,
                idle: ArrayQueue::new(MAX_IDLE),
                shared: RwLock::new(None),
                sweeping: AtomicBool::new(false),
            }),
            response_timeout: settings.response_timeout,
        })
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
        let mut request = Request::from_parts(
            parts,
            UploadBody {
                inner: body,
                remaining: max_body_bytes,
                upload,
                ended: None,
            },
        );
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
                Checkout::Http1(connection, reused) => {
                    let outcome = self.send_http1(connection, request).await;
                    match outcome {
                        Err(Attempt::Unsent(unsent, error))
                            if reused && attempts < MAX_ATTEMPTS =>
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
            match upload.as_deref().map_or(UPLOAD_DONE, Upload::state) {
                UPLOAD_TOO_LARGE => Poll::Ready(Err(Stopped::TooLarge)),
                UPLOAD_DONE if timeout.as_mut().poll(cx).is_ready() => {
                    Poll::Ready(Err(Stopped::TimedOut))
                }
                _ => Poll::Pending,
            }
        })
        .await;
        match outcome {
            Ok(response) => {
                Ok(response.map(|incoming| UpstreamBody::new(incoming, connection, &self.pool)))
            }
            // An upload cut by the size limit wins over the error it causes upstream.
            Err(Stopped::Failed(_) | Stopped::TooLarge)
                if upload.as_deref().map(Upload::state) == Some(UPLOAD_TOO_LARGE) =>
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
        let too_large = || upload.as_deref().map(Upload::state) == Some(UPLOAD_TOO_LARGE);
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

/// The TLS client configuration for the upstream: rustls on aws-lc-rs, its safe default
/// protocol versions and [`upstream_roots`]; ALPN is set by the connector builder.
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, DataplaneError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(DataplaneError::Tls)?
        .with_root_certificates(upstream_roots(ca_file)?)
        .with_no_client_auth())
}

/// Reads `upstream.ca_file` as start-up will (for `check-config`).
///
/// # Errors
/// [`DataplaneError::UpstreamCa`], naming the file and what is wrong with it.
pub fn check_upstream_ca_file(path: &Path) -> Result<(), DataplaneError> {
    upstream_roots(Some(path)).map(drop)
}

/// Mozilla's roots (as hyper-rustls's default) plus every certificate in `ca_file`. Each one
/// becomes a trust anchor as it is: rustls does not require it to be a CA or unexpired.
fn upstream_roots(ca_file: Option<&Path>) -> Result<rustls::RootCertStore, DataplaneError> {
    let mut roots =
        rustls::RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let Some(path) = ca_file else {
        return Ok(roots);
    };
    let problem = |problem| DataplaneError::UpstreamCa {
        path: path.to_owned(),
        problem,
    };
    let pem = std::fs::read(path).map_err(|err| {
        problem(match err.kind() {
            std::io::ErrorKind::NotFound => "does not exist",
            std::io::ErrorKind::PermissionDenied => "cannot be read (permission denied)",
            _ => "cannot be read",
        })
    })?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| problem("is not valid PEM"))?;
    if certificates.is_empty() {
        return Err(problem("holds no PEM certificate"));
    }
    for certificate in certificates {
        roots
            .add(certificate)
            .map_err(|_| problem("holds a certificate that does not parse"))?;
    }
    Ok(roots)
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

/// An idle or leased HTTP/1.1 connection: the handle requests are sent on, and the state
/// machine that reads and writes the socket. Boxed once per connection (it holds hyper's
/// buffers inline, ≈ 1.8 KB), so leasing and returning it moves a pointer.
struct Http1 {
    sender: http1::SendRequest<UploadBody>,
    driver: http1::Connection<Io, UploadBody>,
}

impl Http1 {
    /// Whether the connection can take a request now. Polls it once: a connection the
    /// upstream closed while idle resolves, and is dropped by the caller.
    fn poll_usable(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        if let Poll::Ready(ended) = Pin::new(&mut self.driver).poll(cx) {
            return Poll::Ready(Err(match ended {
                Ok(()) => "connection closed by the upstream".into(),
                Err(err) => err.into(),
            }));
        }
        self.sender.poll_ready(cx).map_err(Into::into)
    }
}

/// A connection or handshake error, of whichever layer failed.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What a connection checkout gives: an HTTP/1.1 connection (and whether it was used
/// before), or a handle on the shared HTTP/2 connection.
enum Checkout {
    Http1(Box<Http1>, bool),
    Http2(http2::SendRequest<UploadBody>),
}

/// The proxy's connections to its one upstream.
struct Pool {
    connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority/`, for the connector.
    origin: Uri,
    /// `Host` for HTTP/1.1 requests.
    host: HeaderValue,
    idle_timeout: Duration,
    /// TCP, TLS and the HTTP/2 handshake together.
    connect_timeout: Duration,
    /// Idle HTTP/1.1 connections, the longest idle first. Lock-free: a checkout is a pop.
    idle: ArrayQueue<(Box<Http1>, Instant)>,
    /// The HTTP/2 connection, when the upstream negotiated HTTP/2 (swapped whole).
    shared: RwLock<Option<http2::SendRequest<UploadBody>>>,
    /// Whether the task that closes expired idle connections runs.
    sweeping: AtomicBool,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("origin", &self.origin)
            .field("idle", &self.idle.len())
            .finish_non_exhaustive()
    }
}

/// The shared HTTP/2 handle, if any; a panic elsewhere while it was written leaves a valid
/// `Option`.
fn shared_handle(
    slot: &RwLock<Option<http2::SendRequest<UploadBody>>>,
) -> Option<http2::SendRequest<UploadBody>> {
    slot.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .filter(|handle| !handle.is_closed())
        .cloned()
}

impl Pool {
    /// A connection that can take a request now, if one is open: the shared HTTP/2 one, or
    /// an idle HTTP/1.1 one. Expired and closed ones are dropped on the way.
    fn checkout(&self) -> Option<Checkout> {
        if let Some(shared) = shared_handle(&self.shared) {
            return Some(Checkout::Http2(shared));
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            let (mut connection, since) = self.idle.pop()?;
            if since.elapsed() < self.idle_timeout
                && let Poll::Ready(Ok(())) = connection.poll_usable(&mut cx)
            {
                return Some(Checkout::Http1(connection, true));
            }
        }
    }

    /// Opens a connection: TCP (and TLS, with ALPN), then the HTTP/1.1 or HTTP/2 handshake,
    /// all within the connect timeout (the TCP connector enforces it on TCP alone; a TLS
    /// handshake the upstream never finishes must not hang the request).
    async fn connect(&self) -> Result<Checkout, UpstreamError> {
        tokio::time::timeout(self.connect_timeout, self.open())
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::Unavailable(
                    "connecting to the upstream timed out".into(),
                ))
            })
    }

    async fn open(&self) -> Result<Checkout, UpstreamError> {
        let mut connector = self.connector.clone();
        poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(UpstreamError::Unavailable)?;
        let io = connector
            .call(self.origin.clone())
            .await
            .map_err(UpstreamError::Unavailable)?;
        if io.connected().is_negotiated_h2() {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(|err| UpstreamError::Unavailable(err.into()))?;
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "upstream HTTP/2 connection ended");
                }
            });
            *self
                .shared
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sender.clone());
            return Ok(Checkout::Http2(sender));
        }
        let (sender, driver) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|err| UpstreamError::Unavailable(err.into()))?;
        let mut connection = Box::new(Http1 { sender, driver });
        // The handshake does no I/O; the first poll makes the handle ready.
        poll_fn(|cx| connection.poll_usable(cx))
            .await
            .map_err(UpstreamError::Unavailable)?;
        Ok(Checkout::Http1(connection, false))
    }

    /// Keeps a connection whose exchange is complete for the next request.
    fn release(self: &Arc<Self>, connection: Box<Http1>) {
        // Just polled by the caller: not ready means not idle (an upload the upstream answered
        // early is still being written, or the connection is closing). Dropping closes it.
        if !connection.sender.is_ready() {
            return;
        }
        // A full list drops (closes) the connection.
        if self.idle.push((connection, Instant::now())).is_err() {
            return;
        }
        if !self.sweeping.swap(true, Ordering::Relaxed) {
            tokio::spawn(sweep(Arc::downgrade(self)));
        }
    }
}

/// Closes idle connections past the idle timeout, so sockets are not held for an upstream
/// that went quiet; ends with the pool.
async fn sweep(pool: Weak<Pool>) {
    let Some(period) = pool
        .upgrade()
        .map(|pool| pool.idle_timeout.max(Duration::from_secs(1)))
    else {
        return;
    };
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        // The longest idle are first: drop until one is still fresh, and put that one back.
        for _ in 0..pool.idle.len() {
            let Some((connection, since)) = pool.idle.pop() else {
                break;
            };
            if since.elapsed() < pool.idle_timeout {
                let _ = pool.idle.push((connection, since));
                break;
            }
        }
    }
}

/// The upstream's response body. On HTTP/1.1 it drives its connection while it is read and
/// returns it to the pool once the body is complete; dropped unfinished, it closes it.
pub(crate) struct UpstreamBody {
    incoming: Incoming,
    connection: Option<Box<Http1>>,
    pool: Option<Arc<Pool>>,
}

impl UpstreamBody {
    fn new(incoming: Incoming, connection: Option<Box<Http1>>, pool: &Arc<Pool>) -> Self {
        let mut body = Self {
            incoming,
            pool: connection.as_ref().map(|_| Arc::clone(pool)),
            connection,
        };
        // A response without a body may never be polled: its exchange is over already.
        if body.incoming.is_end_stream() {
            body.release();
        }
        body
    }

    fn release(&mut self) {
        if let (Some(connection), Some(pool)) = (self.connection.take(), self.pool.take()) {
            pool.release(connection);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(connection) = &mut this.connection
            && Pin::new(&mut connection.driver).poll(cx).is_ready()
        {
            // Closed or failed mid-body: the body reports it.
            this.connection = None;
        }
        let polled = Pin::new(&mut this.incoming).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.incoming.is_end_stream() => this.release(),
            Poll::Ready(Some(Err(_))) => this.connection = None,
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody").finish_non_exhaustive()
    }
}

const UPLOAD_STREAMING: u8 = 0;
const UPLOAD_DONE: u8 = 1;
const UPLOAD_TOO_LARGE: u8 = 2;

/// How far a request body got: bytes passed upstream (for the access log) and whether the
/// upload is over. Shared by the body, the sender and the access record.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    bytes: AtomicU64,
    state: AtomicU8,
}

impl Upload {
    /// Request body bytes streamed upstream so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    fn end(&self, state: u8) {
        let _ = self.state.compare_exchange(
            UPLOAD_STREAMING,
            state,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
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

/// The client's request body, streamed to the upstream frame by frame; records its progress
/// and stops at the size limit. Never buffers.
#[derive(Debug)]
pub(crate) struct UploadBody {
    inner: Incoming,
    /// Bytes still allowed through; `None`: no limit.
    remaining: Option<u64>,
    /// `None` for an empty body, whose upload is over before it starts.
    upload: Option<Arc<Upload>>,
    /// HTTP/2 only: dropped when the upload ends, to wake the sender in another task.
    ended: Option<oneshot::Sender<()>>,
}

impl UploadBody {
    fn finish(&mut self, state: u8) {
        if let Some(upload) = &self.upload {
            upload.end(state);
        }
        self.ended = None;
    }
}

impl Drop for UploadBody {
    fn drop(&mut self) {
        // Abandoned (the connection failed or the upstream answered early): over as well.
        self.finish(UPLOAD_DONE);
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
                        this.finish(UPLOAD_TOO_LARGE);
                        return Poll::Ready(Some(Err(UploadError::TooLarge)));
                    }
                }
            }
            if let Some(upload) = &this.upload {
                upload.bytes.fetch_add(len, Ordering::Relaxed);
            }
        }
        let finished = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if finished {
            this.finish(UPLOAD_DONE);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_adds_its_certificates_to_mozillas_roots() {
        let mozilla = webpki_roots::TLS_SERVER_ROOTS.len();
        assert_eq!(upstream_roots(None).expect("roots").len(), mozilla);

        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        let pem: String = (0..2)
            .map(|_| {
                let key = rcgen::KeyPair::generate().expect("key");
                let mut params =
                    rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
                params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
                params.self_signed(&key).expect("certificate").pem()
            })
            .collect();
        std::fs::write(&path, pem).expect("write");
        assert_eq!(
            upstream_roots(Some(&path)).expect("roots").len(),
            mozilla + 2
        );
    }

    #[test]
    fn a_certificate_that_does_not_parse_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ca.pem");
        // Valid PEM around bytes that are not a certificate.
        std::fs::write(
            &path,
            "-----BEGIN CERTIFICATE-----\nAAECAwQFBgcICQ==\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let err = upstream_roots(Some(&path)).expect_err("refused");
        assert!(
            err.to_string()
                .contains("holds a certificate that does not parse"),
            "{err}"
        );
        let missing = dir.path().join("missing.pem");
        let err = upstream_roots(Some(&missing)).expect_err("refused");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
