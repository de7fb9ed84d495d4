//! `serve` and `dev`: start-up in the order that fails fast (config, keys, store, ports), then
//! [`crate::app::run`].

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use store::{MasterKey, MasterKeySource, PostgresStore, Secret, SqliteStore, StoreHandle};
use tracing::{info, warn};

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
async fn open_store(config: &Config) -> anyhow::Result<(StoreHandle, Option<Arc<PostgresStore>>)> {
    let path = &config.master_key_file;
    let (master_key, source) = MasterKey::load_or_create(path)
        .with_context(|| format!("loading the master key from {}", path.display()))?;
    if source == MasterKeySource::Created {
        warn!(
            path = %path.display(),
            key_id = master_key.id(),
            "created a new master key file (mode 0600); back it up: without it the store cannot be decrypted"
        );
    }
    if let Some(file) = config.store_url.expose().strip_prefix("sqlite://") {
        let file = file.split('?').next().unwrap_or(file);
        if let Some(dir) = Path::new(file)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
        {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the store directory {}", dir.display()))?;
        }
    }
    // Only this function picks a backend; everything else sees `StoreHandle`.
    let url = config.store_url.expose();
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let postgres = Arc::new(PostgresStore::connect(url, master_key).await.with_context(
            || {
                format!(
                    "opening the PostgreSQL store at {}",
                    config.store_url.redacted()
                )
            },
        )?);
        let store: StoreHandle = postgres.clone();
        return Ok((store, Some(postgres)));
    }
    let store: StoreHandle = Arc::new(
        SqliteStore::connect(url, master_key)
            .await
            .with_context(|| format!("opening the store at {url}"))?,
    );
    Ok((store, None))
}

/// What `dev` sets up: names a developer copies from the banner.
const DEV_ORG: &str = "demo-org";
const DEV_FUNCTION: &str = "demo-function";

/// Runs proxy, admin API and the upstream emulator in one process, all in memory.
pub(crate) async fn dev(mut config: Config) -> anyhow::Result<()> {
    let admin_token = random_hex(32);
    let upstream_key = format!("KEY_DEV_{}", random_hex(12));
    config.admin_token_sha256 = vec![sha256(admin_token.as_bytes())];
    config.store_url = crate::config::StoreUrl("sqlite::memory:".into());

    let emulator = emulator::Emulator::spawn(emulator::EmulatorConfig {
        api_keys: vec![upstream_key.clone()],
        ..Default::default()
    })
    .await
    .context("starting the upstream emulator")?;
    config.upstream_base_url = emulator
        .base_url()
        .parse()
        .context("emulator address is not a URL")?;

    let store: StoreHandle = Arc::new(
        SqliteStore::connect("sqlite::memory:", MasterKey::generate())
            .await
            .context("opening the in-memory store")?,
    );
    let stack = Stack::build(&config, store.clone(), None).await?;
    let listeners = Listeners::bind(&config).await?;
    let dataplane_addr = listeners.dataplane.local_addr()?;
    let admin_addr = listeners.admin.local_addr()?;
    let base = config.public_base_url.clone().unwrap_or_else(|| {
        crate::config::default_public_base_url(dataplane_addr, &config.path_prefix)
    });
    config.public_base_url = Some(base.clone());

    let now = app::now();
    let binding = store
        .create_binding(
            store::NewBinding {
                org_id: DEV_ORG.into(),
                api_key: Secret::from(upstream_key),
                scopes: auth::scope::SERVICES.map(String::from).to_vec(),
                rate_limit: None,
            },
            now,
        )
        .await
        .context("creating the demo binding")?;
    let token = stack
        .issuer
        .issue(
            &binding,
            auth::IssueRequest {
                function_id: Some(DEV_FUNCTION.into()),
                ttl_secs: None,
                scopes: None,
            },
            now,
        )
        .await
        .context("minting the demo token")?;

    let banner = format!(
        "\nbinding-proxy dev is running (everything in memory; upstream = built-in emulator at {upstream})\n\
         \n  data plane  http://{dataplane_addr}\n  admin API   {admin_scheme}://{admin_addr}\n\
         \nOperator (CLI and admin API):\n  export BINDING_PROXY_ADMIN_URL={admin_scheme}://{admin_addr}\n  export BINDING_PROXY_ADMIN_TOKEN={admin_token}\n  binding-proxy bindings get {DEV_ORG}\n\
         \nFunction environment ({DEV_ORG}/{DEV_FUNCTION}):\n  export TELNYX_BASE_URL={base}\n  export TELNYX_API_KEY={jwt}\n\
         \nTry it:\n  curl -sS -H \"Authorization: Bearer $TELNYX_API_KEY\" \"$TELNYX_BASE_URL/v2/balance\"\n",
        upstream = emulator.base_url(),
        admin_scheme = if config.admin_tls.is_some() {
            "https"
        } else {
            "http"
        },
        jwt = token.token,
    );
    std::io::stdout()
        .lock()
        .write_all(banner.as_bytes())
        .context("writing the banner")?;
    info!(org_id = DEV_ORG, "dev mode ready");
    let result = app::run(&config, stack, listeners, shutdown::os_signal()).await;
    drop(emulator);
    result
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

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // The system RNG failing means the machine cannot make keys at all.
    aws_lc_rs::rand::fill(&mut buf).expect("the system random number generator is available");
    hex::encode(buf)
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}
