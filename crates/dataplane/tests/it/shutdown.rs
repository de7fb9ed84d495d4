//! Draining: in-flight responses finish; stuck ones are cut and counted; no task of the
//! upstream client outlives the drain.

use std::time::Duration;

use dataplane::__private::upstream_tasks;
use dataplane::DrainReport;
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use crate::harness::{Options, PREFIX, Stack, empty};
use crate::pooling::counting_upstream;
use crate::upstream_tls::{pki, stack_for, tls_upstream, write_ca};

/// A safety net so a broken test fails instead of hanging; never the thing asserted.
const SAFETY: Duration = Duration::from_secs(30);

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
    assert_eq!(
        report,
        DrainReport::Cut {
            connections: 1,
            sessions: 0
        }
    );
    assert!(response.into_body().collect().await.is_err());
}

#[tokio::test]
async fn no_upstream_task_outlives_a_drained_server_over_http2() {
    let pki = pki();
    let (addr, seen) = tls_upstream(&pki, &[b"h2"]).await;
    let (_dir, ca) = write_ca(&pki);
    let mut stack = stack_for(addr, Some(ca)).await;
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["version"], "HTTP/2.0");
    // The shared connection's driver and hyper's task for its I/O, at least.
    assert!(upstream_tasks(&stack.proxy) >= 2);
    let mut ended = seen.ended.subscribe();
    assert_eq!(*ended.borrow(), 0);

    assert_eq!(stack.shut_down().await, DrainReport::Complete);
    assert_eq!(upstream_tasks(&stack.proxy), 0);
    // Nothing holds the connection open any more: the upstream sees it end.
    tokio::time::timeout(SAFETY, ended.wait_for(|ended| *ended == 1))
        .await
        .expect("the upstream HTTP/2 connection outlived the server")
        .unwrap();
}

#[tokio::test]
async fn no_upstream_task_outlives_a_drained_server_over_http1() {
    let (addr, accepted, mut closures) = counting_upstream(false).await;
    let mut stack = Stack::start_with(Options {
        upstream: Some(format!("http://{addr}")),
        ..Options::default()
    })
    .await;
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::OK);
    // The connection went back to the idle list, which started the sweeper.
    assert_eq!(upstream_tasks(&stack.proxy), 1);

    assert_eq!(stack.shut_down().await, DrainReport::Complete);
    assert_eq!(upstream_tasks(&stack.proxy), 0);
    // Long before its idle timeout (90 s), the idle connection is closed with the server.
    tokio::time::timeout(SAFETY, closures.recv())
        .await
        .expect("the idle upstream connection outlived the server")
        .unwrap();
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}
