//! The admin listener over TLS and mTLS: certificates are generated per test (rcgen), written
//! as PEM to a temporary directory, and the real router is served with `serve_tls` on
//! 127.0.0.1. Clients are rustls + hyper over a real socket.

// Test code: a failed `unwrap` is a failed test (clippy's `allow-unwrap-in-tests` does not
// reach helper functions outside `#[test]`).
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth::{CredentialCache, Issuer, Keyring, TokenSettings, Verifier};
use aws_lc_rs::digest::{SHA256, digest};
use binding_proxy_admin::{
    self as admin, AdminLinks, AdminSettings, AdminState, AdminTls, AdminTlsError,
};
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer as CaIssuer,
    KeyPair, KeyUsagePurpose,
};
use rustls::ClientConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use store::{SqliteStore, StoreHandle};
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

const ADMIN_TOKEN: &str = "admin-token-tls";
/// Bounds every client exchange: a refused handshake must fail, never hang.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------------
// Certificates

/// A CA that can sign leaves.
struct Ca {
    pem: String,
    issuer: CaIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::CrlSign,
        ];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Self {
            pem,
            issuer: CaIssuer::new(params, key),
        }
    }

    /// A leaf certificate and its PKCS#8 key, both PEM.
    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> (String, String) {
        let names: Vec<String> = names.iter().map(|&name| name.to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "binding-proxy test");
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Every PEM file a test needs, in a directory that lives as long as this value.
struct Pki {
    dir: TempDir,
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
    stranger_cert: PathBuf,
    stranger_key: PathBuf,
}

impl Pki {
    /// A CA; a server certificate for `localhost` and `127.0.0.1` and a client certificate,
    /// both from that CA; and a client certificate from another CA.
    fn generate() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("admin test CA");
        let other_ca = Ca::new("some other CA");
        let (server_cert, server_key) = ca.leaf(
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert, client_key) = ca.leaf(&["operator"], ExtendedKeyUsagePurpose::ClientAuth);
        let (stranger_cert, stranger_key) =
            other_ca.leaf(&["operator"], ExtendedKeyUsagePurpose::ClientAuth);
        let write = |name: &str, contents: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).unwrap();
            path
        };
        Self {
            ca: write("ca.pem", &ca.pem),
            server_cert: write("server.pem", &server_cert),
            server_key: write("server.key", &server_key),
            client_cert: write("client.pem", &client_cert),
            client_key: write("client.key", &client_key),
            stranger_cert: write("stranger.pem", &stranger_cert),
            stranger_key: write("stranger.key", &stranger_key),
            dir,
        }
    }

    fn server_only(&self) -> AdminTls {
        AdminTls {
            cert_chain_pem: self.server_cert.clone(),
            private_key_pem: self.server_key.clone(),
            client_ca_pem: None,
        }
    }

    fn mutual(&self) -> AdminTls {
        AdminTls {
            client_ca_pem: Some(self.ca.clone()),
            ..self.server_only()
        }
    }

    /// Writes `contents` to a new file in the directory.
    fn file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// A client trusting our CA, presenting `identity` (certificate, key) when given, and
    /// offering `alpn`.
    fn client(&self, identity: Option<(&Path, &Path)>, alpn: &[&[u8]]) -> TlsConnector {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_file(&self.ca).unwrap())
            .unwrap();
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_file(cert).unwrap()],
                    PrivateKeyDer::from_pem_file(key).unwrap(),
                )
                .unwrap(),
        };
        config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }

    fn operator(&self) -> TlsConnector {
        self.client(Some((&self.client_cert, &self.client_key)), &[])
    }

    fn stranger(&self) -> TlsConnector {
        self.client(Some((&self.stranger_cert, &self.stranger_key)), &[])
    }

    fn anonymous(&self) -> TlsConnector {
        self.client(None, &[])
    }
}

// ---------------------------------------------------------------------------------------------
// The admin API over TLS

fn now() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_secs()).unwrap()
}

fn sha256(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

/// The admin state with an in-memory SQLite store and one signing key. The validation probe
/// is never called here, so its upstream is a closed port.
async fn state() -> AdminState {
    let store: StoreHandle = Arc::new(
        SqliteStore::connect("sqlite::memory:", store::MasterKey::generate())
            .await
            .unwrap(),
    );
    let settings = TokenSettings {
        issuer: "binding-proxy".to_owned(),
        audience: "telnyx-api".to_owned(),
        leeway_secs: 30,
        default_ttl_secs: 3600,
        max_ttl_secs: 86_400,
    };
    let keyring = Keyring::load(&store).await.unwrap();
    let verifier = Arc::new(Verifier::new(keyring.clone(), settings.clone(), 1_000));
    let credentials = Arc::new(CredentialCache::new(
        store.clone(),
        Duration::from_secs(60),
        1_000,
    ));
    let issuer = Arc::new(Issuer::new(store.clone(), keyring.clone(), settings));
    issuer.ensure_signing_key(now()).await.unwrap();
    AdminState::new(
        store,
        issuer,
        keyring,
        verifier,
        credentials,
        AdminSettings {
            token_sha256: vec![sha256(ADMIN_TOKEN)],
            probe_timeout: Duration::from_secs(1),
            ..AdminSettings::default()
        },
        AdminLinks {
            public_base_url: "http://127.0.0.1:8080/v2/compute/internal/binding-proxy".to_owned(),
            upstream_base_url: "http://127.0.0.1:9".parse().unwrap(),
        },
        now,
        admin::Readiness::new(),
    )
    .unwrap()
}

/// The admin API served with `serve_tls`; dropping it (or [`Server::stop`]) shuts it down.
struct Server {
    addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(tls: &AdminTls) -> Self {
        let acceptor = admin::tls_acceptor(tls).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (shutdown, stop) = oneshot::channel::<()>();
        let task = tokio::spawn(admin::serve_tls(
            listener,
            admin::router(state().await),
            acceptor,
            async move {
                let _ = stop.await;
            },
        ));
        Self {
            addr,
            shutdown,
            task,
        }
    }

    /// Triggers shutdown and waits for `serve_tls` to return.
    async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(());
        tokio::time::timeout(EXCHANGE_TIMEOUT, self.task)
            .await
            .expect("serve_tls returns soon after shutdown")
            .unwrap()
    }

    /// GET `path` over HTTP/1.1 through `connector`, with the admin token when `token`.
    /// `Err` describes where the exchange failed (connect, handshake, request, timeout).
    async fn get(
        &self,
        connector: &TlsConnector,
        path: &str,
        token: bool,
    ) -> Result<(StatusCode, Value), String> {
        let mut request = Request::get(path).header(header::HOST, "localhost");
        if token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {ADMIN_TOKEN}"));
        }
        let request = request.body(Full::new(Bytes::new())).unwrap();
        let exchange = async {
            let tls = self.connect(connector).await?;
            let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
                .await
                .map_err(|err| format!("http1 handshake: {err}"))?;
            tokio::spawn(connection);
            let response = sender
                .send_request(request)
                .await
                .map_err(|err| format!("request: {}", chain(&err)))?;
            read(response).await
        };
        tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
            .await
            .map_err(|_| "timed out".to_owned())?
    }

    async fn connect(
        &self,
        connector: &TlsConnector,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        let tcp = TcpStream::connect(self.addr)
            .await
            .map_err(|err| format!("connect: {err}"))?;
        connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .map_err(|err| format!("tls handshake: {err}"))
    }
}

async fn read(
    response: http::Response<hyper::body::Incoming>,
) -> Result<(StatusCode, Value), String> {
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|err| format!("body: {err}"))?
        .to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok((status, body))
}

/// An error and all its sources, for assertions on why an exchange failed.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn code(body: &Value) -> &str {
    body["errors"][0]["code"]
        .as_str()
        .unwrap_or("<no error code>")
}

// ---------------------------------------------------------------------------------------------
// (a) Server-side TLS

#[tokio::test]
async fn liveness_answers_over_tls_without_a_client_certificate() {
    let pki = Pki::generate();
    let server = Server::start(&pki.server_only()).await;
    let (status, _) = server
        .get(&pki.anonymous(), "/health/liveness", false)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn alpn_offers_h2_and_http_1_1_and_h2_serves_the_router() {
    let pki = Pki::generate();
    let server = Server::start(&pki.server_only()).await;

    let h1 = server
        .connect(&pki.client(None, &[b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(h1.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));

    let h2 = server
        .connect(&pki.client(None, &[b"h2", b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(h2.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(h2))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = Request::get("https://localhost/health/liveness")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn data_plane_routes_are_404_not_found_on_the_admin_listener() {
    let pki = Pki::generate();
    let server = Server::start(&pki.server_only()).await;
    for path in [
        "/v2/compute/internal/binding-proxy/v2/balance",
        "/v2/balance",
    ] {
        let (status, body) = server.get(&pki.anonymous(), path, true).await.unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(code(&body), "not_found", "{path}: {body}");
    }
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// (b) Mutual TLS

#[tokio::test]
async fn a_client_certificate_from_the_ca_and_an_admin_token_reach_v1() {
    let pki = Pki::generate();
    let server = Server::start(&pki.mutual()).await;
    let (status, body) = server
        .get(&pki.operator(), "/v1/signing-keys", true)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["data"].as_array().is_some_and(|keys| !keys.is_empty()),
        "{body}"
    );
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_certificate_does_not_replace_the_admin_token() {
    let pki = Pki::generate();
    let server = Server::start(&pki.mutual()).await;
    let (status, body) = server
        .get(&pki.operator(), "/v1/signing-keys", false)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(code(&body), "admin_unauthorized");
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_without_a_certificate_gets_no_answer_under_mtls() {
    let pki = Pki::generate();
    let server = Server::start(&pki.mutual()).await;
    for path in ["/health/liveness", "/v1/signing-keys"] {
        let outcome = server.get(&pki.anonymous(), path, true).await;
        let err = outcome.err().unwrap_or_else(|| panic!("{path} answered"));
        assert!(err.contains("CertificateRequired"), "{path}: {err}");
    }
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_gets_no_answer_under_mtls() {
    let pki = Pki::generate();
    let server = Server::start(&pki.mutual()).await;
    for path in ["/health/liveness", "/v1/signing-keys"] {
        let outcome = server.get(&pki.stranger(), path, true).await;
        let err = outcome.err().unwrap_or_else(|| panic!("{path} answered"));
        assert!(err.contains("UnknownCA"), "{path}: {err}");
    }
    // Refused handshakes do not disturb the listener.
    let (status, _) = server
        .get(&pki.operator(), "/v1/signing-keys", true)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    server.stop().await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// (c) Plain HTTP on the TLS port, stalled handshakes and shutdown

#[tokio::test]
async fn plain_http_on_the_tls_port_gets_no_http_answer() {
    let pki = Pki::generate();
    let server = Server::start(&pki.server_only()).await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET /health/liveness HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // The server drops the connection (perhaps after a TLS alert); a reset counts too.
    let _ = tokio::time::timeout(EXCHANGE_TIMEOUT, tcp.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection");
    assert!(
        !answer.starts_with(b"HTTP/"),
        "plain HTTP was answered: {}",
        String::from_utf8_lossy(&answer)
    );
    // The listener still serves TLS clients.
    let (status, _) = server
        .get(&pki.anonymous(), "/health/liveness", false)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_stalled_handshake_neither_blocks_other_clients_nor_shutdown() {
    let pki = Pki::generate();
    let server = Server::start(&pki.mutual()).await;
    // Connected, never says a word.
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    let (status, _) = server
        .get(&pki.operator(), "/health/liveness", false)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    let started = tokio::time::Instant::now();
    server.stop().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------------
// (d) Configuration errors name the file and never show its contents

/// Looks like PEM, but its base64 is broken; the marker must never appear in an error.
const BROKEN_PEM: &str =
    "-----BEGIN CERTIFICATE-----\nLEAKED*MARKER*not*base64\n-----END CERTIFICATE-----\n";

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let pki = Pki::generate();
    let missing = pki.dir.path().join("nope.pem");
    for tls in [
        AdminTls {
            cert_chain_pem: missing.clone(),
            ..pki.server_only()
        },
        AdminTls {
            private_key_pem: missing.clone(),
            ..pki.server_only()
        },
        AdminTls {
            client_ca_pem: Some(missing.clone()),
            ..pki.server_only()
        },
    ] {
        let err = admin::tls_acceptor(&tls).err().unwrap();
        assert!(
            matches!(&err, AdminTlsError::Read { path, .. } if *path == missing),
            "{err:?}"
        );
        assert!(
            err.to_string().contains(&*missing.to_string_lossy()),
            "{err}"
        );
    }
}

#[test]
fn garbage_and_malformed_pem_name_the_file_but_not_its_contents() {
    let pki = Pki::generate();
    let garbage = pki.file("garbage.pem", "LEAKED*MARKER plain text, no PEM at all\n");
    let broken = pki.file("broken.pem", BROKEN_PEM);

    // Each case: the configuration, the file at fault, the expected kind of error.
    type Case<'a> = (AdminTls, &'a Path, fn(&AdminTlsError) -> bool);
    let cases: [Case<'_>; 5] = [
        (
            AdminTls {
                cert_chain_pem: garbage.clone(),
                ..pki.server_only()
            },
            &garbage,
            |err| matches!(err, AdminTlsError::NoCertificate { .. }),
        ),
        (
            AdminTls {
                private_key_pem: garbage.clone(),
                ..pki.server_only()
            },
            &garbage,
            |err| matches!(err, AdminTlsError::NoPrivateKey { .. }),
        ),
        (
            AdminTls {
                client_ca_pem: Some(garbage.clone()),
                ..pki.server_only()
            },
            &garbage,
            |err| matches!(err, AdminTlsError::NoCertificate { .. }),
        ),
        (
            AdminTls {
                cert_chain_pem: broken.clone(),
                ..pki.server_only()
            },
            &broken,
            |err| matches!(err, AdminTlsError::MalformedPem { .. }),
        ),
        (
            AdminTls {
                client_ca_pem: Some(broken.clone()),
                ..pki.server_only()
            },
            &broken,
            |err| matches!(err, AdminTlsError::MalformedPem { .. }),
        ),
    ];
    for (tls, path, expected) in cases {
        let err = admin::tls_acceptor(&tls).err().unwrap();
        assert!(expected(&err), "{path:?}: {err:?}");
        let shown = format!("{err} / {err:?} / {:?}", std::error::Error::source(&err));
        assert!(shown.contains(&*path.to_string_lossy()), "{shown}");
        assert!(!shown.contains("LEAKED"), "{shown}");
    }
}

#[test]
fn a_key_that_does_not_match_the_certificate_names_both_files() {
    let pki = Pki::generate();
    let tls = AdminTls {
        private_key_pem: pki.client_key.clone(),
        ..pki.server_only()
    };
    let err = admin::tls_acceptor(&tls).err().unwrap();
    assert!(matches!(err, AdminTlsError::Identity { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains(&*pki.server_cert.to_string_lossy()),
        "{shown}"
    );
    assert!(
        shown.contains(&*pki.client_key.to_string_lossy()),
        "{shown}"
    );
}

#[test]
fn valid_files_build_an_acceptor_with_and_without_a_client_ca() {
    let pki = Pki::generate();
    assert!(admin::tls_acceptor(&pki.server_only()).is_ok());
    assert!(admin::tls_acceptor(&pki.mutual()).is_ok());
}
