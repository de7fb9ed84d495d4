//! What the proxy logs: one access line per request, never a secret or a query string.

use std::io::Write;
use std::sync::mpsc;

use http::{Method, Request};
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
    let stack = Stack::start().await;
    let lines = captured(|| async {
        let ok = stack
            .get(&format!("{PREFIX}/balance?secret_query=hunter2"))
            .await;
        assert_eq!(ok.status, 200);
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
    })
    .await;

    let access: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|json| json["target"] == "binding_proxy::access")
        .collect();
    assert_eq!(access.len(), 2, "{lines:#?}");
    let served = &access[0]["fields"];
    assert_eq!(access[0]["level"], "INFO");
    assert_eq!(served["org_id"], "org-1");
    assert_eq!(served["function_id"], "fn-1");
    assert_eq!(served["api_group"], "balance");
    assert_eq!(served["method"], "GET");
    assert_eq!(served["status"], 200);
    assert!(served["request_id"].is_string());
    assert!(served["duration_ms"].is_number() && served["upstream_ms"].is_number());
    let refused = &access[1]["fields"];
    assert_eq!(refused["status"], 401);
    assert!(
        refused["code"].as_str().unwrap().starts_with("token_"),
        "{refused}"
    );
    assert_eq!(access[1]["level"], "INFO");

    for line in &lines {
        assert!(!line.contains(&stack.token), "token logged: {line}");
        assert!(!line.contains(API_KEY), "api key logged: {line}");
        assert!(!line.contains("hunter2"), "query logged: {line}");
        assert!(
            !line.contains("\"level\":\"ERROR\""),
            "refusal logged as error: {line}"
        );
    }
}
