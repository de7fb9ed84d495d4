//! The listener: HTTP/1.1 and h2c on one port, and the graceful drain.
//!
//! Shutdown: when the shutdown future resolves, readiness turns off, accepting stops and every
//! connection is asked to finish (hyper-util `GracefulShutdown`: HTTP/1 closes after the
//! in-flight response, HTTP/2 sends GOAWAY). Connections still open after the grace period are
//! cut and counted.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::proxy::Proxy;

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

/// Serves the data plane on `listener` until `shutdown` resolves, then drains for up to
/// `drain_grace`.
///
/// Every connection runs on a task owned by this function; none outlives it.
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
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                        continue;
                    }
                };
                let proxy = Arc::clone(&proxy);
                let service = service_fn(move |request: hyper::Request<Incoming>| {
                    let proxy = Arc::clone(&proxy);
                    async move { Ok::<_, Infallible>(proxy.handle(request).await) }
                });
                let connection = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .into_owned();
                let connection = graceful.watch(connection);
                connections.spawn(async move {
                    if let Err(err) = connection.await {
                        // Client resets and timeouts are normal traffic, not our failure.
                        tracing::debug!(error = %err, %peer, "connection ended with an error");
                    }
                });
            }
        }
    }

    proxy.readiness().set_ready(false);
    drop(listener);
    tracing::info!(connections = graceful.count(), "draining connections");
    let report = match tokio::time::timeout(drain_grace, graceful.shutdown()).await {
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
    Ok(report)
}

/// HTTP/1.1 with a header-read timeout and a head size limit (hyper answers 431 above it),
/// and prior-knowledge HTTP/2 (h2c) with a header-list limit.
fn connection_builder(proxy: &Proxy) -> auto::Builder<TokioExecutor> {
    let settings = proxy.settings();
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
