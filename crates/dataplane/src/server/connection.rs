//! One client connection: serving it, closing it when idle, late or asked to, and its
//! [`Slot`]: requests in flight counted without a lock or a timer per request, read by the
//! connection's timer and by the listener when it needs room.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::access::AccessBody;
use crate::body::BoxError;
use crate::forwarded::ClientAddr;
use crate::proxy::Proxy;

/// How long a connection may go without a request, both counted by its one timer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    /// From accept to the first request head (`header_read_timeout`). hyper's own header
    /// timer starts only once the first byte has arrived, and the auto builder reads the first
    /// bytes (to tell HTTP/1.1 from h2c) with no timer at all, so without this a socket that
    /// never sends a byte keeps its slot until the idle timeout. Also how long a connection
    /// asked to close gets to finish closing, once nothing is in flight.
    pub(super) first_request: Duration,
    /// With no request in flight (`client_idle_timeout`).
    pub(super) idle: Duration,
}

/// One connection, closed gracefully when `slot` is asked to close (drain, room for a new
/// client) or after `timeouts.idle` without a request in flight, and dropped if no request
/// head arrives within `timeouts.first_request` of `slot`'s creation (the accept), or if a
/// graceful close has not finished `timeouts.first_request` after it began with no request
/// in flight.
pub(super) fn serve_connection<S>(
    builder: &auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    (stream, peer): (S, SocketAddr),
    timeouts: Timeouts,
    slot: Arc<Slot>,
) -> impl Future<Output = Result<(), BoxError>> + Send + 'static
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service_slot = Arc::clone(&slot);
    let service_proxy = Arc::clone(&proxy);
    let client = ClientAddr::new(peer);
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let proxy = Arc::clone(&service_proxy);
        let client = client.clone();
        let guard = InFlight::start(Arc::clone(&service_slot));
        async move {
            let (response, session) = proxy.handle(request, &client).await;
            // A session keeps its request counted in flight until it ends: an HTTP/2
            // connection carrying one is busy, not idle.
            let guard = match session {
                Some(session) => {
                    proxy.start_session(session, guard);
                    None
                }
                None => Some(guard),
            };
            Ok::<_, Infallible>(response.map(|body| TrackedBody {
                body,
                _guard: guard,
            }))
        }
    });
    // With upgrades: an HTTP/1.1 WebSocket handshake hands the connection to its session.
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .into_owned();
    async move {
        tokio::pin!(connection);
        let expiry = expiry(&slot, timeouts);
        tokio::pin!(expiry);
        // Armed once the connection is asked to close: how long it gets to finish.
        let cut = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(cut);
        let mut closing = false;
        loop {
            // Biased to the connection: a head that arrived together with the deadline is
            // served, not cut.
            tokio::select! {
                biased;
                result = connection.as_mut() => return result,
                () = slot.close.notified(), if !closing => {
                    connection.as_mut().graceful_shutdown();
                    cut.as_mut().reset(Instant::now() + timeouts.first_request);
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
                        // Marked so the listener does not also pick it to make room.
                        slot.closing.store(true, Ordering::Release);
                        connection.as_mut().graceful_shutdown();
                        cut.as_mut().reset(Instant::now() + timeouts.first_request);
                        closing = true;
                    }
                },
                // An HTTP/2 graceful close waits for the client to answer the GOAWAY's PING;
                // a client that never does would keep the connection, and its slot, forever.
                // A request still in flight is never cut here (the drain's grace bounds those).
                () = cut.as_mut(), if closing => {
                    if slot.usage() == Usage::Busy {
                        cut.as_mut().reset(Instant::now() + timeouts.first_request);
                    } else {
                        tracing::debug!(%peer, "connection did not close when asked; dropped");
                        return Ok(());
                    }
                }
            }
        }
    }
}

/// What a connection shares with the listener: its requests in flight, when the last one
/// ended, and the signal that asks it to close. Updated with two atomic operations per
/// request, so the hot path neither wakes the connection task nor touches the timer wheel;
/// [`expiry`] reads it when its one timer fires, the listener only when it needs room.
#[derive(Debug)]
pub(super) struct Slot {
    /// When the connection was accepted; `last_end_ms` counts from here.
    epoch: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds from `epoch` to the end of the last request, rounded up so that a request
    /// ending in the first millisecond still counts (0: none yet).
    last_end_ms: AtomicU64,
    /// Set once the connection was asked to close or started closing for idleness.
    closing: AtomicBool,
    /// Wakes the connection to close gracefully; a permit is kept if it is not waiting yet.
    close: Notify,
}

/// What a connection is doing, as [`Slot::usage`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Usage {
    /// No request has started yet.
    Fresh,
    /// A request is in flight.
    Busy,
    /// Idle since the end of its last request.
    IdleSince(Instant),
}

impl Slot {
    /// A slot for a connection accepted now.
    pub(super) fn new() -> Self {
        Self {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            close: Notify::new(),
        }
    }

    /// Asks the connection to close gracefully (HTTP/1: after the response in flight, if any;
    /// HTTP/2: GOAWAY). `false` if it was already closing or asked to.
    pub(super) fn ask_to_close(&self) -> bool {
        if self.closing.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.close.notify_one();
        true
    }

    /// Whether it was asked to close or is closing for idleness.
    pub(super) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
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

/// The slot, among those that served a request and are not closing yet, idle the longest.
/// Connections that never had a request are left to the first-request deadline: a new client
/// may be sending its head.
pub(super) fn longest_idle<'a, K>(
    slots: impl IntoIterator<Item = (&'a K, &'a Arc<Slot>)>,
) -> Option<(&'a K, &'a Arc<Slot>)> {
    slots
        .into_iter()
        .filter(|(_, slot)| !slot.is_closing())
        .filter_map(|(key, slot)| match slot.usage() {
            Usage::IdleSince(since) => Some((since, key, slot)),
            Usage::Fresh | Usage::Busy => None,
        })
        .min_by_key(|(since, ..)| *since)
        .map(|(_, key, slot)| (key, slot))
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
async fn expiry(slot: &Slot, timeouts: Timeouts) -> Expiry {
    let Timeouts {
        first_request,
        idle,
    } = timeouts;
    let sleep = tokio::time::sleep_until(slot.epoch + first_request.min(idle));
    tokio::pin!(sleep);
    loop {
        sleep.as_mut().await;
        let now = Instant::now();
        let next = match slot.usage() {
            Usage::Fresh => {
                let age = now.saturating_duration_since(slot.epoch);
                if age >= first_request {
                    return Expiry::FirstRequestLate;
                }
                if age >= idle {
                    return Expiry::Idle;
                }
                slot.epoch + first_request.min(idle)
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
struct InFlight(Arc<Slot>);

impl InFlight {
    fn start(slot: Arc<Slot>) -> Self {
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(slot)
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

/// A response body that keeps its request counted as in flight while it streams (unless a
/// session holds the count instead).
struct TrackedBody {
    body: AccessBody,
    _guard: Option<InFlight>,
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

    fn since_accept(slot: &Slot) -> Duration {
        Instant::now() - slot.epoch
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_a_request_expires_at_the_first_request_deadline() {
        let slot = Slot::new();
        assert_eq!(expiry(&slot, TIMEOUTS).await, Expiry::FirstRequestLate);
        assert_eq!(since_accept(&slot), TIMEOUTS.first_request);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_timeout_shorter_than_the_header_timeout_closes_gracefully_first() {
        let slot = Slot::new();
        let timeouts = Timeouts {
            first_request: Duration::from_secs(10),
            idle: Duration::from_secs(1),
        };
        assert_eq!(expiry(&slot, timeouts).await, Expiry::Idle);
        assert_eq!(since_accept(&slot), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn a_served_connection_is_only_closed_for_idleness() {
        let slot = Arc::new(Slot::new());
        // A request that ends at once still counts as served.
        drop(InFlight::start(Arc::clone(&slot)));
        assert_eq!(expiry(&slot, TIMEOUTS).await, Expiry::Idle);
        assert!(since_accept(&slot) >= TIMEOUTS.idle);
    }

    #[tokio::test(start_paused = true)]
    async fn room_is_made_by_the_connection_idle_longest_that_served_a_request() {
        let served = |slot: &Arc<Slot>| drop(InFlight::start(Arc::clone(slot)));
        let slots: Vec<(&str, Arc<Slot>)> = ["closing", "older", "newer", "busy", "fresh"]
            .into_iter()
            .map(|name| (name, Arc::new(Slot::new())))
            .collect();
        let [closing, older, newer, busy, fresh] = [0, 1, 2, 3, 4].map(|i| &slots[i].1);
        served(closing);
        assert!(closing.ask_to_close());
        tokio::time::sleep(Duration::from_secs(1)).await;
        served(older);
        tokio::time::sleep(Duration::from_secs(1)).await;
        served(newer);
        let _in_flight = InFlight::start(Arc::clone(busy));
        assert_eq!(fresh.usage(), Usage::Fresh);
        let pick = longest_idle(slots.iter().map(|(name, slot)| (name, slot)));
        assert_eq!(pick.map(|(name, _)| *name), Some("older"));
        assert!(!older.is_closing(), "picking does not ask it to close");
    }

    #[tokio::test(start_paused = true)]
    async fn no_room_is_made_from_busy_or_fresh_connections() {
        let busy = Arc::new(Slot::new());
        let _in_flight = InFlight::start(Arc::clone(&busy));
        let slots = [(1, busy), (2, Arc::new(Slot::new()))];
        assert!(longest_idle(slots.iter().map(|(key, slot)| (key, slot))).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_first_request_in_flight_past_the_deadline_is_not_cut() {
        let slot = Arc::new(Slot::new());
        let guard = InFlight::start(Arc::clone(&slot));
        let release = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            drop(guard);
        };
        let (expired, ()) = tokio::join!(expiry(&slot, TIMEOUTS), release);
        assert_eq!(expired, Expiry::Idle);
        assert!(since_accept(&slot) >= Duration::from_secs(30) + TIMEOUTS.idle);
    }
}
