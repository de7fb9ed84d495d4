//! `serve`: start-up in the order that fails fast (config, keys, store, ports), then
//! [`crate::app::run`]; and `admin-token`.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use store::{MasterKey, MasterKeySource, PostgresStore, SqliteStore, StoreHandle, StoreUrl};
use tracing::warn;

use crate::app::{self, Listeners, Stack};
use crate::config::Config;
use crate::shutdown;

/// Runs the service on the configured store until SIGTERM or SIGINT.
pub(crate) async fn serve(config: Config) -> anyhow::Result<()> {
    let (store, postgres) = open_store(&config).await?;
    let stack = Stack::build(&config, store, postgres).await?;
    let listeners = Listeners::bind(&config).await?;
    app::run(&config, stack, listeners, shutdown::os_signal()).await
}

/// Opens the configured store; the PostgreSQL one is also returned as itself, for its metrics.
/// Only this function picks a backend; everything else sees `StoreHandle`.
async fn open_store(config: &Config) -> anyhow::Result<(StoreHandle, Option<Arc<PostgresStore>>)> {
    let path = &config.crypto.master_key_file;
    let (master_key, source) = MasterKey::load_or_create(path)
        .with_context(|| format!("loading the master key from {}", path.display()))?;
    if source == MasterKeySource::Created {
        warn!(
            path = %path.display(),
            key_id = master_key.id(),
            "created a new master key file (mode 0600); back it up: without it the store cannot be decrypted"
        );
    }
    let sqlite_url = match &config.store.url {
        StoreUrl::Postgres(url) => {
            let postgres = Arc::new(
                PostgresStore::connect(url.expose(), master_key)
                    .await
                    .with_context(|| format!("opening the PostgreSQL store at {url}"))?,
            );
            let store: StoreHandle = postgres.clone();
            return Ok((store, Some(postgres)));
        }
        StoreUrl::SqliteFile { url, path } => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the store directory {}", dir.display()))?;
            }
            url.as_str()
        }
        StoreUrl::SqliteMemory => "sqlite::memory:",
    };
    let store: StoreHandle = Arc::new(
        SqliteStore::connect(sqlite_url, master_key)
            .await
            .with_context(|| format!("opening the store at {sqlite_url}"))?,
    );
    Ok((store, None))
}

/// Prints a new admin token and its digest for `admin.token_sha256`.
pub(crate) fn admin_token() -> anyhow::Result<()> {
    let token = random_hex(32);
    let digest = hex::encode(sha256(token.as_bytes()));
    let mut out = std::io::stdout().lock();
    writeln!(out, "admin token (give to operators; shown once): {token}")?;
    writeln!(out, "sha256 (put into admin.token_sha256):        {digest}")?;
    writeln!(
        out,
        "\nexport BINDING_PROXY__ADMIN__TOKEN_SHA256={digest}   # for `binding-proxy serve`"
    )?;
    writeln!(
        out,
        "export BINDING_PROXY_ADMIN_TOKEN={token}          # for the CLI"
    )?;
    Ok(())
}

pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system RNG failing means the machine cannot make keys at all.
    aws_lc_rs::rand::fill(&mut buf).expect("the system random number generator is available");
    hex::encode(buf)
}

pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
