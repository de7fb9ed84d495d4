//! The SQLite backend: the embedded default, one file (or memory) per process.
//!
//! `mod.rs` holds the connection, migrations and the [`Store`] impl, which delegates each area to
//! a submodule (`bindings`, `tokens`, `signing_keys`, `audit`) and announces committed changes.
//! SQL uses `$N` placeholders and portable types so the PostgreSQL backend can share it.

mod audit;
mod bindings;
mod signing_keys;
mod tokens;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::broadcast;

use crate::{
    AuditEvent, AuditFilter, Binding, BindingCredential, BindingUpdate, Change, MasterKey,
    NewAuditEvent, NewBinding, NewSigningKey, NewToken, SigningKey, SigningKeyMaterial, Store,
    StoreError, TokenRecord,
};

/// Embedded schema migrations, applied by [`SqliteStore::connect`].
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// How many changes a slow subscriber may fall behind before it sees a lag (and drops
/// everything it cached).
const CHANGE_CAPACITY: usize = 1024;

/// Connections of a file store; SQLite has one writer anyway, readers run in parallel (WAL).
const FILE_POOL_SIZE: u32 = 8;

/// How long a writer waits for another writer's lock, and a caller for a free connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite [`Store`]. Cheap to share behind an `Arc`; `Debug` shows no secret.
pub struct SqliteStore {
    pool: SqlitePool,
    master_key: MasterKey,
    changes: broadcast::Sender<Change>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` and applies the migrations.
    ///
    /// `url` is `sqlite://PATH` (a file, created with its directory if missing; WAL journal,
    /// foreign keys on, 5 s busy timeout, `synchronous = NORMAL`) or `sqlite::memory:` (a
    /// private database that lives as long as this store, on a single connection).
    ///
    /// Errors: [`StoreError::UnsupportedUrl`] for any other scheme,
    /// [`StoreError::Unavailable`] when the database cannot be opened,
    /// [`StoreError::Migration`] when the schema cannot be brought up to date.
    pub async fn connect(url: &str, master_key: MasterKey) -> Result<Self, StoreError> {
        let (options, pool_options) = if url == "sqlite::memory:" || url == "sqlite://:memory:" {
            // An in-memory database belongs to its connection: keep exactly one, forever.
            let pool = SqlitePoolOptions::new()
                .min_connections(1)
                .max_connections(1)
                .idle_timeout(None)
                .max_lifetime(None);
            (SqliteConnectOptions::from_str("sqlite::memory:")?, pool)
        } else if url.starts_with("sqlite://") {
            let options = SqliteConnectOptions::from_str(url)?;
            // SQLite creates the file, not its directory; an operator expects both.
            if let Some(dir) = options
                .get_filename()
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(sqlx::Error::Io)?;
            }
            let options = options
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(BUSY_TIMEOUT);
            let pool = SqlitePoolOptions::new().max_connections(FILE_POOL_SIZE);
            (options, pool)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let pool = pool_options
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options.foreign_keys(true))
            .await?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migration)?;
        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        Ok(Self {
            pool,
            master_key,
            changes,
        })
    }

    /// Closes every connection, waiting for those in use. Later calls fail with
    /// [`StoreError::Unavailable`]. For shutdown, so the WAL is checkpointed into the file.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Announces a committed change. Nobody listening is fine.
    fn announce(&self, change: Change) {
        let _ = self.changes.send(change);
    }

    fn announce_binding(&self, binding: &Binding) {
        self.announce(Change::Binding {
            binding_id: binding.id.clone(),
        });
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("master_key", &self.master_key)
            .field("connections", &self.pool.size())
            .field("closed", &self.pool.is_closed())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn create_binding(&self, new: NewBinding, now: i64) -> Result<Binding, StoreError> {
        let binding = bindings::create(&self.pool, &self.master_key, new, now).await?;
        self.announce_binding(&binding);
        Ok(binding)
    }

    async fn binding_by_org(&self, org_id: &str) -> Result<Option<Binding>, StoreError> {
        bindings::by_org(&self.pool, org_id).await
    }

    async fn list_bindings(
        &self,
        after_org_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Binding>, StoreError> {
        bindings::list(&self.pool, after_org_id, limit).await
    }

    async fn update_binding(
        &self,
        org_id: &str,
        update: BindingUpdate,
        now: i64,
    ) -> Result<Binding, StoreError> {
        let binding = bindings::update(&self.pool, &self.master_key, org_id, update, now).await?;
        self.announce_binding(&binding);
        Ok(binding)
    }

    async fn rotate_binding(
        &self,
        org_id: &str,
        previous_valid_until: i64,
        now: i64,
    ) -> Result<Binding, StoreError> {
        let binding = bindings::rotate(&self.pool, org_id, previous_valid_until, now).await?;
        self.announce_binding(&binding);
        Ok(binding)
    }

    async fn delete_binding(&self, org_id: &str, _now: i64) -> Result<Binding, StoreError> {
        let binding = bindings::delete(&self.pool, org_id).await?;
        self.announce_binding(&binding);
        Ok(binding)
    }

    async fn load_credential(
        &self,
        binding_id: &str,
        now: i64,
    ) -> Result<Option<BindingCredential>, StoreError> {
        bindings::load_credential(&self.pool, &self.master_key, binding_id, now).await
    }

    async fn insert_token(&self, token: NewToken) -> Result<TokenRecord, StoreError> {
        // Not announced: a new token changes nothing a cache holds.
        tokens::insert(&self.pool, token).await
    }

    async fn revoke_token(&self, jti: &str, now: i64) -> Result<TokenRecord, StoreError> {
        let (record, changed) = tokens::revoke(&self.pool, jti, now).await?;
        if changed {
            self.announce(Change::Binding {
                binding_id: record.binding_id.clone(),
            });
        }
        Ok(record)
    }

    async fn insert_signing_key(
        &self,
        key: NewSigningKey,
        now: i64,
    ) -> Result<SigningKey, StoreError> {
        let key = signing_keys::insert(&self.pool, &self.master_key, key, now).await?;
        self.announce(Change::SigningKeys);
        Ok(key)
    }

    async fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError> {
        signing_keys::list(&self.pool).await
    }

    async fn active_signing_key(&self) -> Result<Option<SigningKeyMaterial>, StoreError> {
        signing_keys::active(&self.pool, &self.master_key).await
    }

    async fn retire_signing_key(&self, kid: &str, now: i64) -> Result<SigningKey, StoreError> {
        let (key, changed) = signing_keys::retire(&self.pool, kid, now).await?;
        if changed {
            self.announce(Change::SigningKeys);
        }
        Ok(key)
    }

    async fn append_audit(&self, event: NewAuditEvent) -> Result<AuditEvent, StoreError> {
        audit::append(&self.pool, event).await
    }

    async fn list_audit(&self, filter: AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        audit::list(&self.pool, filter).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }
}

/// Whether a database error is a unique-constraint violation.
fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

/// Whether a database error is a foreign-key violation.
fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|db| db.is_foreign_key_violation())
}
