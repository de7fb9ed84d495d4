//! Shutdown signalling: one trigger, many waiters, and the OS signals that pull it.

use tokio::sync::watch;

/// Fires once; every [`Shutdown::wait`] future resolves after that.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    tx: watch::Sender<bool>,
}

impl Shutdown {
    pub(crate) fn new() -> Self {
        Self {
            tx: watch::channel(false).0,
        }
    }

    /// Starts the shutdown.
    pub(crate) fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Resolves once the shutdown has started.
    pub(crate) fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            // An error means the sender is gone: shut down as well.
            let _ = rx.wait_for(|fired| *fired).await;
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C) and names the signal.
pub(crate) async fn os_signal() -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for SIGTERM; only Ctrl-C stops the process");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = tokio::signal::ctrl_c() => "SIGINT",
    }
}
