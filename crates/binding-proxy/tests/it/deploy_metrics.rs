//! The shipped monitoring (deploy/prometheus/alerts.yaml and deploy/grafana/binding-proxy.json)
//! only queries metrics the real binary exports: every `binding_proxy_…` name they use is a
//! sample name in `/metrics` after traffic.

use std::collections::BTreeSet;

use http::{Method, StatusCode};

use crate::Stack;

const KEY: &str = "KEY10DEPLOY_real_upstream_key";
const ALERTS: &str = include_str!("../../../../deploy/prometheus/alerts.yaml");
const DASHBOARD: &str = include_str!("../../../../deploy/grafana/binding-proxy.json");

/// Every `binding_proxy_[a-z0-9_]+` token in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("binding_proxy_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

/// Sample names (the series name before `{` or the value) in an exposition.
fn exported(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Names docs/metrics.md lists under a "(PostgreSQL only)" heading.
fn postgres_only() -> BTreeSet<&'static str> {
    let mut postgres = false;
    let mut names = BTreeSet::new();
    for line in include_str!("../../../../docs/metrics.md").lines() {
        if line.starts_with('#') {
            postgres = line.contains("PostgreSQL only");
        }
        if postgres
            && line.starts_with("| `binding_proxy_")
            && let Some(name) = line.split('`').nth(1)
        {
            names.insert(name);
        }
    }
    names
}

#[tokio::test]
async fn every_metric_in_the_dashboard_and_alerts_is_exported() {
    let (stack, token) = Stack::with_binding("org-deploy-metrics", KEY).await;
    let balance = stack.url("/v2/balance");
    for _ in 0..3 {
        let ok = stack.http.get_with_token(&balance, &token).await;
        assert_eq!(ok.status, StatusCode::OK);
    }
    let refused = stack.http.send(Method::GET, &balance, &[], "").await;
    assert_eq!(refused.error_code().as_deref(), Some("token_missing"));

    let url = format!("{}/metrics", stack.proxy.admin_url());
    let reply = stack.http.send(Method::GET, &url, &[], "").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let exported = exported(&String::from_utf8_lossy(&reply.body));

    for (file, text) in [
        ("deploy/prometheus/alerts.yaml", ALERTS),
        ("deploy/grafana/binding-proxy.json", DASHBOARD),
    ] {
        let used = metric_names(text);
        assert!(!used.is_empty(), "{file} uses no binding_proxy_ metric");
        // The PostgreSQL-only metrics are checked by the replica test (they need two replicas).
        let missing: Vec<_> = used
            .difference(&exported)
            .filter(|name| !postgres_only().contains(name.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{file} queries metrics /metrics does not export: {missing:?}; exported: {exported:#?}"
        );
    }
}
