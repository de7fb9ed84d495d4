//! An upstream that reflects the request's `Authorization` never hands the real key to the
//! function: not in a header, not in a body, not behind a content coding.

use std::net::SocketAddr;

use http::{Method, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::harness::{Options, PREFIX, Stack, empty};

/// An upstream that answers every connection with `response`, verbatim, and reports each
/// request head it read.
async fn canned_upstream(response: &'static str) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (heads, seen) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let heads = heads.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0_u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = heads
                    .send(String::from_utf8_lossy(&head).into_owned())
                    .await;
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, seen)
}

async fn stack_for(addr: SocketAddr) -> Stack {
    Stack::start_with(Options {
        upstream: Some(format!("http://{addr}")),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn the_upstream_is_asked_for_identity_whatever_the_client_accepts() {
    let stack = Stack::start().await;
    let request = stack
        .authorized(Method::GET, &format!("{PREFIX}/balance"))
        .header("accept-encoding", "gzip, deflate, br")
        .body(empty())
        .unwrap();
    let reply = stack.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    let seen = stack.emulator.journal().last().unwrap();
    let accepted: Vec<_> = seen.headers.get_all("accept-encoding").iter().collect();
    assert_eq!(accepted, ["identity"]);
}

#[tokio::test]
async fn an_answer_encoded_anyway_gets_502_upstream_failed_and_no_byte_of_it() {
    for response in [
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nKEY-bytes",
        "HTTP/1.1 401 Unauthorized\r\nContent-Encoding: br\r\nContent-Length: 9\r\n\r\nKEY-bytes",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n9\r\nKEY-bytes\r\n0\r\n\r\n",
    ] {
        let (addr, mut seen) = canned_upstream(response).await;
        let stack = stack_for(addr).await;
        let reply = stack.get(&format!("{PREFIX}/balance")).await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{response}");
        assert_eq!(reply.code(), "upstream_failed");
        assert_eq!(reply.headers["x-should-retry"], "false");
        assert!(!reply.headers.contains_key("content-encoding"));
        assert!(!String::from_utf8_lossy(&reply.body).contains("KEY-bytes"));
        let head = seen.recv().await.unwrap().to_ascii_lowercase();
        assert!(head.contains("\r\naccept-encoding: identity\r\n"), "{head}");
    }
}

#[tokio::test]
async fn an_identity_answer_and_an_encoded_empty_one_pass() {
    for (response, body) in [
        (
            "HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}",
            "{}",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
            "",
        ),
    ] {
        let (addr, _seen) = canned_upstream(response).await;
        let stack = stack_for(addr).await;
        let reply = stack.get(&format!("{PREFIX}/balance")).await;
        assert_eq!(reply.status, StatusCode::OK, "{response}");
        assert_eq!(reply.body, body.as_bytes());
    }
}
