//! A handshake is a request like any other: every refusal is the documented JSON error with
//! its status, and nothing reaches the upstream.

use http::Method;
use serde_json::json;

use super::{TRANSCRIBE, connect, handshake, stack, ws_url};

/// The error code of a refusal's JSON body.
fn code(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).expect("a JSON error document");
    json["errors"][0]["code"]
        .as_str()
        .expect("a code")
        .to_owned()
}

#[tokio::test]
async fn refused_handshakes_get_the_json_error_and_reach_nothing() {
    let (stack, upstream, token) = stack("org-ws-refusals", |o| {
        o.set("websocket.max_sessions_per_org", "1")
    })
    .await;
    let url = ws_url(&stack, TRANSCRIBE);

    let refused = connect(handshake(&url, None)).await.expect_err("refused");
    assert_eq!(
        (refused.0, code(&refused.1).as_str()),
        (401, "token_missing")
    );

    let refused = connect(handshake(&url, Some("not.a.token")))
        .await
        .expect_err("refused");
    assert_eq!(
        (refused.0, code(&refused.1).as_str()),
        (401, "token_malformed")
    );

    // Out of scope: a token narrowed to messaging.
    let narrow = stack
        .proxy
        .mint("org-ws-refusals", json!({"scopes": ["messaging"]}))
        .await;
    let narrow = narrow["token"].as_str().expect("token");
    let refused = connect(handshake(&url, Some(narrow)))
        .await
        .expect_err("refused");
    assert_eq!(
        (refused.0, code(&refused.1).as_str()),
        (403, "scope_denied")
    );

    // Deny-listed, whatever the token.
    let refused = connect(handshake(&ws_url(&stack, "/v2/api_keys"), Some(&token)))
        .await
        .expect_err("refused");
    assert_eq!(
        (refused.0, code(&refused.1).as_str()),
        (403, "route_denied")
    );

    // Revoked.
    let revoked = stack.proxy.mint("org-ws-refusals", json!({})).await;
    let jti = revoked["jti"].as_str().expect("jti");
    let reply = stack
        .proxy
        .admin_call(Method::DELETE, &format!("/v1/tokens/{jti}"), None)
        .await;
    assert_eq!(reply.status.as_u16(), 204);
    let refused = connect(handshake(&url, revoked["token"].as_str()))
        .await
        .expect_err("refused");
    assert_eq!(
        (refused.0, code(&refused.1).as_str()),
        (401, "token_revoked")
    );

    // A version other than 13.
    let mut bad = handshake(&url, Some(&token));
    bad.headers_mut()
        .insert("sec-websocket-version", "8".parse().expect("header"));
    let refused = connect(bad).await.expect_err("refused");
    assert_eq!(
        (refused.0, code(&refused.1).as_str()),
        (400, "bad_websocket_handshake")
    );
    assert_eq!(upstream.handshakes(), 0, "nothing reached the upstream");

    // Over the organization's session cap: 429 with Retry-After, the open session untouched.
    let mut open = connect(handshake(&url, Some(&token)))
        .await
        .expect("the first session");
    assert_eq!(upstream.handshakes(), 1);
    let over = tokio_tungstenite::connect_async(handshake(&url, Some(&token))).await;
    let Err(tokio_tungstenite::tungstenite::Error::Http(response)) = over else {
        panic!("a second session was not refused");
    };
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "5");
    let body = String::from_utf8(response.into_body().unwrap_or_default()).expect("utf-8");
    assert_eq!(code(&body), "too_many_sessions");
    assert_eq!(upstream.handshakes(), 1, "the refused one reached nothing");
    use futures_util::SinkExt;
    open.send(tokio_tungstenite::tungstenite::Message::Text(
        "still here".into(),
    ))
    .await
    .expect("the open session still works");
}
