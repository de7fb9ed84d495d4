//! Per-organization rate limits: 429 with both retry headers, limit headers on every
//! response, and one organization never limits another.

use http::{Method, StatusCode};
use serde_json::json;

use crate::Stack;

const KEY: &str = "KEY10RATE_real_upstream_key";

#[tokio::test]
async fn over_the_binding_limit_gets_429_with_retry_headers_and_nothing_upstream() {
    let stack = Stack::start(KEY).await;
    let created = stack
        .proxy
        .admin_call(
            Method::POST,
            "/v1/bindings",
            Some(json!({
                "org_id": "org-limited",
                "api_key": KEY,
                "rate_limit": {"requests_per_second": 1, "burst": 2}
            })),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    stack.proxy.create_binding("org-free", KEY).await;
    let limited = stack.proxy.token("org-limited").await;
    let free = stack.proxy.token("org-free").await;
    let url = stack.url("/v2/balance");

    let first = stack.http.get_with_token(&url, &limited).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.header("x-ratelimit-limit"), Some("1"));
    assert_eq!(first.header("x-ratelimit-remaining"), Some("1"));
    let second = stack.http.get_with_token(&url, &limited).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.header("x-ratelimit-remaining"), Some("0"));
    let seen = stack.emulator.journal().len();

    let refused = stack.http.get_with_token(&url, &limited).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS, "{refused:?}");
    assert_eq!(refused.error_code().as_deref(), Some("rate_limited"));
    let retry_after: u64 = refused
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("secs");
    let retry_ms: u64 = refused
        .header("retry-after-ms")
        .expect("retry-after-ms")
        .parse()
        .expect("ms");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert!(
        (1..=60_000).contains(&retry_ms),
        "retry-after-ms {retry_ms}"
    );
    assert_eq!(refused.header("x-ratelimit-limit"), Some("1"));
    assert_eq!(refused.header("x-ratelimit-remaining"), Some("0"));
    assert_eq!(
        stack.emulator.journal().len(),
        seen,
        "the refused call never went upstream"
    );

    // Another organization is not affected, and has no limit (no default configured).
    for _ in 0..5 {
        let reply = stack.http.get_with_token(&url, &free).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.header("x-ratelimit-limit"), None);
    }
}

#[tokio::test]
async fn the_configured_default_applies_to_bindings_without_a_limit() {
    let stack = Stack::start_with(KEY, |o| {
        o.set("rate_limit.default_requests_per_second", "1")
            .set("rate_limit.default_burst", "1")
    })
    .await;
    stack.proxy.create_binding("org-default", KEY).await;
    let token = stack.proxy.token("org-default").await;
    let url = stack.url("/v2/balance");
    assert_eq!(
        stack.http.get_with_token(&url, &token).await.status,
        StatusCode::OK
    );
    let refused = stack.http.get_with_token(&url, &token).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(refused.error_code().as_deref(), Some("rate_limited"));
}
