//! One client connection: serving it, closing it when idle or asked to, and counting its
//! requests in flight without touching a lock or a timer per request.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
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

/// How long a connection may go without a request, both counted by its one timer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    /// From accept to the first request head (`header_read_timeout`). hyper's own header
    /// timer starts only once the first byte has arrived, and the auto builder reads the first
    /// bytes (to tell HTTP/1.1 from h2c) with no timer at all, so without this a socket that
    /// never sends a byte keeps its slot until the idle timeout.
    pub(super) first_request: Duration,
    /// With no request in flight (`client_idle_timeout`).
    pub(super) idle: Duration,
}

/// One connection, closed gracefully on drain or after `timeouts.idle` without a request in
/// flight, and dropped if no request head arrives within `timeouts.first_request` of now (the
/// accept).
pub(super) fn serve_connection(
    builder: &auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    (stream, peer): (TcpStream, SocketAddr),
    timeouts: Timeouts,
    mut draining: watch::Receiver<bool>,
) -> impl Future<Output = Result<(), BoxError>> + Send + 'static {
    let activity = Arc::new(Activity::new());
    let service_activity = Arc::clone(&activity);
    let service_proxy = Arc::clone(&proxy);
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let proxy = Arc::clone(&service_proxy);
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
        let expiry = expiry(&activity, timeouts);
        tokio::pin!(expiry);
        let mut closing = false;
        loop {
            // Biased to the connection: a head that arrived together with the deadline is
            // served, not cut.
            tokio::select! {
                biased;
                result = connection.as_mut() => return result,
                _ = draining.wait_for(|draining| *draining), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    closing = true;
                }
                expired = expiry.as_mut(), if !closing => match expired {
                    Expiry::FirstRequestLate => {
                        // Dropped, not shut down gracefully: hyper would wait on for a head it
                        // has started to read. No request was ever started here (hyper calls
                        // the service inside `connection`'s poll, on this task), so none is
                        // cut; hyper's own header timeout also closes without a response.
                        proxy.client_connections().first_request_timeout();
                        tracing::debug!(%peer, "no request head within the header read timeout");
                        return Ok(());
                    }
                    Expiry::Idle => {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                },
            }
        }
    }
}

/// A connection's requests in flight and when the last one ended. Updated with two atomic
/// operations per request, so the hot path neither wakes the connection task nor touches the
/// timer wheel; [`expiry`] reads it when its one timer fires.
struct Activity {
    /// When the connection was accepted; `last_end_ms` counts from here.
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `epoch` to the end of the last request, rounded up so that a request
    /// ending in the first millisecond still counts (0: none yet).
    last_end_ms: AtomicU64,
}

/// What a connection is doing, as [`Activity::usage`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    /// No request has started yet.
    Fresh,
    /// A request is in flight.
    Busy,
    /// Idle since the end of its last request.
    IdleSince(Instant),
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(0),
        }
    }

    fn usage(&self) -> Usage {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Usage::Busy;
        }
        match self.last_end_ms.load(Ordering::Acquire) {
            0 => Usage::Fresh,
            last_end => Usage::IdleSince(self.epoch + Duration::from_millis(last_end)),
        }
    }
}

/// Why a connection's timer ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    /// No request head within `first_request` of the accept.
    FirstRequestLate,
    /// No request in flight for `idle`.
    Idle,
}

/// Resolves when the connection should close. One timer per connection, re-armed only when it
/// fires: first at the earlier of the two deadlines from accept, then to the end of the idle
/// period if the connection was used meanwhile, or a full `idle` later if a request is still
/// in flight.
async fn expiry(activity: &Activity, timeouts: Timeouts) -> Expiry {
    let Timeouts {
        first_request,
        idle,
    } = timeouts;
    let sleep = tokio::time::sleep_until(activity.epoch + first_request.min(idle));
    tokio::pin!(sleep);
    loop {
        sleep.as_mut().await;
        let now = Instant::now();
        let next = match activity.usage() {
            Usage::Fresh => {
                let age = now.saturating_duration_since(activity.epoch);
                if age >= first_request {
                    return Expiry::FirstRequestLate;
                }
                if age >= idle {
                    return Expiry::Idle;
                }
                activity.epoch + first_request.min(idle)
            }
            Usage::IdleSince(since) if now.saturating_duration_since(since) >= idle => {
                return Expiry::Idle;
            }
            Usage::IdleSince(since) => since + idle,
            Usage::Busy => now + idle,
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
        let ended = u64::try_from(self.0.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_add(1);
        // Stored before the count drops, so `expiry` never sees zero in flight with a stale
        // end (or a used connection as fresh).
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

#[cfg(test)]
mod tests {
    use super::*;

    const TIMEOUTS: Timeouts = Timeouts {
        first_request: Duration::from_secs(10),
        idle: Duration::from_secs(60),
    };

    fn since_accept(activity: &Activity) -> Duration {
        Instant::now() - activity.epoch
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_expires_at_the_first_request_deadline() {
        let activity = Activity::new();
        assert_eq!(expiry(&activity, TIMEOUTS).await, Expiry::FirstRequestLate);
        assert_eq!(since_accept(&activity), TIMEOUTS.first_request);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_timeout_shorter_than_the_header_timeout_closes_gracefully_first() {
        let activity = Activity::new();
        let timeouts = Timeouts {
            first_request: Duration::from_secs(10),
            idle: Duration::from_secs(1),
        };
        assert_eq!(expiry(&activity, timeouts).await, Expiry::Idle);
        assert_eq!(since_accept(&activity), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_served_connection_is_only_closed_for_idleness() {
        let activity = Arc::new(Activity::new());
        // A request that ends at once still counts as served.
        drop(InFlight::start(Arc::clone(&activity)));
        assert_eq!(expiry(&activity, TIMEOUTS).await, Expiry::Idle);
        assert!(since_accept(&activity) >= TIMEOUTS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_request_in_flight_past_the_deadline_is_not_cut() {
        let activity = Arc::new(Activity::new());
        let guard = InFlight::start(Arc::clone(&activity));
        let release = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(guard);
        };
        let (expired, ()) = tokio::join!(expiry(&activity, TIMEOUTS), release);
        assert_eq!(expired, Expiry::Idle);
        assert!(since_accept(&activity) >= Duration::from_secs(30) + TIMEOUTS.idle);
    }
}
