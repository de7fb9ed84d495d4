//! The admin listener's `/metrics`: known traffic through the real binary shows up with exact
//! counts, and every exported metric is documented in docs/metrics.md (and the reverse).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use testkit::Reply;

use crate::Stack;

const KEY: &str = "KEY10METRICS_real_upstream_key";
const DOC: &str = include_str!("../../../../docs/metrics.md");

/// Scrapes `/metrics` (no admin token). The access line and the request metrics are
/// recorded when the response body ends, which can trail the client's last byte by a hair:
/// scrape again (with a deadline) until nothing is in flight.
pub(crate) async fn scrape(stack: &Stack) -> (Reply, BTreeMap<String, f64>) {
    let url = format!("{}/metrics", stack.proxy.admin_url());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = stack.http.send(Method::GET, &url, &[], "").await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        let samples = samples(&String::from_utf8_lossy(&reply.body));
        if samples.get("binding_proxy_in_flight_requests") == Some(&0.0)
            || Instant::now() > deadline
        {
            return (reply, samples);
        }
        tokio::task::yield_now().await;
    }
}

/// `name{labels}` → value, for every sample line.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

pub(crate) fn value(samples: &BTreeMap<String, f64>, series: &str) -> f64 {
    *samples
        .get(series)
        .unwrap_or_else(|| panic!("no sample {series} in {samples:#?}"))
}

/// Metric names in docs/metrics.md: the first backticked `binding_proxy_…` of each table row,
/// with whether its section is "(PostgreSQL only)" (those are checked by the replica test).
fn documented_with_backend() -> Vec<(&'static str, bool)> {
    let mut postgres_only = false;
    let mut names = Vec::new();
    for line in DOC.lines() {
        if line.starts_with('#') {
            postgres_only = line.contains("PostgreSQL only");
        }
        if line.starts_with("| `binding_proxy_")
            && let Some(name) = line.split('`').nth(1)
        {
            names.push((name, postgres_only));
        }
    }
    names
}

/// Metric names in docs/metrics.md that every store exports.
fn documented() -> Vec<&'static str> {
    documented_with_backend()
        .into_iter()
        .filter(|(_, postgres_only)| !postgres_only)
        .map(|(name, _)| name)
        .collect()
}

#[tokio::test]
async fn known_traffic_is_counted_by_method_group_class_and_code() {
    let (stack, token) = Stack::with_binding("org-metrics", KEY).await;
    let balance = stack.url("/v2/balance");
    for _ in 0..3 {
        let ok = stack.http.get_with_token(&balance, &token).await;
        assert_eq!(ok.status, StatusCode::OK);
    }
    for _ in 0..2 {
        let refused = stack.http.send(Method::GET, &balance, &[], "").await;
        assert_eq!(refused.error_code().as_deref(), Some("token_missing"));
    }
    let missing = stack.http.get_with_token(&stack.url("/v2/"), &token).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code().as_deref(), Some("route_not_found"));

    let (reply, samples) = scrape(&stack).await;
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{reply:?}"
    );
    let requests = |group: &str, class: &str| {
        value(
            &samples,
            &format!(
                "binding_proxy_requests_total{{method=\"GET\",api_group=\"{group}\",status_class=\"{class}\"}}"
            ),
        )
    };
    assert_eq!(requests("balance", "2xx"), 3.0);
    assert_eq!(requests("balance", "4xx"), 2.0);
    // Not routed: no group from the path, whatever it says.
    assert_eq!(requests("other", "4xx"), 1.0);
    assert_eq!(
        value(
            &samples,
            "binding_proxy_request_duration_seconds_count{method=\"GET\",api_group=\"balance\",status_class=\"2xx\"}"
        ),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            "binding_proxy_upstream_duration_seconds_count{method=\"GET\",api_group=\"balance\"}"
        ),
        3.0
    );
    let refusals = |code: &str| {
        value(
            &samples,
            &format!("binding_proxy_refusals_total{{code=\"{code}\"}}"),
        )
    };
    assert_eq!(refusals("token_missing"), 2.0);
    assert_eq!(refusals("route_not_found"), 1.0);
    assert_eq!(refusals("rate_limited"), 0.0);
    assert_eq!(
        value(&samples, "binding_proxy_rate_limited_requests_total"),
        0.0
    );
    assert_eq!(value(&samples, "binding_proxy_in_flight_requests"), 0.0);
    // The three proxied calls, one after another, shared one kept-alive upstream connection.
    assert_eq!(
        value(
            &samples,
            "binding_proxy_upstream_connections_opened_total{protocol=\"http1\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "binding_proxy_upstream_connections_opened_total{protocol=\"http2\"}"
        ),
        0.0
    );
    // Three verified tokens (the token-less calls never reach the cache): the first a miss.
    let token_cache = |result: &str| {
        value(
            &samples,
            &format!("binding_proxy_token_cache_requests_total{{result=\"{result}\"}}"),
        )
    };
    assert_eq!(token_cache("miss") + token_cache("hit"), 3.0);
    assert!(token_cache("miss") >= 1.0);
    let credential_cache = |result: &str| {
        value(
            &samples,
            &format!("binding_proxy_credential_cache_requests_total{{result=\"{result}\"}}"),
        )
    };
    assert_eq!(
        credential_cache("miss") + credential_cache("hit") + credential_cache("stale"),
        3.0
    );
    assert_eq!(value(&samples, "binding_proxy_store_errors_total"), 0.0);
    assert_eq!(
        value(
            &samples,
            &format!(
                "binding_proxy_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    let body = String::from_utf8_lossy(&reply.body);
    assert!(!body.contains("org-metrics"), "an organization in labels");
    assert!(!body.contains(&token));
}

#[tokio::test]
async fn every_exported_metric_is_documented_and_every_documented_one_exported() {
    let (stack, token) = Stack::with_binding("org-docs", KEY).await;
    // One served call, so the families that only appear with traffic are there.
    let ok = stack
        .http
        .get_with_token(&stack.url("/v2/balance"), &token)
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    let (_, samples) = scrape(&stack).await;
    let documented = documented();
    assert!(documented.len() >= 10, "{documented:?}");
    for name in &documented {
        assert!(
            samples.keys().any(|series| series.starts_with(name)),
            "docs/metrics.md lists {name}, the scrape lacks it: {samples:#?}"
        );
    }
    let all: Vec<&str> = documented_with_backend()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for series in samples.keys() {
        assert!(
            all.iter().any(|name| series.starts_with(name)),
            "{series} is exported but not in docs/metrics.md"
        );
    }
}
