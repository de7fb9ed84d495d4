//! An upstream answer that stops short (issue #16): a small one is read whole first and a
//! cut-off becomes 502 `upstream_failed` with `x-should-retry: false`; a streamed one is never
//! ended as if it were complete; an upstream that stalls mid-body counts as a cut-off after
//! `body_idle_timeout`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::harness::{Options, PREFIX, Stack};

/// A safety net so a broken test fails instead of hanging; never the thing asserted.
const SAFETY: Duration = Duration::from_secs(30);

/// What the misbehaving upstream does after writing its partial answer.
#[derive(Debug, Clone, Copy)]
enum Then {
    /// Closes the connection.
    Close,
    /// Keeps the connection open and sends nothing more.
    Stall,
}

/// An upstream that answers every request with `answer` (a head and part of its body), then
/// closes or stalls. Stalled connections stay open until the returned sender is dropped.
async fn cutting_upstream(answer: &'static [u8], then: Then) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (release, released) = oneshot::channel::<()>();
    let released = futures_util::FutureExt::shared(async move {
        let _ = released.await;
    });
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let released = released.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut chunk = [0_u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => head.extend_from_slice(&chunk[..read]),
                    }
                }
                let _ = stream.write_all(answer).await;
                match then {
                    Then::Close => drop(stream),
                    Then::Stall => {
                        released.await;
                        drop(stream);
                    }
                }
            });
        }
    });
    (addr, release)
}

/// A head declaring 100 bytes and 9 of them.
const SHORT_BY_LENGTH: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"data\":1";
/// A chunked answer that stops after its first chunk.
const SHORT_CHUNKED: &[u8] =
    b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n";

async fn stack(upstream: SocketAddr, options: Options) -> Stack {
    Stack::start_with(Options {
        upstream: Some(format!("http://{upstream}")),
        ..options
    })
    .await
}

type Answer = Result<http::Response<hyper::body::Incoming>, hyper_util::client::legacy::Error>;

/// The answer to `POST {PREFIX}/messages`, the call an SDK must not repeat, over HTTP/1.1 or
/// (`h2`) HTTP/2 with prior knowledge.
async fn post(stack: &Stack, h2: bool) -> Answer {
    let client = Client::builder(TokioExecutor::new())
        .http2_only(h2)
        .build_http::<http_body_util::Empty<Bytes>>();
    let request = http::Request::post(stack.url(&format!("{PREFIX}/messages")))
        .header("authorization", format!("Bearer {}", stack.token))
        .body(http_body_util::Empty::new())
        .unwrap();
    tokio::time::timeout(SAFETY, client.request(request))
        .await
        .expect("an answer or an error")
}

/// Asserts a 502 `upstream_failed` that tells the SDKs not to retry.
async fn assert_do_not_retry(answer: Answer) {
    let response = answer.expect("an answer");
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(response.headers()["x-should-retry"], "false");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["errors"][0]["code"], "upstream_failed", "{json}");
}

/// Asserts the client never sees the answer end cleanly: the connection (HTTP/1.1) or the
/// stream (HTTP/2) fails before the head or in the body. Returns the error's description.
async fn assert_never_ends_cleanly(answer: Answer) -> String {
    let response = match answer {
        Err(err) => return format!("{err:?}"),
        Ok(response) => response,
    };
    assert_eq!(response.status(), StatusCode::OK);
    let collected = tokio::time::timeout(SAFETY, response.into_body().collect())
        .await
        .expect("the body ends");
    format!("{:?}", collected.expect_err("a cut-off body ended cleanly"))
}

#[tokio::test]
async fn a_small_answer_cut_off_is_a_502_that_says_do_not_retry() {
    let (upstream, _keep) = cutting_upstream(SHORT_BY_LENGTH, Then::Close).await;
    let stack = stack(upstream, Options::default()).await;
    assert_do_not_retry(post(&stack, false).await).await;
}

#[tokio::test]
async fn a_small_answer_that_stalls_is_a_502_after_the_body_idle_timeout() {
    let (upstream, _keep) = cutting_upstream(SHORT_BY_LENGTH, Then::Stall).await;
    let stack = stack(
        upstream,
        Options {
            body_idle_timeout: Duration::from_millis(200),
            ..Options::default()
        },
    )
    .await;
    assert_do_not_retry(post(&stack, false).await).await;
}

#[tokio::test]
async fn a_streamed_answer_cut_off_never_ends_cleanly() {
    for answer in [SHORT_BY_LENGTH, SHORT_CHUNKED] {
        let (upstream, _keep) = cutting_upstream(answer, Then::Close).await;
        // 0: nothing is buffered; an unframed (chunked) answer streams whatever the setting.
        let stack = stack(
            upstream,
            Options {
                buffer_small_responses: 0,
                ..Options::default()
            },
        )
        .await;
        assert_never_ends_cleanly(post(&stack, false).await).await;
    }
}

#[tokio::test]
async fn a_streamed_answer_that_stalls_is_cut_after_the_body_idle_timeout() {
    let (upstream, _keep) = cutting_upstream(SHORT_CHUNKED, Then::Stall).await;
    let stack = stack(
        upstream,
        Options {
            body_idle_timeout: Duration::from_millis(200),
            ..Options::default()
        },
    )
    .await;
    assert_never_ends_cleanly(post(&stack, false).await).await;
}

#[tokio::test]
async fn over_http2_a_streamed_answer_cut_off_resets_the_stream() {
    let (upstream, _keep) = cutting_upstream(SHORT_CHUNKED, Then::Close).await;
    let stack = stack(upstream, Options::default()).await;
    let error = assert_never_ends_cleanly(post(&stack, true).await).await;
    // The h2 reason is only reachable through the error's description here.
    assert!(error.contains("INTERNAL_ERROR"), "{error}");
}

#[tokio::test]
async fn over_http2_a_small_answer_cut_off_is_a_502_that_says_do_not_retry() {
    let (upstream, _keep) = cutting_upstream(SHORT_BY_LENGTH, Then::Close).await;
    let stack = stack(upstream, Options::default()).await;
    assert_do_not_retry(post(&stack, true).await).await;
}

#[tokio::test]
async fn a_complete_small_answer_passes_byte_for_byte() {
    const WHOLE: &[u8] =
        b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 10\r\n\r\n{\"data\":1}";
    let (upstream, _keep) = cutting_upstream(WHOLE, Then::Close).await;
    let stack = stack(upstream, Options::default()).await;
    let response = post(&stack, false).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["content-length"], "10");
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"{\"data\":1}");
}
