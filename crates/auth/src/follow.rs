//! Applying the store's change notifications to this process's caches.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use store::{Change, StoreHandle};
use tokio::sync::broadcast::error::RecvError;

use crate::{CredentialCache, Keyring, Verifier};

/// How often a failed keyring reload is retried. Until it succeeds the old key set stays, so
/// a retired key could still verify: retry rather than wait for the next change.
const KEYRING_RETRY: Duration = Duration::from_secs(5);

/// Keeps the caches current until `shutdown` resolves.
///
/// `Change::Binding` drops that binding's credential; `Change::SigningKeys` reloads the
/// keyring and drops every verified token; `Change::Everything` and a lagging receiver (changes
/// were missed) do all of it. Returns when the store's channel closes or on shutdown.
/// Subscribe before serving: changes committed before the call are not seen.
pub async fn follow_changes(
    store: StoreHandle,
    credentials: Arc<CredentialCache>,
    verifier: Arc<Verifier>,
    keyring: Arc<Keyring>,
    shutdown: impl Future<Output = ()>,
) {
    let mut changes = store.subscribe();
    let follower = Follower {
        store,
        credentials,
        verifier,
        keyring,
    };
    tokio::pin!(shutdown);
    let mut keyring_stale = false;
    let mut retry = tokio::time::interval(KEYRING_RETRY);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            received = changes.recv() => match received {
                Ok(Change::Binding { binding_id }) => {
                    follower.credentials.invalidate(&binding_id).await;
                }
                Ok(Change::SigningKeys) => keyring_stale = !follower.reload_keys().await,
                Ok(Change::Everything) => keyring_stale = !follower.drop_everything().await,
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "change notifications lagged; dropping all cached credentials and tokens");
                    keyring_stale = !follower.drop_everything().await;
                }
                Err(RecvError::Closed) => return,
            },
            _ = retry.tick(), if keyring_stale => keyring_stale = !follower.reload_keys().await,
        }
    }
}

struct Follower {
    store: StoreHandle,
    credentials: Arc<CredentialCache>,
    verifier: Arc<Verifier>,
    keyring: Arc<Keyring>,
}

impl Follower {
    /// Reloads the keyring and drops verified tokens; `false` when the reload failed.
    async fn reload_keys(&self) -> bool {
        let result = self.keyring.reload(&self.store).await;
        // Even on failure: cached verifications must be redone against whatever is loaded,
        // and so must those of open WebSocket sessions.
        self.verifier.invalidate_all();
        self.credentials.signing_keys_changed();
        match result {
            Ok(()) => true,
            Err(err) => {
                tracing::warn!(error = %err, code = err.code().as_str(), "signing keys could not be reloaded; retrying");
                false
            }
        }
    }

    async fn drop_everything(&self) -> bool {
        self.credentials.invalidate_all();
        self.reload_keys().await
    }
}
