//! The PostgreSQL backend: one database shared by many replicas.
//!
//! `mod.rs` holds the connection, options and migrations; the SQL and the [`crate::Store`] impl
//! are the portable ones shared with SQLite (`portable/mod.rs`, compiled in here with
//! `Db = Postgres`). What only PostgreSQL does: every announced mutation also sends a NOTIFY in
//! its transaction (`notify`), and a background task LISTENs for other replicas' (`listener`).

mod listener;
mod notify;

// The shared SQL and `Store` impl, compiled in here with the types below.
#[allow(clippy::duplicate_mod)]
#[path = "../portable/mod.rs"]
mod portable;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::{broadcast, watch};

use self::notify::LastLag;
use self::portable::{CHANGE_CAPACITY, Core};
use crate::{Change, MasterKey, StoreError};

/// The sqlx database the portable SQL runs on here.
type Db = Postgres;
/// Its connection type.
type Connection = PgConnection;
/// The store type the portable [`crate::Store`] impl is for.
type Backend = PostgresStore;

/// Embedded schema migrations, applied by [`PostgresStore::connect`].
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// `application_name` of the store's query connections, as `pg_stat_activity` shows it.
const APPLICATION_NAME: &str = "binding-proxy";
/// `application_name` of the connection that LISTENs for other replicas' changes.
const LISTENER_APPLICATION_NAME: &str = "binding-proxy-listener";

/// Connection settings of a [`PostgresStore`] beyond its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Most connections for queries; one more is held by the change listener. Default 10.
    pub max_connections: u32,
    /// How long a call waits for a free connection (or a new one) before it fails with
    /// [`StoreError::Unavailable`]. Default 5 s.
    pub acquire_timeout: Duration,
    /// Schema holding the tables, set as the connections' `search_path`; it must exist.
    /// `None` (the default) keeps the server's search path (normally `public`), or whatever the
    /// URL sets with `?options=-c%20search_path%3D<schema>`.
    pub schema: Option<String>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            schema: None,
        }
    }
}

/// The PostgreSQL [`crate::Store`], for many replicas sharing one database.
///
/// Changes committed through any replica reach every replica's [`crate::Store::subscribe`]rs
/// (LISTEN/NOTIFY); see `docs/store.md`. Dropping or closing the store stops
/// its listener task. Cheap to share behind an `Arc`; `Debug` shows no secret.
pub struct PostgresStore {
    core: Core,
    /// The listener task's pool of one connection; closing it ends the task.
    listener_pool: PgPool,
    channel: String,
    lag: Arc<LastLag>,
    /// Dropped with the store, or sent to by [`PostgresStore::close`]: either ends the
    /// listener task.
    shutdown: watch::Sender<()>,
}

/// Tells other replicas about a change, inside the transaction that makes it.
struct Notifier {
    channel: String,
    /// Random per store instance: the listener skips its own store's notifications.
    origin: String,
}

impl Notifier {
    async fn notify(&self, conn: &mut Connection, change: &Change) -> Result<(), sqlx::Error> {
        // NOTIFY takes no parameters; pg_notify does, and is as transactional.
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(notify::encode(change, &self.origin, notify::unix_millis()))
            .execute(conn)
            .await?;
        Ok(())
    }
}

impl PostgresStore {
    /// [`PostgresStore::connect_with`] default [`PostgresOptions`].
    pub async fn connect(url: &str, master_key: MasterKey) -> Result<Self, StoreError> {
        Self::connect_with(url, master_key, PostgresOptions::default()).await
    }

    /// Connects to the database at `url`, applies the migrations and starts listening for
    /// other replicas' changes; must run inside a Tokio runtime, which runs the listener task.
    ///
    /// `url` is `postgres://` or `postgresql://` in libpq's URL form (user, password, host,
    /// port, database, `sslmode`, `options`, ...). The store sets `application_name` to
    /// `binding-proxy` (`binding-proxy-listener` for the listening connection).
    ///
    /// Errors: [`StoreError::UnsupportedUrl`] for any other scheme,
    /// [`StoreError::Unavailable`] when the URL does not parse or the database cannot be
    /// reached, [`StoreError::Migration`] when the schema cannot be brought up to date.
    pub async fn connect_with(
        url: &str,
        master_key: MasterKey,
        options: PostgresOptions,
    ) -> Result<Self, StoreError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(StoreError::UnsupportedUrl);
        }
        let mut connect = PgConnectOptions::from_str(url)?;
        if let Some(schema) = &options.schema {
            connect = connect.options([("search_path", quote_identifier(schema))]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone().application_name(APPLICATION_NAME))
            .await?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migration)?;

        // Where the migrations put the tables decides who shares our notifications.
        let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        let channel = notify::channel(schema.as_deref());
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(connect.application_name(LISTENER_APPLICATION_NAME));
        // Subscribed before `connect` returns: no change committed after it is missed.
        let listener = listener::subscribe(&listener_pool, &channel).await?;

        let (changes, _) = broadcast::channel(CHANGE_CAPACITY);
        let origin = uuid::Uuid::new_v4().simple().to_string();
        let lag = Arc::new(LastLag::new());
        let (shutdown, shutdown_rx) = watch::channel(());
        let task = listener::Task {
            pool: listener_pool.clone(),
            channel: channel.clone(),
            origin: origin.clone(),
            changes: changes.clone(),
            lag: lag.clone(),
        };
        // Not orphaned: it ends when `shutdown` is dropped with the store or sent by `close`.
        tokio::spawn(task.run(listener, shutdown_rx));

        Ok(Self {
            core: Core {
                pool,
                master_key,
                changes,
                notifier: Notifier {
                    channel: channel.clone(),
                    origin,
                },
            },
            listener_pool,
            channel,
            lag,
            shutdown,
        })
    }

    /// Stops the listener task and closes every connection, waiting for those in use. Later
    /// calls fail with [`StoreError::Unavailable`].
    pub async fn close(&self) {
        // Nobody receiving means the task has already ended.
        let _ = self.shutdown.send(());
        self.listener_pool.close().await;
        self.core.pool.close().await;
    }

    /// How long the last change notification from another replica took to arrive, in seconds
    /// (by the two hosts' clocks; never negative). `None` until one has arrived.
    pub fn notification_lag_seconds(&self) -> Option<f64> {
        self.lag.seconds()
    }

    /// The NOTIFY channel this store sends and listens on.
    pub fn notification_channel(&self) -> &str {
        &self.channel
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("master_key", &self.core.master_key)
            .field("connections", &self.core.pool.size())
            .field("closed", &self.core.pool.is_closed())
            .field("channel", &self.channel)
            .finish_non_exhaustive()
    }
}

/// `name` as a quoted SQL identifier, so any schema name is taken literally.
fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_literally() {
        assert_eq!(quote_identifier("bp_test"), "\"bp_test\"");
        assert_eq!(quote_identifier("a\"b; x"), "\"a\"\"b; x\"");
    }
}
