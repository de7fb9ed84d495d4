use http::{Method, StatusCode};
use serde_json::json;

use crate::support::{Api, config};

#[tokio::test]
async fn balance_reports_config_and_available_credit() {
    let api = Api::start().await;
    let reply = api.get("/v2/balance").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.content_type(), "application/json");
    assert_eq!(
        reply.json(),
        json!({"data":{
            "record_type":"balance","balance":"300.00","credit_limit":"100.00",
            "available_credit":"400.00","currency":"USD"
        }})
    );
}

#[tokio::test]
async fn balance_adds_the_credit_limit_to_a_configured_balance() {
    let api = Api::start_with(emulator::EmulatorConfig {
        balance: "12.5".to_owned(),
        currency: "EUR".to_owned(),
        ..config()
    })
    .await;
    let data = api.get("/v2/balance").await.json()["data"].clone();
    assert_eq!(data["balance"], "12.5");
    assert_eq!(data["available_credit"], "112.50");
    assert_eq!(data["currency"], "EUR");
}

#[tokio::test]
async fn message_is_answered_queued() {
    let api = Api::start().await;
    let reply = api
        .call(
            Method::POST,
            "/v2/messages",
            r#"{"from":"+15550001111","to":"+15550002222","text":"hello"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let data = reply.json()["data"].clone();
    assert_eq!(data["record_type"], "message");
    assert_eq!(data["direction"], "outbound");
    assert_eq!(data["type"], "SMS");
    assert_eq!(data["from"]["phone_number"], "+15550001111");
    assert_eq!(data["to"][0]["phone_number"], "+15550002222");
    assert_eq!(data["to"][0]["status"], "queued");
    assert_eq!(data["text"], "hello");
    assert_eq!(data["id"].as_str().unwrap().len(), 36);
    assert!(data["created_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn message_without_from_or_to_or_with_bad_json_is_422() {
    let api = Api::start().await;
    let missing_to = api
        .call(Method::POST, "/v2/messages", r#"{"from":"+15550001111"}"#)
        .await;
    assert_eq!(missing_to.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(missing_to.error_code(), "10004");
    let missing_from = api
        .call(Method::POST, "/v2/messages", r#"{"to":"+15550001111"}"#)
        .await;
    assert_eq!(missing_from.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_json = api.call(Method::POST, "/v2/messages", "{not json").await;
    assert_eq!(bad_json.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad_json.error_code(), "10015");
}
