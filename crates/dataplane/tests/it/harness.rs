//! One full stack per test: in-memory store, auth, the proxy on an ephemeral port, and the
//! emulator as upstream.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth::scope::ScopeTable;
use auth::{
    Authenticator, CredentialCache, IssueRequest, Issuer, Keyring, TokenSettings, Verifier,
};
use bytes::Bytes;
use dataplane::{
    DataplaneSettings, DrainReport, ListenerSettings, Proxy, Readiness, UpstreamOrigin,
    UpstreamSettings,
};
use emulator::{Emulator, EmulatorConfig, RunningEmulator};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use store::{MasterKey, NewBinding, Secret, SqliteStore, StoreHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub(crate) const PREFIX: &str = "/v2/compute/internal/binding-proxy";
pub(crate) const API_KEY: &str = "KEYreal-upstream-key-0001";

pub(crate) type TestBody = BoxBody<Bytes, Infallible>;

pub(crate) fn now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    i64::try_from(secs).unwrap()
}

/// What the proxy sends in place of `key` in a body: `[redacted]` padded with `*` (or cut) to
/// the key's length.
pub(crate) fn masked(key: &str) -> String {
    "[redacted]"
        .chars()
        .chain(std::iter::repeat('*'))
        .take(key.len())
        .collect()
}

pub(crate) fn empty() -> TestBody {
    Empty::new().boxed()
}

/// How a test wants the stack built.
pub(crate) struct Options {
    pub(crate) upstream: Option<String>,
    pub(crate) response_timeout: Duration,
    pub(crate) drain_grace: Duration,
    /// Scopes of the binding.
    pub(crate) binding_scopes: Vec<&'static str>,
    /// The token's `scp`; `None`: not narrowed.
    pub(crate) token_scopes: Option<Vec<&'static str>>,
    pub(crate) max_body_bytes: Option<u64>,
    pub(crate) header_read_timeout: Duration,
    pub(crate) client_idle_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    /// Extra CA certificates (PEM) trusted for the upstream.
    pub(crate) upstream_ca_file: Option<std::path::PathBuf>,
    /// Responses declaring at most this many bytes are read whole first.
    pub(crate) buffer_small_responses: u64,
    pub(crate) body_idle_timeout: Duration,
    /// The organization's upstream key, in the binding and in the emulator.
    pub(crate) api_key: &'static str,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            upstream: None,
            response_timeout: Duration::from_secs(30),
            drain_grace: Duration::from_secs(30),
            binding_scopes: vec!["messaging", "kv", "account"],
            token_scopes: None,
            max_body_bytes: None,
            header_read_timeout: Duration::from_secs(10),
            client_idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            pool_idle_timeout: Duration::from_secs(90),
            connect_timeout: Duration::from_secs(5),
            upstream_ca_file: None,
            buffer_small_responses: 64 * 1024,
            body_idle_timeout: Duration::from_secs(30),
            api_key: API_KEY,
        }
    }
}

/// The default scope table, plus the emulator's test routes under `account` so tests can use
/// `/v2/_emulator/*`.
pub(crate) fn test_scopes() -> ScopeTable {
    ScopeTable::from_map(BTreeMap::from([(
        "account".to_owned(),
        vec!["balance".to_owned(), "_emulator".to_owned()],
    )]))
    .unwrap()
}

pub(crate) struct Stack {
    pub(crate) addr: SocketAddr,
    pub(crate) emulator: RunningEmulator,
    pub(crate) token: String,
    pub(crate) readiness: Readiness,
    /// The proxy `serve` runs, kept to look at after it returned.
    pub(crate) proxy: Arc<Proxy>,
    pub(crate) client: Client<HttpConnector, TestBody>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<DrainReport>>>,
}

pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "body is not JSON ({err}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `code` of the first error in an error document.
    pub(crate) fn code(&self) -> String {
        self.json()["errors"][0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Stack {
    pub(crate) async fn start() -> Self {
        Self::start_with(Options::default()).await
    }

    pub(crate) async fn start_with(options: Options) -> Self {
        let now = now();
        let store: StoreHandle = Arc::new(
            SqliteStore::connect("sqlite::memory:", MasterKey::generate())
                .await
                .unwrap(),
        );
        let token_settings = TokenSettings {
            issuer: "binding-proxy-test".to_owned(),
            audience: "binding-proxy-test".to_owned(),
            leeway_secs: 30,
            default_ttl_secs: 3600,
            max_ttl_secs: 86_400,
        };
        let keyring = Keyring::load(&store).await.unwrap();
        let issuer = Issuer::new(store.clone(), keyring.clone(), token_settings.clone());
        issuer.ensure_signing_key(now).await.unwrap();
        let binding = store
            .create_binding(
                NewBinding {
                    org_id: "org-1".to_owned(),
                    api_key: Secret::from(options.api_key.to_owned()),
                    scopes: options
                        .binding_scopes
                        .iter()
                        .map(|s| (*s).to_owned())
                        .collect(),
                    rate_limit: None,
                },
                now,
            )
            .await
            .unwrap();
        let token = issuer
            .issue(
                &binding,
                IssueRequest {
                    function_id: Some("fn-1".to_owned()),
                    scopes: options
                        .token_scopes
                        .as_ref()
                        .map(|scopes| scopes.iter().map(|s| (*s).to_owned()).collect()),
                    ..IssueRequest::default()
                },
                now,
            )
            .await
            .unwrap()
            .token;
        let verifier = Arc::new(Verifier::new(keyring, token_settings, 1_000));
        let credentials = Arc::new(CredentialCache::new(store, Duration::from_secs(60), 1_000));
        let authenticator = Arc::new(Authenticator::new(verifier, credentials));

        let emulator = Emulator::spawn(EmulatorConfig {
            api_keys: vec![options.api_key.to_owned()],
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let upstream = options.upstream.unwrap_or_else(|| emulator.base_url());
        let settings = DataplaneSettings {
            listener: ListenerSettings {
                max_body_bytes: options.max_body_bytes,
                header_read_timeout: options.header_read_timeout,
                client_idle_timeout: options.client_idle_timeout,
                max_connections: options.max_connections,
                ..ListenerSettings::default()
            },
            upstream: UpstreamSettings {
                origin: UpstreamOrigin::parse(&upstream).unwrap(),
                response_timeout: options.response_timeout,
                connect_timeout: options.connect_timeout,
                pool_idle_timeout: options.pool_idle_timeout,
                ca_file: options.upstream_ca_file,
                buffer_small_responses: options.buffer_small_responses,
                body_idle_timeout: options.body_idle_timeout,
            },
            scopes: test_scopes(),
            ..DataplaneSettings::default()
        };
        let readiness = Readiness::new(true);
        let proxy = Arc::new(Proxy::new(settings, authenticator, readiness.clone()).unwrap());

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(dataplane::serve(
            listener,
            Arc::clone(&proxy),
            async move {
                let _ = stop.await;
            },
            options.drain_grace,
        ));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Self {
            addr,
            emulator,
            token,
            readiness,
            proxy,
            client,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    pub(crate) fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// A request to the proxy carrying the binding token.
    pub(crate) fn authorized(
        &self,
        method: Method,
        path_and_query: &str,
    ) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(self.url(path_and_query))
            .header("authorization", format!("Bearer {}", self.token))
    }

    /// Sends and returns the response head with its body still streaming.
    pub(crate) async fn send_streaming(
        &self,
        request: Request<TestBody>,
    ) -> http::Response<Incoming> {
        self.client.request(request).await.unwrap()
    }

    /// Sends and collects the whole response.
    pub(crate) async fn send(&self, request: Request<TestBody>) -> Reply {
        let response = self.send_streaming(request).await;
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET` with the token.
    pub(crate) async fn get(&self, path_and_query: &str) -> Reply {
        self.send(
            self.authorized(Method::GET, path_and_query)
                .body(empty())
                .unwrap(),
        )
        .await
    }

    /// Writes `request` verbatim on a fresh connection and reads until the proxy closes it.
    pub(crate) async fn raw(&self, request: &str) -> String {
        let mut stream = TcpStream::connect(self.addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        String::from_utf8_lossy(&response).into_owned()
    }

    /// Signals shutdown and waits for `serve` to return.
    pub(crate) async fn shut_down(&mut self) -> DrainReport {
        if let Some(shutdown) = self.shutdown.take() {
            shutdown.send(()).unwrap();
        }
        let server = self.server.take().expect("shut down once");
        server.await.unwrap().unwrap()
    }
}

/// Sends a keep-alive `GET` on `stream` and reads one response with `Content-Length`.
pub(crate) async fn exchange(stream: &mut TcpStream, stack: &Stack, tag: &str) -> u16 {
    stream
        .write_all(
            format!(
                "GET {PREFIX}/balance?who={tag} HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {}\r\n\r\n",
                stack.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    read_response(stream).await
}

/// Reads one response with `Content-Length` from `stream`; its status.
pub(crate) async fn read_response(stream: &mut TcpStream) -> u16 {
    read_response_head(stream).await[9..12].parse().unwrap()
}

/// Reads one response with `Content-Length` from `stream`; its head (status line and headers).
pub(crate) async fn read_response_head(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0_u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert_ne!(n, 0, "connection closed mid-response");
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data);
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap();
            if data.len() >= end + 4 + length {
                return text[..end].to_owned();
            }
        }
    }
}

/// The status line and the `code` of a raw HTTP/1.1 response.
pub(crate) fn raw_status_and_code(response: &str) -> (u16, String) {
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|json| json["errors"][0]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}
