//! End-to-end tests: the real `binding-proxy` binary on 127.0.0.1, the emulator as upstream.

mod admin_cli;
mod at_rest;
mod config_errors;
mod connection_slots;
mod cut_off;
mod data_tls;
mod deploy_metrics;
mod dev_mode;
mod docs;
mod h2_abuse;
mod hygiene;
mod layout;
mod metrics;
mod path_params;
mod rate_limits;
mod reflection;
mod replicas;
mod routing;
mod scopes;
mod seeds;
mod shutdown;
mod sse;
mod streaming;
mod tokens;
mod websocket;

use emulator::{EmulatorConfig, RunningEmulator};
use testkit::{HttpClient, ProxyOptions, ProxyProcess};

/// The compiled binary under test.
pub(crate) fn bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_binding-proxy"))
}

/// An emulator that knows `real_key`, and a proxy in front of it.
pub(crate) struct Stack {
    pub(crate) emulator: RunningEmulator,
    pub(crate) proxy: ProxyProcess,
    pub(crate) http: HttpClient,
}

impl Stack {
    pub(crate) async fn start(real_key: &str) -> Self {
        Self::start_with(real_key, |o| o).await
    }

    pub(crate) async fn start_with(
        real_key: &str,
        options: impl FnOnce(ProxyOptions) -> ProxyOptions,
    ) -> Self {
        let emulator = emulator::Emulator::spawn(EmulatorConfig {
            api_keys: vec![real_key.to_owned()],
            ..Default::default()
        })
        .await
        .expect("start the emulator");
        let proxy =
            ProxyProcess::start(bin(), options(ProxyOptions::new(emulator.base_url()))).await;
        Self {
            emulator,
            proxy,
            http: HttpClient::new(),
        }
    }

    /// A stack with one binding for `org` holding `real_key`, and a token for it.
    pub(crate) async fn with_binding(org: &str, real_key: &str) -> (Self, String) {
        Self::start(real_key).await.bind(org, real_key).await
    }

    /// This stack with a binding for `org` holding `real_key`, and a token for it.
    pub(crate) async fn bind(self, org: &str, real_key: &str) -> (Self, String) {
        self.proxy.create_binding(org, real_key).await;
        let token = self.proxy.token(org).await;
        (self, token)
    }

    /// `{TELNYX_BASE_URL}{path}`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.proxy.base_url())
    }
}
