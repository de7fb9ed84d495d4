//! An upstream over TLS, as the real API is: ALPN picks HTTP/2 (one shared connection) or
//! HTTP/1.1, the certificate is verified against Mozilla's roots plus `upstream_ca_file`, and
//! an upstream the proxy cannot verify is never sent a request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use dataplane::{DataplaneError, DataplaneSettings, Proxy, Readiness};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use crate::harness::{API_KEY, Options, PREFIX, Stack, masked};

/// A CA, and a leaf for 127.0.0.1 signed by it.
pub(crate) struct Pki {
    ca_pem: String,
    leaf: CertificateDer<'static>,
    leaf_key: PrivateKeyDer<'static>,
}

pub(crate) fn pki() -> Pki {
    pki_for(SanType::IpAddress([127, 0, 0, 1].into()))
}

/// A CA, and a leaf for `name` signed by it.
fn pki_for(name: SanType) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let mut leaf_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf_params.subject_alt_names = vec![name];
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        leaf: leaf.der().clone(),
        leaf_key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    }
}

/// What the TLS upstream saw: TCP connections, TLS handshakes completed, requests answered
/// (and how many carried the real key), and connections that ended after their handshake.
#[derive(Default)]
pub(crate) struct Seen {
    tcp: AtomicUsize,
    connections: AtomicUsize,
    requests: AtomicUsize,
    with_real_key: AtomicUsize,
    pub(crate) ended: watch::Sender<usize>,
}

/// A TLS upstream offering `alpn`; answers every request with the HTTP version, the
/// `Authorization` it received (as a careless API would), the path and the request body's
/// length, as JSON.
pub(crate) async fn tls_upstream(pki: &Pki, alpn: &[&[u8]]) -> (SocketAddr, Arc<Seen>) {
    let mut config = ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![pki.leaf.clone()], pki.leaf_key.clone_key())
    .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let counts = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counts.tcp.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            let counts = Arc::clone(&counts);
            tokio::spawn(async move {
                // A client that refuses our certificate ends here.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                counts.connections.fetch_add(1, Ordering::SeqCst);
                let ended = counts.ended.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    let counts = Arc::clone(&counts);
                    async move {
                        counts.requests.fetch_add(1, Ordering::SeqCst);
                        let version = format!("{:?}", request.version());
                        let authorization = request
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        if authorization == format!("Bearer {API_KEY}") {
                            counts.with_real_key.fetch_add(1, Ordering::SeqCst);
                        }
                        let path = request.uri().path().to_owned();
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let json = serde_json::json!({
                            "version": version,
                            "authorization": authorization,
                            "path": path,
                            "body_bytes": body.len(),
                        });
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(json.to_string()))))
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
                ended.send_modify(|ended| *ended += 1);
            });
        }
    });
    (addr, seen)
}

pub(crate) fn write_ca(pki: &Pki) -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upstream-ca.pem");
    std::fs::write(&path, &pki.ca_pem).unwrap();
    (dir, path)
}

pub(crate) async fn stack_for(addr: SocketAddr, ca_file: Option<PathBuf>) -> Stack {
    Stack::start_with(Options {
        upstream: Some(format!("https://{addr}")),
        upstream_ca_file: ca_file,
        ..Options::default()
    })
    .await
}

/// Asks for `/v2/balance` and checks the upstream was reached over TCP but refused in the TLS
/// handshake: 502 `upstream_unavailable`, no handshake completed, no request answered.
async fn refused_in_the_handshake(stack: &Stack, seen: &Seen) -> crate::harness::Reply {
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.code(), "upstream_unavailable");
    assert!(seen.tcp.load(Ordering::SeqCst) >= 1);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 0);
    assert_eq!(seen.requests.load(Ordering::SeqCst), 0);
    reply
}

#[tokio::test]
async fn an_http2_upstream_over_tls_gets_every_request_on_one_connection() {
    let pki = pki();
    let (addr, seen) = tls_upstream(&pki, &[b"h2", b"http/1.1"]).await;
    let (_dir, ca) = write_ca(&pki);
    let stack = stack_for(addr, Some(ca)).await;

    for _ in 0..3 {
        let reply = stack.get(&format!("{PREFIX}/balance")).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        let json = reply.json();
        assert_eq!(json["version"], "HTTP/2.0");
        // The upstream echoed the key it received; the proxy masked it.
        assert_eq!(json["authorization"], format!("Bearer {}", masked(API_KEY)));
        assert_eq!(json["path"], "/v2/balance");
    }
    // An upload: the request body streams on the shared connection too.
    let upload = stack
        .authorized(Method::POST, &format!("{PREFIX}/balance"))
        .body(Full::new(Bytes::from(vec![b'x'; 100_000])).boxed())
        .unwrap();
    let reply = stack.send(upload).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["body_bytes"], 100_000);
    // Concurrent requests multiplex on the connection that is already open.
    let path = format!("{PREFIX}/balance");
    let requests = (0..8).map(|_| stack.get(&path));
    for reply in futures_util::future::join_all(requests).await {
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.json()["version"], "HTTP/2.0");
    }
    assert_eq!(seen.requests.load(Ordering::SeqCst), 12);
    assert_eq!(seen.with_real_key.load(Ordering::SeqCst), 12);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_http1_upstream_over_tls_keeps_its_connection_alive() {
    let pki = pki();
    let (addr, seen) = tls_upstream(&pki, &[b"http/1.1"]).await;
    let (_dir, ca) = write_ca(&pki);
    let stack = stack_for(addr, Some(ca)).await;

    for _ in 0..3 {
        let reply = stack.get(&format!("{PREFIX}/balance")).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
        let json = reply.json();
        assert_eq!(json["version"], "HTTP/1.1");
        assert_eq!(json["authorization"], format!("Bearer {}", masked(API_KEY)));
    }
    assert_eq!(seen.requests.load(Ordering::SeqCst), 3);
    assert_eq!(seen.with_real_key.load(Ordering::SeqCst), 3);
    assert_eq!(seen.connections.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_upstream_certificate_the_proxy_cannot_verify_gets_no_request() {
    let pki = pki();
    let (addr, seen) = tls_upstream(&pki, &[b"h2", b"http/1.1"]).await;
    // Mozilla's roots only: the private CA is not trusted.
    let stack = stack_for(addr, None).await;

    let reply = refused_in_the_handshake(&stack, &seen).await;
    // No detail about the TLS failure, and certainly no key, reaches the client.
    let body = String::from_utf8_lossy(&reply.body);
    assert!(!body.contains(API_KEY), "{body}");
}

#[tokio::test]
async fn with_a_ca_file_an_upstream_signed_by_another_ca_still_gets_no_request() {
    let upstream_pki = pki();
    let (addr, seen) = tls_upstream(&upstream_pki, &[b"h2", b"http/1.1"]).await;
    // Trust is extended to another CA; the upstream's is still unknown.
    let (_dir, other_ca) = write_ca(&pki());
    let stack = stack_for(addr, Some(other_ca)).await;

    refused_in_the_handshake(&stack, &seen).await;
}

#[tokio::test]
async fn a_trusted_ca_does_not_vouch_for_another_name() {
    // A certificate from the trusted CA, for a name that is not the one the proxy dials.
    let pki = pki_for(SanType::DnsName("upstream.test".try_into().unwrap()));
    let (addr, seen) = tls_upstream(&pki, &[b"h2", b"http/1.1"]).await;
    let (_dir, ca) = write_ca(&pki);
    let stack = stack_for(addr, Some(ca)).await;

    refused_in_the_handshake(&stack, &seen).await;
}

#[tokio::test]
async fn an_unusable_upstream_ca_file_stops_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "-----BEGIN CERTIFICATE-----\n!!!\n").unwrap();
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no certificate here\n").unwrap();
    for (path, problem) in [
        (missing, "does not exist"),
        (not_pem, "is not valid PEM"),
        (empty, "holds no PEM certificate"),
    ] {
        let mut settings = DataplaneSettings::default();
        settings.upstream.ca_file = Some(path.clone());
        let err = Proxy::new(settings, authenticator().await, Readiness::new(true)).unwrap_err();
        match &err {
            DataplaneError::UpstreamCa {
                path: got,
                problem: got_problem,
            } => {
                assert_eq!(got, &path);
                assert_eq!(*got_problem, problem);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains(problem), "{err}");
    }
}

/// An authenticator over an empty store: enough to build a `Proxy`.
async fn authenticator() -> Arc<auth::Authenticator> {
    let store: store::StoreHandle = Arc::new(
        store::SqliteStore::connect("sqlite::memory:", store::MasterKey::generate())
            .await
            .unwrap(),
    );
    let keyring = auth::Keyring::load(&store).await.unwrap();
    let settings = auth::TokenSettings {
        issuer: "i".to_owned(),
        audience: "a".to_owned(),
        leeway_secs: 0,
        default_ttl_secs: 60,
        max_ttl_secs: 60,
    };
    let verifier = Arc::new(auth::Verifier::new(keyring, settings, 10));
    let credentials = Arc::new(auth::CredentialCache::new(
        store,
        std::time::Duration::from_secs(60),
        10,
    ));
    Arc::new(auth::Authenticator::new(verifier, credentials))
}
