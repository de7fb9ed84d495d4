//! The requests of the seeds' own snippets (bindings-overview and kv-guide), unchanged but for
//! the base URL, reach the upstream with the real key and give the documented answers.

use http::{Method, StatusCode};

use crate::Stack;

const KEY: &str = "KEY01SEEDS_real_upstream_key";

#[tokio::test]
async fn messages_post_from_the_bindings_overview_snippet_works() {
    let (stack, token) = Stack::with_binding("org-seeds-1", KEY).await;
    // fetch(`${baseUrl}/v2/messages`, { method: 'POST', headers: {Authorization, Content-Type}, body })
    let auth = format!("Bearer {token}");
    let reply = stack
        .http
        .send(
            Method::POST,
            &stack.url("/v2/messages"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            r#"{"from":"+12345678901","to":"+12345678902","text":"Hello from Edge Compute!"}"#,
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let data = &reply.json()["data"];
    assert_eq!(data["record_type"], "message");
    assert_eq!(data["text"], "Hello from Edge Compute!");

    let seen = stack
        .emulator
        .journal()
        .last()
        .expect("the upstream saw the call");
    assert_eq!(seen.path_and_query, "/v2/messages");
    assert_eq!(
        seen.headers.get("authorization").map(|v| v.as_bytes()),
        Some(format!("Bearer {KEY}").as_bytes()),
        "the upstream gets the real key, not the JWT"
    );
    assert_eq!(seen.headers["content-type"], "application/json");
}

async fn create_namespace(stack: &Stack, token: &str) -> String {
    let auth = format!("Bearer {token}");
    let reply = stack
        .http
        .send(
            Method::POST,
            &stack.url("/v2/storage/kvs"),
            &[
                ("authorization", &auth),
                ("content-type", "application/json"),
            ],
            r#"{"name": "my-cache"}"#,
        )
        .await;
    assert!(reply.status.is_success(), "{reply:?}");
    reply.json()["data"]["id"]
        .as_str()
        .expect("namespace id")
        .to_owned()
}

#[tokio::test]
async fn kv_put_then_get_returns_the_same_utf8_bytes() {
    let (stack, token) = Stack::with_binding("org-seeds-2", KEY).await;
    let ns = create_namespace(&stack, &token).await;
    let auth = format!("Bearer {token}");
    let value = r#"{"name": "Alice 👋"}"#;
    // kvPut("user/123", ...) in JavaScript: encodeURIComponent gives user%2F123.
    let url = stack.url(&format!("/v2/storage/kvs/{ns}/keys/user%2F123"));
    let put = stack
        .http
        .send(Method::PUT, &url, &[("authorization", &auth)], value)
        .await;
    assert_eq!(put.status, StatusCode::CREATED, "{put:?}");
    assert!(put.body.is_empty());
    let again = stack
        .http
        .send(Method::PUT, &url, &[("authorization", &auth)], value)
        .await;
    assert_eq!(again.status, StatusCode::OK);

    // The Go and Python snippets keep "/" literal: the same key.
    let get = stack
        .http
        .get_with_token(
            &stack.url(&format!("/v2/storage/kvs/{ns}/keys/user/123")),
            &token,
        )
        .await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(
        get.body.as_ref(),
        value.as_bytes(),
        "value comes back verbatim"
    );
    assert_eq!(get.header("content-type"), Some("application/octet-stream"));
}

#[tokio::test]
async fn missing_kv_key_is_404_from_the_upstream() {
    let (stack, token) = Stack::with_binding("org-seeds-3", KEY).await;
    let ns = create_namespace(&stack, &token).await;
    let reply = stack
        .http
        .get_with_token(
            &stack.url(&format!("/v2/storage/kvs/{ns}/keys/possibly-missing-key")),
            &token,
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn kv_keys_with_slashes_and_escapes_arrive_unchanged() {
    let (stack, token) = Stack::with_binding("org-seeds-4", KEY).await;
    let ns = create_namespace(&stack, &token).await;
    for raw in [
        "greeting%2Fa%20b",
        "user/123",
        "user%2F123",
        "cache/api/users",
        "a=b.c_d-e",
    ] {
        let path = format!("/v2/storage/kvs/{ns}/keys/{raw}");
        let auth = format!("Bearer {token}");
        stack
            .http
            .send(
                Method::PUT,
                &stack.url(&path),
                &[("authorization", &auth)],
                "v",
            )
            .await;
        let seen = stack.emulator.journal().last().expect("upstream saw it");
        assert_eq!(
            seen.path_and_query, path,
            "raw path reaches the upstream byte for byte"
        );
    }
}

#[tokio::test]
async fn sdk_form_without_inner_v2_reaches_the_same_upstream_path() {
    let (stack, token) = Stack::with_binding("org-seeds-5", KEY).await;
    // The official SDKs append resource paths to TELNYX_BASE_URL without `/v2`.
    let reply = stack
        .http
        .get_with_token(&stack.url("/balance"), &token)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.json()["data"]["record_type"], "balance");
    assert_eq!(
        stack
            .emulator
            .journal()
            .last()
            .expect("seen")
            .path_and_query,
        "/v2/balance"
    );
    let ns = create_namespace(&stack, &token).await;
    let query = "prefix=user%2F&limit=100";
    let listed = stack
        .http
        .get_with_token(
            &stack.url(&format!("/storage/kvs/{ns}/keys?{query}")),
            &token,
        )
        .await;
    assert_eq!(listed.status, StatusCode::OK, "{listed:?}");
    assert_eq!(
        stack
            .emulator
            .journal()
            .last()
            .expect("seen")
            .path_and_query,
        format!("/v2/storage/kvs/{ns}/keys?{query}")
    );
}
