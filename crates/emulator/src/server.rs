//! The emulator's HTTP server: HTTP/1.1 and h2c on one listener, graceful drain on shutdown.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::EmulatorConfig;
use crate::journal::Journal;
use crate::kv::KvStore;
use crate::routes;
use crate::sessions::Sessions;
use crate::shared::Shared;

/// How long to pause accepting after an accept error (such as running out of file
/// descriptors), so a persistent error does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// An emulated upstream API. Clones share state: journal, namespaces and keys.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

/// A running emulator on `127.0.0.1`, from [`Emulator::spawn`]. Dropping it signals shutdown:
/// accept stops and open connections drain in the background.
pub struct RunningEmulator {
    addr: SocketAddr,
    emulator: Emulator,
    shutdown: Option<oneshot::Sender<()>>,
    _task: JoinHandle<std::io::Result<()>>,
}

impl Emulator {
    /// An emulator with empty state and an empty journal.
    pub fn new(config: EmulatorConfig) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                journal: Journal::default(),
                kv: KvStore::default(),
            }),
        }
    }

    /// The journal of every request this emulator received (shared, not a copy).
    pub fn journal(&self) -> Journal {
        self.shared.journal.clone()
    }

    /// Serves HTTP/1.1 (with upgrades, for WebSocket sessions) and h2c (prior knowledge) on
    /// `listener` until `shutdown` resolves, then stops accepting and waits for open
    /// connections to finish their requests (idle keep-alive connections close at once,
    /// HTTP/2 ones get `GOAWAY`), then closes open WebSocket sessions with 1001 (going away)
    /// and waits for them.
    ///
    /// # Errors
    /// None today: accept errors are logged and accepting resumes after a short pause. The
    /// `Result` leaves room for fatal listener errors.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let graceful = GracefulShutdown::new();
        let sessions = Sessions::default();
        let builder = auto::Builder::new(TokioExecutor::new());
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(err) => {
                        tracing::warn!(error = %err, "emulator accept failed");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                },
            };
            if let Err(err) = stream.set_nodelay(true) {
                tracing::debug!(error = %err, "emulator could not set TCP_NODELAY");
            }
            let shared = Arc::clone(&self.shared);
            let connection_sessions = sessions.clone();
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                let sessions = connection_sessions.clone();
                async move { Ok::<_, Infallible>(routes::handle(shared, sessions, request, peer).await) }
            });
            let connection = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            // Watched by `graceful`: shutdown below waits for this task's connection.
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "emulator connection ended with an error");
                }
            });
        }
        drop(listener);
        graceful.shutdown().await;
        sessions.end_all().await;
        Ok(())
    }

    /// Binds `127.0.0.1:0`, serves in a background task, and returns a guard that stops the
    /// server when dropped.
    ///
    /// # Errors
    /// When the listener cannot be bound.
    pub async fn spawn(config: EmulatorConfig) -> std::io::Result<RunningEmulator> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let emulator = Self::new(config);
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(emulator.clone().serve(listener, async move {
            // Resolves on send or when the guard (and with it the sender) is dropped.
            let _ = stop.await;
        }));
        Ok(RunningEmulator {
            addr,
            emulator,
            shutdown: Some(shutdown),
            _task: task,
        })
    }
}

impl fmt::Debug for Emulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emulator")
            .field("config", &self.shared.config)
            .field("journal", &self.shared.journal)
            .finish_non_exhaustive()
    }
}

impl RunningEmulator {
    /// The address the emulator listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The journal of every request this emulator received.
    pub fn journal(&self) -> Journal {
        self.emulator.journal()
    }

    /// The emulator being served.
    pub fn emulator(&self) -> &Emulator {
        &self.emulator
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // The server may already be gone; nothing to stop then.
            let _ = shutdown.send(());
        }
    }
}

impl fmt::Debug for RunningEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningEmulator")
            .field("addr", &self.addr)
            .field("emulator", &self.emulator)
            .finish_non_exhaustive()
    }
}
