//! TLS on the data listener (issue #16): tokens cross the network encrypted. Certificates are
//! made per test (rcgen) and written as PEM; clients are rustls + hyper over real sockets, so
//! the test sees the certificate each handshake presented.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls_pki_types::{CertificateDer, ServerName};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::Stack;

const KEY: &str = "KEY16TLS-upstream-key";
/// Bounds every exchange: a refused handshake must fail, never hang.
const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// A CA and the data listener's certificate and key files, signed by it.
struct Pki {
    dir: TempDir,
    ca: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    cert: PathBuf,
    key: PathBuf,
}

impl Pki {
    fn new(ca_name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, ca_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        let ca = params.self_signed(&key).expect("CA").der().clone();
        let dir = tempfile::tempdir().expect("tempdir");
        let pki = Self {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            dir,
            ca,
            issuer: Issuer::new(params, key),
        };
        pki.issue("first");
        pki
    }

    /// A new leaf for 127.0.0.1 named `name`, written over the files as a Secret update is:
    /// each file replaced whole (written aside, then renamed), never seen half-written.
    fn issue(&self, name: &str) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        for (path, pem) in [(&self.key, key.serialize_pem()), (&self.cert, cert.pem())] {
            let aside = self.dir.path().join("incoming");
            std::fs::write(&aside, pem).expect("write");
            std::fs::rename(&aside, path).expect("rename");
        }
        cert.der().clone()
    }

    /// A client that trusts this CA and offers `alpn`.
    fn client(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).expect("CA");
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        // A resumed session presents no certificate (the client reports the one it cached):
        // every connection here makes a full handshake, so each sees what the server serves.
        config.resumption = rustls::client::Resumption::disabled();
        TlsConnector::from(Arc::new(config))
    }
}

/// What one HTTPS request got: its status, protocol and the certificate the server presented.
struct Answer {
    status: StatusCode,
    version: Version,
    presented: CertificateDer<'static>,
}

/// `GET path` with `token` over a new TLS connection to `addr`.
async fn get(
    client: &TlsConnector,
    addr: SocketAddr,
    path: &str,
    token: &str,
) -> Result<Answer, String> {
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::IpAddress(addr.ip().into());
        let tls = client
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let (_, session) = tls.get_ref();
        let presented = session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .ok_or("no certificate presented")?
            .clone()
            .into_owned();
        let h2 = session.alpn_protocol() == Some(b"h2");
        // HTTP/2 carries the origin in :scheme and :authority; HTTP/1.1 sends the origin form
        // and a Host header, as every SDK does (the absolute form is refused).
        let target = if h2 {
            format!("https://{addr}{path}")
        } else {
            path.to_owned()
        };
        let request = Request::get(target)
            .header("host", addr.to_string())
            .header("authorization", format!("Bearer {token}"))
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let io = TokioIo::new(tls);
        let response = if h2 {
            let (mut sender, connection) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            sender.send_request(request).await
        } else {
            let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| e.to_string())?;
            tokio::spawn(connection);
            sender.send_request(request).await
        }
        .map_err(|e| e.to_string())?;
        let (parts, body) = response.into_parts();
        body.collect().await.map_err(|e| e.to_string())?;
        Ok(Answer {
            status: parts.status,
            version: parts.version,
            presented,
        })
    };
    tokio::time::timeout(EXCHANGE_TIMEOUT, exchange)
        .await
        .map_err(|_| "no answer in time".to_owned())?
}

/// A proxy serving TLS with `pki`'s files, a binding, and a token for it.
async fn tls_stack(pki: &Pki, org: &str) -> (Stack, String) {
    let cert = pki.cert.display().to_string();
    let key = pki.key.display().to_string();
    Stack::start_with(KEY, |o| {
        o.set("dataplane.tls_cert_file", cert)
            .set("dataplane.tls_key_file", key)
    })
    .await
    .bind(org, KEY)
    .await
}

/// The path of `{TELNYX_BASE_URL}{rest}`, the base URL being what the admin API hands out.
fn prefix_path(stack: &Stack, rest: &str) -> String {
    let base = stack.proxy.base_url();
    let origin = format!("http://{}", stack.proxy.dataplane);
    format!("{}{rest}", base.trim_start_matches(&origin))
}

#[tokio::test]
async fn the_sdk_path_forms_work_over_https_and_tokens_carry_an_https_base_url() {
    let pki = Pki::new("data TLS CA");
    let (stack, token) = tls_stack(&pki, "org-tls-1").await;
    let minted = stack.proxy.mint("org-tls-1", serde_json::json!({})).await;
    let base_url = minted["base_url"].as_str().expect("base_url");
    assert!(
        base_url.starts_with(&format!("https://{}", stack.proxy.dataplane)),
        "{base_url}"
    );
    for alpn in [&[b"http/1.1".as_slice()][..], &[b"h2".as_slice()][..]] {
        let client = pki.client(alpn);
        for path in ["/v2/balance", "/balance"] {
            let answer = get(
                &client,
                stack.proxy.dataplane,
                &prefix_path(&stack, path),
                &token,
            )
            .await
            .expect("an answer");
            assert_eq!(answer.status, StatusCode::OK, "{path}");
            let expected = if alpn[0] == b"h2" {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            };
            assert_eq!(answer.version, expected, "{path}");
        }
    }
    assert_eq!(stack.emulator.journal().len(), 4);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_is_refused_in_the_handshake() {
    let pki = Pki::new("data TLS CA");
    let (stack, token) = tls_stack(&pki, "org-tls-2").await;
    let stranger = Pki::new("some other CA").client(&[b"http/1.1"]);
    let err = get(
        &stranger,
        stack.proxy.dataplane,
        &prefix_path(&stack, "/v2/balance"),
        &token,
    )
    .await
    .err()
    .expect("refused");
    assert!(err.starts_with("handshake:"), "{err}");
    // Plain HTTP on the TLS port gets no HTTP answer either.
    let plain = testkit::raw_request(
        stack.proxy.dataplane,
        b"GET /health/liveness HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert!(!plain.starts_with("HTTP/1.1 200"), "{plain}");
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn a_renewed_certificate_is_served_without_a_failed_request() {
    let pki = Pki::new("data TLS CA");
    let (stack, token) = tls_stack(&pki, "org-tls-3").await;
    let client = pki.client(&[b"http/1.1"]);
    let path = prefix_path(&stack, "/v2/balance");
    let first = get(&client, stack.proxy.dataplane, &path, &token)
        .await
        .expect("an answer")
        .presented;

    // Requests keep coming while the files are replaced; the new certificate is looked for
    // by the next handshake at most a second later. Every request must succeed throughout.
    let renewed = pki.issue("renewed");
    assert_ne!(renewed, first);
    let mut answered = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let answer = get(&client, stack.proxy.dataplane, &path, &token)
            .await
            .expect("every request succeeds during the renewal");
        assert_eq!(answer.status, StatusCode::OK);
        answered += 1;
        if answer.presented == renewed {
            break;
        }
        assert_eq!(
            answer.presented, first,
            "only the old or the new certificate"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the renewed certificate was not picked up"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(stack.emulator.journal().len(), answered + 1);
}

/// `wss://`: the SDKs' speech sessions against an `https` base URL, through the TLS listener,
/// to the emulator's speech-to-text WebSocket.
#[tokio::test]
async fn a_websocket_session_works_over_the_tls_listener() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let pki = Pki::new("data TLS CA");
    let (stack, token) = tls_stack(&pki, "org-tls-ws").await;
    let tcp = TcpStream::connect(stack.proxy.dataplane)
        .await
        .expect("connect");
    let name = ServerName::IpAddress(stack.proxy.dataplane.ip().into());
    let tls = pki
        .client(&[b"http/1.1"])
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    let url = format!(
        "wss://{}{}",
        stack.proxy.dataplane,
        prefix_path(&stack, "/speech-to-text/transcription")
    );
    let request = crate::websocket::handshake(&url, Some(&token));
    let (mut session, response) = tokio_tungstenite::client_async(request, tls)
        .await
        .expect("session opened");
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    session
        .send(Message::Binary(vec![1u8; 640].into()))
        .await
        .expect("audio");
    let event = tokio::time::timeout(EXCHANGE_TIMEOUT, session.next())
        .await
        .expect("an event in time");
    let Some(Ok(Message::Text(event))) = event else {
        panic!("a transcript event, got {event:?}");
    };
    assert!(event.contains("640 bytes of audio"), "{event}");
    let seen = stack.emulator.journal().last().expect("the handshake");
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {KEY}").as_str()
    );
}
