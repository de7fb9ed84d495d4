//! Bodies stream through the proxy both ways: 200 MiB each way, byte counts exact, and the
//! proxy's resident memory does not grow with the body.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::stream;
use http::{Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::Stack;

const KEY: &str = "KEY04STREAM_real_upstream_key";
const TOTAL: u64 = 200 * 1024 * 1024;
const CHUNK: usize = 256 * 1024;
const SAMPLE_EVERY: u64 = 16 * 1024 * 1024;
/// Allowed RSS growth while 200 MiB pass through: far below the body size.
const MAX_GROWTH_KIB: u64 = 48 * 1024;

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[tokio::test]
async fn upload_and_download_of_200_mib_stream_without_growing_memory() {
    let (stack, token) = Stack::with_binding("org-stream-1", KEY).await;
    let pid = stack.proxy.pid();
    let auth = format!("Bearer {token}");
    let client: Client<_, BoxBody<Bytes, Infallible>> =
        Client::builder(TokioExecutor::new()).build_http();

    // Warm up the same path so pools and caches exist before the baseline.
    let warm = stack
        .http
        .get_with_token(&stack.url("/v2/_emulator/source?bytes=1048576"), &token)
        .await;
    assert_eq!(warm.status, StatusCode::OK);
    let baseline = rss_kib(pid);
    let peak = Arc::new(AtomicU64::new(baseline));

    // Upload: the body is generated lazily; every 16 MiB pulled, sample the proxy's RSS.
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let sent = Arc::new(AtomicU64::new(0));
    let body_stream = {
        let (sent, peak) = (sent.clone(), peak.clone());
        stream::iter(0..TOTAL / CHUNK as u64).map(move |_| {
            let before = sent.fetch_add(CHUNK as u64, Ordering::Relaxed);
            if before % SAMPLE_EVERY == 0 {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
            }
            Ok::<_, Infallible>(Frame::data(chunk.clone()))
        })
    };
    use futures_util::StreamExt as _;
    let request = Request::builder()
        .method(Method::PUT)
        .uri(stack.url("/v2/_emulator/sink"))
        .header("authorization", &auth)
        .header("content-type", "application/octet-stream")
        .body(BodyExt::boxed(StreamBody::new(body_stream)))
        .expect("request");
    let response = client.request(request).await.expect("upload answered");
    assert_eq!(response.status(), StatusCode::OK);
    let answer = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("json");
    assert_eq!(
        answer["data"]["bytes"], TOTAL,
        "every byte reached the upstream"
    );
    assert_eq!(
        stack.emulator.journal().last().expect("seen").body_bytes,
        TOTAL
    );

    // Download: read frame by frame, sampling as we go.
    let request = Request::builder()
        .uri(stack.url(&format!("/v2/_emulator/source?bytes={TOTAL}")))
        .header("authorization", &auth)
        .body(BodyExt::boxed(http_body_util::Empty::new()))
        .expect("request");
    let response = client.request(request).await.expect("download answered");
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut received = 0u64;
    let mut next_sample = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            received += data.len() as u64;
            if received >= next_sample {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                next_sample += SAMPLE_EVERY;
            }
        }
    }
    assert_eq!(received, TOTAL, "every byte came back");

    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    assert!(
        growth < MAX_GROWTH_KIB,
        "proxy RSS grew by {growth} KiB while streaming 2 x 200 MiB (baseline {baseline} KiB)"
    );
}
