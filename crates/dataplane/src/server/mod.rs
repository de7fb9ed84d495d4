//! The listener: HTTP/1.1 and h2c on one port, the connection limit, the idle timeout and the
//! graceful drain.
//!
//! Connections: one semaphore permit each (`max_connections`). With every permit taken the
//! loop stops calling `accept`, so new connections wait in the kernel's accept queue. A
//! connection with no request in flight for `client_idle_timeout` is closed gracefully; one
//! whose first request head has not arrived `header_read_timeout` after the accept is closed
//! (`connection` explains why hyper's own header timer does not cover that).
//!
//! Shutdown: when the shutdown future resolves, readiness turns off, accepting stops and every
//! connection is asked to finish (HTTP/1 closes after the in-flight response, HTTP/2 sends
//! GOAWAY). Connections still open after the grace period are cut and counted. Then the
//! proxy's upstream client stops its background tasks (the idle sweeper, the HTTP/2
//! connection tasks) and closes its connections, within what is left of the grace period (at
//! least a second).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::proxy::Proxy;
use connection::{Timeouts, serve_connection};

mod connection;

/// How a drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrainReport {
    /// Every connection finished within the grace period.
    Complete,
    /// The grace period ran out; this many connections were cut.
    Cut {
        /// Connections still open when the grace period ended.
        connections: usize,
    },
}

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The least time the upstream client's tasks get to end after a drain that used up the
/// grace period: each has been told to stop, or ends as its connection closes.
const UPSTREAM_CLOSE_MIN: Duration = Duration::from_secs(1);

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
    let builder = connection_builder(&proxy);
    let timeouts = Timeouts {
        first_request: proxy.settings().listener.header_read_timeout,
        idle: proxy.settings().listener.client_idle_timeout,
    };
    let permits = Arc::new(Semaphore::new(proxy.settings().listener.max_connections));
    let (drain, draining) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            (permit, accepted) = accept_within_limit(&listener, &permits) => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                // Responses are written as soon as they are ready (a streamed body chunk by
                // chunk); Nagle's algorithm would hold a small write back until the previous
                // one is acknowledged, up to the client's delayed-ACK timer (40 ms on Linux).
                if let Err(err) = stream.set_nodelay(true) {
                    tracing::debug!(error = %err, %peer, "TCP_NODELAY could not be set");
                }
                let connection = serve_connection(
                    &builder,
                    Arc::clone(&proxy),
                    (stream, peer),
                    timeouts,
                    draining.clone(),
                );
                connections.spawn(async move {
                    if let Err(err) = connection.await {
                        // Client resets and timeouts are normal traffic, not our failure.
                        tracing::debug!(error = %err, %peer, "connection ended with an error");
                    }
                    drop(permit);
                });
            }
        }
    }

    proxy.readiness().set_ready(false);
    drop(listener);
    tracing::info!(connections = connections.len(), "draining connections");
    // Receivers only go away with their connections; nobody listening is fine.
    let _ = drain.send(true);
    let deadline = Instant::now() + drain_grace;
    let drained = async { while connections.join_next().await.is_some() {} };
    let report = match tokio::time::timeout_at(deadline, drained).await {
        Ok(()) => DrainReport::Complete,
        Err(_elapsed) => {
            while connections.try_join_next().is_some() {}
            DrainReport::Cut {
                connections: connections.len(),
            }
        }
    };
    connections.shutdown().await;
    match report {
        DrainReport::Complete => tracing::info!("drain complete"),
        DrainReport::Cut { connections } => {
            tracing::warn!(connections, "drain grace ran out; connections cut");
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

/// Takes a connection permit, then accepts. Both steps are cancel-safe, so the caller's
/// `select!` may drop this future at any point without losing a connection.
async fn accept_within_limit(
    listener: &TcpListener,
    permits: &Arc<Semaphore>,
) -> (
    OwnedSemaphorePermit,
    std::io::Result<(TcpStream, std::net::SocketAddr)>,
) {
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed");
    (permit, listener.accept().await)
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
        .max_header_list_size(u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX));
    builder
}
