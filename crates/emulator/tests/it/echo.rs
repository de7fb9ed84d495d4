//! `/v2/_emulator/echo_auth`: the request's `Authorization` comes back where it was asked for.

use http::StatusCode;

use crate::support::{Api, KEY};

fn sent() -> String {
    format!("Bearer {KEY}")
}

#[tokio::test]
async fn the_text_body_reflects_the_authorization_after_the_padding() {
    let api = Api::start().await;
    let reply = api.get("/v2/_emulator/echo_auth?padding=3").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "text/plain");
    assert_eq!(
        reply.body,
        format!("...you sent Authorization: {}\n", sent()).as_bytes()
    );
    assert_eq!(
        reply.headers["content-length"],
        reply.body.len().to_string()
    );
}

#[tokio::test]
async fn json_and_detail_bodies_carry_the_value_as_a_json_string() {
    let api = Api::start().await;
    let json = api.get("/v2/_emulator/echo_auth?body=json").await;
    assert_eq!(json.status, StatusCode::OK);
    assert_eq!(json.json()["data"]["authorization"], sent());
    let detail = api.get("/v2/_emulator/echo_auth?body=detail").await;
    assert_eq!(detail.status, StatusCode::UNAUTHORIZED);
    assert_eq!(detail.error_code(), "10009");
    let text = detail.json()["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(text.contains(&sent()), "{text}");
}

#[tokio::test]
async fn each_header_channel_reflects_the_value() {
    let api = Api::start().await;
    let reply = api
        .get("/v2/_emulator/echo_auth?body=none&headers=x-echo-auth,www-authenticate,authorization")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["x-echo-auth"], sent().as_str());
    assert_eq!(reply.headers["authorization"], sent().as_str());
    let challenge = reply.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer ") && challenge.contains(&sent()));
    assert!(!String::from_utf8_lossy(&reply.body).contains(KEY));
}

#[tokio::test]
async fn a_chunked_reflection_keeps_its_content_length() {
    let api = Api::start().await;
    let reply = api
        .get("/v2/_emulator/echo_auth?padding=10&chunk_bytes=3&chunk_delay_ms=1")
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers["content-length"],
        reply.body.len().to_string()
    );
    assert!(reply.headers.get("transfer-encoding").is_none());
    assert!(String::from_utf8_lossy(&reply.body).ends_with(&format!("{}\n", sent())));
}

#[tokio::test]
async fn unknown_channels_are_refused() {
    let api = Api::start().await;
    for query in ["body=xml", "headers=x-echo-auth,cookie"] {
        let reply = api.get(&format!("/v2/_emulator/echo_auth?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.error_code(), "10015");
    }
}
