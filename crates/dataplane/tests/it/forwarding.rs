//! What reaches the upstream, and what comes back.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::harness::{API_KEY, PREFIX, Stack, TestBody, empty};

#[tokio::test]
async fn documented_form_reaches_upstream_with_raw_path_and_query() {
    let stack = Stack::start().await;
    let target = "/v2/storage/kvs/ns-1/keys/user%2F123?a=b%20c&d=%2e%2e&e";
    let reply = stack.get(&format!("{PREFIX}{target}")).await;
    assert_ne!(reply.status, StatusCode::BAD_GATEWAY);
    let seen = stack.emulator.journal().last().unwrap();
    assert_eq!(seen.path_and_query, target);
    assert_eq!(seen.method, Method::GET);
}

#[tokio::test]
async fn sdk_form_gains_v2_and_keeps_encoded_keys() {
    let stack = Stack::start().await;
    let reply = stack
        .get(&format!(
            "{PREFIX}/storage/kvs/ns-1/keys/greeting%2Fa%20b?x=1"
        ))
        .await;
    assert_ne!(reply.status, StatusCode::BAD_GATEWAY);
    let seen = stack.emulator.journal().last().unwrap();
    assert_eq!(
        seen.path_and_query,
        "/v2/storage/kvs/ns-1/keys/greeting%2Fa%20b?x=1"
    );
}

#[tokio::test]
async fn authorization_is_swapped_and_the_token_never_reaches_upstream() {
    let stack = Stack::start().await;
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let seen = stack.emulator.journal().last().unwrap();
    let authorization: Vec<_> = seen.headers.get_all("authorization").iter().collect();
    assert_eq!(authorization, [format!("Bearer {API_KEY}").as_str()]);
    for (name, value) in &seen.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        assert!(!value.contains(&stack.token), "token leaked in {name}");
    }
    assert_eq!(
        seen.headers["host"],
        stack.emulator.base_url().trim_start_matches("http://")
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_and_end_to_end_headers_kept() {
    let stack = Stack::start().await;
    let request = stack
        .authorized(Method::POST, &format!("{PREFIX}/_emulator/sink"))
        .header("connection", "x-custom")
        .header("x-custom", "dropped")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("te", "trailers")
        .header("user-agent", "Telnyx/Python 1.0")
        .header("x-stainless-lang", "python")
        .header("accept-encoding", "gzip")
        .header("content-type", "application/octet-stream")
        .body(http_body_util::Full::new(Bytes::from_static(b"hello")).boxed())
        .unwrap();
    let reply = stack.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    let seen = stack.emulator.journal().last().unwrap();
    for dropped in ["x-custom", "proxy-authorization", "te", "connection"] {
        assert!(
            !seen.headers.contains_key(dropped),
            "{dropped} reached upstream"
        );
    }
    assert_eq!(seen.headers["user-agent"], "Telnyx/Python 1.0");
    assert_eq!(seen.headers["x-stainless-lang"], "python");
    // Asked for identity: the answer is scanned for a reflected key (reflection.rs).
    assert_eq!(seen.headers["accept-encoding"], "identity");
    assert_eq!(seen.headers["content-type"], "application/octet-stream");
    assert_eq!(seen.headers["content-length"], "5");
    assert_eq!(seen.body_bytes, 5);
}

#[tokio::test]
async fn a_sane_request_id_is_kept_and_returned() {
    let stack = Stack::start().await;
    let request = stack
        .authorized(Method::GET, &format!("{PREFIX}/balance"))
        .header("x-request-id", "fn-req-42")
        .body(empty())
        .unwrap();
    let reply = stack.send(request).await;
    assert_eq!(reply.headers["x-request-id"], "fn-req-42");
    let seen = stack.emulator.journal().last().unwrap();
    assert_eq!(seen.headers["x-request-id"], "fn-req-42");
}

#[tokio::test]
async fn a_missing_request_id_is_minted_and_returned() {
    let stack = Stack::start().await;
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    let returned = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(
        uuid::Uuid::parse_str(&returned).unwrap().get_version_num(),
        4
    );
    let seen = stack.emulator.journal().last().unwrap();
    assert_eq!(seen.headers["x-request-id"], returned.as_str());
}

#[tokio::test]
async fn upstream_errors_pass_through_untouched() {
    let stack = Stack::start().await;
    for status in [404_u16, 429, 503] {
        let reply = stack
            .get(&format!("{PREFIX}/_emulator/status/{status}?retry_after=7"))
            .await;
        assert_eq!(reply.status.as_u16(), status);
        assert_eq!(reply.code(), status.to_string());
        assert_eq!(reply.headers["retry-after"], "7");
        assert!(!reply.headers.contains_key("x-should-retry"));
    }
}

#[tokio::test]
async fn a_20_mib_upload_streams_through_byte_exact() {
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 320;
    let stack = Stack::start().await;
    let chunks = (0..CHUNKS).map(|i| {
        Ok::<_, Infallible>(Frame::data(Bytes::from(vec![
            u8::try_from(i % 251).unwrap();
            CHUNK
        ])))
    });
    let body: TestBody = StreamBody::new(futures_util::stream::iter(chunks)).boxed();
    let request = stack
        .authorized(Method::PUT, &format!("{PREFIX}/_emulator/sink"))
        .body(body)
        .unwrap();
    let reply = stack.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["data"]["bytes"], CHUNK * CHUNKS);
    assert_eq!(
        stack.emulator.journal().last().unwrap().body_bytes,
        (CHUNK * CHUNKS) as u64
    );
}

#[tokio::test]
async fn a_20_mib_download_streams_through_byte_exact() {
    const TOTAL: usize = 20 * 1024 * 1024;
    let stack = Stack::start().await;
    let reply = stack
        .get(&format!("{PREFIX}/_emulator/source?bytes={TOTAL}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.len(), TOTAL);
    assert!(
        reply
            .body
            .iter()
            .enumerate()
            .all(|(i, &b)| usize::from(b) == i % 251)
    );
}

#[tokio::test]
async fn h2c_clients_are_served_and_forwarded() {
    let stack = Stack::start().await;
    let client: Client<_, TestBody> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let request = stack
        .authorized(Method::GET, &format!("{PREFIX}/v2/balance?x=%2F"))
        .body(empty())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let seen = stack.emulator.journal().last().unwrap();
    assert_eq!(seen.path_and_query, "/v2/balance?x=%2F");
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {API_KEY}").as_str()
    );
}
