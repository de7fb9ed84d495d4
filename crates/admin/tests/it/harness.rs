//! One running admin API per test, and a client that checks every answer for leaked keys.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth::{CredentialCache, Issuer, Keyring, TokenSettings, Verifier};
use aws_lc_rs::digest::{SHA256, digest};
use binding_proxy_admin::{self as admin, AdminLinks, AdminSettings, AdminState, Readiness};
use bytes::Bytes;
use emulator::{EmulatorConfig, RunningEmulator};
use http::{HeaderMap, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use store::{SqliteStore, StoreHandle};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The key the emulator accepts.
pub(crate) const REAL_KEY: &str = "KEY_REAL_123";
/// A well-formed key the emulator does not know.
pub(crate) const UNKNOWN_KEY: &str = "KEY_UNKNOWN_456";
/// Keys used anywhere in these tests: no response may ever contain one.
const SECRETS: [&str; 3] = [REAL_KEY, UNKNOWN_KEY, "KEY_REPLACED_789"];
pub(crate) const REPLACED_KEY: &str = SECRETS[2];

pub(crate) const ADMIN_TOKEN: &str = "admin-token-first";
pub(crate) const SECOND_ADMIN_TOKEN: &str = "admin-token-second";
pub(crate) const PUBLIC_BASE_URL: &str = "http://127.0.0.1:8080/v2/compute/internal/binding-proxy";

pub(crate) fn now() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

pub(crate) fn sha256(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

pub(crate) fn token_settings() -> TokenSettings {
    TokenSettings {
        issuer: "binding-proxy".to_owned(),
        audience: "telnyx-api".to_owned(),
        leeway_secs: 30,
        default_ttl_secs: 3600,
        max_ttl_secs: 86_400,
    }
}

/// An answer, already checked not to contain a secret.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
}

impl Answer {
    /// The `code` of an error document.
    pub(crate) fn code(&self) -> &str {
        self.body["errors"][0]["code"]
            .as_str()
            .unwrap_or("<no error code>")
    }

    /// The `detail` of an error document.
    pub(crate) fn detail(&self) -> &str {
        self.body["errors"][0]["detail"].as_str().unwrap_or("")
    }

    /// Asserts a refusal: status and code.
    #[track_caller]
    pub(crate) fn assert_refused(&self, status: u16, code: &str) {
        assert_eq!(self.status.as_u16(), status, "{:?}", self.body);
        assert_eq!(self.code(), code, "{:?}", self.body);
    }
}

/// The admin API under test.
pub(crate) struct Admin {
    pub(crate) base: String,
    pub(crate) verifier: Arc<Verifier>,
    pub(crate) credentials: Arc<CredentialCache>,
    pub(crate) keyring: Arc<Keyring>,
    pub(crate) readiness: Readiness,
    pub(crate) upstream: RunningEmulator,
    pub(crate) state_debug: String,
    client: Client<HttpConnector, Full<Bytes>>,
    _shutdown: oneshot::Sender<()>,
}

impl Admin {
    /// Starts everything with the emulator as the probe target.
    pub(crate) async fn start() -> Self {
        Self::start_with_probe_target(None).await
    }

    /// Starts everything; `probe_target` overrides the upstream the validation probe calls.
    pub(crate) async fn start_with_probe_target(probe_target: Option<http::Uri>) -> Self {
        let store: StoreHandle = Arc::new(
            SqliteStore::connect("sqlite::memory:", store::MasterKey::generate())
                .await
                .unwrap(),
        );
        let keyring = Keyring::load(&store).await.unwrap();
        let verifier = Arc::new(Verifier::new(keyring.clone(), token_settings(), 1_000));
        let credentials = Arc::new(CredentialCache::new(
            store.clone(),
            Duration::from_secs(60),
            1_000,
        ));
        let issuer = Arc::new(Issuer::new(
            store.clone(),
            keyring.clone(),
            token_settings(),
        ));
        issuer.ensure_signing_key(now()).await.unwrap();

        let upstream = emulator::Emulator::spawn(EmulatorConfig {
            api_keys: vec![REAL_KEY.to_owned()],
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let upstream_base_url =
            probe_target.unwrap_or_else(|| upstream.base_url().parse().unwrap());
        let settings = AdminSettings {
            token_sha256: vec![sha256(ADMIN_TOKEN), sha256(SECOND_ADMIN_TOKEN)],
            probe_timeout: Duration::from_secs(5),
            ..AdminSettings::default()
        };
        let links = AdminLinks {
            public_base_url: PUBLIC_BASE_URL.to_owned(),
            upstream_base_url,
        };
        let state = AdminState::new(
            store.clone(),
            issuer,
            keyring.clone(),
            verifier.clone(),
            credentials.clone(),
            settings,
            links,
            now,
            Readiness::new(),
        )
        .unwrap();
        let state_debug = format!("{state:?}");
        let readiness = state.readiness();

        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (shutdown, stop) = oneshot::channel::<()>();
        tokio::spawn(admin::serve(listener, admin::router(state), async move {
            let _ = stop.await;
        }));
        Self {
            base,
            verifier,
            credentials,
            keyring,
            readiness,
            upstream,
            state_debug,
            client: Client::builder(TokioExecutor::new()).build_http(),
            _shutdown: shutdown,
        }
    }

    /// Sends with the first admin token; a JSON body when given.
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let mut request = self
            .request(method, path)
            .header(header::AUTHORIZATION, bearer(ADMIN_TOKEN));
        let payload = match body {
            Some(json) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(serde_json::to_vec(&json).unwrap())
            }
            None => Bytes::new(),
        };
        self.send(request.body(Full::new(payload)).unwrap()).await
    }

    /// A request builder for `path` with nothing set.
    pub(crate) fn request(&self, method: Method, path: &str) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
    }

    /// Sends any request; every answer is checked for secrets.
    pub(crate) async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        let response = self.client.request(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        for secret in SECRETS {
            assert!(!text.contains(secret), "response leaks a key: {text}");
        }
        for value in headers.values() {
            let value = String::from_utf8_lossy(value.as_bytes());
            assert!(
                SECRETS.iter().all(|s| !value.contains(s)),
                "header leaks a key"
            );
        }
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        Answer {
            status,
            headers,
            body,
        }
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Answer {
        self.call(Method::POST, path, Some(body)).await
    }

    /// Creates a binding for `org_id` with `api_key` and checks the 201.
    pub(crate) async fn create_binding(&self, org_id: &str, api_key: &str) -> Value {
        let answer = self
            .post(
                "/v1/bindings",
                json!({ "org_id": org_id, "api_key": api_key }),
            )
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["data"].clone()
    }

    /// Mints a token for `org_id` and returns the `data` object.
    pub(crate) async fn issue_token(&self, org_id: &str, body: Value) -> Value {
        let answer = self
            .post(&format!("/v1/bindings/{org_id}/tokens"), body)
            .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.body);
        answer.body["data"].clone()
    }
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The decoded JSON of one JWT segment (0: header, 1: payload).
pub(crate) fn jwt_segment(token: &str, index: usize) -> Value {
    use base64::Engine;
    let segment = token.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Parses an RFC 3339 timestamp into unix seconds.
pub(crate) fn unix(text: &Value) -> i64 {
    let text = text.as_str().unwrap();
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}
