//! Least privilege through the real binary: a token reaches only its effective scope (binding
//! scopes ∩ token `scp`), the deny-list holds against every scope, and minting wider than the
//! binding is refused. Every refusal leaves the upstream untouched.

use http::{Method, StatusCode};
use serde_json::json;
use testkit::Reply;

use crate::Stack;

const KEY: &str = "KEY11SCOPES_real_upstream_key";

fn assert_forbidden(reply: &Reply, code: &str) {
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{code}: {reply:?}");
    assert_eq!(reply.error_code().as_deref(), Some(code), "{reply:?}");
}

#[tokio::test]
async fn tokens_reach_only_their_effective_scope_and_never_the_deny_list() {
    let stack = Stack::start(KEY).await;
    let created = stack
        .proxy
        .admin_call(
            Method::POST,
            "/v1/bindings",
            Some(json!({"org_id": "org-scoped", "api_key": KEY, "scopes": ["messaging", "kv"]})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{created:?}");
    let wide = stack.proxy.token("org-scoped").await;
    let narrow = stack
        .proxy
        .mint("org-scoped", json!({"scopes": ["kv:ns-allowed"]}))
        .await["token"]
        .as_str()
        .expect("token")
        .to_owned();

    // Outside the binding's scopes: voice, numbers, account.
    for path in ["/v2/calls", "/v2/phone_numbers", "/v2/balance"] {
        let reply = stack.http.get_with_token(&stack.url(path), &wide).await;
        assert_forbidden(&reply, "scope_denied");
    }
    // The narrowed token: only its namespace, not messaging, not the namespace list.
    for path in [
        "/v2/messages",
        "/v2/storage/kvs",
        "/v2/storage/kvs/ns-other/keys/a",
        "/v2/storage/kvs/ns-allowed-not/keys/a",
    ] {
        let reply = stack.http.get_with_token(&stack.url(path), &narrow).await;
        assert_forbidden(&reply, "scope_denied");
    }
    // Encoding tricks do not widen anything.
    let reply = stack
        .http
        .get_with_token(&stack.url("/v2/storage%2Fkvs/ns-other/keys/a"), &narrow)
        .await;
    assert!(reply.status.is_client_error(), "{reply:?}");
    // The deny-list holds even for a token with every scope of its binding.
    for path in [
        "/v2/api_keys",
        "/v2/api%5Fkeys",
        "/v2/managed_accounts/x",
        "/v2/compute/internal/binding-proxy/v2/balance",
    ] {
        let reply = stack.http.get_with_token(&stack.url(path), &wide).await;
        assert_forbidden(&reply, "route_denied");
    }
    assert!(
        stack.emulator.journal().is_empty(),
        "no refused call reached the upstream"
    );

    // Inside the scope it works.
    let ok = stack
        .http
        .get_with_token(&stack.url("/v2/storage/kvs/ns-allowed/keys/a"), &narrow)
        .await;
    assert_ne!(ok.status, StatusCode::FORBIDDEN);
    assert_eq!(
        stack
            .emulator
            .journal()
            .last()
            .expect("forwarded")
            .path_and_query,
        "/v2/storage/kvs/ns-allowed/keys/a"
    );

    // A token wider than its binding is never minted.
    let refused = stack
        .proxy
        .admin_call(
            Method::POST,
            "/v1/bindings/org-scoped/tokens",
            Some(json!({"scopes": ["voice"]})),
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_eq!(refused.error_code().as_deref(), Some("scope_not_granted"));
}
