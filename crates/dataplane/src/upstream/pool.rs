//! The proxy's connections to its one upstream: opened on demand (TCP, TLS, then the HTTP/1.1
//! or HTTP/2 handshake), HTTP/1.1 ones kept idle for the next request and closed when they
//! expire, the HTTP/2 one shared by every request.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crossbeam_queue::ArrayQueue;
use http::HeaderValue;
use http::uri::Uri;
use hyper::client::conn::{http1, http2};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder, MaybeHttpsStream};
use hyper_util::client::legacy::connect::{Connection as _, HttpConnector};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tower_service::Service as _;

use super::tasks::Tasks;
use super::tls::tls_config;
use super::upload::UploadBody;
use crate::body::BoxError;
use crate::error::{DataplaneError, UpstreamError};
use crate::settings::UpstreamSettings;

/// Idle connections kept to the upstream; enough for bursts without hoarding sockets.
const MAX_IDLE: usize = 256;

/// A connection's byte stream: TCP, or TLS over TCP.
pub(super) type Io = MaybeHttpsStream<TokioIo<TcpStream>>;

/// An idle or leased HTTP/1.1 connection: the handle requests are sent on, and the state
/// machine that reads and writes the socket. Boxed once per connection (it holds hyper's
/// buffers inline, ≈ 1.8 KB), so leasing and returning it moves a pointer.
pub(super) struct Http1 {
    pub(super) sender: http1::SendRequest<UploadBody>,
    pub(super) driver: http1::Connection<Io, UploadBody>,
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

/// What a connection checkout gives: an HTTP/1.1 connection (and whether it was used
/// before), or a handle on the shared HTTP/2 connection.
pub(super) enum Checkout {
    Http1(Box<Http1>, Reuse),
    Http2(http2::SendRequest<UploadBody>),
}

/// Whether a leased HTTP/1.1 connection carried a request before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reuse {
    /// Opened for this request.
    Fresh,
    /// Taken from the idle list: the upstream may have closed it meanwhile, so a request it
    /// never wrote may be tried again on another connection.
    Reused,
}

/// The proxy's connections to its one upstream.
pub(super) struct Pool {
    connector: HttpsConnector<HttpConnector>,
    /// The same without ALPN (hyper-rustls offers none for HTTP/1.1 alone, and a TLS server
    /// speaks HTTP/1.1 then): a WebSocket session's connection
    /// (`upgrade`), which HTTP/2 cannot carry as an HTTP/1.1 upgrade.
    pub(super) http1_connector: HttpsConnector<HttpConnector>,
    /// `scheme://authority/`, for the connector.
    pub(super) origin: Uri,
    /// `Host` for HTTP/1.1 requests.
    pub(super) host: HeaderValue,
    idle_timeout: Duration,
    /// Opening a connection, all of it: name resolution, TCP, TLS and the HTTP handshake.
    pub(super) connect_timeout: Duration,
    /// Longest wait for the next piece of a response body (`upstream.body_idle_timeout_ms`).
    pub(super) body_idle_timeout: Duration,
    /// Idle HTTP/1.1 connections, the longest idle first. Lock-free: a checkout is a pop.
    idle: ArrayQueue<(Box<Http1>, Instant)>,
    /// The HTTP/2 connection, when the upstream negotiated HTTP/2 (swapped whole).
    shared: RwLock<Option<http2::SendRequest<UploadBody>>>,
    /// Whether the task that closes expired idle connections runs.
    sweeping: AtomicBool,
    /// The sweeper and the HTTP/2 connections' tasks; [`Pool::close`] ends them.
    pub(super) tasks: Tasks,
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
    /// Builds the connector (TCP: connect timeout, keep-alive, nodelay; TLS: Mozilla's roots
    /// plus `ca_file`'s, aws-lc-rs, ALPN h2 + http/1.1). No connection is opened yet.
    pub(super) fn new(settings: &UpstreamSettings) -> Result<Self, DataplaneError> {
        let mut tcp = HttpConnector::new();
        // The TLS layer decides the scheme; the TCP connector must accept `https` URIs.
        tcp.enforce_http(false);
        tcp.set_connect_timeout(Some(settings.connect_timeout));
        tcp.set_keepalive(Some(settings.pool_idle_timeout));
        tcp.set_nodelay(true);
        let tls = tls_config(settings.ca_file.as_deref())?;
        let http1_connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp.clone());
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        Ok(Self {
            connector,
            http1_connector,
            origin: settings.origin.to_uri(),
            host: settings.origin.host_header(),
            idle_timeout: settings.pool_idle_timeout,
            connect_timeout: settings.connect_timeout,
            body_idle_timeout: settings.body_idle_timeout,
            idle: ArrayQueue::new(MAX_IDLE),
            shared: RwLock::new(None),
            sweeping: AtomicBool::new(false),
            tasks: Tasks::new(),
        })
    }

    /// A connection that can take a request now, if one is open: the shared HTTP/2 one, or
    /// an idle HTTP/1.1 one. Expired and closed ones are dropped on the way.
    pub(super) fn checkout(&self) -> Option<Checkout> {
        if let Some(shared) = shared_handle(&self.shared) {
            return Some(Checkout::Http2(shared));
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        loop {
            let (mut connection, since) = self.idle.pop()?;
            if since.elapsed() < self.idle_timeout
                && let Poll::Ready(Ok(())) = connection.poll_usable(&mut cx)
            {
                return Some(Checkout::Http1(connection, Reuse::Reused));
            }
        }
    }

    /// Opens a connection: name resolution and TCP (and TLS, with ALPN), then the HTTP/1.1
    /// or HTTP/2 handshake, all within the connect timeout (the TCP connector enforces it on
    /// TCP alone; a TLS handshake the upstream never finishes must not hang the request). The
    /// HTTP/2 handshake sends the preface and our SETTINGS without waiting for the upstream's;
    /// the HTTP/1.1 one does no I/O.
    pub(super) async fn connect(&self) -> Result<Checkout, UpstreamError> {
        tokio::time::timeout(self.connect_timeout, self.open())
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::Unavailable(
                    "connecting to the upstream timed out".into(),
                ))
            })
    }

    /// TCP (and TLS) to the upstream through `connector`: the pool's own, or the one that
    /// offers only HTTP/1.1. Refused once the pool is closed.
    pub(super) async fn dial(
        &self,
        connector: &HttpsConnector<HttpConnector>,
    ) -> Result<Io, UpstreamError> {
        if self.tasks.stopped() {
            return Err(UpstreamError::Unavailable(
                "the upstream client is closed".into(),
            ));
        }
        let mut connector = connector.clone();
        poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(UpstreamError::Unavailable)?;
        connector
            .call(self.origin.clone())
            .await
            .map_err(UpstreamError::Unavailable)
    }

    async fn open(&self) -> Result<Checkout, UpstreamError> {
        let io = self.dial(&self.connector).await?;
        if io.connected().is_negotiated_h2() {
            let (sender, connection) = http2::Builder::new(self.tasks.executor())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(|err| UpstreamError::Unavailable(err.into()))?;
            self.tasks.spawn(async move {
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
        Ok(Checkout::Http1(connection, Reuse::Fresh))
    }

    /// Keeps a connection whose exchange is complete for the next request.
    pub(super) fn release(self: &Arc<Self>, connection: Box<Http1>) {
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
            self.tasks.spawn(sweep(Arc::downgrade(self)));
        }
    }

    /// Stops the pool's tasks and closes its connections, for good: the sweeper and each
    /// HTTP/2 connection's driver stop at once; dropping the shared handle lets hyper close
    /// that connection (GOAWAY) once its last stream is done, and idle HTTP/1.1 connections
    /// close as they are dropped. Resolves when every task the pool started has ended. A
    /// closed pool opens no connection.
    pub(super) async fn close(&self) {
        self.tasks.stop();
        *self
            .shared
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        while self.idle.pop().is_some() {}
        self.tasks.ended().await;
    }

    /// How many of the pool's tasks still run.
    pub(super) fn tasks(&self) -> usize {
        self.tasks.running()
    }
}

/// Closes idle connections past the idle timeout, so sockets are not held for an upstream
/// that went quiet; ends with the pool, or when the pool closes.
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
