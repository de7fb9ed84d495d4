//! Body size, the client idle timeout, and a broken upstream (connection slots: `slots`).

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{Options, PREFIX, Stack, empty, raw_status_and_code};

/// A safety net so a broken test fails instead of hanging; never the thing asserted.
const SAFETY: Duration = Duration::from_secs(30);

fn with_body_limit(limit: u64) -> Options {
    Options {
        max_body_bytes: Some(limit),
        ..Options::default()
    }
}

#[tokio::test]
async fn a_declared_length_over_the_limit_gets_413_and_upstream_sees_nothing() {
    let stack = Stack::start_with(with_body_limit(10)).await;
    let request = stack
        .authorized(Method::POST, &format!("{PREFIX}/_emulator/sink"))
        .body(Full::new(Bytes::from_static(b"0123456789A")).boxed())
        .unwrap();
    let reply = stack.send(request).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.code(), "body_too_large");
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn a_body_at_the_limit_goes_through() {
    let stack = Stack::start_with(with_body_limit(10)).await;
    let request = stack
        .authorized(Method::POST, &format!("{PREFIX}/_emulator/sink"))
        .body(Full::new(Bytes::from_static(b"0123456789")).boxed())
        .unwrap();
    let reply = stack.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["data"]["bytes"], 10);
}

#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_is_cut_and_answered_413() {
    let stack = Stack::start_with(with_body_limit(10)).await;
    let response = stack
        .raw(&format!(
            "POST {PREFIX}/_emulator/sink HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {}\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
             8\r\n01234567\r\n8\r\n89ABCDEF\r\n0\r\n\r\n",
            stack.token
        ))
        .await;
    assert_eq!(
        raw_status_and_code(&response),
        (413, "body_too_large".to_owned())
    );
    // The upstream request was under way and was aborted: the upstream never got more than
    // the limit.
    for seen in stack.emulator.journal().entries() {
        assert!(
            seen.body_bytes <= 10,
            "upstream got {} bytes",
            seen.body_bytes
        );
    }
}

#[tokio::test]
async fn an_upstream_that_breaks_mid_response_gets_502_upstream_failed_and_a_retry_veto() {
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = upstream.accept().await {
            let mut head = Vec::new();
            let mut buf = [0_u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = socket.write_all(b"HTTP/1.1 200 OK\r\nContent-Len").await;
            drop(socket);
        }
    });
    let stack = Stack::start_with(Options {
        upstream: Some(format!("http://{addr}")),
        ..Options::default()
    })
    .await;
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.code(), "upstream_failed");
    assert_eq!(reply.headers["x-should-retry"], "false");
}

#[tokio::test]
async fn an_idle_h2_connection_is_closed_after_the_idle_timeout() {
    let stack = Stack::start_with(Options {
        client_idle_timeout: Duration::from_millis(100),
        ..Options::default()
    })
    .await;
    let tcp = TcpStream::connect(stack.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let request = Request::get(format!("http://proxy{PREFIX}/balance"))
        .header("authorization", format!("Bearer {}", stack.token))
        .body(empty())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().collect().await.unwrap();
    // The server sends GOAWAY once idle; the client connection then ends cleanly.
    tokio::time::timeout(SAFETY, connection)
        .await
        .expect("the idle connection was closed")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_response_streaming_longer_than_the_idle_timeout_is_not_cut() {
    let stack = Stack::start_with(Options {
        client_idle_timeout: Duration::from_millis(50),
        ..Options::default()
    })
    .await;
    let reply = stack
        .get(&format!(
            "{PREFIX}/_emulator/source?bytes=6000&chunk_bytes=1000&chunk_delay_ms=40"
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.len(), 6000);
}
