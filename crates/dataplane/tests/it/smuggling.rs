//! Hostile request targets and request-smuggling shapes, written byte for byte on a raw
//! socket so no client library tidies them up first.

use crate::harness::{PREFIX, Stack, raw_status_and_code};

/// A request head with the stack's token, `Connection: close`, and `extra` header lines.
fn head(stack: &Stack, method: &str, target: &str, extra: &str) -> String {
    format!(
        "{method} {target} HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {}\r\n{extra}\
         Connection: close\r\n\r\n",
        stack.token
    )
}

#[tokio::test]
async fn raw_hostile_targets_get_400_and_upstream_sees_nothing() {
    let stack = Stack::start().await;
    for target in [
        format!("{PREFIX}/../../v1/bindings"),
        format!("{PREFIX}/v2/../api_keys"),
        format!("{PREFIX}/v2/%2E%2E/api_keys"),
        format!("{PREFIX}/v2/%2e%2E/%2E./balance"),
        format!("{PREFIX}/messages/%2e"),
        format!("{PREFIX}/v2/storage/kvs/a%2f..%2f..%2fapi_keys"),
        format!("{PREFIX}/v2/messages%00.json"),
        format!("{PREFIX}/v2/messages%7f"),
        format!("{PREFIX}/v2/messages%0D%0AX-Injected:%201"),
        format!("{PREFIX}/v2/messages%1b"),
        "/v2/compute/internal/%2e%2e/binding-proxy/balance".to_owned(),
    ] {
        let response = stack.raw(&head(&stack, "GET", &target, "")).await;
        assert_eq!(
            raw_status_and_code(&response),
            (400, "bad_request_target".to_owned()),
            "{target}"
        );
    }
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn a_path_that_leaves_the_prefix_after_normalisation_is_refused() {
    let stack = Stack::start().await;
    // Normalised, `{PREFIX}/../balance` is `/v2/compute/internal/balance`: outside the prefix.
    for target in [
        format!("{PREFIX}/../balance"),
        format!("{PREFIX}/%2e%2e/balance"),
        format!("{PREFIX}/v2/%2E%2E/%2E%2E/x"),
    ] {
        let response = stack.raw(&head(&stack, "GET", &target, "")).await;
        assert_eq!(raw_status_and_code(&response).0, 400, "{target}");
    }
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn targets_in_neither_accepted_form_are_refused() {
    let stack = Stack::start().await;
    for (method, target, status, code) in [
        (
            "GET",
            "http://evil.example/v2/balance".to_owned(),
            400,
            "bad_request_target",
        ),
        (
            "GET",
            format!("https://api.telnyx.com{PREFIX}/balance"),
            400,
            "bad_request_target",
        ),
        ("OPTIONS", "*".to_owned(), 400, "bad_request_target"),
        (
            "CONNECT",
            "api.telnyx.com:443".to_owned(),
            405,
            "method_not_allowed",
        ),
        (
            "CONNECT",
            format!("{PREFIX}/balance"),
            405,
            "method_not_allowed",
        ),
        ("GET", "/balance".to_owned(), 404, "route_not_found"),
        ("GET", "/v2/balance".to_owned(), 404, "route_not_found"),
    ] {
        let response = stack.raw(&head(&stack, method, &target, "")).await;
        let (got_status, got_code) = raw_status_and_code(&response);
        // Hyper refuses some shapes itself, with an empty body; ours carry the code.
        assert_eq!(got_status, status, "{method} {target}: {response:.200}");
        if !got_code.is_empty() {
            assert_eq!(got_code, code, "{method} {target}");
        }
    }
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn conflicting_content_lengths_are_refused_by_hyper_and_upstream_sees_nothing() {
    let stack = Stack::start().await;
    let target = format!("{PREFIX}/_emulator/sink");
    for extra in [
        "Content-Length: 4\r\nContent-Length: 5\r\n",
        "Content-Length: 4, 5\r\n",
        "Content-Length: -4\r\n",
        "Content-Length: +4\r\n",
    ] {
        let response = stack
            .raw(&format!("{}abcd", head(&stack, "POST", &target, extra)))
            .await;
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "{extra:?}: {response:.80}"
        );
    }
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn a_transfer_encoding_that_does_not_end_in_chunked_is_refused() {
    let stack = Stack::start().await;
    let target = format!("{PREFIX}/_emulator/sink");
    for extra in [
        "Transfer-Encoding: chunked, identity\r\n",
        "Transfer-Encoding: identity\r\n",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
        "Transfer-Encoding: gzip\r\n",
    ] {
        let response = stack
            .raw(&format!(
                "{}4\r\nabcd\r\n0\r\n\r\n",
                head(&stack, "POST", &target, extra)
            ))
            .await;
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "{extra:?}: {response:.80}"
        );
    }
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn obsolete_line_folding_is_refused() {
    let stack = Stack::start().await;
    let target = format!("{PREFIX}/balance");
    for extra in ["X-Folded: a\r\n b\r\n", "X-Folded: a\r\n\tb\r\n"] {
        let response = stack.raw(&head(&stack, "GET", &target, extra)).await;
        assert!(
            response.starts_with("HTTP/1.1 400"),
            "{extra:?}: {response:.80}"
        );
    }
    let response = stack
        .raw(&format!(
            "GET {target} HTTP/1.1\r\nHost: proxy\r\n Authorization: Bearer {}\r\n\r\n",
            stack.token
        ))
        .await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response:.80}");
    assert!(stack.emulator.journal().is_empty());
}

#[tokio::test]
async fn transfer_encoding_on_http_1_0_is_refused() {
    let stack = Stack::start().await;
    let response = stack
        .raw(&format!(
            "POST {PREFIX}/_emulator/sink HTTP/1.0\r\nHost: proxy\r\nAuthorization: Bearer {}\r\n\
             Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
            stack.token
        ))
        .await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response:.80}");
    assert!(stack.emulator.journal().is_empty());
}

/// Hyper does not refuse `Content-Length` with `Transfer-Encoding: chunked`: as RFC 9112
/// §6.3 allows, it drops the length, reads the body as chunked and closes the connection
/// after the response. What matters is that no second request can hide in the body: the
/// smuggled request after the last chunk is never read, and the length never goes upstream.
#[tokio::test]
async fn content_length_with_chunked_cannot_smuggle_a_second_request() {
    let stack = Stack::start().await;
    let smuggled = format!(
        "GET {PREFIX}/balance?smuggled=1 HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {}\r\n\r\n",
        stack.token
    );
    for extra in [
        "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
    ] {
        let request = format!(
            "POST {PREFIX}/_emulator/sink HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {}\r\n\
             {extra}\r\n4\r\nabcd\r\n0\r\n\r\n{smuggled}",
            stack.token
        );
        let response = stack.raw(&request).await;
        assert_eq!(response.matches("HTTP/1.1 ").count(), 1, "{response}");
    }
    assert_eq!(stack.emulator.journal().len(), 2);
    for seen in stack.emulator.journal().entries() {
        assert!(
            !seen.path_and_query.contains("smuggled"),
            "{}",
            seen.path_and_query
        );
        assert!(!seen.headers.contains_key("content-length"));
        assert_eq!(seen.body_bytes, 4);
    }
}
