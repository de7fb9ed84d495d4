use http::{Method, Request, StatusCode};
use serde_json::json;

use crate::support::{Api, full};

fn unauthenticated_document() -> serde_json::Value {
    json!({"errors":[{
        "code": "10009",
        "title": "Authentication failed",
        "detail": "The API key you provided is invalid or missing."
    }]})
}

#[tokio::test]
async fn request_without_authorization_gets_401_with_the_upstream_error() {
    let api = Api::start().await;
    let request = Request::get(api.url("/v2/balance")).body(full("")).unwrap();
    let reply = api.send(request).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.content_type(), "application/json");
    assert_eq!(reply.json(), unauthenticated_document());
}

#[tokio::test]
async fn request_with_an_unknown_key_or_a_jwt_gets_401() {
    let api = Api::start().await;
    for authorization in [
        "Bearer wrong-key",
        "Bearer eyJhbGciOiJFUzI1NiJ9.e30.sig",
        "KEY-emulator-test",
    ] {
        let request = Request::get(api.url("/v2/storage/kvs"))
            .header("authorization", authorization)
            .body(full(""))
            .unwrap();
        let reply = api.send(request).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{authorization}");
        assert_eq!(reply.json(), unauthenticated_document());
    }
}

#[tokio::test]
async fn emulator_without_keys_refuses_everything_under_v2() {
    let api = Api::start_with(emulator::EmulatorConfig::default()).await;
    let reply = api.get("/v2/balance").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_routes_are_404_error_documents() {
    let api = Api::start().await;
    for path in [
        "/v2/nothing-here",
        "/v3/balance",
        "/",
        "/v2/storage/kvs/a/b",
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.error_code(), "10005", "{path}");
    }
}

#[tokio::test]
async fn wrong_method_on_a_known_route_is_405_with_allow() {
    let api = Api::start().await;
    let reply = api.call(Method::POST, "/v2/balance", "").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers["allow"], "GET");
}
