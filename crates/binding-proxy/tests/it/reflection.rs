//! The real binary never hands the organization's key to the function when the upstream
//! reflects it: masked in the body, redacted or dropped in the headers, counted in `/metrics`
//! and reported at WARN with the organization and API group, never with the key.

use std::time::Duration;

use serde_json::Value;

use crate::Stack;
use crate::metrics::{scrape, value};

const KEY: &str = "KEY16REFLECT_real_upstream_key";

#[tokio::test]
async fn a_reflected_key_is_taken_out_counted_and_logged_without_the_key() {
    let (stack, token) = Stack::with_binding("org-reflect", KEY).await;
    let reply = stack
        .http
        .get_with_token(
            &stack.url(
                "/v2/_emulator/echo_auth?body=detail&headers=x-echo-auth,www-authenticate,\
                 authorization&padding=5&chunk_bytes=9&chunk_delay_ms=1",
            ),
            &token,
        )
        .await;

    // The upstream's own answer, passed on: its status and error code.
    assert_eq!(reply.status.as_u16(), 401, "{reply:?}");
    assert_eq!(reply.error_code().as_deref(), Some("10009"));
    // The key is nowhere in it; the body is as long as its Content-Length says.
    let mut text = String::from_utf8_lossy(&reply.body).into_owned();
    for (name, value) in &reply.headers {
        text.push_str(&format!(
            "\n{name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    assert!(!text.contains(KEY), "the key reached the client: {text}");
    assert_eq!(
        reply.header("content-length"),
        Some(reply.body.len().to_string().as_str())
    );
    let detail = reply.json()["errors"][0]["detail"]
        .as_str()
        .expect("a detail")
        .to_owned();
    let masked = format!("[redacted]{}", "*".repeat(KEY.len() - "[redacted]".len()));
    assert!(detail.contains(&format!("Bearer {masked}")), "{detail}");
    assert_eq!(reply.header("x-echo-auth"), Some("Bearer [redacted]"));
    assert!(
        reply
            .header("www-authenticate")
            .is_some_and(|challenge| challenge.contains("rejected Bearer [redacted]"))
    );
    assert_eq!(reply.header("authorization"), None);
    // The upstream did get the real key.
    let seen = stack
        .emulator
        .journal()
        .last()
        .expect("the upstream saw it");
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {KEY}").as_str()
    );

    // Counted: three header values (the dropped Authorization among them), one in the body.
    let (_, samples) = scrape(&stack).await;
    let redactions = |r#where: &str| {
        value(
            &samples,
            &format!("binding_proxy_upstream_key_redactions_total{{where=\"{where}\"}}"),
        )
    };
    assert_eq!((redactions("header"), redactions("body")), (3.0, 1.0));

    // Logged once at WARN, naming the organization and the API group, never the key.
    let line = stack
        .proxy
        .wait_for_log(Duration::from_secs(10), |line| {
            line.contains("carried the organization's key")
        })
        .await;
    let event: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(event["level"], "WARN", "{line}");
    assert_eq!(event["org_id"], "org-reflect", "{line}");
    assert_eq!(event["api_group"], "_emulator", "{line}");
    assert_eq!(event["header_redactions"], 3, "{line}");
    assert_eq!(event["body_redactions"], 1, "{line}");
    for line in stack.proxy.logs() {
        assert!(!line.contains(KEY), "a log line leaks the key: {line}");
    }
}

#[tokio::test]
async fn a_body_reflection_is_masked_and_a_clean_answer_is_not_counted() {
    let (stack, token) = Stack::with_binding("org-reflect-2", KEY).await;
    let clean = stack
        .http
        .get_with_token(&stack.url("/v2/balance"), &token)
        .await;
    assert_eq!(clean.status.as_u16(), 200);
    let direct = stack
        .http
        .get_with_token(&format!("{}/v2/balance", stack.emulator.base_url()), KEY)
        .await;
    assert_eq!(
        clean.body, direct.body,
        "an answer without the key passes as sent"
    );

    let reply = stack
        .http
        .get_with_token(&stack.url("/v2/_emulator/echo_auth?body=json"), &token)
        .await;
    assert_eq!(reply.status.as_u16(), 200);
    assert!(!String::from_utf8_lossy(&reply.body).contains(KEY));
    let reflected = reply.json()["data"]["authorization"]
        .as_str()
        .expect("the reflected value")
        .to_owned();
    assert!(reflected.starts_with("Bearer [redacted]*"), "{reflected}");
    assert_eq!(reflected.len(), "Bearer ".len() + KEY.len());

    let (_, samples) = scrape(&stack).await;
    let body = value(
        &samples,
        "binding_proxy_upstream_key_redactions_total{where=\"body\"}",
    );
    assert_eq!(body, 1.0, "only the reflecting answer counts");
}
