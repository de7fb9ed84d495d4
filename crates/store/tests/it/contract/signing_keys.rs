//! Contract: signing key lifecycle (active → verify-only → retired).

use store::{KeyStatus, StoreError, StoreHandle};

use super::{NOW, new_signing_key};

pub(crate) async fn a_new_store_has_no_signing_key(store: StoreHandle) {
    assert!(store.signing_keys().await.expect("list").is_empty());
    assert!(store.active_signing_key().await.expect("active").is_none());
}

pub(crate) async fn inserting_a_signing_key_demotes_the_active_one(store: StoreHandle) {
    let first = store
        .insert_signing_key(new_signing_key("kid-1"), NOW)
        .await
        .expect("insert");
    assert_eq!(first.kid, "kid-1");
    assert_eq!(first.algorithm, "EdDSA");
    assert_eq!(first.public_key, vec![7; 32]);
    assert_eq!(first.status, KeyStatus::Active);
    assert_eq!((first.created_at, first.retired_at), (NOW, None));

    let second = store
        .insert_signing_key(new_signing_key("kid-2"), NOW + 10)
        .await
        .expect("insert");
    assert_eq!(second.status, KeyStatus::Active);
    let third = store
        .insert_signing_key(new_signing_key("kid-3"), NOW + 20)
        .await
        .expect("insert");

    let keys = store.signing_keys().await.expect("list");
    let summary: Vec<_> = keys.iter().map(|k| (k.kid.as_str(), k.status)).collect();
    assert_eq!(
        summary,
        [
            ("kid-3", KeyStatus::Active),
            ("kid-2", KeyStatus::VerifyOnly),
            ("kid-1", KeyStatus::VerifyOnly)
        ],
        "newest first, exactly one active"
    );
    assert_eq!(keys[0], third);
    let active = store
        .active_signing_key()
        .await
        .expect("active")
        .expect("one");
    assert_eq!(active.key, third);
}

pub(crate) async fn active_signing_key_round_trips_the_private_key(store: StoreHandle) {
    let new = new_signing_key("kid-1");
    let expected = new.private_key_pkcs8.clone();
    store.insert_signing_key(new, NOW).await.expect("insert");
    let active = store
        .active_signing_key()
        .await
        .expect("active")
        .expect("one");
    assert_eq!(active.key.kid, "kid-1");
    assert_eq!(
        active.private_key_pkcs8.expose_secret(),
        expected.expose_secret()
    );
    assert!(
        !format!("{active:?}").contains("0, 1, 2, 3"),
        "Debug shows the private key"
    );
}

pub(crate) async fn retire_moves_a_verify_only_key_to_retired(store: StoreHandle) {
    store
        .insert_signing_key(new_signing_key("kid-1"), NOW)
        .await
        .expect("insert");
    store
        .insert_signing_key(new_signing_key("kid-2"), NOW + 1)
        .await
        .expect("insert");
    let retired = store
        .retire_signing_key("kid-1", NOW + 5)
        .await
        .expect("retire");
    assert_eq!(retired.kid, "kid-1");
    assert_eq!(retired.status, KeyStatus::Retired);
    assert_eq!(retired.retired_at, Some(NOW + 5));
    let keys = store.signing_keys().await.expect("list");
    assert_eq!(keys.len(), 2, "retired keys stay listed");
    assert_eq!(keys[1], retired);
    assert_eq!(
        store
            .active_signing_key()
            .await
            .expect("active")
            .expect("one")
            .key
            .kid,
        "kid-2"
    );
}

pub(crate) async fn retire_of_the_active_key_is_signing_key_active(store: StoreHandle) {
    store
        .insert_signing_key(new_signing_key("kid-1"), NOW)
        .await
        .expect("insert");
    let err = store
        .retire_signing_key("kid-1", NOW + 1)
        .await
        .expect_err("active");
    assert!(matches!(err, StoreError::SigningKeyActive), "{err:?}");
    let active = store
        .active_signing_key()
        .await
        .expect("active")
        .expect("still one");
    assert_eq!(active.key.status, KeyStatus::Active);
}

pub(crate) async fn retire_of_an_unknown_key_is_signing_key_not_found(store: StoreHandle) {
    let err = store
        .retire_signing_key("kid-nobody", NOW)
        .await
        .expect_err("unknown");
    assert!(matches!(err, StoreError::SigningKeyNotFound), "{err:?}");
}

pub(crate) async fn retire_of_a_retired_key_returns_it_unchanged(store: StoreHandle) {
    store
        .insert_signing_key(new_signing_key("kid-1"), NOW)
        .await
        .expect("insert");
    store
        .insert_signing_key(new_signing_key("kid-2"), NOW + 1)
        .await
        .expect("insert");
    let first = store
        .retire_signing_key("kid-1", NOW + 5)
        .await
        .expect("retire");
    let again = store
        .retire_signing_key("kid-1", NOW + 9)
        .await
        .expect("retire again");
    assert_eq!(again, first);
    assert_eq!(again.retired_at, Some(NOW + 5));
}
