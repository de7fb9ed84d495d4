//! What the proxy logs: one access line per request, never a secret or a query string.
//!
//! A test binary of its own. The log capture is a thread-local subscriber (`set_default`);
//! tracing caches each call site's interest process-wide, and a call site first hit by a test
//! on another thread while the capture was being set up could be cached as "never" — the
//! access lines then went missing (seen once in CI). Alone in its process, the capture is the
//! only subscriber there is.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] fns: a failed unwrap is a failed test"
)]

// The package is `binding-proxy-dataplane`; the workspace imports it as `dataplane`.
extern crate binding_proxy_dataplane as dataplane;

#[path = "it/harness.rs"]
#[allow(
    dead_code,
    reason = "the harness serves the `it` binary; this one uses part of it"
)]
mod harness;

use std::io::Write;
use std::sync::mpsc;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use tracing_subscriber::fmt::MakeWriter;

use crate::harness::{API_KEY, PREFIX, Stack, empty};

/// Sends every write to the test as one chunk.
#[derive(Clone)]
struct Capture(mpsc::Sender<Vec<u8>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;

    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

/// Runs `scenario` on this thread with a JSON subscriber at TRACE and returns the log lines.
async fn captured<F: Future<Output = ()>>(scenario: impl FnOnce() -> F) -> Vec<String> {
    let (sender, receiver) = mpsc::channel();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(Capture(sender))
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    scenario().await;
    drop(guard);
    let bytes: Vec<u8> = receiver.try_iter().flatten().collect();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

// A current-thread runtime keeps the proxy's tasks on the thread the subscriber is set on.
#[tokio::test(flavor = "current_thread")]
async fn each_request_logs_one_access_line_without_secrets() {
    let mut stack = Stack::start().await;
    let token = stack.token.clone();
    let mut balance_bytes = 0;
    let lines = captured(|| async {
        let ok = stack
            .get(&format!("{PREFIX}/balance?secret_query=hunter2"))
            .await;
        assert_eq!(ok.status, 200);
        balance_bytes = ok.body.len();
        let refused = stack
            .send(
                Request::builder()
                    .method(Method::GET)
                    .uri(stack.url(&format!("{PREFIX}/balance?secret_query=hunter2")))
                    .header("authorization", format!("Bearer {}x", stack.token))
                    .body(empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(refused.status, 401);
        let upload = stack
            .send(
                stack
                    .authorized(Method::POST, &format!("{PREFIX}/_emulator/sink"))
                    .body(Full::new(Bytes::from_static(b"0123456789")).boxed())
                    .unwrap(),
            )
            .await;
        assert!(upload.status.is_success(), "{}", upload.status);
        // Draining joins every connection task, so no access line is still pending.
        stack.shut_down().await;
    })
    .await;

    let access: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|json| json["target"] == "binding_proxy::access")
        .collect();
    assert_eq!(access.len(), 3, "{lines:#?}");
    let served = &access[0]["fields"];
    assert_eq!(access[0]["level"], "INFO");
    assert_eq!(served["org_id"], "org-1");
    assert_eq!(served["function_id"], "fn-1");
    assert_eq!(served["api_group"], "balance");
    assert_eq!(served["method"], "GET");
    assert_eq!(served["status"], 200);
    assert!(served["request_id"].is_string());
    assert!(served["duration_ms"].is_number() && served["upstream_ms"].is_number());
    assert!(served["duration_ms"].as_f64() >= served["upstream_ms"].as_f64());
    assert_eq!(served["bytes_in"], 0);
    assert_eq!(served["bytes_out"], balance_bytes);
    assert_eq!(served["completed"], true);
    let refused = &access[1]["fields"];
    assert_eq!(refused["status"], 401);
    assert!(
        refused["code"].as_str().unwrap().starts_with("token_"),
        "{refused}"
    );
    assert_eq!(access[1]["level"], "INFO");
    assert_eq!(refused["bytes_in"], 0);
    assert!(refused["bytes_out"].as_u64().unwrap() > 0, "{refused}");
    assert!(refused["upstream_ms"].is_null());
    // The refusal itself is logged inside the request's span, so it carries the request id.
    let refusal_log = lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|json| json["fields"]["message"] == "request refused")
        .unwrap_or_else(|| panic!("no refusal line: {lines:#?}"));
    assert!(refused["request_id"].is_string(), "{refused}");
    assert_eq!(refusal_log["span"]["name"], "request", "{refusal_log}");
    assert_eq!(
        refusal_log["span"]["request_id"], refused["request_id"],
        "{refusal_log}"
    );
    let uploaded = &access[2]["fields"];
    assert_eq!(uploaded["method"], "POST");
    assert_eq!(uploaded["bytes_in"], 10);
    assert_eq!(uploaded["completed"], true);

    for line in &lines {
        assert!(!line.contains(&token), "token logged: {line}");
        assert!(!line.contains(API_KEY), "api key logged: {line}");
        assert!(!line.contains("hunter2"), "query logged: {line}");
        assert!(
            !line.contains("\"level\":\"ERROR\""),
            "refusal logged as error: {line}"
        );
    }
}
