//! Draining: in-flight responses finish; stuck ones are cut and counted.

use std::time::Duration;

use dataplane::DrainReport;
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use crate::harness::{Options, PREFIX, Stack, empty};

#[tokio::test]
async fn drain_lets_an_in_flight_streaming_response_finish() {
    const TOTAL: usize = 8 * 1024 * 1024;
    let mut stack = Stack::start().await;
    let request = stack
        .authorized(
            Method::GET,
            &format!("{PREFIX}/_emulator/source?bytes={TOTAL}"),
        )
        .body(empty())
        .unwrap();
    // The head is here; the body is still streaming (far more than socket buffers hold).
    let response = stack.send_streaming(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let reading = tokio::spawn(async move { response.into_body().collect().await });
    let report = stack.shut_down().await;
    let body = reading.await.unwrap().unwrap().to_bytes();
    assert_eq!(body.len(), TOTAL);
    assert_eq!(report, DrainReport::Complete);
    assert!(!stack.readiness.is_ready());
}

#[tokio::test]
async fn drain_cuts_what_outlives_the_grace_period() {
    let mut stack = Stack::start_with(Options {
        drain_grace: Duration::from_millis(100),
        ..Options::default()
    })
    .await;
    // One chunk now, the next in a minute: the response cannot finish within the grace.
    let request = stack
        .authorized(
            Method::GET,
            &format!("{PREFIX}/_emulator/source?bytes=2&chunk_bytes=1&chunk_delay_ms=60000"),
        )
        .body(empty())
        .unwrap();
    let response = stack.send_streaming(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let report = stack.shut_down().await;
    assert_eq!(report, DrainReport::Cut { connections: 1 });
    assert!(response.into_body().collect().await.is_err());
}
