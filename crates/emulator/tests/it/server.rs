use std::time::Duration;

use bytes::Bytes;
use emulator::Emulator;
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::{Api, KEY, config};

#[tokio::test]
async fn status_route_answers_the_asked_status_with_retry_headers() {
    let api = Api::start().await;
    let reply = api
        .call(
            Method::POST,
            "/v2/_emulator/status/429?retry_after=120&retry_after_ms=120000",
            "",
        )
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.error_code(), "429");
    assert_eq!(reply.headers["retry-after"], "120");
    assert_eq!(reply.headers["retry-after-ms"], "120000");
    let unavailable = api.get("/v2/_emulator/status/503").await;
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unavailable.error_code(), "503");
    let no_content = api.get("/v2/_emulator/status/204").await;
    assert_eq!(no_content.status, StatusCode::NO_CONTENT);
    assert!(no_content.body.is_empty());
    let bogus = api.get("/v2/_emulator/status/99").await;
    assert_eq!(bogus.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delay_route_answers_200_after_waiting() {
    let api = Api::start().await;
    let reply = api.get("/v2/_emulator/delay?ms=5").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["data"]["delayed_ms"], 5);
}

#[tokio::test]
async fn h2c_prior_knowledge_is_served_and_journaled_as_http2() {
    let api = Api::start().await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Empty<Bytes>>();
    let request = Request::get(api.url("/v2/balance"))
        .header("authorization", format!("Bearer {KEY}"))
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.starts_with(b"{\"data\""));
    let entry = api.running.journal().last().unwrap();
    assert_eq!(entry.version, Version::HTTP_2);
    assert_eq!(entry.path_and_query, "/v2/balance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_in_flight_request_finish_then_serve_returns() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let emulator = Emulator::new(config());
    let journal = emulator.journal();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(emulator.serve(listener, async move {
        let _ = stopped.await;
    }));

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let request = Request::get(format!("http://{addr}/v2/_emulator/delay?ms=200"))
        .header("authorization", format!("Bearer {KEY}"))
        .body(Empty::new())
        .unwrap();
    let in_flight = tokio::spawn(client.request(request));
    // Wait until the emulator has the request, then stop it.
    while journal.is_empty() {
        tokio::task::yield_now().await;
    }
    stop.send(()).unwrap();

    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(!body.is_empty());
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns once the connection drained")
        .unwrap()
        .unwrap();
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn dropping_the_running_guard_stops_accepting() {
    let running = Emulator::spawn(config()).await.unwrap();
    let addr = running.addr();
    assert_eq!(running.base_url(), format!("http://{addr}"));
    let journal = running.journal();
    assert!(running.emulator().journal().is_empty());
    drop(running);
    // The listener closes once the server task sees the signal.
    let mut refused = false;
    for _ in 0..1000 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "still accepting after the guard was dropped");
    assert!(journal.is_empty());
}
