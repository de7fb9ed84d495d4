//! Minting and revoking binding tokens.

use http::{Method, StatusCode};
use serde_json::json;

use crate::harness::{Admin, PUBLIC_BASE_URL, REAL_KEY, jwt_segment, now, unix};

#[tokio::test]
async fn minted_token_carries_binding_generation_and_function() {
    let admin = Admin::start().await;
    let binding = admin.create_binding("acme", REAL_KEY).await;
    let data = admin
        .issue_token(
            "acme",
            json!({ "function_id": "fn-1", "ttl_secs": 600, "scopes": ["kv:ns-1"] }),
        )
        .await;

    assert_eq!(data["base_url"], PUBLIC_BASE_URL);
    assert_eq!(data["generation"], 1);
    assert!((unix(&data["expires_at"]) - now() - 600).abs() < 60);
    let token = data["token"].as_str().unwrap();

    let header = jwt_segment(token, 0);
    assert_eq!(header["kid"], data["kid"]);
    assert_eq!(header["alg"], "EdDSA");
    let claims = jwt_segment(token, 1);
    assert_eq!(claims["bid"], binding["id"]);
    assert_eq!(claims["gen"], 1);
    assert_eq!(claims["sub"], "acme");
    assert_eq!(claims["fid"], "fn-1");
    assert_eq!(claims["scp"], json!(["kv:ns-1"]));
    assert_eq!(claims["jti"], data["jti"]);

    let verified = admin.verifier.verify(token, now()).unwrap();
    assert_eq!(verified.bid, binding["id"].as_str().unwrap());
}

#[tokio::test]
async fn an_empty_body_mints_a_default_token() {
    let admin = Admin::start().await;
    admin.create_binding("acme", REAL_KEY).await;
    let answer = admin
        .call(Method::POST, "/v1/bindings/acme/tokens", None)
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let claims = jwt_segment(answer.body["data"]["token"].as_str().unwrap(), 1);
    assert!(claims.get("scp").is_none());
    assert!(claims.get("fid").is_none());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
}

#[tokio::test]
async fn tokens_wider_than_the_binding_are_400_scope_not_granted() {
    let admin = Admin::start().await;
    admin
        .post(
            "/v1/bindings",
            json!({ "org_id": "acme", "api_key": REAL_KEY, "scopes": ["messaging", "kv:ns-1"] }),
        )
        .await;
    for scopes in [
        json!(["voice"]),
        json!(["kv"]),
        json!(["kv:ns-2"]),
        json!(["messaging", "fax"]),
    ] {
        admin
            .post("/v1/bindings/acme/tokens", json!({ "scopes": scopes }))
            .await
            .assert_refused(400, "scope_not_granted");
    }
    let narrow = admin
        .issue_token("acme", json!({ "scopes": ["kv:ns-1"] }))
        .await;
    assert!(narrow["token"].is_string());
}

#[tokio::test]
async fn bad_token_requests_are_400_invalid_request_and_unknown_orgs_404() {
    let admin = Admin::start().await;
    admin.create_binding("acme", REAL_KEY).await;
    for body in [
        json!({ "ttl_secs": 0 }),
        json!({ "ttl_secs": 86_401 }),
        json!({ "ttl_secs": -5 }),
        json!({ "scopes": [] }),
        json!({ "scopes": ["not-a-scope"] }),
        json!({ "function_id": "" }),
        json!({ "function_id": "has space" }),
        json!({ "audience": "x" }),
    ] {
        admin
            .post("/v1/bindings/acme/tokens", body)
            .await
            .assert_refused(400, "invalid_request");
    }
    admin
        .post("/v1/bindings/nobody/tokens", json!({}))
        .await
        .assert_refused(404, "not_found");
}

#[tokio::test]
async fn revoke_answers_204_then_the_token_is_revoked_in_the_credential_cache() {
    let admin = Admin::start().await;
    let binding = admin.create_binding("acme", REAL_KEY).await;
    let binding_id = binding["id"].as_str().unwrap();
    let issued = admin.issue_token("acme", json!({})).await;
    let jti = issued["jti"].as_str().unwrap();
    assert!(
        !admin
            .credentials
            .get(binding_id, now())
            .await
            .unwrap()
            .is_revoked(jti)
    );

    let answer = admin
        .call(Method::DELETE, &format!("/v1/tokens/{jti}"), None)
        .await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(answer.body, json!(null));
    assert!(
        admin
            .credentials
            .get(binding_id, now())
            .await
            .unwrap()
            .is_revoked(jti)
    );

    admin
        .call(Method::DELETE, "/v1/tokens/no-such-jti", None)
        .await
        .assert_refused(404, "not_found");
}
