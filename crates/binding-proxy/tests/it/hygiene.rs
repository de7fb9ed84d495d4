//! Secrets hygiene, proven: a full scenario at the most verbose log level (an upstream that
//! reflects the key among it), then no log line, no response body or header (but the mint
//! answer's own token), contains the real key, the admin token or a full JWT.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;
use testkit::{ADMIN_TOKEN, Reply};

use crate::Stack;

const KEY: &str = "KEY08HYGIENE-secret-upstream-key-value";

#[tokio::test]
async fn full_scenario_at_trace_level_leaks_no_secret() {
    let stack = Stack::start_with(KEY, |o| {
        let mut o = o;
        o.log_level = "trace".into();
        o
    })
    .await;
    let mut replies: Vec<Reply> = Vec::new();
    let mut tokens: Vec<String> = Vec::new();
    let admin = |method: Method, path: &str, body: Option<serde_json::Value>| {
        let stack = &stack;
        let path = path.to_owned();
        async move { stack.proxy.admin_call(method, &path, body).await }
    };

    replies.push(
        admin(
            Method::POST,
            "/v1/bindings",
            Some(json!({"org_id": "org-hygiene", "api_key": KEY})),
        )
        .await,
    );
    // A mistake an operator makes: the key in a wrong field. It must not be echoed back.
    replies.push(
        admin(
            Method::POST,
            "/v1/bindings",
            Some(json!({"org_id": "org-hygiene-2", "api_key": 42, "note": KEY})),
        )
        .await,
    );
    for body in [json!({"function_id": "fn-a"}), json!({"ttl_secs": 600})] {
        let minted = admin(Method::POST, "/v1/bindings/org-hygiene/tokens", Some(body)).await;
        assert_eq!(minted.status, StatusCode::CREATED);
        tokens.push(
            minted.json()["data"]["token"]
                .as_str()
                .expect("token")
                .to_owned(),
        );
        // The mint answer carries its token by design; it still holds no key or admin token.
        let text = String::from_utf8_lossy(&minted.body).into_owned();
        assert!(!text.contains(KEY) && !text.contains(ADMIN_TOKEN));
    }
    let auth = format!("Bearer {}", tokens[0]);
    replies.push(
        stack
            .http
            .send(
                Method::GET,
                &stack.url("/v2/balance?secret_looking_query=1"),
                &[("authorization", &auth)],
                Bytes::new(),
            )
            .await,
    );
    replies.push(
        stack
            .http
            .send(
                Method::POST,
                &stack.url("/v2/messages"),
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                r#"{"from":"+12345678901","to":"+12345678902","text":"hi"}"#,
            )
            .await,
    );
    // An upstream that reflects the key it is sent, in its body and in three headers.
    let reflected = stack
        .http
        .send(
            Method::GET,
            &stack.url(
                "/v2/_emulator/echo_auth?body=detail&headers=x-echo-auth,www-authenticate,\
                 authorization",
            ),
            &[("authorization", &auth)],
            Bytes::new(),
        )
        .await;
    assert_eq!(reflected.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reflected.header("x-echo-auth"), Some("Bearer [redacted]"));
    replies.push(reflected);
    // Refusals: a tampered token, an admin call with a wrong token.
    let tampered = format!("Bearer {}x", tokens[1]);
    replies.push(
        stack
            .http
            .send(
                Method::GET,
                &stack.url("/v2/balance"),
                &[("authorization", &tampered)],
                Bytes::new(),
            )
            .await,
    );
    replies.push(
        stack
            .http
            .send(
                Method::GET,
                &format!("{}/v1/bindings", stack.proxy.admin_url()),
                &[("authorization", &format!("Bearer {ADMIN_TOKEN}-wrong"))],
                Bytes::new(),
            )
            .await,
    );
    // A WebSocket session, open while the key changes and ended by the rotation below: its
    // handshake, tunnel, re-checks and access line are all logged at trace.
    let url = format!(
        "{}/speech-to-text/transcription",
        stack.proxy.base_url().replacen("http://", "ws://", 1)
    );
    let mut session =
        crate::websocket::connect(crate::websocket::handshake(&url, Some(&tokens[0])))
            .await
            .expect("a session");
    {
        use futures_util::SinkExt;
        session
            .send(tokio_tungstenite::tungstenite::Message::Binary(
                vec![0u8; 160].into(),
            ))
            .await
            .expect("audio");
        let event =
            crate::websocket::next_message(&mut session, std::time::Duration::from_secs(20)).await;
        assert!(
            matches!(
                event,
                Some(tokio_tungstenite::tungstenite::Message::Text(_))
            ),
            "{event:?}"
        );
    }
    replies.push(admin(Method::POST, "/v1/bindings/org-hygiene/validate", None).await);
    replies.push(admin(Method::GET, "/v1/bindings/org-hygiene", None).await);
    replies.push(
        admin(
            Method::PATCH,
            "/v1/bindings/org-hygiene",
            Some(json!({"api_key": format!("{KEY}-2")})),
        )
        .await,
    );
    replies.push(admin(Method::POST, "/v1/bindings/org-hygiene/rotate", None).await);
    let closed =
        crate::websocket::next_message(&mut session, std::time::Duration::from_secs(20)).await;
    assert!(
        matches!(&closed, Some(tokio_tungstenite::tungstenite::Message::Close(Some(frame))) if u16::from(frame.code) == 1008),
        "the rotation ends the session: {closed:?}"
    );
    replies.push(admin(Method::GET, "/v1/audit-events?limit=100", None).await);
    replies.push(
        stack
            .http
            .send(
                Method::GET,
                &stack.url("/v2/balance"),
                &[("authorization", &auth)],
                Bytes::new(),
            )
            .await,
    );
    replies.push(admin(Method::DELETE, "/v1/bindings/org-hygiene", None).await);

    let secrets: Vec<&str> = [KEY, ADMIN_TOKEN]
        .into_iter()
        .chain(tokens.iter().map(String::as_str))
        .collect();
    for reply in &replies {
        let mut text = String::from_utf8_lossy(&reply.body).into_owned();
        for (name, value) in &reply.headers {
            text.push_str(&format!(
                "\n{name}: {}",
                String::from_utf8_lossy(value.as_bytes())
            ));
        }
        for secret in &secrets {
            assert!(!text.contains(secret), "a response leaks a secret: {text}");
        }
    }
    let logs = stack.proxy.logs();
    assert!(
        logs.len() > 50,
        "trace logging is on ({} lines)",
        logs.len()
    );
    for line in &logs {
        for secret in &secrets {
            assert!(!line.contains(secret), "a log line leaks a secret: {line}");
        }
        assert!(
            !line.contains("secret_looking_query"),
            "query strings are not logged: {line}"
        );
    }
}
