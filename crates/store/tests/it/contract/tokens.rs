//! Contract: token records and revocation.

use store::{StoreError, StoreHandle};

use super::{NOW, new_binding, new_token};

pub(crate) async fn insert_token_records_every_field(store: StoreHandle) {
    let binding = store
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    let mut token = new_token("jti-1", &binding.id, NOW + 900);
    token.function_id = Some("fn-1".to_owned());
    token.scopes = Some(vec!["kv".to_owned()]);
    token.generation = 1;
    token.kid = "kid-7".to_owned();
    let record = store.insert_token(token).await.expect("insert");
    assert_eq!(record.jti, "jti-1");
    assert_eq!(record.binding_id, binding.id);
    assert_eq!(record.org_id, "org-a");
    assert_eq!(record.function_id.as_deref(), Some("fn-1"));
    assert_eq!(record.scopes, Some(vec!["kv".to_owned()]));
    assert_eq!(record.generation, 1);
    assert_eq!(record.kid, "kid-7");
    assert_eq!(
        (record.issued_at, record.expires_at, record.revoked_at),
        (NOW, NOW + 900, None)
    );

    // Revoking reads the record back from the store: every field survived.
    let revoked = store.revoke_token("jti-1", NOW + 5).await.expect("revoke");
    assert_eq!(revoked.revoked_at, Some(NOW + 5));
    assert_eq!(
        store::TokenRecord {
            revoked_at: None,
            ..revoked
        },
        record
    );

    // Optional fields stay empty.
    let bare = store
        .insert_token(new_token("jti-2", &binding.id, NOW + 60))
        .await
        .expect("insert");
    assert_eq!((bare.function_id, bare.scopes), (None, None));
    let bare = store.revoke_token("jti-2", NOW).await.expect("revoke");
    assert_eq!((bare.function_id, bare.scopes), (None, None));
}

pub(crate) async fn insert_token_for_an_unknown_binding_is_binding_not_found(store: StoreHandle) {
    let err = store
        .insert_token(new_token("jti-1", "no-such-binding", NOW + 60))
        .await
        .expect_err("unknown binding");
    assert!(matches!(err, StoreError::BindingNotFound), "{err:?}");
}

pub(crate) async fn revoke_token_keeps_the_first_revocation_time(store: StoreHandle) {
    let binding = store
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    store
        .insert_token(new_token("jti-1", &binding.id, NOW + 60))
        .await
        .expect("insert");
    let first = store.revoke_token("jti-1", NOW + 1).await.expect("revoke");
    assert_eq!(first.revoked_at, Some(NOW + 1));
    let second = store
        .revoke_token("jti-1", NOW + 2)
        .await
        .expect("revoke again");
    assert_eq!(second.revoked_at, Some(NOW + 1));
    assert_eq!(second, first);
}

pub(crate) async fn revoke_of_an_unknown_token_is_token_not_found(store: StoreHandle) {
    let err = store
        .revoke_token("no-such-jti", NOW)
        .await
        .expect_err("unknown");
    assert!(matches!(err, StoreError::TokenNotFound), "{err:?}");
}

pub(crate) async fn revoked_jtis_list_only_live_revoked_tokens_of_the_binding(store: StoreHandle) {
    let binding = store
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    let other = store
        .create_binding(new_binding("org-b", "KEYy"), NOW)
        .await
        .expect("create");
    for (jti, binding_id, expires_at) in [
        ("jti-live-revoked-2", &binding.id, NOW + 600),
        ("jti-live-revoked-1", &binding.id, NOW + 60),
        ("jti-live-kept", &binding.id, NOW + 600),
        ("jti-expired-revoked", &binding.id, NOW + 10),
        ("jti-other-binding", &other.id, NOW + 600),
    ] {
        store
            .insert_token(new_token(jti, binding_id, expires_at))
            .await
            .expect("insert");
    }
    for jti in [
        "jti-live-revoked-2",
        "jti-live-revoked-1",
        "jti-expired-revoked",
        "jti-other-binding",
    ] {
        store.revoke_token(jti, NOW + 1).await.expect("revoke");
    }

    let at = |now| {
        let store = store.clone();
        let id = binding.id.clone();
        async move {
            store
                .load_credential(&id, now)
                .await
                .expect("load")
                .expect("exists")
                .revoked_jtis
        }
    };
    assert_eq!(
        at(NOW + 5).await,
        [
            "jti-expired-revoked",
            "jti-live-revoked-1",
            "jti-live-revoked-2"
        ]
    );
    // A revoked token stays listed for the longest leeway past its expiry (it may still
    // verify until then), and only then drops out.
    let leeway = i64::try_from(store::MAX_TOKEN_LEEWAY_SECS).expect("small");
    assert_eq!(
        at(NOW + 10 + leeway - 1).await,
        [
            "jti-expired-revoked",
            "jti-live-revoked-1",
            "jti-live-revoked-2"
        ]
    );
    assert_eq!(
        at(NOW + 10 + leeway).await,
        ["jti-live-revoked-1", "jti-live-revoked-2"]
    );
    assert_eq!(at(NOW + 60 + leeway).await, ["jti-live-revoked-2"]);
    assert!(at(NOW + 600 + leeway).await.is_empty());
    let others = store
        .load_credential(&other.id, NOW)
        .await
        .expect("load")
        .expect("exists");
    assert_eq!(others.revoked_jtis, ["jti-other-binding"]);
}
