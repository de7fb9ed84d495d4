//! Scopes and the deny-list over real sockets: 403 `scope_denied` / `route_denied`, and an
//! upstream that saw nothing.

use http::{Method, Request, StatusCode};

use crate::harness::{Options, PREFIX, Reply, Stack, empty};

fn assert_refused(stack: &Stack, reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{:?}", reply.body);
    assert_eq!(reply.code(), code);
    assert!(
        stack.emulator.journal().is_empty(),
        "upstream saw a refused request"
    );
}

async fn stack_with(binding: Vec<&'static str>, token: Option<Vec<&'static str>>) -> Stack {
    Stack::start_with(Options {
        binding_scopes: binding,
        token_scopes: token,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn a_path_outside_the_bindings_scopes_gets_403_scope_denied() {
    let stack = stack_with(vec!["kv"], None).await;
    for target in [
        format!("{PREFIX}/v2/messages"),
        format!("{PREFIX}/calls/x/actions/answer"),
        format!("{PREFIX}/balance"),
    ] {
        let reply = stack.get(&target).await;
        assert_refused(&stack, &reply, StatusCode::FORBIDDEN, "scope_denied");
        assert!(!reply.headers.contains_key("www-authenticate"));
    }
}

#[tokio::test]
async fn a_path_no_scope_opens_is_denied_by_default() {
    let stack = Stack::start().await;
    for target in [
        format!("{PREFIX}/v2/messages_x"),
        format!("{PREFIX}/unknown_api"),
        format!("{PREFIX}/storage%2Fkvs"),
        format!("{PREFIX}/MESSAGES"),
        format!("{PREFIX}/v1/bindings"),
    ] {
        let reply = stack.get(&target).await;
        assert_refused(&stack, &reply, StatusCode::FORBIDDEN, "scope_denied");
        assert_eq!(
            reply.json()["errors"][0]["detail"],
            "the token's scope does not cover this path (no scope opens it)"
        );
    }
}

#[tokio::test]
async fn an_encoded_unreserved_character_does_not_sneak_past_the_scope_check() {
    let stack = stack_with(vec!["kv"], None).await;
    let reply = stack.get(&format!("{PREFIX}/v2/mess%61ges")).await;
    assert_refused(&stack, &reply, StatusCode::FORBIDDEN, "scope_denied");
    assert_eq!(
        reply.json()["errors"][0]["detail"],
        "the token's scope does not cover this path (it needs messaging)"
    );
}

#[tokio::test]
async fn an_encoded_path_in_scope_is_forwarded_as_received() {
    let stack = stack_with(vec!["messaging"], None).await;
    let reply = stack.get(&format!("{PREFIX}/v2/mess%61ges?x=1")).await;
    assert_ne!(reply.status, StatusCode::FORBIDDEN, "{:?}", reply.body);
    let seen = stack.emulator.journal().last().unwrap();
    assert_eq!(seen.path_and_query, "/v2/mess%61ges?x=1");
}

#[tokio::test]
async fn a_token_narrowed_to_one_namespace_reaches_only_that_namespace() {
    let stack = stack_with(vec!["kv", "messaging", "account"], Some(vec!["kv:ns-1"])).await;
    for target in [
        format!("{PREFIX}/storage/kvs/ns-2/keys/a"),
        format!("{PREFIX}/storage/kvs"),
        format!("{PREFIX}/storage/kvs/ns-1x"),
        format!("{PREFIX}/messages"),
        format!("{PREFIX}/balance"),
    ] {
        let reply = stack.get(&target).await;
        assert_refused(&stack, &reply, StatusCode::FORBIDDEN, "scope_denied");
    }
    let reply = stack
        .get(&format!("{PREFIX}/storage/kvs/ns-1/keys/a"))
        .await;
    assert_ne!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        stack.emulator.journal().last().unwrap().path_and_query,
        "/v2/storage/kvs/ns-1/keys/a"
    );
}

#[tokio::test]
async fn default_binding_scopes_with_account_reach_the_balance() {
    let stack = Stack::start().await;
    let reply = stack.get(&format!("{PREFIX}/balance")).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
}

#[tokio::test]
async fn credential_routes_get_403_route_denied_whatever_the_scopes() {
    let stack = Stack::start().await;
    for target in [
        format!("{PREFIX}/v2/api_keys"),
        format!("{PREFIX}/api%5Fkeys/1"),
        format!("{PREFIX}/%61pi_keys"),
        format!("{PREFIX}/oauth_clients?x=1"),
        format!("{PREFIX}/users/me"),
        format!("{PREFIX}/managed_accounts"),
        format!("{PREFIX}/telephony_credentials"),
    ] {
        let reply = stack.get(&target).await;
        assert_refused(&stack, &reply, StatusCode::FORBIDDEN, "route_denied");
    }
}

#[tokio::test]
async fn the_proxys_own_prefix_is_denied_so_requests_never_loop() {
    let stack = Stack::start().await;
    for target in [
        format!("{PREFIX}{PREFIX}/messages"),
        format!("{PREFIX}/compute/internal/binding-proxy/balance"),
        format!("{PREFIX}/v2/compute"),
    ] {
        let reply = stack.get(&target).await;
        assert_refused(&stack, &reply, StatusCode::FORBIDDEN, "route_denied");
    }
}

#[tokio::test]
async fn the_deny_list_is_checked_before_the_token() {
    let stack = Stack::start().await;
    let request = Request::builder()
        .method(Method::DELETE)
        .uri(stack.url(&format!("{PREFIX}/api_keys/1")))
        .body(empty())
        .unwrap();
    let reply = stack.send(request).await;
    assert_refused(&stack, &reply, StatusCode::FORBIDDEN, "route_denied");
}

#[tokio::test]
async fn admin_routes_never_answer_on_the_data_plane() {
    let stack = Stack::start().await;
    for target in [
        "/v1/bindings",
        "/v1/bindings/org-1/tokens",
        "/v1/signing-keys",
        "/.well-known/jwks.json",
        "/metrics",
    ] {
        let reply = stack.get(target).await;
        assert_refused(&stack, &reply, StatusCode::NOT_FOUND, "route_not_found");
    }
}
