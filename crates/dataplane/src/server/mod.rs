//! The listener: HTTP/1.1 and h2c on one port (or, with `dataplane.tls_cert_file`, TLS with
//! ALPN `h2` and `http/1.1`), the connection limit, the idle timeout and the graceful drain.
//!
//! Connections: one semaphore permit each (`max_connections`). With every permit taken the
//! loop accepts one more connection and holds it unread while the connection idle the
//! longest is asked to close to make room (looking again every [`ROOM_RESCAN`] while all are
//! busy); further ones wait in the kernel's accept queue. A connection with no request in
//! flight for `client_idle_timeout` is closed gracefully; one whose first request head has not
//! arrived `header_read_timeout` after the accept is closed (`connection` explains why
//! hyper's own header timer does not cover that).
//!
//! Shutdown: when the shutdown future resolves, readiness turns off, accepting stops and every
//! connection is asked to finish (HTTP/1 closes after the in-flight response, HTTP/2 sends
//! GOAWAY) and every WebSocket session is closed with `1001` (going away). Connections and
//! sessions still open after the grace period are cut and counted. Then the
//! proxy's upstream client stops its background tasks (the idle sweeper, the HTTP/2
//! connection tasks) and closes its connections, within what is left of the grace period (at
//! least a second).

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{self, JoinSet};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

use crate::body::BoxError;
use crate::proxy::Proxy;
use connection::{Slot, Timeouts, longest_idle, serve_connection};

mod connection;

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainReport {
    /// Every connection finished within the grace period.
    Complete,
    /// The grace period ran out; this many connections and WebSocket sessions were cut (an
    /// HTTP/2 session is counted in both: its connection stays open with it).
    Cut {
        /// Connections still open when the grace period ended.
        connections: usize,
        /// WebSocket sessions still open then.
        sessions: usize,
    },
}

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The least time the upstream client's tasks get to end after a drain that used up the
/// grace period: each has been told to stop, or ends as its connection closes.
const UPSTREAM_CLOSE_MIN: Duration = Duration::from_secs(1);

/// While a client waits for a slot and no connection was idle to make room, how often the
/// connections are looked at again: a busy one may have gone idle since. A look reads two
/// atomics per connection; it happens only at the limit, with a client waiting.
const ROOM_RESCAN: Duration = Duration::from_millis(100);

/// Serves the data plane on `listener` until `shutdown` resolves, then drains for up to
/// `drain_grace`.
///
/// Every connection runs on a task owned by this function; none outlives it. After the drain
/// it closes `proxy`'s upstream client: its tasks end and its connections close, so the proxy
/// cannot forward again.
///
/// # Errors
/// None today: accept errors are logged and retried. The `io::Result` leaves room for
/// listener setup failures.
pub async fn serve(
    listener: TcpListener,
    proxy: Arc<Proxy>,
    shutdown: impl Future<Output = ()> + Send,
    drain_grace: Duration,
) -> std::io::Result<DrainReport> {
    let permits = Arc::new(Semaphore::new(proxy.settings().listener.max_connections));
    let mut connections = Connections::new(Arc::clone(&proxy));
    let mut waiting: Option<Waiting> = None;
    let rescan = tokio::time::sleep(ROOM_RESCAN);
    tokio::pin!(rescan);
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(joined) = connections.tasks.join_next_with_id(), if !connections.tasks.is_empty() => {
                connections.ended(&joined);
            }
            permit = Arc::clone(&permits).acquire_owned(), if waiting.is_some() => {
                let permit = permit.expect("the connection semaphore is never closed");
                if let Some(waiting) = waiting.take() {
                    connections.start(waiting.accepted, permit);
                }
            }
            () = &mut rescan, if waiting.is_some() => {
                if let Some(waiting) = &mut waiting {
                    waiting.make_room(&connections);
                }
                rescan.as_mut().reset(Instant::now() + ROOM_RESCAN);
            }
            accepted = listener.accept(), if waiting.is_none() => {
                let accepted = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                match Arc::clone(&permits).try_acquire_owned() {
                    Ok(permit) => connections.start(accepted, permit),
                    Err(_no_permit) => {
                        let mut full = Waiting { accepted, evicted: None };
                        full.make_room(&connections);
                        waiting = Some(full);
                        rescan.as_mut().reset(Instant::now() + ROOM_RESCAN);
                    }
                }
            }
        }
    }

    proxy.readiness().set_ready(false);
    drop(listener);
    // Accepted but never served: closed like the connections still in the accept queue.
    drop(waiting);
    tracing::info!(
        connections = connections.tasks.len(),
        "draining connections"
    );
    connections.close_all();
    // WebSocket sessions are closed with 1001 (going away) and waited for like connections.
    let sessions = proxy.sessions();
    sessions.go_away();
    let deadline = Instant::now() + drain_grace;
    let tasks = &mut connections.tasks;
    let drained = async {
        while tasks.join_next().await.is_some() {}
        sessions.ended().await;
    };
    let report = match tokio::time::timeout_at(deadline, drained).await {
        Ok(()) => DrainReport::Complete,
        Err(_elapsed) => {
            while tasks.try_join_next().is_some() {}
            DrainReport::Cut {
                connections: tasks.len(),
                sessions: sessions.open(),
            }
        }
    };
    tasks.shutdown().await;
    // Sessions past the grace end now, without waiting for their peers.
    sessions.cut();
    sessions.ended().await;
    match report {
        DrainReport::Complete => tracing::info!("drain complete"),
        DrainReport::Cut {
            connections,
            sessions,
        } => {
            tracing::warn!(
                connections,
                sessions,
                "drain grace ran out; connections cut"
            );
        }
    }
    // Background tasks stop on the same signal, once no request can need them.
    let upstream_deadline = deadline.max(Instant::now() + UPSTREAM_CLOSE_MIN);
    if tokio::time::timeout_at(upstream_deadline, proxy.close_upstream())
        .await
        .is_err()
    {
        tracing::warn!(
            tasks = proxy.upstream_tasks(),
            "upstream tasks still running after the drain"
        );
    }
    Ok(report)
}

/// The connections being served: a task each, owned here, and each one's [`Slot`], by task,
/// so the drain can ask every connection to close and the limit can find an idle one. Touched
/// when a connection starts and ends, never per request.
struct Connections {
    builder: auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    timeouts: Timeouts,
    tasks: JoinSet<()>,
    slots: HashMap<task::Id, Arc<Slot>>,
}

impl Connections {
    fn new(proxy: Arc<Proxy>) -> Self {
        let settings = &proxy.settings().listener;
        Self {
            builder: connection_builder(&proxy),
            timeouts: Timeouts {
                first_request: settings.header_read_timeout,
                idle: settings.client_idle_timeout,
            },
            proxy,
            tasks: JoinSet::new(),
            slots: HashMap::new(),
        }
    }

    /// Serves an accepted connection on its own task, holding `permit` until it ends.
    fn start(&mut self, (stream, peer): (TcpStream, SocketAddr), permit: OwnedSemaphorePermit) {
        // Responses are written as soon as they are ready (a streamed body chunk by chunk);
        // Nagle's algorithm would hold a small write back until the previous one is
        // acknowledged, up to the client's delayed-ACK timer (40 ms on Linux).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, %peer, "TCP_NODELAY could not be set");
        }
        let slot = Arc::new(Slot::new());
        let connection = match self.proxy.listener_tls() {
            None => Either::Left(serve_connection(
                &self.builder,
                Arc::clone(&self.proxy),
                (stream, peer),
                self.timeouts,
                Arc::clone(&slot),
            )),
            Some(acceptor) => Either::Right(serve_tls_connection(
                acceptor.clone(),
                self.builder.clone(),
                Arc::clone(&self.proxy),
                (stream, peer),
                self.timeouts,
                Arc::clone(&slot),
            )),
        };
        let task = self.tasks.spawn(async move {
            if let Err(err) = connection.await {
                // Client resets and timeouts are normal traffic, not our failure.
                tracing::debug!(error = %err, %peer, "connection ended with an error");
            }
            drop(permit);
        });
        self.slots.insert(task.id(), slot);
    }

    /// Forgets a connection whose task has ended.
    fn ended(&mut self, joined: &Result<(task::Id, ()), task::JoinError>) {
        let id = match joined {
            Ok((id, ())) => *id,
            Err(err) => err.id(),
        };
        self.slots.remove(&id);
    }

    /// Asks the connection that has been idle longest ([`longest_idle`]) to close gracefully;
    /// its task, if there was one. O(connections), called only at the limit with a client
    /// waiting.
    fn evict_longest_idle(&self) -> Option<task::Id> {
        let (id, slot) = longest_idle(&self.slots)?;
        if !slot.ask_to_close() {
            return None;
        }
        self.proxy.client_connections().evicted();
        tracing::debug!("closing the longest-idle connection to make room for a new one");
        Some(*id)
    }

    /// Asks every connection to close gracefully (the drain).
    fn close_all(&self) {
        for slot in self.slots.values() {
            slot.ask_to_close();
        }
    }
}

/// A connection accepted while every slot was taken. It is served as soon as a permit frees;
/// meanwhile one idle connection at a time is asked to make room for it. One at most is held
/// like this; later ones wait in the kernel's accept queue.
struct Waiting {
    accepted: (TcpStream, SocketAddr),
    /// The connection asked to make room, while it may still be closing.
    evicted: Option<task::Id>,
}

impl Waiting {
    /// Asks an idle connection to close, unless the one asked before is still open (an HTTP/2
    /// client answers GOAWAY within a round trip; no need to close a second).
    fn make_room(&mut self, connections: &Connections) {
        if self
            .evicted
            .is_some_and(|id| connections.slots.contains_key(&id))
        {
            return;
        }
        self.evicted = connections.evict_longest_idle();
    }
}

/// [`serve_connection`] after a TLS handshake. The handshake counts against the first
/// request's deadline (`header_read_timeout` from the accept), so a client that stalls in it
/// holds its slot no longer than a silent plain one. A failed handshake (a client that does
/// not trust the certificate, plain HTTP on the TLS port, a scanner) ends the connection with
/// nothing answered.
async fn serve_tls_connection(
    acceptor: TlsAcceptor,
    builder: auto::Builder<TokioExecutor>,
    proxy: Arc<Proxy>,
    (stream, peer): (TcpStream, SocketAddr),
    timeouts: Timeouts,
    slot: Arc<Slot>,
) -> Result<(), BoxError> {
    match tokio::time::timeout(timeouts.first_request, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => serve_connection(&builder, proxy, (stream, peer), timeouts, slot).await,
        Ok(Err(err)) => {
            tracing::debug!(error = %err, %peer, "TLS handshake failed");
            Ok(())
        }
        Err(_elapsed) => {
            proxy.client_connections().first_request_timeout();
            tracing::debug!(%peer, "no TLS handshake within the header read timeout");
            Ok(())
        }
    }
}

/// HTTP/1.1 with a header-read timeout and a head size limit (hyper answers 431 above it),
/// and prior-knowledge HTTP/2 (h2c) with a header-list limit.
fn connection_builder(proxy: &Proxy) -> auto::Builder<TokioExecutor> {
    let settings = &proxy.settings().listener;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.max_header_bytes);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX))
        // RFC 8441: WebSocket sessions over HTTP/2 (extended CONNECT).
        .enable_connect_protocol();
    builder
}
