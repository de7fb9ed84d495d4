//! Upgraded connections outlive the HTTP exchange that opened them, so the server tracks their
//! tasks here: shutdown tells every session to end and waits for them.

use std::future::Future;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The WebSocket sessions of one [`serve`](crate::Emulator::serve) call. Clones share them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sessions {
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Sessions {
    /// Runs a session in a tracked task. A session spawned once shutdown began sees it at once.
    pub(crate) fn spawn<F>(&self, session: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Tracked: `end_all` waits for this task, so it never outlives the server.
        self.tasks.spawn(session);
    }

    /// Cancelled when the server shuts down; a session closes with 1001 (going away) then.
    pub(crate) fn shutdown_signal(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Tells every session to end and waits until all of them have. Called once the HTTP
    /// connections have drained, so no handler is left to spawn another session.
    pub(crate) async fn end_all(&self) {
        self.shutdown.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::oneshot;

    #[tokio::test]
    async fn end_all_signals_sessions_and_waits_for_them() {
        let sessions = Sessions::default();
        let (ended_tx, mut ended_rx) = oneshot::channel();
        let signal = sessions.shutdown_signal();
        sessions.spawn(async move {
            signal.cancelled().await;
            let _ = ended_tx.send(());
        });
        sessions.end_all().await;
        // The session task ran to its end before `end_all` returned.
        assert!(ended_rx.try_recv().is_ok());
    }

    #[tokio::test]
    async fn a_session_spawned_after_shutdown_sees_it_at_once() {
        let sessions = Sessions::default();
        sessions.end_all().await;
        let signal = sessions.shutdown_signal();
        assert!(signal.is_cancelled());
    }
}
