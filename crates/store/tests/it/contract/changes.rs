//! Contract: change notifications, sent after commit.

use store::{BindingUpdate, Change, StoreHandle};
use tokio::sync::broadcast::{Receiver, error::TryRecvError};

use super::{NOW, new_binding, new_signing_key, new_token};

/// The next change, which must already have been sent when the mutation returned.
fn next(changes: &mut Receiver<Change>) -> Change {
    changes
        .try_recv()
        .expect("a change was announced before the call returned")
}

fn assert_quiet(changes: &mut Receiver<Change>) {
    assert!(
        matches!(changes.try_recv(), Err(TryRecvError::Empty)),
        "nothing more announced"
    );
}

pub(crate) async fn binding_mutations_announce_the_binding(store: StoreHandle) {
    let mut changes = store.subscribe();
    let binding = store
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    let announced = Change::Binding {
        binding_id: binding.id.clone(),
    };
    assert_eq!(next(&mut changes), announced);

    store
        .update_binding("org-a", BindingUpdate::default(), NOW)
        .await
        .expect("update");
    assert_eq!(next(&mut changes), announced);
    store
        .rotate_binding("org-a", NOW + 60, NOW)
        .await
        .expect("rotate");
    assert_eq!(next(&mut changes), announced);

    store
        .insert_token(new_token("jti-1", &binding.id, NOW + 60))
        .await
        .expect("insert");
    assert_quiet(&mut changes);
    store.revoke_token("jti-1", NOW).await.expect("revoke");
    assert_eq!(
        next(&mut changes),
        announced,
        "a revocation changes the binding's credential"
    );

    store.delete_binding("org-a", NOW).await.expect("delete");
    assert_eq!(next(&mut changes), announced);
    assert_quiet(&mut changes);
}

pub(crate) async fn signing_key_mutations_announce_signing_keys(store: StoreHandle) {
    let mut changes = store.subscribe();
    store
        .insert_signing_key(new_signing_key("kid-1"), NOW)
        .await
        .expect("insert");
    assert_eq!(next(&mut changes), Change::SigningKeys);
    store
        .insert_signing_key(new_signing_key("kid-2"), NOW)
        .await
        .expect("insert");
    assert_eq!(next(&mut changes), Change::SigningKeys);
    store
        .retire_signing_key("kid-1", NOW)
        .await
        .expect("retire");
    assert_eq!(next(&mut changes), Change::SigningKeys);
    assert_quiet(&mut changes);
}

pub(crate) async fn failed_or_read_only_calls_announce_nothing(store: StoreHandle) {
    let binding = store
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    store
        .insert_signing_key(new_signing_key("kid-1"), NOW)
        .await
        .expect("insert");
    let mut changes = store.subscribe();

    store
        .create_binding(new_binding("org-a", "KEYy"), NOW)
        .await
        .expect_err("exists");
    store
        .update_binding("org-z", BindingUpdate::default(), NOW)
        .await
        .expect_err("unknown");
    store
        .rotate_binding("org-z", NOW, NOW)
        .await
        .expect_err("unknown");
    store
        .delete_binding("org-z", NOW)
        .await
        .expect_err("unknown");
    store.revoke_token("jti-z", NOW).await.expect_err("unknown");
    store
        .retire_signing_key("kid-1", NOW)
        .await
        .expect_err("active");
    store
        .retire_signing_key("kid-z", NOW)
        .await
        .expect_err("unknown");
    store.binding_by_org("org-a").await.expect("read");
    store.list_bindings(None, 10).await.expect("list");
    store.load_credential(&binding.id, NOW).await.expect("load");
    store.signing_keys().await.expect("list");
    store.active_signing_key().await.expect("active");
    assert_quiet(&mut changes);
}

pub(crate) async fn a_change_is_visible_when_it_is_announced(store: StoreHandle) {
    // A subscriber on another task reloads as soon as it hears of a change: it must see it.
    let mut changes = store.subscribe();
    let reader = tokio::spawn({
        let store = store.clone();
        async move {
            let Ok(Change::Binding { binding_id }) = changes.recv().await else {
                panic!("expected a binding change");
            };
            store.load_credential(&binding_id, NOW).await.expect("load")
        }
    });
    store
        .create_binding(new_binding("org-a", "KEYvisible"), NOW)
        .await
        .expect("create");
    let credential = reader
        .await
        .expect("reader task")
        .expect("the binding is committed");
    assert_eq!(credential.api_key.expose_str(), Some("KEYvisible"));
}
