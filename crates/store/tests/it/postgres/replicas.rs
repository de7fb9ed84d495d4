//! Replicas: two stores on one schema, as two processes would be, hear each other's changes.

use std::time::Instant;

use store::{Change, MasterKey, Store};

use super::{CROSSING_DEADLINE, Schema, listener_pids, next_change};
use crate::contract::{Fixture, NOW, new_binding, new_signing_key};

/// A master key both replicas share, as a deployment's replicas do.
fn shared_master_key() -> MasterKey {
    MasterKey::from_bytes(store::Secret::new(vec![0x42; 32])).expect("32 bytes")
}

#[tokio::test]
async fn a_change_through_one_replica_reaches_the_other() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let a = schema.connect(shared_master_key()).await;
    let b = schema.connect(shared_master_key()).await;
    assert_eq!(b.notification_lag_seconds(), None);
    let mut heard_by_b = b.subscribe();

    let binding = a
        .create_binding(new_binding("org-a", "KEYshared"), NOW)
        .await
        .expect("create");
    assert_eq!(
        next_change(&mut heard_by_b).await,
        Change::Binding {
            binding_id: binding.id.clone()
        }
    );
    let lag = b.notification_lag_seconds().expect("lag recorded");
    assert!(lag >= 0.0, "{lag}");
    // What B heard of is committed and readable through B.
    let credential = b
        .load_credential(&binding.id, NOW)
        .await
        .expect("load")
        .expect("committed");
    assert_eq!(credential.api_key.expose_str(), Some("KEYshared"));

    a.insert_signing_key(new_signing_key("kid-1"), NOW)
        .await
        .expect("insert");
    assert_eq!(next_change(&mut heard_by_b).await, Change::SigningKeys);
    schema.release().await;
}

#[tokio::test]
async fn a_replica_announces_its_own_change_once() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let a = schema.connect(shared_master_key()).await;
    let b = schema.connect(shared_master_key()).await;
    let mut heard_by_a = a.subscribe();
    let mut heard_by_b = b.subscribe();

    let first = a
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    assert_eq!(
        heard_by_a.try_recv().expect("announced locally on commit"),
        Change::Binding {
            binding_id: first.id.clone()
        }
    );
    next_change(&mut heard_by_b).await;
    let second = b
        .create_binding(new_binding("org-b", "KEYy"), NOW)
        .await
        .expect("create");
    // Notifications reach a listener in commit order, so A's echo of its own change came
    // before B's: had A repeated it, it would be next.
    assert_eq!(
        next_change(&mut heard_by_a).await,
        Change::Binding {
            binding_id: second.id
        }
    );
    schema.release().await;
}

#[tokio::test]
async fn stores_on_other_schemas_do_not_hear_each_other() {
    let (Some(this), Some(other)) = (Schema::create().await, Schema::create().await) else {
        return;
    };
    let a = this.connect(shared_master_key()).await;
    let b = this.connect(shared_master_key()).await;
    let stranger = other.connect(shared_master_key()).await;
    assert_ne!(a.notification_channel(), stranger.notification_channel());
    let mut heard_by_a = a.subscribe();

    stranger
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    let ours = b
        .create_binding(new_binding("org-a", "KEYy"), NOW)
        .await
        .expect("create");
    // Committed after the stranger's change: had A heard that one, it would come first.
    assert_eq!(
        next_change(&mut heard_by_a).await,
        Change::Binding {
            binding_id: ours.id
        }
    );
    this.release().await;
    other.release().await;
}

#[tokio::test]
async fn a_lost_listener_connection_announces_everything_and_resubscribes() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let a = schema.connect(shared_master_key()).await;
    let b = schema.connect(shared_master_key()).await;
    let mut heard_by_b = b.subscribe();

    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = 'binding-proxy-listener' AND query = $1",
    )
    .bind(format!("LISTEN \"{}\"", b.notification_channel()))
    .fetch_all(&schema.admin)
    .await
    .expect("terminate listeners");
    assert_eq!(killed, [true, true], "both replicas' listeners terminated");

    assert_eq!(next_change(&mut heard_by_b).await, Change::Everything);
    let binding = a
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    assert_eq!(
        next_change(&mut heard_by_b).await,
        Change::Binding {
            binding_id: binding.id
        }
    );
    schema.release().await;
}

#[tokio::test]
async fn dropping_a_store_ends_its_listener() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let store = schema.connect(shared_master_key()).await;
    let channel = store.notification_channel().to_owned();
    assert_eq!(listener_pids(&schema.admin, &channel).await.len(), 1);
    drop(store);

    // The server notices the closed connection on its own time: poll, with a deadline.
    let deadline = Instant::now() + CROSSING_DEADLINE;
    while !listener_pids(&schema.admin, &channel).await.is_empty() {
        assert!(Instant::now() < deadline, "listener still connected");
        tokio::task::yield_now().await;
    }
    schema.release().await;
}
