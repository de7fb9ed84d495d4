//! `dev`: proxy, admin API and the upstream emulator in one process, all in memory, with a
//! demo binding, a demo KV namespace and a token, and a banner of lines to paste. Built with
//! the default `dev` feature only, so a production build can leave the emulator out.

mod banner;
mod demo_kv;

use std::io::Write;
use std::sync::Arc;

use anyhow::Context;
use dataplane::UpstreamOrigin;
use store::{MasterKey, Secret, SqliteStore, StoreHandle, StoreUrl};
use tracing::info;

use crate::app::{self, Listeners, Stack};
use crate::config::Config;
use crate::serve::{random_hex, sha256};
use crate::shutdown;
use banner::Banner;

/// What `dev` sets up: names a developer copies from the banner.
const DEV_ORG: &str = "demo-org";
const DEV_FUNCTION: &str = "demo-function";

/// Runs proxy, admin API and the upstream emulator in one process, all in memory.
pub(crate) async fn dev(mut config: Config) -> anyhow::Result<()> {
    let admin_token = random_hex(32);
    let upstream_key = format!("KEY_DEV_{}", random_hex(12));
    config.admin.token_sha256 = vec![sha256(admin_token.as_bytes())];
    config.store.url = StoreUrl::SqliteMemory;

    let emulator = emulator::Emulator::spawn(emulator::EmulatorConfig {
        api_keys: vec![upstream_key.clone()],
        ..Default::default()
    })
    .await
    .context("starting the upstream emulator")?;
    config.dataplane.upstream.origin = UpstreamOrigin::parse(&emulator.base_url())
        .context("the emulator's address is not an http origin")?;
    let kv_namespace_id = demo_kv::create(&emulator.base_url(), &upstream_key)
        .await
        .context("creating the demo KV namespace in the emulator")?;

    let store: StoreHandle = Arc::new(
        SqliteStore::connect("sqlite::memory:", MasterKey::generate())
            .await
            .context("opening the in-memory store")?,
    );
    let stack = Stack::build(&config, store.clone(), None).await?;
    let listeners = Listeners::bind(&config).await?;
    let dataplane_addr = listeners.dataplane.local_addr()?;
    let admin_addr = listeners.admin.local_addr()?;
    let base = app::public_base_url(&config, dataplane_addr);
    config.dataplane.listener.public_base_url = Some(base.clone());

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

    let admin_scheme = if config.admin.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let banner = Banner {
        upstream: &emulator.base_url(),
        dataplane_addr,
        admin_url: &format!("{admin_scheme}://{admin_addr}"),
        admin_token: &admin_token,
        org_id: DEV_ORG,
        function_id: DEV_FUNCTION,
        base: &base,
        jwt: &token.token,
        kv_namespace_id: &kv_namespace_id,
    }
    .render();
    std::io::stdout()
        .lock()
        .write_all(banner.as_bytes())
        .context("writing the banner")?;
    info!(org_id = DEV_ORG, "dev mode ready");
    let result = app::run(&config, stack, listeners, shutdown::os_signal()).await;
    drop(emulator);
    result
}
