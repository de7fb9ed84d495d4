//! Admin authentication, request ids, fallbacks, health probes and secret hygiene.

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::Full;

use crate::harness::{ADMIN_TOKEN, Admin, REAL_KEY, SECOND_ADMIN_TOKEN, bearer, sha256};

fn empty() -> Full<Bytes> {
    Full::new(Bytes::new())
}

#[tokio::test]
async fn v1_routes_without_a_token_are_401_admin_unauthorized() {
    let admin = Admin::start().await;
    for (method, path) in [
        (Method::GET, "/v1/bindings"),
        (Method::POST, "/v1/bindings"),
        (Method::GET, "/v1/bindings/acme"),
        (Method::DELETE, "/v1/tokens/x"),
        (Method::GET, "/v1/signing-keys"),
        (Method::POST, "/v1/signing-keys/rotate"),
        (Method::GET, "/v1/audit-events"),
    ] {
        let answer = admin
            .send(admin.request(method, path).body(empty()).unwrap())
            .await;
        answer.assert_refused(401, "admin_unauthorized");
        assert_eq!(answer.headers[header::WWW_AUTHENTICATE], "Bearer");
    }
}

#[tokio::test]
async fn wrong_repeated_or_malformed_admin_tokens_are_401() {
    let admin = Admin::start().await;
    for values in [
        vec!["Bearer not-the-token".to_owned()],
        vec![format!("Basic {ADMIN_TOKEN}")],
        vec![ADMIN_TOKEN.to_owned()],
        vec![bearer(ADMIN_TOKEN), bearer(ADMIN_TOKEN)],
        vec![format!("Bearer {ADMIN_TOKEN}x")],
    ] {
        let mut request = admin.request(Method::GET, "/v1/bindings");
        for value in &values {
            request = request.header(header::AUTHORIZATION, value.as_str());
        }
        let answer = admin.send(request.body(empty()).unwrap()).await;
        answer.assert_refused(401, "admin_unauthorized");
        assert!(!answer.detail().contains(ADMIN_TOKEN));
    }
    // Nothing was created by the refused POST.
    assert_eq!(
        admin.get("/v1/audit-events").await.body["data"],
        serde_json::json!([])
    );
}

#[tokio::test]
async fn every_configured_admin_token_works_and_is_the_audit_actor() {
    let admin = Admin::start().await;
    let request = admin
        .request(Method::POST, "/v1/bindings")
        .header(header::AUTHORIZATION, bearer(SECOND_ADMIN_TOKEN))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(format!(
            r#"{{"org_id":"acme","api_key":"{REAL_KEY}"}}"#
        ))))
        .unwrap();
    assert_eq!(admin.send(request).await.status, StatusCode::CREATED);
    let events = admin.get("/v1/audit-events").await.body["data"].clone();
    let actor = format!("admin:{}", &hex::encode(sha256(SECOND_ADMIN_TOKEN))[..8]);
    assert_eq!(events[0]["actor"], actor.as_str());
}

#[tokio::test]
async fn request_ids_are_kept_or_minted_and_match_the_error_document() {
    let admin = Admin::start().await;
    let kept = admin
        .send(
            admin
                .request(Method::GET, "/v1/bindings/nobody")
                .header(header::AUTHORIZATION, bearer(ADMIN_TOKEN))
                .header("x-request-id", "req-42")
                .body(empty())
                .unwrap(),
        )
        .await;
    kept.assert_refused(404, "not_found");
    assert_eq!(kept.headers["x-request-id"], "req-42");
    assert_eq!(kept.body["errors"][0]["meta"]["request_id"], "req-42");
    assert_eq!(kept.body["errors"][0]["title"], "Not found");

    let minted = admin
        .send(
            admin
                .request(Method::GET, "/v1/bindings")
                .header("x-request-id", "bad id with spaces")
                .body(empty())
                .unwrap(),
        )
        .await;
    let id = minted.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok());
    assert_eq!(minted.body["errors"][0]["meta"]["request_id"], id);

    let ok = admin.get("/v1/bindings").await;
    assert!(ok.headers.contains_key("x-request-id"));
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_405_in_the_error_format() {
    let admin = Admin::start().await;
    admin
        .get("/v1/nothing-here")
        .await
        .assert_refused(404, "not_found");
    admin.get("/").await.assert_refused(404, "not_found");
    admin
        .call(Method::PUT, "/v1/bindings", None)
        .await
        .assert_refused(405, "method_not_allowed");
    let jwks_post = admin
        .send(
            admin
                .request(Method::POST, "/.well-known/jwks.json")
                .body(empty())
                .unwrap(),
        )
        .await;
    jwks_post.assert_refused(405, "method_not_allowed");
}

#[tokio::test]
async fn health_probes_need_no_token_and_readiness_fails_once_shutdown_begins() {
    let admin = Admin::start().await;
    let probe =
        |path: &'static str| admin.send(admin.request(Method::GET, path).body(empty()).unwrap());
    assert_eq!(probe("/health/liveness").await.status, StatusCode::OK);
    let ready = probe("/health/readiness").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["data"]["status"], "ready");

    admin.readiness.mark_not_ready();
    probe("/health/readiness")
        .await
        .assert_refused(503, "shutting_down");
    assert_eq!(probe("/health/liveness").await.status, StatusCode::OK);
}

#[tokio::test]
async fn debug_output_of_the_state_never_shows_keys_or_admin_tokens() {
    let admin = Admin::start().await;
    admin.create_binding("acme", REAL_KEY).await;
    for secret in [REAL_KEY, ADMIN_TOKEN, &hex::encode(sha256(ADMIN_TOKEN))] {
        assert!(!admin.state_debug.contains(secret), "{}", admin.state_debug);
    }
}
