//! Who holds a connection slot: silent and slow clients lose theirs after the header read
//! timeout, counted from accept.

use std::time::Duration;

use http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{Options, PREFIX, Stack, TestBody, exchange};

/// A safety net so a broken test fails instead of hanging; never the thing asserted.
const SAFETY: Duration = Duration::from_secs(30);

/// Short, so the tests end quickly; every wait on it is bounded by [`SAFETY`] only.
const HEADER_TIMEOUT: Duration = Duration::from_millis(200);

/// Resolves once the server has closed `stream`: end of file, or a reset when the server
/// dropped it with bytes unread. Anything the server sent first is skipped.
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0_u8; 1024];
    let closed = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(SAFETY, closed)
        .await
        .expect("the server closed the connection");
}

#[tokio::test]
async fn silent_sockets_in_every_slot_are_closed_and_a_new_client_gets_in() {
    let stack = Stack::start_with(Options {
        max_connections: 3,
        header_read_timeout: HEADER_TIMEOUT,
        ..Options::default()
    })
    .await;
    // The kernel hands connections to `accept` in arrival order, so these take every slot
    // before the client below is even looked at.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(stack.addr).await.unwrap());
    }
    let reply = tokio::time::timeout(SAFETY, stack.get(&format!("{PREFIX}/balance")))
        .await
        .expect("the new client was answered");
    assert_eq!(reply.status, StatusCode::OK);
    for stream in &mut silent {
        closed_by_server(stream).await;
    }
}

#[tokio::test]
async fn connections_that_never_finish_a_first_request_head_are_closed() {
    let stack = Stack::start_with(Options {
        header_read_timeout: HEADER_TIMEOUT,
        ..Options::default()
    })
    .await;
    // Each of these stops before hyper has a request: nothing, half an HTTP/1.1 head, part of
    // the HTTP/2 preface (the server cannot tell the protocol yet).
    for start in [
        &b""[..],
        b"GET /health/liveness HTTP/1.1\r\nHost: proxy\r\n",
        b"PRI * HTTP/2.0\r\n",
    ] {
        let mut stream = TcpStream::connect(stack.addr).await.unwrap();
        stream.write_all(start).await.unwrap();
        closed_by_server(&mut stream).await;
    }
    // A complete h2c handshake with no request after it.
    let tcp = TcpStream::connect(stack.addr).await.unwrap();
    let (_sender, connection) = hyper::client::conn::http2::handshake::<_, _, TestBody>(
        TokioExecutor::new(),
        TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::time::timeout(SAFETY, connection)
        .await
        .expect("the server closed the h2c connection")
        .ok();
}

#[tokio::test]
async fn a_partial_head_after_a_served_request_is_still_cut_by_the_header_timeout() {
    let stack = Stack::start_with(Options {
        header_read_timeout: HEADER_TIMEOUT,
        ..Options::default()
    })
    .await;
    let mut stream = TcpStream::connect(stack.addr).await.unwrap();
    assert_eq!(exchange(&mut stream, &stack, "first").await, 200);
    // The first-request deadline is behind this connection now; hyper's header timer, armed
    // when it starts reading the next head, is what closes it (the idle timeout is 60 s).
    stream
        .write_all(format!("GET {PREFIX}/balance HTTP/1.1\r\nHost: proxy\r\n").as_bytes())
        .await
        .unwrap();
    closed_by_server(&mut stream).await;
    assert_eq!(stack.emulator.journal().len(), 1);
}
