//! Paths that a normalising upstream resolves elsewhere than the scope check read them (#16):
//! `;…` path parameters (`..;` is `..` to servlet containers), dots encoded twice, overlong
//! UTF-8 dots. Each is refused with 400 `bad_request_target` before the token is read, in the
//! documented and the SDK form, over HTTP/1.1 and HTTP/2, and the upstream sees nothing; the
//! query is not concerned.

use bytes::Bytes;
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use testkit::Reply;

use crate::Stack;

const KEY: &str = "KEY16PATHPARAMS_real_upstream_key";
const ORG: &str = "org-path-params";

/// A stack whose binding grants `messaging` and `kv`, with a `messaging` token and a
/// `kv:ns-1` token.
async fn stack_with_narrow_tokens() -> (Stack, String, String) {
    let stack = Stack::start(KEY).await;
    let created = stack
        .proxy
        .admin_call(
            Method::POST,
            "/v1/bindings",
            Some(json!({"org_id": ORG, "api_key": KEY, "scopes": ["messaging", "kv"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let mint = |scope: &'static str| {
        let stack = &stack;
        async move {
            stack.proxy.mint(ORG, json!({"scopes": [scope]})).await["token"]
                .as_str()
                .expect("token")
                .to_owned()
        }
    };
    let messaging = mint("messaging").await;
    let kv_ns_1 = mint("kv:ns-1").await;
    (stack, messaging, kv_ns_1)
}

/// `api` (after `/v2/`) in the documented form (`{prefix}/v2/…`) and the SDK form (`{prefix}/…`).
fn both_forms(stack: &Stack, api: &str) -> [String; 2] {
    [
        stack.url(&format!("/v2/{api}")),
        stack.url(&format!("/{api}")),
    ]
}

fn assert_bad_target(reply: &Reply, url: &str) {
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{url}: {reply:?}");
    assert_eq!(
        reply.error_code().as_deref(),
        Some("bad_request_target"),
        "{url}: {reply:?}"
    );
}

/// Sends `url` with `token` and without any: both are 400 `bad_request_target`, so the
/// target was refused before the token was looked at.
async fn assert_refused_before_the_token(stack: &Stack, url: &str, token: &str) {
    let with_token = stack.http.get_with_token(url, token).await;
    assert_bad_target(&with_token, url);
    let without = stack.http.send(Method::GET, url, &[], Bytes::new()).await;
    assert_bad_target(&without, url);
}

#[tokio::test]
async fn a_messaging_token_cannot_reach_api_keys_through_dot_dot_semicolon() {
    let (stack, messaging, _) = stack_with_narrow_tokens().await;
    for api in [
        "messages/..;/api_keys",
        "messages/..;x=1/api_keys",
        "messages/.;/../api_keys",
        "messages/x/..;/..;/api_keys",
    ] {
        for url in both_forms(&stack, api) {
            assert_refused_before_the_token(&stack, &url, &messaging).await;
        }
    }
    assert!(
        stack.emulator.journal().is_empty(),
        "no refused call reached the upstream"
    );
}

#[tokio::test]
async fn a_kv_namespace_token_cannot_reach_another_namespace_through_dot_dot_semicolon() {
    let (stack, _, kv_ns_1) = stack_with_narrow_tokens().await;
    for api in [
        "storage/kvs/ns-1/..;/ns-2/keys/x",
        "storage/kvs/ns-1/..;jsessionid=1/ns-2/keys/x",
        "storage/kvs/ns-1/..%3B/ns-2/keys/x",
    ] {
        for url in both_forms(&stack, api) {
            assert_refused_before_the_token(&stack, &url, &kv_ns_1).await;
        }
    }
    assert!(
        stack.emulator.journal().is_empty(),
        "no refused call reached the upstream"
    );
    // The same token inside its namespace is forwarded: the refusals above are not a stack
    // that forwards nothing.
    let url = stack.url("/v2/storage/kvs/ns-1/keys/x");
    let reply = stack.http.get_with_token(&url, &kv_ns_1).await;
    assert_ne!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert_eq!(
        stack
            .emulator
            .journal()
            .last()
            .expect("forwarded")
            .path_and_query,
        "/v2/storage/kvs/ns-1/keys/x"
    );
}

#[tokio::test]
async fn dot_dot_semicolon_never_leads_back_to_the_proxys_own_mount_path() {
    let (stack, messaging, _) = stack_with_narrow_tokens().await;
    for api in [
        "messages/..;/compute/internal/binding-proxy/v2/messages",
        "messages/..;/compute/internal/binding-proxy/messages",
    ] {
        for url in both_forms(&stack, api) {
            assert_refused_before_the_token(&stack, &url, &messaging).await;
        }
    }
    assert!(
        stack.emulator.journal().is_empty(),
        "no refused call reached the upstream"
    );
}

#[tokio::test]
async fn dots_encoded_twice_overlong_or_with_an_encoded_semicolon_are_refused() {
    let (stack, messaging, kv_ns_1) = stack_with_narrow_tokens().await;
    for segment in [
        "%252e%252e",
        "%252E.",
        "%25%32%65%25%32%65",
        "%c0%ae%c0%ae",
        "%e0%80%ae%e0%80%ae",
        "%f0%80%80%ae",
        "..%3b",
        "..%3B",
    ] {
        for (api, token) in [
            (format!("messages/{segment}/api_keys"), &messaging),
            (format!("storage/kvs/ns-1/{segment}/ns-2/keys/x"), &kv_ns_1),
        ] {
            for url in both_forms(&stack, &api) {
                assert_refused_before_the_token(&stack, &url, token).await;
            }
        }
    }
    assert!(
        stack.emulator.journal().is_empty(),
        "no refused call reached the upstream"
    );
}

#[tokio::test]
async fn dot_dot_semicolon_over_http2_is_refused_and_never_forwarded() {
    let (stack, messaging, kv_ns_1) = stack_with_narrow_tokens().await;
    // Prior-knowledge h2c: the target travels as the `:path` pseudo-header.
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    for (api, token) in [
        ("messages/..;/api_keys", &messaging),
        ("storage/kvs/ns-1/..;/ns-2/keys/x", &kv_ns_1),
        ("messages/%c0%ae%c0%ae/api_keys", &messaging),
        ("messages/%252e%252e/api_keys", &messaging),
    ] {
        for url in both_forms(&stack, api) {
            let request = Request::get(&url)
                .header("authorization", format!("Bearer {token}"))
                .body(Full::new(Bytes::new()))
                .expect("a valid request");
            let response = client.request(request).await.expect("an answer");
            assert_eq!(response.version(), Version::HTTP_2, "{url}");
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("the body")
                .to_bytes();
            let reply = Reply {
                status,
                headers: http::HeaderMap::new(),
                body,
            };
            assert_bad_target(&reply, &url);
        }
    }
    assert!(
        stack.emulator.journal().is_empty(),
        "no refused call reached the upstream"
    );
}

#[tokio::test]
async fn semicolons_and_dot_segments_in_the_query_go_upstream_as_received() {
    let (stack, token) = Stack::with_binding("org-path-params-query", KEY).await;
    let query = "a=..;&b=/..;/api_keys;x=1&c=%252e%252e&d=%c0%ae&e=..%3b";
    for url in both_forms(&stack, &format!("balance?{query}")) {
        let reply = stack.http.get_with_token(&url, &token).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {reply:?}");
        assert_eq!(
            stack
                .emulator
                .journal()
                .last()
                .expect("forwarded")
                .path_and_query,
            format!("/v2/balance?{query}"),
            "{url}"
        );
    }
}
