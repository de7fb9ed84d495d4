//! The SQLite backend: the contract suite on memory and file stores, plus what only SQLite has.

mod at_rest;

use std::path::Path;
use std::sync::Arc;

use sqlx::SqlitePool;
use sqlx::sqlite::SqliteConnectOptions;
use store::{MasterKey, Secret, SqliteStore, Store, StoreError, StoreHandle};
use tempfile::TempDir;

use crate::contract::{NOW, new_binding};

mod memory {
    crate::contract::run_contract_suite!(async { Some(super::memory_store().await) });
}

mod file {
    crate::contract::run_contract_suite!(async { Some(super::file_store().await) });
}

/// A fresh in-memory store.
async fn memory_store() -> (StoreHandle, ()) {
    let store = SqliteStore::connect("sqlite::memory:", MasterKey::generate())
        .await
        .expect("connect");
    (Arc::new(store), ())
}

/// A fresh file store in a temporary directory, which lives as long as the guard.
async fn file_store() -> (StoreHandle, TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_file(dir.path(), master_key(1)).await;
    (Arc::new(store), dir)
}

/// A master key made of one repeated byte, so a test can open a store twice with it.
fn master_key(byte: u8) -> MasterKey {
    MasterKey::from_bytes(Secret::new(vec![byte; 32])).expect("32 bytes")
}

async fn open_file(dir: &Path, master_key: MasterKey) -> SqliteStore {
    let url = format!("sqlite://{}", dir.join("store.db").display());
    SqliteStore::connect(&url, master_key)
        .await
        .expect("connect")
}

/// A second, raw connection to a file store's database, to play the attacker with a copy.
async fn raw_pool(dir: &Path) -> SqlitePool {
    SqlitePool::connect_with(SqliteConnectOptions::new().filename(dir.join("store.db")))
        .await
        .expect("raw connect")
}

#[tokio::test]
async fn urls_of_other_schemes_are_unsupported() {
    for url in [
        "postgres://localhost/test",
        "mysql://db",
        "store.db",
        "sqlite:store.db",
        "",
    ] {
        let err = SqliteStore::connect(url, MasterKey::generate())
            .await
            .expect_err(url);
        assert!(matches!(err, StoreError::UnsupportedUrl), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn file_store_creates_missing_directories_and_keeps_data_across_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("a/b");
    let store = open_file(&nested, master_key(1)).await;
    let binding = store
        .create_binding(new_binding("org-a", "KEYkept"), NOW)
        .await
        .expect("create");
    store.close().await;

    let store = open_file(&nested, master_key(1)).await;
    let credential = store
        .load_credential(&binding.id, NOW)
        .await
        .expect("load")
        .expect("kept");
    assert_eq!(credential.binding, binding);
    assert_eq!(credential.api_key.expose_str(), Some("KEYkept"));
}

#[tokio::test]
async fn memory_store_is_one_database_under_concurrent_use() {
    let (store, ()) = memory_store().await;
    let tasks: Vec<_> = (0..32)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .create_binding(new_binding(&format!("org-{i:02}"), "KEYx"), NOW)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("create");
    }
    assert_eq!(
        store.list_bindings(None, 100).await.expect("list").len(),
        32
    );
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let store = SqliteStore::connect("sqlite::memory:", MasterKey::generate())
        .await
        .expect("connect");
    store.ping().await.expect("ping");
    store.close().await;
    let err = store.ping().await.expect_err("closed");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store.binding_by_org("org-a").await.expect_err("closed");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn a_tampered_migration_history_fails_with_migration() {
    let dir = tempfile::tempdir().expect("tempdir");
    open_file(dir.path(), master_key(1)).await.close().await;
    let raw = raw_pool(dir.path()).await;
    sqlx::query("UPDATE _sqlx_migrations SET checksum = X'00'")
        .execute(&raw)
        .await
        .expect("tamper");
    raw.close().await;

    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let err = SqliteStore::connect(&url, master_key(1))
        .await
        .expect_err("checksum mismatch");
    assert!(matches!(err, StoreError::Migration(_)), "{err:?}");
}

#[tokio::test]
async fn unreadable_rows_are_corrupt_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open_file(dir.path(), master_key(1)).await;
    let binding = store
        .create_binding(new_binding("org-a", "KEYx"), NOW)
        .await
        .expect("create");
    let raw = raw_pool(dir.path()).await;

    sqlx::query("UPDATE bindings SET api_key_nonce = X'0102'")
        .execute(&raw)
        .await
        .expect("tamper");
    let err = store
        .load_credential(&binding.id, NOW)
        .await
        .expect_err("short nonce");
    assert!(
        matches!(err, StoreError::Corrupt { table: "bindings", ref row_id, .. } if *row_id == binding.id),
        "{err:?}"
    );

    sqlx::query("UPDATE bindings SET scopes_json = 'not json'")
        .execute(&raw)
        .await
        .expect("tamper");
    let err = store.binding_by_org("org-a").await.expect_err("bad scopes");
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                table: "bindings",
                ..
            }
        ),
        "{err:?}"
    );

    sqlx::query("UPDATE bindings SET rate_limit_rps = -1, rate_limit_burst = 1")
        .execute(&raw)
        .await
        .expect("tamper");
    let err = store
        .list_bindings(None, 10)
        .await
        .expect_err("bad rate limit");
    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                table: "bindings",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn debug_of_a_store_shows_the_key_id_not_the_key() {
    let store = SqliteStore::connect("sqlite::memory:", master_key(0xab))
        .await
        .expect("connect");
    let debug = format!("{store:?}");
    assert!(debug.contains(master_key(0xab).id()), "{debug}");
    assert!(!debug.contains("abab"), "{debug}");
    assert!(!debug.contains("171, 171"), "{debug}");
}
