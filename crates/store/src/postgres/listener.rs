//! The background task that turns other processes' notifications into local [`Change`]s.
//!
//! It holds one connection (its own pool of one, application name
//! `binding-proxy-listener`) that LISTENs on the store's channel. When that connection is lost
//! it resubscribes on a fresh one, retrying with backoff, and then sends [`Change::Everything`]:
//! notifications sent while nobody listened are gone, so caches drop what they hold. The task
//! ends when its store is dropped or closed.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{broadcast, watch};

use super::notify::{self, LastLag};
use crate::Change;

/// First wait before retrying a failed resubscription; doubled up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between resubscription attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Opens a listener on `pool` subscribed to `channel`.
pub(super) async fn subscribe(pool: &PgPool, channel: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // A lost connection comes back as `Ok(None)` at once; `Task::run` reconnects itself, so it
    // knows when the new subscription is in place.
    listener.eager_reconnect(false);
    listener.listen(channel).await?;
    Ok(listener)
}

/// What the listener task needs.
#[derive(Debug)]
pub(super) struct Task {
    /// The listener's own pool; closing it ends the task.
    pub(super) pool: PgPool,
    pub(super) channel: String,
    /// This store's origin: its own notifications are skipped (already announced locally).
    pub(super) origin: String,
    pub(super) changes: broadcast::Sender<Change>,
    pub(super) lag: Arc<LastLag>,
}

/// Why a receive loop stopped.
enum Stop {
    /// The store is gone or closing.
    Shutdown,
    /// The connection was lost or failed.
    Lost,
}

impl Task {
    /// Forwards notifications from `listener` until `shutdown` fires or its sender is dropped.
    pub(super) async fn run(self, mut listener: PgListener, mut shutdown: watch::Receiver<()>) {
        loop {
            match self.forward(&mut listener, &mut shutdown).await {
                Stop::Shutdown => return,
                Stop::Lost => {}
            }
            drop(listener);
            listener = match self.resubscribe(&mut shutdown).await {
                Some(listener) => listener,
                None => return,
            };
            tracing::info!(channel = %self.channel, "store change listener resubscribed");
            let _ = self.changes.send(Change::Everything);
        }
    }

    async fn forward(&self, listener: &mut PgListener, shutdown: &mut watch::Receiver<()>) -> Stop {
        loop {
            let received = tokio::select! {
                _ = shutdown.changed() => return Stop::Shutdown,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => self.deliver(notification.payload()),
                Ok(None) => {
                    tracing::warn!(
                        channel = %self.channel,
                        "store change listener lost its connection; resubscribing"
                    );
                    return Stop::Lost;
                }
                Err(sqlx::Error::PoolClosed) => return Stop::Shutdown,
                Err(err) => {
                    tracing::warn!(
                        channel = %self.channel,
                        error = %err,
                        "store change listener failed; resubscribing"
                    );
                    return Stop::Lost;
                }
            }
        }
    }

    /// A new subscription, retried with backoff; `None` on shutdown.
    async fn resubscribe(&self, shutdown: &mut watch::Receiver<()>) -> Option<PgListener> {
        let mut backoff = MIN_BACKOFF;
        loop {
            let attempt = tokio::select! {
                _ = shutdown.changed() => return None,
                attempt = subscribe(&self.pool, &self.channel) => attempt,
            };
            match attempt {
                Ok(listener) => return Some(listener),
                Err(sqlx::Error::PoolClosed) => return None,
                Err(err) => tracing::warn!(
                    channel = %self.channel,
                    error = %err,
                    retry_in_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
                    "store change listener cannot resubscribe"
                ),
            }
            tokio::select! {
                _ = shutdown.changed() => return None,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    fn deliver(&self, payload: &str) {
        let change = match notify::decode(payload) {
            Some(notice) if notice.origin == self.origin => return,
            Some(notice) => {
                self.lag
                    .record(notice.sent_at_millis, notify::unix_millis());
                notice.change
            }
            None => {
                // Another version's format, or someone else's NOTIFY: we cannot tell what
                // changed, so everything may have.
                tracing::warn!(channel = %self.channel, "unreadable store change notification");
                Change::Everything
            }
        };
        let _ = self.changes.send(change);
    }
}
