//! The proxy's own upstream connections: kept alive and reused, replaced when the upstream
//! closed them while idle, closed after the idle timeout, never reused mid-response.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::harness::{Options, PREFIX, Stack, empty};

/// A safety net so a broken test fails instead of hanging; never the thing asserted.
const SAFETY: Duration = Duration::from_secs(30);

fn peers(stack: &Stack) -> Vec<SocketAddr> {
    stack
        .emulator
        .journal()
        .entries()
        .iter()
        .map(|entry| entry.peer)
        .collect()
}

#[tokio::test]
async fn sequential_requests_share_one_upstream_connection() {
    let stack = Stack::start().await;
    // A JSON answer, an upload, a chunked download, and an answer without a body: each
    // leaves the connection ready for the next.
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::OK);
    let upload = stack
        .authorized(Method::POST, &format!("{PREFIX}/_emulator/sink"))
        .body(Full::new(Bytes::from(vec![7_u8; 100_000])).boxed())
        .unwrap();
    let reply = stack.send(upload).await;
    assert_eq!(reply.json()["data"]["bytes"], 100_000);
    let reply = stack
        .get(&format!(
            "{PREFIX}/_emulator/source?bytes=200000&chunk_bytes=10000"
        ))
        .await;
    assert_eq!(reply.body.len(), 200_000);
    let reply = stack.get(&format!("{PREFIX}/_emulator/status/204")).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::OK);

    let peers = peers(&stack);
    assert_eq!(peers.len(), 5);
    assert_eq!(
        peers.iter().collect::<HashSet<_>>().len(),
        1,
        "one kept-alive upstream connection: {peers:?}"
    );
}

#[tokio::test]
async fn concurrent_requests_open_connections_and_keep_them() {
    let stack = Arc::new(Stack::start().await);
    for _round in 0..3 {
        let mut requests = Vec::new();
        for _ in 0..4 {
            let stack = Arc::clone(&stack);
            requests.push(tokio::spawn(async move {
                stack
                    .get(&format!("{PREFIX}/_emulator/delay?ms=50"))
                    .await
                    .status
            }));
        }
        for request in requests {
            assert_eq!(request.await.unwrap(), StatusCode::OK);
        }
    }
    let peers = peers(&stack);
    assert_eq!(peers.len(), 12);
    let distinct = peers.iter().collect::<HashSet<_>>().len();
    // Four at a time need four connections; later rounds reuse them.
    assert!(
        (4..12).contains(&distinct),
        "{distinct} connections for {peers:?}"
    );
}

#[tokio::test]
async fn a_response_abandoned_midway_closes_its_upstream_connection() {
    let stack = Stack::start().await;
    let request = stack
        .authorized(
            Method::GET,
            &format!("{PREFIX}/_emulator/source?bytes=10000000&chunk_bytes=1000&chunk_delay_ms=5"),
        )
        .body(empty())
        .unwrap();
    let mut response = stack.send_streaming(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let first = tokio::time::timeout(SAFETY, response.body_mut().frame())
        .await
        .unwrap();
    assert!(first.is_some());
    drop(response);

    // The next request is answered in full, on another connection: the abandoned one was
    // mid-body and cannot carry a request.
    let reply = stack
        .get(&format!(
            "{PREFIX}/_emulator/source?bytes=5000&chunk_bytes=100"
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let expected: Vec<u8> = (0..5000_u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(reply.body, expected);
    let peers = peers(&stack);
    assert_eq!(peers.len(), 2);
    assert_ne!(peers[0], peers[1]);
}

/// An upstream that answers `200 ok` to every request (keep-alive) and reports, per
/// connection, when it was accepted and when the proxy closed it. With `one_shot`, it closes
/// each connection itself after the first answer, without saying so in the response.
pub(crate) async fn counting_upstream(
    one_shot: bool,
) -> (SocketAddr, Arc<AtomicUsize>, mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let (closed, closures) = mpsc::channel(16);
    let counter = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let closed = closed.clone();
            tokio::spawn(async move {
                answer_until_closed(stream, one_shot).await;
                let _ = closed.send(()).await;
            });
        }
    });
    (addr, accepted, closures)
}

/// Answers bodiless requests until the peer closes (or after one, with `one_shot`).
async fn answer_until_closed(mut stream: TcpStream, one_shot: bool) {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    loop {
        while let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            buffer.drain(..end + 4);
            let answer =
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok";
            if stream.write_all(answer).await.is_err() || one_shot {
                return;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

#[tokio::test]
async fn an_idle_connection_the_upstream_closed_is_replaced_without_an_error() {
    let (addr, accepted, _closures) = counting_upstream(true).await;
    let stack = Stack::start_with(Options {
        upstream: Some(format!("http://{addr}")),
        ..Options::default()
    })
    .await;
    for _ in 0..3 {
        let reply = stack.get(&format!("{PREFIX}/balance")).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(&reply.body[..], b"ok");
        // Long enough for the upstream's close to be seen before the next checkout.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_pool_idle_timeout() {
    let (addr, accepted, mut closures) = counting_upstream(false).await;
    let stack = Stack::start_with(Options {
        upstream: Some(format!("http://{addr}")),
        pool_idle_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::OK);
    // No further traffic: the proxy closes the idle connection by itself.
    tokio::time::timeout(SAFETY, closures.recv())
        .await
        .expect("the idle connection was never closed")
        .unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 1);

    // And the next request opens a new one.
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_connection_idle_past_the_timeout_is_not_reused() {
    let stack = Stack::start_with(Options {
        pool_idle_timeout: Duration::from_millis(200),
        ..Options::default()
    })
    .await;
    assert_eq!(
        stack.get(&format!("{PREFIX}/balance")).await.status,
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        stack.get(&format!("{PREFIX}/balance")).await.status,
        StatusCode::OK
    );
    let peers = peers(&stack);
    assert_eq!(peers.len(), 2);
    assert_ne!(peers[0], peers[1]);
}
