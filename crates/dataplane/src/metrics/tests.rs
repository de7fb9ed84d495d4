use prometheus_client::encoding::text::encode;

use super::*;

fn scrape(metrics: &DataplaneMetrics) -> String {
    let mut registry = Registry::with_prefix("binding_proxy");
    metrics.register(&mut registry);
    let mut text = String::new();
    encode(&mut text, &registry).unwrap();
    text
}

#[test]
fn groups_come_from_the_scope_table_and_unknown_text_is_other() {
    let series = Series::new(DataplaneMetrics::default(), &ScopeTable::defaults());
    let known = series.key(&Method::GET, Some("messages"));
    assert_eq!(series.group_label(known), "messages");
    for raw in [Some("mess%61ges"), Some("secret-org-path"), None] {
        let key = series.key(&Method::GET, raw);
        assert_eq!(series.group_label(key), "other");
    }
    let odd = Method::from_bytes(b"PROPFIND").unwrap();
    assert_eq!(METHODS[series.key(&odd, None).method], "other");
}

#[test]
fn finished_requests_are_counted_by_labels() {
    let metrics = DataplaneMetrics::default();
    let series = Series::new(metrics.clone(), &ScopeTable::defaults());
    let key = series.key(&Method::POST, Some("messages"));
    for _ in 0..2 {
        series.started();
        series.finished_flight();
        series.finished(
            key,
            StatusCode::ACCEPTED,
            Duration::from_millis(3),
            Some(Duration::from_millis(2)),
            10,
            20,
        );
    }
    series.refused(ErrorCode::RateLimited);
    series.redacted(Redactions {
        headers: 2,
        body: 0,
    });
    let text = scrape(&metrics);
    assert!(text.contains(
        "binding_proxy_requests_total{method=\"POST\",api_group=\"messages\",status_class=\"2xx\"} 2\n"
    ), "{text}");
    assert!(text.contains("binding_proxy_refusals_total{code=\"rate_limited\"} 1\n"));
    assert!(text.contains("binding_proxy_refusals_total{code=\"token_missing\"} 0\n"));
    assert!(text.contains("binding_proxy_rate_limited_requests_total 1\n"));
    assert!(text.contains("binding_proxy_in_flight_requests 0\n"));
    assert!(text.contains("binding_proxy_upstream_key_redactions_total{where=\"header\"} 2\n"));
    assert!(text.contains("binding_proxy_upstream_key_redactions_total{where=\"body\"} 0\n"));
    assert!(text.contains("binding_proxy_request_body_bytes_total 20\n"));
    assert!(text.contains("binding_proxy_response_body_bytes_total 40\n"));
    assert!(text.contains(
        "binding_proxy_upstream_duration_seconds_count{method=\"POST\",api_group=\"messages\"} 2\n"
    ));
    assert!(text.contains(
        "binding_proxy_client_connections_closed_total{reason=\"first_request_timeout\"} 0\n"
    ));
    assert!(text.contains("binding_proxy_client_connections_closed_total{reason=\"evicted\"} 0\n"));
}
