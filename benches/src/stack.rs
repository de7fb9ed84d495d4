//! The in-process stack the benches drive.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth::{
    Authenticator, CredentialCache, IssueRequest, Issuer, Keyring, TokenSettings, Verifier,
};
use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use store::{MasterKey, NewBinding, Secret, SqliteStore, StoreHandle};

/// Upstream key the emulator accepts.
const REAL_KEY: &str = "KEY_BENCH_real_upstream_key";

/// A keep-alive HTTP/1.1 client.
pub type Client = hyper_util::client::legacy::Client<HttpConnector, Empty<Bytes>>;

/// Proxy in front of the emulator, with one binding and a warm token.
#[derive(Debug)]
pub struct BenchStack {
    /// The upstream emulator (kept alive for the bench).
    pub emulator: emulator::RunningEmulator,
    /// Data-plane address.
    pub proxy_addr: SocketAddr,
    /// A valid function token.
    pub token: String,
    /// The verifier, for micro benches.
    pub verifier: Arc<Verifier>,
    /// The credential cache, for micro benches.
    pub credentials: Arc<CredentialCache>,
    /// The binding id of the token.
    pub binding_id: String,
    /// The issuer, to mint fresh (cold) tokens.
    pub issuer: Arc<Issuer>,
    /// The binding.
    pub binding: store::Binding,
}

/// Unix seconds now.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl BenchStack {
    /// Builds the stack; call inside a Tokio runtime.
    pub async fn start() -> Self {
        let emulator = emulator::Emulator::spawn(emulator::EmulatorConfig {
            api_keys: vec![REAL_KEY.to_owned()],
            ..Default::default()
        })
        .await
        .expect("emulator starts");
        let store: StoreHandle = Arc::new(
            SqliteStore::connect("sqlite::memory:", MasterKey::generate())
                .await
                .expect("store opens"),
        );
        let settings = TokenSettings {
            issuer: "binding-proxy".into(),
            audience: "binding-proxy".into(),
            leeway_secs: 30,
            default_ttl_secs: 3600,
            max_ttl_secs: 86_400,
        };
        let keyring = Keyring::load(&store).await.expect("keyring");
        let issuer = Arc::new(Issuer::new(
            store.clone(),
            keyring.clone(),
            settings.clone(),
        ));
        issuer.ensure_signing_key(now()).await.expect("signing key");
        let verifier = Arc::new(Verifier::new(keyring, settings, 100_000));
        let credentials = Arc::new(CredentialCache::new(
            store.clone(),
            Duration::from_secs(60),
            100_000,
        ));
        let binding = store
            .create_binding(
                NewBinding {
                    org_id: "bench-org".into(),
                    api_key: Secret::from(REAL_KEY.to_owned()),
                    scopes: vec!["messaging".into(), "kv".into(), "account".into()],
                    rate_limit: None,
                },
                now(),
            )
            .await
            .expect("binding");
        let token = issuer
            .issue(
                &binding,
                IssueRequest {
                    function_id: Some("bench".into()),
                    ttl_secs: None,
                    scopes: None,
                },
                now(),
            )
            .await
            .expect("token")
            .token;

        let authenticator = Arc::new(Authenticator::new(verifier.clone(), credentials.clone()));
        let proxy = Arc::new(
            dataplane::Proxy::new(
                dataplane::DataplaneSettings {
                    upstream: dataplane::UpstreamSettings {
                        origin: dataplane::UpstreamOrigin::parse(&emulator.base_url())
                            .expect("the emulator is an http origin"),
                        ..dataplane::UpstreamSettings::default()
                    },
                    ..dataplane::DataplaneSettings::default()
                },
                authenticator,
                dataplane::Readiness::new(true),
            )
            .expect("proxy"),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let proxy_addr = listener.local_addr().expect("addr");
        tokio::spawn(dataplane::serve(
            listener,
            proxy,
            std::future::pending::<()>(),
            Duration::from_secs(1),
        ));
        Self {
            binding_id: binding.id.clone(),
            emulator,
            proxy_addr,
            token,
            verifier,
            credentials,
            issuer,
            binding,
        }
    }

    /// A keep-alive client.
    pub fn client() -> Client {
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http()
    }

    /// One GET through the proxy with the warm token; returns the status code.
    pub async fn get_via_proxy(&self, client: &Client, path: &str) -> u16 {
        let request = Request::get(format!(
            "http://{}/v2/compute/internal/binding-proxy{path}",
            self.proxy_addr
        ))
        .header("authorization", format!("Bearer {}", self.token))
        .body(Empty::new())
        .expect("request");
        let response = client.request(request).await.expect("answer");
        let status = response.status().as_u16();
        let _ = response.into_body().collect().await.expect("body");
        status
    }

    /// The same GET straight to the upstream (the floor).
    pub async fn get_direct(&self, client: &Client, path: &str) -> u16 {
        let request = Request::get(format!("{}{path}", self.emulator.base_url()))
            .header("authorization", format!("Bearer {REAL_KEY}"))
            .body(Empty::new())
            .expect("request");
        let response = client.request(request).await.expect("answer");
        let status = response.status().as_u16();
        let _ = response.into_body().collect().await.expect("body");
        status
    }
}
