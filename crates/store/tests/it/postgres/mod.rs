//! The PostgreSQL backend: the contract suite, each test on a schema of its own, plus what only a
//! shared database has: replicas hearing each other's changes, surviving a lost listener.
//!
//! Runs against `BINDING_PROXY_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/test`);
//! when it is unset each test says so on stderr and passes without checking anything.

mod at_rest;
mod replicas;

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::{AssertSqlSafe, PgPool};
use store::{Change, MasterKey, PostgresOptions, PostgresStore, Store, StoreError, StoreHandle};
use tokio::sync::broadcast::Receiver;

use crate::contract::Fixture;

const URL_VAR: &str = "BINDING_PROXY_TEST_POSTGRES_URL";

/// How long a change may take to cross from one replica to another before a test fails.
const CROSSING_DEADLINE: Duration = Duration::from_secs(10);

mod contract {
    crate::contract::run_contract_suite!(super::fresh_store());
}

/// The test database's URL, or `None` (with a notice) when PostgreSQL tests are not configured.
fn database_url() -> Option<String> {
    match std::env::var(URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("skipped: set {URL_VAR} (e.g. postgres://postgres@127.0.0.1:5432/test)");
            None
        }
    }
}

/// A schema of its own in the test database, so tests and runs do not meet; dropped on release.
struct Schema {
    url: String,
    name: String,
    /// A plain connection for the test to look behind the store's back.
    admin: PgPool,
}

impl Schema {
    async fn create() -> Option<Self> {
        let url = database_url()?;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .expect("connect to the test database");
        let name = format!("bp_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .expect("create schema");
        Some(Self { url, name, admin })
    }

    fn options(&self) -> PostgresOptions {
        PostgresOptions {
            schema: Some(self.name.clone()),
            ..PostgresOptions::default()
        }
    }

    /// A store (a replica) on this schema.
    async fn connect(&self, master_key: MasterKey) -> PostgresStore {
        PostgresStore::connect_with(&self.url, master_key, self.options())
            .await
            .expect("connect")
    }
}

impl Fixture for Schema {
    async fn release(self) {
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", self.name)))
            .execute(&self.admin)
            .await
            .expect("drop schema");
        self.admin.close().await;
    }
}

/// A fresh store on a fresh schema.
async fn fresh_store() -> Option<(StoreHandle, Schema)> {
    let schema = Schema::create().await?;
    let store = schema.connect(MasterKey::generate()).await;
    Some((Arc::new(store), schema))
}

/// The next change, waiting at most [`CROSSING_DEADLINE`].
async fn next_change(changes: &mut Receiver<Change>) -> Change {
    tokio::time::timeout(CROSSING_DEADLINE, changes.recv())
        .await
        .expect("a change arrives before the deadline")
        .expect("the change channel is open and not lagging")
}

/// Backends of listeners subscribed to `channel`, as `pg_stat_activity` shows them.
async fn listener_pids(admin: &PgPool, channel: &str) -> Vec<i32> {
    sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity \
         WHERE application_name = 'binding-proxy-listener' AND query = $1",
    )
    .bind(format!("LISTEN \"{channel}\""))
    .fetch_all(admin)
    .await
    .expect("pg_stat_activity")
}

#[tokio::test]
async fn urls_of_other_schemes_are_unsupported() {
    for url in [
        "sqlite::memory:",
        "sqlite://store.db",
        "mysql://db",
        "postgres:/missing-slash",
        "",
    ] {
        let err = PostgresStore::connect(url, MasterKey::generate())
            .await
            .expect_err(url);
        assert!(matches!(err, StoreError::UnsupportedUrl), "{url}: {err:?}");
    }
}

#[tokio::test]
async fn both_url_schemes_connect() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let rest = schema
        .url
        .split_once("://")
        .map(|(_, rest)| rest)
        .expect("a URL with a scheme");
    for scheme in ["postgres", "postgresql"] {
        let url = format!("{scheme}://{rest}");
        let store = PostgresStore::connect_with(&url, MasterKey::generate(), schema.options())
            .await
            .expect(scheme);
        store.ping().await.expect("ping");
        store.close().await;
    }
    schema.release().await;
}

#[tokio::test]
async fn a_closed_store_is_unavailable() {
    let Some(schema) = Schema::create().await else {
        return;
    };
    let store = schema.connect(MasterKey::generate()).await;
    store.ping().await.expect("ping");
    store.close().await;
    let err = store.ping().await.expect_err("closed");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    let err = store.binding_by_org("org-a").await.expect_err("closed");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    schema.release().await;
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable() {
    let options = PostgresOptions {
        acquire_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    // Port 1 on loopback: nothing listens there, the connection is refused at once.
    let err = PostgresStore::connect_with(
        "postgres://nobody@127.0.0.1:1/none",
        MasterKey::generate(),
        options,
    )
    .await
    .expect_err("refused");
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
}
