//! A fresh PostgreSQL schema per test, and a TCP relay a test can cut to simulate an outage.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sqlx::Connection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The environment variable naming the test database.
pub const POSTGRES_URL_ENV: &str = "BINDING_PROXY_TEST_POSTGRES_URL";

/// A schema created for one test, dropped when the guard is dropped... by the next run: the
/// drop needs a connection, so [`TestSchema::drop_schema`] does it explicitly.
#[derive(Debug)]
pub struct TestSchema {
    base_url: String,
    /// Schema name.
    pub name: String,
}

impl TestSchema {
    /// Creates `bp_e2e_<uuid>` in the test database, or `None` (with a notice) when
    /// `BINDING_PROXY_TEST_POSTGRES_URL` is unset. CI always sets it.
    pub async fn create() -> Option<Self> {
        let Ok(base_url) = std::env::var(POSTGRES_URL_ENV) else {
            eprintln!("skipped: set {POSTGRES_URL_ENV} to run PostgreSQL end-to-end tests");
            return None;
        };
        let name = format!("bp_e2e_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(&base_url)
            .await
            .expect("connect to the test PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&mut conn)
            .await
            .expect("create the test schema");
        Some(Self { base_url, name })
    }

    /// The store URL for this schema, optionally through `via` (a relay) instead of the
    /// database's own address.
    pub fn store_url(&self, via: Option<SocketAddr>) -> String {
        let mut url = self.base_url.clone();
        if let Some(relay) = via {
            let start = url
                .find('@')
                .map_or_else(|| url.find("://").map_or(0, |i| i + 3), |i| i + 1);
            let end = url[start..].find('/').map_or(url.len(), |i| start + i);
            url.replace_range(start..end, &relay.to_string());
        }
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}options=-c%20search_path%3D{}", self.name)
    }

    /// The database's `host:port`.
    pub fn database_addr(&self) -> SocketAddr {
        let after = self.base_url.split_once('@').map_or_else(
            || self.base_url.split_once("://").map_or("", |(_, r)| r),
            |(_, r)| r,
        );
        let host_port = after.split('/').next().unwrap_or_default();
        let host_port = if host_port.contains(':') {
            host_port.to_owned()
        } else {
            format!("{host_port}:5432")
        };
        host_port
            .replace("localhost", "127.0.0.1")
            .parse()
            .expect("the test database address is host:port")
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) {
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.base_url).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {} CASCADE",
                self.name
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

/// A TCP relay on 127.0.0.1 in front of a target; [`Relay::cut`] closes every relayed
/// connection and refuses new ones until [`Relay::restore`].
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    generation: watch::Sender<u64>,
}

impl Relay {
    /// Starts relaying 127.0.0.1:<ephemeral> to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the relay");
        let addr = listener.local_addr().expect("relay address");
        let open = Arc::new(AtomicBool::new(true));
        let (generation, _) = watch::channel(0u64);
        let (open_task, generation_task) = (open.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !open_task.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let mut cut = generation_task.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self {
            addr,
            open,
            generation,
        }
    }

    /// The relay's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// Accepts and relays connections again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}
