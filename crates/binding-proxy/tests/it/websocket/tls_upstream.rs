//! Against an `https` upstream that offers HTTP/2, a session's connection is still HTTP/1.1:
//! the proxy offers no `h2` in ALPN for it (no ALPN at all: HTTP/1.1 is what a TLS server speaks
//! then), since WebSocket needs an HTTP/1.1 upgrade there, while REST calls to the same
//! upstream negotiate `h2`.

use std::sync::{Arc, RwLock};

use futures_util::{SinkExt, StreamExt};
use rcgen::{CertificateParams, KeyPair, SanType};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_tungstenite::tungstenite::Message;

use super::{KEY, TRANSCRIBE, config, connect, handshake, next_message, ws_url};
use crate::Stack;

#[tokio::test]
async fn a_session_upstream_is_http1_even_where_the_upstream_offers_h2() {
    // A TLS upstream for 127.0.0.1 offering h2 and http/1.1; it records what each connection
    // negotiated and speaks WebSocket on HTTP/1.1 ones.
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
    let cert = params.self_signed(&key).expect("certificate");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("upstream-ca.pem");
    std::fs::write(&ca_file, cert.pem()).expect("write");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let negotiated = Arc::new(RwLock::new(Vec::<String>::new()));
    let seen = Arc::clone(&negotiated);
    let upstream = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
                let alpn = String::from_utf8_lossy(&alpn.unwrap_or_default()).into_owned();
                seen.write().expect("lock").push(alpn.clone());
                if alpn == "h2" {
                    return;
                }
                let Ok(mut ws) =
                    tokio_tungstenite::accept_async_with_config(tls, Some(config())).await
                else {
                    return;
                };
                while let Some(Ok(message)) = ws.next().await {
                    if message.is_binary() && ws.send(message).await.is_err() {
                        break;
                    }
                }
            });
        }
    });

    let (stack, token) = Stack::start_with(KEY, |o| {
        let mut o = o.set("upstream.ca_file", ca_file.display().to_string());
        o.upstream_base_url = format!("https://{addr}");
        o
    })
    .await
    .bind("org-ws-tls-upstream", KEY)
    .await;
    // A REST call first: the proxy's pooled connection negotiates h2 with this upstream (which
    // then closes it: it serves no REST), so the session's own connection is the second one.
    let _ = stack
        .http
        .get_with_token(&stack.url("/v2/balance"), &token)
        .await;
    let mut client = connect(handshake(&ws_url(&stack, TRANSCRIBE), Some(&token)))
        .await
        .expect("session over the https upstream");
    client
        .send(Message::Binary(vec![9u8; 4096].into()))
        .await
        .expect("send");
    let back = next_message(&mut client, std::time::Duration::from_secs(20)).await;
    assert!(
        matches!(&back, Some(Message::Binary(data)) if data.len() == 4096),
        "{back:?}"
    );
    let negotiated = negotiated.read().expect("lock").clone();
    assert_eq!(
        negotiated,
        ["h2", ""],
        "REST on h2, the session on HTTP/1.1"
    );
    upstream.abort();
}
