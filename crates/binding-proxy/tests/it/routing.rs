//! Routing and header hygiene through the real binary.

use bytes::Bytes;
use http::{Method, StatusCode};

use crate::Stack;

const KEY: &str = "KEY02ROUTING_real_upstream_key";

#[tokio::test]
async fn query_string_is_forwarded_byte_for_byte() {
    let (stack, token) = Stack::with_binding("org-route-1", KEY).await;
    let query = "filter%5Bstatus%5D=queued&page[size]=2&x=%20y+z&empty=";
    stack
        .http
        .get_with_token(&stack.url(&format!("/v2/balance?{query}")), &token)
        .await;
    assert_eq!(
        stack
            .emulator
            .journal()
            .last()
            .expect("seen")
            .path_and_query,
        format!("/v2/balance?{query}")
    );
}

#[tokio::test]
async fn hop_by_hop_headers_are_dropped_and_others_pass() {
    let (stack, token) = Stack::with_binding("org-route-2", KEY).await;
    let auth = format!("Bearer {token}");
    let reply = stack
        .http
        .send(
            Method::GET,
            &stack.url("/v2/balance"),
            &[
                ("authorization", &auth),
                ("connection", "keep-alive, x-drop-me"),
                ("x-drop-me", "1"),
                ("keep-alive", "timeout=5"),
                ("proxy-authorization", "Basic Zm9vOmJhcg=="),
                ("te", "trailers"),
                ("user-agent", "Telnyx/Node 2.0"),
                ("x-stainless-retry-count", "0"),
                ("accept-encoding", "gzip"),
            ],
            Bytes::new(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let seen = stack.emulator.journal().last().expect("seen");
    for dropped in ["x-drop-me", "keep-alive", "proxy-authorization", "te"] {
        assert!(
            !seen.headers.contains_key(dropped),
            "{dropped} must not reach the upstream"
        );
    }
    assert_eq!(seen.headers["user-agent"], "Telnyx/Node 2.0");
    assert_eq!(seen.headers["x-stainless-retry-count"], "0");
    // Asked for identity, whatever the client accepts: the answer is scanned for the key.
    assert_eq!(seen.headers["accept-encoding"], "identity");
    let host = seen.headers["host"].to_str().expect("host");
    assert_eq!(
        host,
        stack.emulator.addr().to_string(),
        "Host names the upstream"
    );
    let authz = seen.headers["authorization"].to_str().expect("auth");
    assert!(
        !authz.contains(&token),
        "the JWT never reaches the upstream"
    );
}

#[tokio::test]
async fn request_id_is_kept_or_minted_and_returned() {
    let (stack, token) = Stack::with_binding("org-route-3", KEY).await;
    let auth = format!("Bearer {token}");
    let kept = stack
        .http
        .send(
            Method::GET,
            &stack.url("/v2/balance"),
            &[("authorization", &auth), ("x-request-id", "req-abc-123")],
            Bytes::new(),
        )
        .await;
    assert_eq!(kept.header("x-request-id"), Some("req-abc-123"));
    assert_eq!(
        stack.emulator.journal().last().expect("seen").headers["x-request-id"],
        "req-abc-123"
    );

    let minted = stack
        .http
        .get_with_token(&stack.url("/v2/balance"), &token)
        .await;
    let id = minted.header("x-request-id").expect("a minted request id");
    assert!(!id.is_empty());
    assert_eq!(
        stack.emulator.journal().last().expect("seen").headers["x-request-id"],
        id
    );

    // Refusals carry it too, in the header and in the error document.
    let refused = stack
        .http
        .send(
            Method::GET,
            &stack.url("/v2/balance"),
            &[("x-request-id", "req-refused-1")],
            Bytes::new(),
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(refused.header("x-request-id"), Some("req-refused-1"));
    assert_eq!(
        refused.json()["errors"][0]["meta"]["request_id"],
        "req-refused-1"
    );
}

#[tokio::test]
async fn paths_outside_the_prefix_are_404_and_never_forwarded() {
    let (stack, token) = Stack::with_binding("org-route-4", KEY).await;
    let base = format!("http://{}", stack.proxy.dataplane);
    for path in [
        "/v2/balance",
        "/",
        "/v2/compute/internal/binding-proxy",
        "/v2/compute/internal/binding-proxy/",
        "/v2/compute/internal/binding-proxyX/v2/balance",
        "/v1/bindings",
    ] {
        let reply = stack
            .http
            .get_with_token(&format!("{base}{path}"), &token)
            .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            reply.error_code().as_deref(),
            Some("route_not_found"),
            "{path}"
        );
    }
    assert!(
        stack.emulator.journal().is_empty(),
        "nothing reached the upstream"
    );
}

#[tokio::test]
async fn health_probes_answer_without_a_token() {
    let stack = Stack::start(KEY).await;
    let base = format!("http://{}", stack.proxy.dataplane);
    for probe in ["/health/liveness", "/health/readiness"] {
        let reply = stack
            .http
            .send(Method::GET, &format!("{base}{probe}"), &[], Bytes::new())
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{probe}");
    }
}

#[tokio::test]
async fn upstream_errors_pass_through_untouched() {
    let (stack, token) = Stack::with_binding("org-route-5", KEY).await;
    let reply = stack
        .http
        .get_with_token(&stack.url("/v2/_emulator/status/422"), &token)
        .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let direct = stack
        .http
        .get_with_token(
            &format!("{}/v2/_emulator/status/422", stack.emulator.base_url()),
            KEY,
        )
        .await;
    assert_eq!(reply.body, direct.body, "the upstream's body, unchanged");
}

#[tokio::test]
async fn upstream_connections_are_pooled_and_kept_alive() {
    let (stack, token) = Stack::with_binding("org-route-6", KEY).await;
    for _ in 0..5 {
        let reply = stack
            .http
            .get_with_token(&stack.url("/v2/balance"), &token)
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let peers: std::collections::HashSet<_> = stack
        .emulator
        .journal()
        .entries()
        .iter()
        .map(|e| e.peer)
        .collect();
    assert_eq!(
        peers.len(),
        1,
        "five sequential calls share one upstream connection"
    );
}

/// The client's forwarding headers, forged by function code.
const FORGED: [(&str, &str); 5] = [
    ("x-forwarded-for", "6.6.6.6"),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-proto", "https"),
    ("forwarded", "for=6.6.6.6"),
    ("x-real-ip", "6.6.6.6"),
];

/// Sends a call with forged forwarding headers and returns what the upstream saw.
async fn forwarding_headers_seen(stack: &Stack, token: &str) -> http::HeaderMap {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend(FORGED);
    let reply = stack
        .http
        .send(
            Method::GET,
            &stack.url("/v2/balance"),
            &headers,
            Bytes::new(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    stack.emulator.journal().last().expect("seen").headers
}

#[tokio::test]
async fn forged_forwarding_headers_are_replaced_by_the_peer_address() {
    let (stack, token) = Stack::with_binding("org-route-fwd", KEY).await;
    let seen = forwarding_headers_seen(&stack, &token).await;
    assert_eq!(seen.get_all("x-forwarded-for").iter().count(), 1);
    assert_eq!(seen["x-forwarded-for"], "127.0.0.1");
    for (name, _) in &FORGED[1..] {
        assert!(!seen.contains_key(*name), "{name} reached the upstream");
    }
}

#[tokio::test]
async fn forwarding_headers_can_be_dropped_or_appended_to() {
    let (stack, token) = Stack::start_with(KEY, |o| o.set("dataplane.forwarded_headers", "drop"))
        .await
        .bind("org-route-fwd-drop", KEY)
        .await;
    let seen = forwarding_headers_seen(&stack, &token).await;
    for (name, _) in FORGED {
        assert!(!seen.contains_key(name), "{name} reached the upstream");
    }

    let (stack, token) = Stack::start_with(KEY, |o| o.set("dataplane.forwarded_headers", "append"))
        .await
        .bind("org-route-fwd-append", KEY)
        .await;
    let seen = forwarding_headers_seen(&stack, &token).await;
    assert_eq!(seen["x-forwarded-for"], "6.6.6.6, 127.0.0.1");
    assert_eq!(seen["x-forwarded-host"], "evil.example");
}
