//! An upstream that cuts its answer off mid-body, through the real binary (issue #16): the
//! function's `POST` gets 502 `upstream_failed` with `x-should-retry: false`, so the SDK does
//! not send the message again.

use bytes::Bytes;
use http::{Method, StatusCode};
use testkit::{HttpClient, ProxyOptions, ProxyProcess};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::bin;

const KEY: &str = "KEY16CUT-upstream-key";

/// An upstream that answers every request with a head declaring 100 bytes, sends 9 and closes.
async fn cutting_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0_u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => head.extend_from_slice(&chunk[..read]),
                    }
                }
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                          content-length: 100\r\n\r\n{\"data\":1",
                    )
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_message_answer_cut_off_is_a_502_the_sdk_does_not_retry() {
    let proxy = ProxyProcess::start(bin(), ProxyOptions::new(cutting_upstream().await)).await;
    proxy.create_binding("org-cut", KEY).await;
    let token = proxy.token("org-cut").await;
    let auth = format!("Bearer {token}");
    let reply = HttpClient::new()
        .send(
            Method::POST,
            &format!("{}/v2/messages", proxy.base_url()),
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
            Bytes::from_static(b"{\"to\":\"+15550001111\",\"text\":\"once\"}"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.header("x-should-retry"), Some("false"));
    assert_eq!(reply.error_code().as_deref(), Some("upstream_failed"));
}
