//! Contract: binding lifecycle and credential loading.

use store::{BindingUpdate, Secret, StoreError, StoreHandle};

use super::{NOW, new_binding, new_token, rate_limit};

pub(crate) async fn ping_answers(store: StoreHandle) {
    store.ping().await.expect("ping");
}

pub(crate) async fn create_binding_starts_at_generation_one(store: StoreHandle) {
    let mut new = new_binding("org-a", "KEYabcdefWXYZ");
    new.rate_limit = Some(rate_limit(10, 20));
    let binding = store.create_binding(new, NOW).await.expect("create");

    assert_eq!(binding.org_id, "org-a");
    assert_eq!(binding.generation, 1);
    assert_eq!(binding.scopes, ["messaging", "kv"]);
    assert_eq!(binding.rate_limit, Some(rate_limit(10, 20)));
    assert_eq!(binding.api_key_hint, "WXYZ");
    assert_eq!(binding.previous_generation, None);
    assert_eq!(binding.previous_generation_expires_at, None);
    assert_eq!((binding.created_at, binding.updated_at), (NOW, NOW));
    assert!(
        uuid::Uuid::parse_str(&binding.id).is_ok(),
        "id is a uuid: {}",
        binding.id
    );

    let read = store.binding_by_org("org-a").await.expect("read");
    assert_eq!(read, Some(binding.clone()));
    let other = store
        .create_binding(new_binding("org-b", "KEYab"), NOW)
        .await
        .expect("create");
    assert_ne!(other.id, binding.id);
    assert_eq!(other.api_key_hint, "EYab");
    let short = store
        .create_binding(new_binding("org-c", "ab"), NOW)
        .await
        .expect("create");
    assert_eq!(
        short.api_key_hint, "ab",
        "a key shorter than 4 characters is its own hint"
    );
}

pub(crate) async fn create_binding_twice_for_one_org_is_binding_exists(store: StoreHandle) {
    let first = store
        .create_binding(new_binding("org-a", "KEYfirst"), NOW)
        .await
        .expect("create");
    let err = store
        .create_binding(new_binding("org-a", "KEYsecond"), NOW + 1)
        .await
        .expect_err("second binding for one org");
    assert!(matches!(err, StoreError::BindingExists), "{err:?}");
    assert_eq!(
        store.binding_by_org("org-a").await.expect("read"),
        Some(first)
    );
}

pub(crate) async fn binding_by_org_is_none_for_an_unknown_org(store: StoreHandle) {
    assert_eq!(
        store.binding_by_org("org-nobody").await.expect("read"),
        None
    );
}

pub(crate) async fn list_bindings_pages_in_org_id_order(store: StoreHandle) {
    for org in ["org-c", "org-a", "org-e", "org-b", "org-d"] {
        store
            .create_binding(new_binding(org, "KEYx"), NOW)
            .await
            .expect("create");
    }
    let orgs = |page: Vec<store::Binding>| page.into_iter().map(|b| b.org_id).collect::<Vec<_>>();

    let first = store.list_bindings(None, 2).await.expect("page 1");
    assert_eq!(orgs(first), ["org-a", "org-b"]);
    let second = store.list_bindings(Some("org-b"), 2).await.expect("page 2");
    assert_eq!(orgs(second), ["org-c", "org-d"]);
    let last = store.list_bindings(Some("org-d"), 2).await.expect("page 3");
    assert_eq!(orgs(last), ["org-e"]);
    assert!(
        store
            .list_bindings(Some("org-e"), 2)
            .await
            .expect("past the end")
            .is_empty()
    );
    assert_eq!(store.list_bindings(None, 100).await.expect("all").len(), 5);
    // The cursor need not be an existing org.
    assert_eq!(
        orgs(store.list_bindings(Some("org-bb"), 1).await.expect("page")),
        ["org-c"]
    );
}

pub(crate) async fn update_binding_changes_only_the_given_fields(store: StoreHandle) {
    let mut new = new_binding("org-a", "KEYoriginal1");
    new.rate_limit = Some(rate_limit(5, 10));
    let created = store.create_binding(new, NOW).await.expect("create");

    let unchanged = store
        .update_binding("org-a", BindingUpdate::default(), NOW + 1)
        .await
        .expect("empty update");
    assert_eq!(unchanged.scopes, created.scopes);
    assert_eq!(unchanged.rate_limit, created.rate_limit);
    assert_eq!(unchanged.api_key_hint, created.api_key_hint);
    assert_eq!(unchanged.updated_at, NOW + 1);

    let scoped = BindingUpdate {
        scopes: Some(vec!["voice".to_owned()]),
        ..Default::default()
    };
    let updated = store
        .update_binding("org-a", scoped, NOW + 2)
        .await
        .expect("scopes");
    assert_eq!(updated.scopes, ["voice"]);
    assert_eq!(updated.rate_limit, Some(rate_limit(5, 10)));

    let limited = BindingUpdate {
        rate_limit: Some(Some(rate_limit(1, 2))),
        ..Default::default()
    };
    let updated = store
        .update_binding("org-a", limited, NOW + 3)
        .await
        .expect("limit");
    assert_eq!(updated.rate_limit, Some(rate_limit(1, 2)));
    assert_eq!(updated.scopes, ["voice"]);

    let cleared = BindingUpdate {
        rate_limit: Some(None),
        ..Default::default()
    };
    let updated = store
        .update_binding("org-a", cleared, NOW + 4)
        .await
        .expect("clear");
    assert_eq!(updated.rate_limit, None);

    assert_eq!(updated.id, created.id);
    assert_eq!(updated.generation, created.generation);
    assert_eq!(updated.created_at, NOW);
    assert_eq!(updated.updated_at, NOW + 4);
    assert_eq!(
        store.binding_by_org("org-a").await.expect("read"),
        Some(updated)
    );
    let credential = store
        .load_credential(&created.id, NOW)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(credential.api_key.expose_str(), Some("KEYoriginal1"));
}

pub(crate) async fn update_binding_replaces_the_key_and_its_hint(store: StoreHandle) {
    let created = store
        .create_binding(new_binding("org-a", "KEYold-1111"), NOW)
        .await
        .expect("create");
    let update = BindingUpdate {
        api_key: Some(Secret::from("KEYnew-2222".to_owned())),
        ..Default::default()
    };
    let updated = store
        .update_binding("org-a", update, NOW + 1)
        .await
        .expect("update");
    assert_eq!(updated.api_key_hint, "2222");
    assert_eq!(updated.scopes, created.scopes);
    let credential = store
        .load_credential(&created.id, NOW)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(credential.api_key.expose_str(), Some("KEYnew-2222"));
}

pub(crate) async fn update_binding_of_an_unknown_org_is_binding_not_found(store: StoreHandle) {
    let update = BindingUpdate {
        api_key: Some(Secret::from("KEYx".to_owned())),
        ..Default::default()
    };
    let err = store
        .update_binding("org-nobody", update, NOW)
        .await
        .expect_err("unknown");
    assert!(matches!(err, StoreError::BindingNotFound), "{err:?}");
}

pub(crate) async fn rotate_without_grace_ends_the_previous_generation_at_once(store: StoreHandle) {
    store
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    // A deadline equal to now, or earlier, means no grace.
    for (round, deadline) in [(2, NOW), (3, NOW - 100)] {
        let rotated = store
            .rotate_binding("org-a", deadline, NOW + 1)
            .await
            .expect("rotate");
        assert_eq!(rotated.generation, round);
        assert_eq!(rotated.previous_generation, None);
        assert_eq!(rotated.previous_generation_expires_at, None);
        assert_eq!(rotated.updated_at, NOW + 1);
    }
}

pub(crate) async fn rotate_with_grace_keeps_the_previous_generation_until_the_deadline(
    store: StoreHandle,
) {
    let created = store
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    let rotated = store
        .rotate_binding("org-a", NOW + 300, NOW)
        .await
        .expect("rotate");
    assert_eq!(rotated.generation, 2);
    assert_eq!(rotated.previous_generation, Some(1));
    assert_eq!(rotated.previous_generation_expires_at, Some(NOW + 300));
    assert_eq!(
        store.binding_by_org("org-a").await.expect("read"),
        Some(rotated)
    );
    let credential = store
        .load_credential(&created.id, NOW)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(credential.binding.previous_generation, Some(1));

    // Rotating again within the grace window: the window now covers generation 2 only.
    let again = store
        .rotate_binding("org-a", NOW + 600, NOW + 10)
        .await
        .expect("rotate");
    assert_eq!(again.generation, 3);
    assert_eq!(again.previous_generation, Some(2));
    assert_eq!(again.previous_generation_expires_at, Some(NOW + 600));

    let without = store
        .rotate_binding("org-a", NOW + 20, NOW + 20)
        .await
        .expect("rotate");
    assert_eq!(without.generation, 4);
    assert_eq!(without.previous_generation, None);
    assert_eq!(without.previous_generation_expires_at, None);
}

pub(crate) async fn rotate_of_an_unknown_org_is_binding_not_found(store: StoreHandle) {
    let err = store
        .rotate_binding("org-nobody", NOW + 60, NOW)
        .await
        .expect_err("unknown");
    assert!(matches!(err, StoreError::BindingNotFound), "{err:?}");
}

pub(crate) async fn delete_binding_returns_it_and_removes_its_tokens(store: StoreHandle) {
    let binding = store
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    let keep = store
        .create_binding(new_binding("org-b", "KEYy"), NOW)
        .await
        .expect("create");
    store
        .insert_token(new_token("jti-a", &binding.id, NOW + 60))
        .await
        .expect("token");
    store
        .insert_token(new_token("jti-b", &keep.id, NOW + 60))
        .await
        .expect("token");

    let deleted = store
        .delete_binding("org-a", NOW + 1)
        .await
        .expect("delete");
    assert_eq!(deleted, binding);

    assert_eq!(store.binding_by_org("org-a").await.expect("read"), None);
    assert!(
        store
            .load_credential(&binding.id, NOW)
            .await
            .expect("load")
            .is_none()
    );
    let err = store
        .revoke_token("jti-a", NOW)
        .await
        .expect_err("token went with the binding");
    assert!(matches!(err, StoreError::TokenNotFound), "{err:?}");
    let err = store
        .insert_token(new_token("jti-a2", &binding.id, NOW + 60))
        .await
        .expect_err("binding is gone");
    assert!(matches!(err, StoreError::BindingNotFound), "{err:?}");
    // The other binding and its token are untouched.
    assert_eq!(
        store.binding_by_org("org-b").await.expect("read"),
        Some(keep)
    );
    store
        .revoke_token("jti-b", NOW)
        .await
        .expect("other token still there");

    // The org may bind again, under a new id.
    let again = store
        .create_binding(new_binding("org-a", "KEYz"), NOW + 2)
        .await
        .expect("create");
    assert_ne!(again.id, binding.id);
    assert_eq!(again.generation, 1);
}

pub(crate) async fn delete_of_an_unknown_org_is_binding_not_found(store: StoreHandle) {
    let err = store
        .delete_binding("org-nobody", NOW)
        .await
        .expect_err("unknown");
    assert!(matches!(err, StoreError::BindingNotFound), "{err:?}");
}

pub(crate) async fn load_credential_round_trips_the_api_key(store: StoreHandle) {
    let key = "KEY0123-round-trip-ü🔑é";
    let binding = store
        .create_binding(new_binding("org-a", key), NOW)
        .await
        .expect("create");
    let credential = store
        .load_credential(&binding.id, NOW)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(credential.binding, binding);
    assert_eq!(credential.api_key.expose_str(), Some(key));
    assert!(credential.revoked_jtis.is_empty());
    assert_eq!(
        binding.api_key_hint, "-ü🔑é",
        "the hint counts characters, not bytes"
    );
    let debug = format!("{credential:?}");
    assert!(!debug.contains("KEY0123"), "Debug shows the key: {debug}");
}

pub(crate) async fn load_credential_of_an_unknown_binding_is_none(store: StoreHandle) {
    assert!(
        store
            .load_credential("no-such-binding", NOW)
            .await
            .expect("load")
            .is_none()
    );
}
