//! Signing key rotation and retirement.

use crate::harness::{Harness, NOW, assert_refused, kid_of};

#[tokio::test]
async fn old_tokens_verify_while_their_key_is_verify_only_and_new_tokens_carry_the_new_kid() {
    let h = Harness::new().await;
    let old = h.issue().await;
    let old_kid = kid_of(&old.token);
    assert_eq!(old.kid, old_kid);

    let new_key = h.issuer.rotate_signing_key(NOW).await.unwrap();
    assert_ne!(new_key.kid, old_kid);
    assert!(new_key.kid.starts_with("bp-") && new_key.kid.len() == 19);
    assert_eq!(new_key.algorithm, "EdDSA");
    assert_eq!(new_key.public_key.len(), 32);
    assert_eq!(
        h.keyring.active_kid().as_deref(),
        Some(new_key.kid.as_str())
    );

    let new = h.issue().await;
    assert_eq!(kid_of(&new.token), new_key.kid);
    h.auth(&old.token, NOW).await.unwrap();
    h.auth(&new.token, NOW).await.unwrap();
}

#[tokio::test]
async fn a_retired_keys_tokens_fail_after_reload_even_if_cached() {
    let h = Harness::new().await;
    let old = h.issue().await;
    h.auth(&old.token, NOW).await.unwrap();
    h.issuer.rotate_signing_key(NOW).await.unwrap();
    h.auth(&old.token, NOW).await.unwrap();

    h.store.retire_signing_key(&old.kid, NOW).await.unwrap();
    // Not yet reloaded: the keyring still trusts the key.
    h.auth(&old.token, NOW).await.unwrap();
    h.keyring.reload(&h.store).await.unwrap();
    h.verifier.invalidate_all();
    assert_refused(h.auth(&old.token, NOW).await, "token_key_unknown");
    assert!(!h.keyring.kids().contains(&old.kid));
}

#[tokio::test]
async fn a_keyring_reload_alone_stops_cached_tokens_of_a_retired_key() {
    let h = Harness::new().await;
    let old = h.issue().await;
    h.auth(&old.token, NOW).await.unwrap();
    h.issuer.rotate_signing_key(NOW).await.unwrap();
    h.store.retire_signing_key(&old.kid, NOW).await.unwrap();
    h.keyring.reload(&h.store).await.unwrap();
    // No invalidate_all: cache entries are tagged with the key set they were verified under.
    assert_refused(h.auth(&old.token, NOW).await, "token_key_unknown");
}
