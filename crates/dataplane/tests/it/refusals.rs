//! Every refusal: status, code, headers, and an upstream that saw nothing.

use http::{Method, Request, StatusCode};

use crate::harness::{PREFIX, Reply, Stack, empty, raw_status_and_code};

fn assert_refused(stack: &Stack, reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.code(), code);
    assert_eq!(reply.headers["content-type"], "application/json");
    let request_id = reply.headers["x-request-id"].to_str().unwrap();
    assert_eq!(reply.json()["errors"][0]["meta"]["request_id"], request_id);
    assert!(
        stack.emulator.journal().is_empty(),
        "upstream saw a refused request"
    );
}

#[tokio::test]
async fn missing_token_gets_401_and_upstream_sees_nothing() {
    let stack = Stack::start().await;
    let request = Request::get(stack.url(&format!("{PREFIX}/balance")))
        .body(empty())
        .unwrap();
    let reply = stack.send(request).await;
    assert_refused(&stack, &reply, StatusCode::UNAUTHORIZED, "token_missing");
    assert_eq!(
        reply.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
}

#[tokio::test]
async fn bad_token_gets_401_and_upstream_sees_nothing() {
    let stack = Stack::start().await;
    let request = Request::get(stack.url(&format!("{PREFIX}/balance")))
        .header("authorization", "Bearer not-a-jwt")
        .header("x-request-id", "refused-1")
        .body(empty())
        .unwrap();
    let reply = stack.send(request).await;
    assert_refused(&stack, &reply, StatusCode::UNAUTHORIZED, "token_malformed");
    assert_eq!(
        reply.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(reply.headers["x-request-id"], "refused-1");
}

#[tokio::test]
async fn paths_outside_the_api_get_404_before_auth() {
    let stack = Stack::start().await;
    for target in [
        "/v2/messages".to_owned(),
        PREFIX.to_owned(),
        format!("{PREFIX}/"),
        format!("{PREFIX}/v2"),
        format!("{PREFIX}/v2/"),
        format!("{PREFIX}x/messages"),
    ] {
        let reply = stack.get(&target).await;
        assert_refused(&stack, &reply, StatusCode::NOT_FOUND, "route_not_found");
        assert!(!reply.headers.contains_key("www-authenticate"));
    }
}

#[tokio::test]
async fn dot_segments_get_400_in_every_spelling_and_upstream_sees_nothing() {
    let stack = Stack::start().await;
    for segment in ["..", ".", "%2e%2e", "%2E%2e", ".%2E", "%2e"] {
        let target = format!("{PREFIX}/v2/storage/{segment}/balance");
        let reply = stack.get(&target).await;
        assert_refused(
            &stack,
            &reply,
            StatusCode::BAD_REQUEST,
            "bad_request_target",
        );
    }
    let reply = stack.get(&format!("{PREFIX}/v2/kv/a%2F..%2Fb")).await;
    assert_refused(
        &stack,
        &reply,
        StatusCode::BAD_REQUEST,
        "bad_request_target",
    );
}

#[tokio::test]
async fn hostile_targets_get_400_even_without_a_token() {
    let stack = Stack::start().await;
    for target in [
        format!("{PREFIX}/v2/messages%00"),
        format!("{PREFIX}/v2/messages%0d%0aX-Injected:%201"),
        format!("{PREFIX}/v2/a%5c..%5cb"),
        format!("{PREFIX}/v2/a%zz"),
        format!("{PREFIX}/v2//messages"),
    ] {
        let request = Request::get(stack.url(&target)).body(empty()).unwrap();
        let reply = stack.send(request).await;
        assert_refused(
            &stack,
            &reply,
            StatusCode::BAD_REQUEST,
            "bad_request_target",
        );
    }
}

#[tokio::test]
async fn absolute_form_targets_get_400() {
    let stack = Stack::start().await;
    let response = stack
        .raw(&format!(
            "GET http://evil.example{PREFIX}/v2/balance HTTP/1.1\r\nHost: evil.example\r\n\
             Authorization: Bearer {}\r\nConnection: close\r\n\r\n",
            stack.token
        ))
        .await;
    assert_eq!(
        raw_status_and_code(&response),
        (400, "bad_request_target".to_owned())
    );
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn connect_gets_405() {
    let stack = Stack::start().await;
    let response = stack
        .raw(&format!(
            "CONNECT api.telnyx.com:443 HTTP/1.1\r\nHost: api.telnyx.com:443\r\n\
             Authorization: Bearer {}\r\nConnection: close\r\n\r\n",
            stack.token
        ))
        .await;
    assert_eq!(
        raw_status_and_code(&response),
        (405, "method_not_allowed".to_owned())
    );
    assert!(response.to_ascii_lowercase().contains("\r\nallow: "));
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn probes_answer_without_a_token() {
    let stack = Stack::start().await;
    for path in ["/health/liveness", "/health/readiness"] {
        let reply = stack
            .send(Request::get(stack.url(path)).body(empty()).unwrap())
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.body, "ok");
    }
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn readiness_is_503_when_not_ready() {
    let stack = Stack::start().await;
    stack.readiness.set_ready(false);
    let reply = stack
        .send(
            Request::builder()
                .method(Method::GET)
                .uri(stack.url("/health/readiness"))
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_refused(
        &stack,
        &reply,
        StatusCode::SERVICE_UNAVAILABLE,
        "shutting_down",
    );
    let live = stack
        .send(
            Request::get(stack.url("/health/liveness"))
                .body(empty())
                .unwrap(),
        )
        .await;
    assert_eq!(live.status, StatusCode::OK);
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let stack = Stack::start().await;
    let response = stack
        .raw(&format!(
            "GET {PREFIX}/balance HTTP/1.1\r\nHost: proxy\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(128 * 1024)
        ))
        .await;
    assert!(response.starts_with("HTTP/1.1 431"), "{response:.80}");
    assert!(stack.emulator.journal().is_empty());
}
