//! Change notifications reaching the caches.

use std::future::Future;
use std::sync::Arc;

use auth::{AuthError, Authenticated, follow_changes};
use tokio::sync::oneshot;

use crate::harness::{Harness, NOW, assert_refused};

/// Starts the follower; returns the shutdown trigger and its handle.
fn start(h: &Harness) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(follow_changes(
        h.store.clone(),
        Arc::clone(&h.credentials),
        Arc::clone(&h.verifier),
        Arc::clone(&h.keyring),
        async move {
            let _ = stopped.await;
        },
    ));
    (stop, task)
}

/// Lets the follower run (single-threaded runtime: it runs when we yield) until `check` is
/// refused with `code`. Bounded by a number of yields, never by wall time.
async fn until_refused<F, Fut>(check: F, code: &str)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Authenticated, AuthError>>,
{
    for _ in 0..1_000 {
        tokio::task::yield_now().await;
        if let Err(err) = check().await
            && err.code().as_str() == code
        {
            return;
        }
    }
    panic!("never refused with {code}");
}

#[tokio::test(flavor = "current_thread")]
async fn a_revocation_through_the_store_reaches_the_credential_cache() {
    let h = Harness::new().await;
    let issued = h.issue().await;
    let (stop, task) = start(&h);
    tokio::task::yield_now().await;
    h.auth(&issued.token, NOW).await.unwrap();

    h.store.revoke_token(&issued.jti, NOW).await.unwrap();
    until_refused(|| h.auth(&issued.token, NOW), "token_revoked").await;

    stop.send(()).unwrap();
    task.await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn a_retired_signing_key_reaches_the_keyring_and_the_token_cache() {
    let h = Harness::new().await;
    let old = h.issue().await;
    h.auth(&old.token, NOW).await.unwrap();
    let (stop, task) = start(&h);
    tokio::task::yield_now().await;

    // Rotate through the store only, as another replica would.
    let other = auth::Issuer::new(
        h.store.clone(),
        auth::Keyring::load(&h.store).await.unwrap(),
        crate::harness::settings(),
    );
    other.rotate_signing_key(NOW).await.unwrap();
    h.store.retire_signing_key(&old.kid, NOW).await.unwrap();
    until_refused(|| h.auth(&old.token, NOW), "token_key_unknown").await;
    assert_eq!(h.keyring.active_kid(), other_active(&h).await);

    stop.send(()).unwrap();
    task.await.unwrap();
}

async fn other_active(h: &Harness) -> Option<String> {
    h.store
        .active_signing_key()
        .await
        .unwrap()
        .map(|material| material.key.kid)
}

#[tokio::test(flavor = "current_thread")]
async fn the_follower_stops_on_shutdown() {
    let h = Harness::new().await;
    let (stop, task) = start(&h);
    tokio::task::yield_now().await;
    stop.send(()).unwrap();
    task.await.unwrap();
    // After shutdown, changes are no longer applied.
    let issued = h.issue().await;
    h.auth(&issued.token, NOW).await.unwrap();
    h.store.revoke_token(&issued.jti, NOW).await.unwrap();
    tokio::task::yield_now().await;
    h.auth(&issued.token, NOW).await.unwrap();
    assert_refused(
        {
            h.credentials.invalidate(&h.binding.id).await;
            h.auth(&issued.token, NOW).await
        },
        "token_revoked",
    );
}
