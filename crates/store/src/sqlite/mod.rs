//! The SQLite backend: the embedded default, one file (or memory) per process.
//!
//! `mod.rs` holds the connection and migrations; the SQL and the [`crate::Store`] impl are the
//! portable ones shared with PostgreSQL (`portable/mod.rs`, compiled in here with `Db = Sqlite`).
//! Changes are announced to this process's subscribers only: nobody else opens the file.

// The shared SQL and `Store` impl, compiled in here with the types below.
#[allow(clippy::duplicate_mod)]
#[path = "../portable/mod.rs"]
mod portable;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection};
use tokio::sync::broadcast;

use self::portable::{CHANGE_CAPACITY, Core};
use crate::{Change, MasterKey, StoreError};

/// The sqlx database the portable SQL runs on here.
type Db = Sqlite;
/// Its connection type.
type Connection = SqliteConnection;
/// The store type the portable [`crate::Store`] impl is for.
type Backend = SqliteStore;

/// Embedded schema migrations, applied by [`SqliteStore::connect`].
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Connections of a file store; SQLite has one writer anyway, readers run in parallel (WAL).
const FILE_POOL_SIZE: u32 = 8;

/// How long a writer waits for another writer's lock, and a caller for a free connection.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The SQLite [`Store`]. Cheap to share behind an `Arc`; `Debug` shows no secret.
pub struct SqliteStore {
    core: Core,
}

/// Tells no other process: a SQLite database belongs to one.
struct Notifier;

impl Notifier {
    async fn notify(&self, _conn: &mut Connection, _change: &Change) -> Result<(), sqlx::Error> {
        Ok(())
    }
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
            core: Core {
                pool,
                master_key,
                changes,
                notifier: Notifier,
            },
        })
    }

    /// Closes every connection, waiting for those in use. Later calls fail with
    /// [`StoreError::Unavailable`]. For shutdown, so the WAL is checkpointed into the file.
    pub async fn close(&self) {
        self.core.pool.close().await;
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("master_key", &self.core.master_key)
            .field("connections", &self.core.pool.size())
            .field("closed", &self.core.pool.is_closed())
            .finish_non_exhaustive()
    }
}
