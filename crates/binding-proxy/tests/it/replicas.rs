//! Two `binding-proxy serve` processes sharing one PostgreSQL store: an admin change made
//! through either one is enforced by the other (LISTEN/NOTIFY), and a store outage leaves
//! cached bindings working while uncached ones get 503, recovering by itself.

use std::future::Future;
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde_json::json;
use testkit::{HttpClient, ProxyOptions, ProxyProcess, Relay, Reply, TestSchema};

use crate::bin;

const KEY: &str = "KEY09REPLICAS_real_upstream_key";
const OTHER_KEY: &str = "KEY09REPLICAS_second_upstream_key";
/// Generous against a loaded CI machine; the design target is one second.
const PROPAGATION_DEADLINE: Duration = Duration::from_secs(5);

/// Polls `check` until it holds. Polling is how a test observes another process; the pause
/// between polls keeps it from spinning.
async fn eventually<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < PROPAGATION_DEADLINE,
            "{what} not seen within {PROPAGATION_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn call(http: &HttpClient, proxy: &ProxyProcess, token: &str) -> Reply {
    http.get_with_token(&format!("{}/v2/balance", proxy.base_url()), token)
        .await
}

fn options(upstream: &str, store_url: &str) -> ProxyOptions {
    ProxyOptions::new(upstream).set("store.url", store_url)
}

#[tokio::test]
async fn admin_changes_through_either_replica_reach_the_other() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let emulator = emulator::Emulator::spawn(emulator::EmulatorConfig {
        api_keys: vec![KEY.into(), OTHER_KEY.into()],
        ..Default::default()
    })
    .await
    .expect("emulator");
    let url = schema.store_url(None);
    let a = ProxyProcess::start(bin(), options(&emulator.base_url(), &url)).await;
    let b = ProxyProcess::start(
        bin(),
        options(&emulator.base_url(), &url).set(
            "crypto.master_key_file",
            a.master_key_file().display().to_string(),
        ),
    )
    .await;
    let http = HttpClient::new();

    a.create_binding("org-replicas", KEY).await;
    let minted_by_a = a.mint("org-replicas", json!({})).await;
    let token_a = minted_by_a["token"].as_str().expect("token").to_owned();
    let token_b = b.token("org-replicas").await;
    // Both replicas serve tokens minted by either (shared store, shared signing keys); this
    // also warms both caches.
    for (proxy, token) in [
        (&a, &token_a),
        (&b, &token_a),
        (&a, &token_b),
        (&b, &token_b),
    ] {
        assert_eq!(call(&http, proxy, token).await.status, StatusCode::OK);
    }

    // Revoke through A: B stops accepting the token.
    let jti = minted_by_a["jti"].as_str().expect("jti");
    let revoked = a
        .admin_call(Method::DELETE, &format!("/v1/tokens/{jti}"), None)
        .await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let lag = eventually("revocation on replica B", || async {
        call(&http, &b, &token_a).await.error_code().as_deref() == Some("token_revoked")
    })
    .await;
    eprintln!("revocation reached replica B after {lag:?}");
    // Replica B reports how late that notification arrived.
    let scrape = http
        .send(
            Method::GET,
            &format!("{}/metrics", b.admin_url()),
            &[],
            bytes::Bytes::new(),
        )
        .await;
    let text = String::from_utf8_lossy(&scrape.body).into_owned();
    let lag_seconds: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("binding_proxy_store_notification_lag_seconds "))
        .unwrap_or_else(|| panic!("no notification lag in the scrape: {text}"))
        .trim()
        .parse()
        .expect("a number");
    assert!(lag_seconds >= 0.0);

    // Update through B (a new upstream key): A forwards the new key.
    let updated = b
        .admin_call(
            Method::PATCH,
            "/v1/bindings/org-replicas",
            Some(json!({ "api_key": OTHER_KEY })),
        )
        .await;
    assert_eq!(updated.status, StatusCode::OK, "{updated:?}");
    eventually("the new upstream key on replica A", || async {
        emulator.journal().clear();
        let ok = call(&http, &a, &token_b).await.status == StatusCode::OK;
        ok && emulator
            .journal()
            .last()
            .is_some_and(|e| e.headers["authorization"] == format!("Bearer {OTHER_KEY}").as_str())
    })
    .await;

    // Rotate through B: A refuses the old generation.
    let rotated = b
        .admin_call(Method::POST, "/v1/bindings/org-replicas/rotate", None)
        .await;
    assert_eq!(rotated.status, StatusCode::OK);
    eventually("the rotation on replica A", || async {
        call(&http, &a, &token_b).await.error_code().as_deref() == Some("token_superseded")
    })
    .await;

    // Delete through A: B refuses every token at once.
    let fresh = a.token("org-replicas").await;
    assert_eq!(call(&http, &b, &fresh).await.status, StatusCode::OK);
    let deleted = a
        .admin_call(Method::DELETE, "/v1/bindings/org-replicas", None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    eventually("the deletion on replica B", || async {
        call(&http, &b, &fresh).await.error_code().as_deref() == Some("binding_not_found")
    })
    .await;

    drop((a, b));
    schema.drop_schema().await;
}

#[tokio::test]
async fn store_outage_keeps_cached_bindings_working_and_recovers() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let emulator = emulator::Emulator::spawn(emulator::EmulatorConfig {
        api_keys: vec![KEY.into()],
        ..Default::default()
    })
    .await
    .expect("emulator");
    let relay = Relay::start(schema.database_addr()).await;
    let proxy = ProxyProcess::start(
        bin(),
        options(&emulator.base_url(), &schema.store_url(Some(relay.addr())))
            .set("cache.credential_ttl_secs", "1")
            .set("cache.max_stale_secs", "300"),
    )
    .await;
    let http = HttpClient::new();
    proxy.create_binding("org-cached", KEY).await;
    proxy.create_binding("org-uncached", KEY).await;
    let cached = proxy.token("org-cached").await;
    let uncached = proxy.token("org-uncached").await;
    assert_eq!(call(&http, &proxy, &cached).await.status, StatusCode::OK);

    relay.cut();
    // The cached binding keeps working, also once its 1 s TTL has passed (served stale).
    eventually("a stale credential served during the outage", || async {
        let reply = call(&http, &proxy, &cached).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "cached binding during outage: {reply:?}"
        );
        proxy
            .logs()
            .iter()
            .any(|l| l.contains("serving a cached binding past its TTL"))
    })
    .await;
    // A binding that is not cached cannot be resolved.
    let refused = call(&http, &proxy, &uncached).await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{refused:?}"
    );
    assert_eq!(refused.error_code().as_deref(), Some("store_unavailable"));
    // Readiness does not fail on a store outage (it would take every replica out at once).
    let ready = http
        .send(
            Method::GET,
            &format!("http://{}/health/readiness", proxy.dataplane),
            &[],
            bytes::Bytes::new(),
        )
        .await;
    assert_eq!(ready.status, StatusCode::OK);

    relay.restore();
    eventually("recovery after the store returns", || async {
        call(&http, &proxy, &uncached).await.status == StatusCode::OK
    })
    .await;

    drop(proxy);
    schema.drop_schema().await;
}
