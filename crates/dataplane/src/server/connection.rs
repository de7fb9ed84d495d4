//! One client connection: serving it, closing it when idle or asked to, and counting its
//! requests in flight without touching a lock or a timer per request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::access::AccessBody;
use crate::body::BoxError;
use crate::proxy::Proxy;

/// One connection, closed gracefully on drain or after `idle_timeout` without a request in
/// flight.
pub(super) fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    stream: TcpStream,
    idle_timeout: Duration,
    mut draining: watch::Receiver<bool>,
) -> impl Future<Output = Result<(), BoxError>> + Send + 'static {
    let activity = Arc::new(Activity::new());
    let service_activity = Arc::clone(&activity);
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let proxy = Arc::clone(&proxy);
        let guard = InFlight::start(Arc::clone(&service_activity));
        async move {
            let response = proxy.handle(request).await;
            Ok::<_, Infallible>(response.map(|body| TrackedBody {
                body,
                _guard: guard,
            }))
        }
    });
    let connection = builder
        .serve_connection(TokioIo::new(stream), service)
        .into_owned();
    async move {
        tokio::pin!(connection);
        let idle = idle(&activity, idle_timeout);
        tokio::pin!(idle);
        let mut closing = false;
        loop {
            tokio::select! {
                result = connection.as_mut() => return result,
                _ = draining.wait_for(|draining| *draining), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = idle.as_mut(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
            }
        }
    }
}

/// A connection's requests in flight and when the last one ended. Updated with two atomic
/// operations per request, so the hot path neither wakes the connection task nor touches the
/// timer wheel; [`idle`] reads it when its one timer fires.
struct Activity {
    /// When the connection was accepted; `last_end_ms` counts from here.
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `epoch` to the end of the last request (0: none yet).
    last_end_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(0),
        }
    }

    /// `None` while a request is in flight, else when the connection went idle.
    fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last_end = Duration::from_millis(self.last_end_ms.load(Ordering::Acquire));
        Some(self.epoch + last_end)
    }
}

/// Resolves once no request has been in flight for `timeout`. One timer per connection,
/// re-armed only when it fires: to the end of the idle period if the connection was used
/// meanwhile, a full `timeout` later if a request is still in flight.
async fn idle(activity: &Activity, timeout: Duration) {
    let sleep = tokio::time::sleep(timeout);
    tokio::pin!(sleep);
    loop {
        sleep.as_mut().await;
        let now = Instant::now();
        let next = match activity.idle_since() {
            Some(since) if now.saturating_duration_since(since) >= timeout => return,
            Some(since) => since + timeout,
            None => now + timeout,
        };
        sleep.as_mut().reset(next);
    }
}

/// A request in flight on its connection: counted from the head until the response body is
/// dropped (fully sent or abandoned).
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let ended = u64::try_from(self.0.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Stored before the count drops, so `idle` never sees zero in flight with a stale end.
        self.0.last_end_ms.fetch_max(ended, Ordering::AcqRel);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight while it streams.
struct TrackedBody {
    body: AccessBody,
    _guard: InFlight,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = <AccessBody as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
