//! SIGTERM and SIGINT: readiness turns 503, new connections are refused, an in-flight
//! streaming response finishes, and the process exits 0.

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::Stack;

const KEY: &str = "KEY05SHUTDOWN_real_upstream_key";

async fn drains_in_flight_stream_then_exits_zero(signal: &str, org: &str) {
    let (mut stack, token) = Stack::with_binding(org, KEY).await;
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    // 4 MiB in 64 chunks, 50 ms apart: about 3 s of streaming.
    let request = Request::builder()
        .uri(stack.url("/v2/_emulator/source?bytes=4194304&chunk_bytes=65536&chunk_delay_ms=50"))
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::new())
        .expect("request");
    let response = client
        .request(request)
        .await
        .expect("streaming response starts");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    // Read the first frame so the stream is surely in flight.
    let first = body.frame().await.expect("a first frame").expect("frame");
    let mut received = first.into_data().map_or(0, |d| d.len());

    stack.proxy.signal(signal);

    // While the data plane drains, the admin listener reports not ready.
    let readiness = format!("{}/health/readiness", stack.proxy.admin_url());
    let mut saw_not_ready = false;
    for _ in 0..200 {
        let reply = stack
            .http
            .send(Method::GET, &readiness, &[], Bytes::new())
            .await;
        if reply.status == StatusCode::SERVICE_UNAVAILABLE {
            saw_not_ready = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(saw_not_ready, "readiness answers 503 during the drain");

    while let Some(frame) = body.frame().await {
        received += frame
            .expect("the stream is not cut")
            .into_data()
            .map_or(0, |d| d.len());
    }
    assert_eq!(received, 4 * 1024 * 1024, "the in-flight stream finished");

    let status = stack
        .proxy
        .wait_exit(std::time::Duration::from_secs(30))
        .await;
    assert!(status.success(), "exit status {status:?}");
    let logs = stack.proxy.logs().join("\n");
    assert!(logs.contains("draining"), "{logs}");
}

#[tokio::test]
async fn sigterm_drains_in_flight_stream_then_exits_zero() {
    drains_in_flight_stream_then_exits_zero("TERM", "org-shutdown-1").await;
}

#[tokio::test]
async fn sigint_drains_in_flight_stream_then_exits_zero() {
    drains_in_flight_stream_then_exits_zero("INT", "org-shutdown-2").await;
}
