//! When the upstream cannot answer.

use std::time::Duration;

use http::StatusCode;
use tokio::net::TcpListener;

use crate::harness::{Options, PREFIX, Stack};

#[tokio::test]
async fn unreachable_upstream_gets_502_upstream_unavailable_without_retry_veto() {
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap()
    };
    let stack = Stack::start_with(Options {
        upstream: Some(format!("http://{closed}")),
        ..Options::default()
    })
    .await;
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.code(), "upstream_unavailable");
    assert!(!reply.headers.contains_key("x-should-retry"));
    assert!(reply.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn slow_upstream_gets_504_and_a_retry_veto() {
    let stack = Stack::start_with(Options {
        response_timeout: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    let reply = stack
        .get(&format!("{PREFIX}/_emulator/delay?ms=600000"))
        .await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.code(), "upstream_timeout");
    assert_eq!(reply.headers["x-should-retry"], "false");
    assert_eq!(stack.emulator.journal().len(), 1);
}

#[tokio::test]
async fn a_tls_handshake_the_upstream_never_finishes_gets_502_after_the_connect_timeout() {
    // Accepts TCP connections and never says a word: the ClientHello goes unanswered.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let stack = Stack::start_with(Options {
        upstream: Some(format!("https://{addr}")),
        connect_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let reply = tokio::time::timeout(
        Duration::from_secs(30),
        stack.get(&format!("{PREFIX}/balance")),
    )
    .await
    .expect("the connect timeout covers the TLS handshake");
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.code(), "upstream_unavailable");
    assert!(!reply.headers.contains_key("x-should-retry"));
    holder.abort();
}
