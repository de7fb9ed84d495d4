use std::convert::Infallible;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;

use crate::support::Api;

#[tokio::test]
async fn sink_counts_a_multi_mib_streamed_upload() {
    let api = Api::start().await;
    const CHUNK: usize = 64 * 1024;
    const CHUNKS: usize = 96; // 6 MiB
    let chunk = Bytes::from(vec![7u8; CHUNK]);
    let stream = futures_util::stream::iter(
        (0..CHUNKS).map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone()))),
    );
    let request = api
        .request(Method::PUT, "/v2/_emulator/sink")
        .body(StreamBody::new(stream).boxed_unsync())
        .unwrap();
    let reply = api.send(request).await;
    let total = (CHUNK * CHUNKS) as u64;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["data"]["bytes"], total);
    let entry = api.running.journal().last().unwrap();
    assert!(entry.headers.get("content-length").is_none());
    assert_eq!(entry.body_bytes, total);
}

#[tokio::test]
async fn source_streams_exactly_the_requested_bytes_chunked() {
    let api = Api::start().await;
    let total = 1_000_003usize;
    let reply = api
        .get(&format!(
            "/v2/_emulator/source?bytes={total}&chunk_bytes=4096"
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/octet-stream");
    assert!(reply.headers.get("content-length").is_none());
    assert_eq!(reply.headers["transfer-encoding"], "chunked");
    assert_eq!(reply.body.len(), total);
    assert!(
        reply
            .body
            .iter()
            .enumerate()
            .all(|(i, byte)| *byte == (i % 251) as u8)
    );
}

#[tokio::test]
async fn source_with_a_chunk_delay_and_zero_bytes_still_completes() {
    let api = Api::start().await;
    let delayed = api
        .get("/v2/_emulator/source?bytes=10&chunk_bytes=3&chunk_delay_ms=1")
        .await;
    assert_eq!(delayed.body.len(), 10);
    let nothing = api.get("/v2/_emulator/source?bytes=0").await;
    assert_eq!(nothing.status, StatusCode::OK);
    assert!(nothing.body.is_empty());
    let missing = api.get("/v2/_emulator/source").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn emulator_routes_need_the_api_key_too() {
    let api = Api::start().await;
    let request = http::Request::get(api.url("/v2/_emulator/source?bytes=5"))
        .body(crate::support::full(""))
        .unwrap();
    assert_eq!(api.send(request).await.status, StatusCode::UNAUTHORIZED);
}
