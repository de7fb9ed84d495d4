//! Signing keys and the JWKS document.

use base64::Engine;
use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Admin, REAL_KEY, now};

async fn jwks_kids(admin: &Admin) -> Vec<String> {
    let request = admin
        .request(Method::GET, "/.well-known/jwks.json")
        .body(Default::default())
        .unwrap();
    let answer = admin.send(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    let mut kids: Vec<String> = answer.body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

fn key_with<'a>(keys: &'a Value, kid: &str) -> &'a Value {
    keys.as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
}

#[tokio::test]
async fn jwks_publishes_ed25519_public_keys_without_an_admin_token() {
    let admin = Admin::start().await;
    let request = admin
        .request(Method::GET, "/.well-known/jwks.json")
        .body(Default::default())
        .unwrap();
    let answer = admin.send(request).await;
    assert_eq!(answer.status, StatusCode::OK);
    let keys = answer.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(
        Some(key["kid"].as_str().unwrap().to_owned()),
        admin.keyring.active_kid()
    );
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key["x"].as_str().unwrap())
        .unwrap();
    assert_eq!(x.len(), 32);
    assert!(key.get("d").is_none());
}

#[tokio::test]
async fn rotation_adds_an_active_key_and_keeps_the_old_one_verifying_until_retired() {
    let admin = Admin::start().await;
    admin.create_binding("acme", REAL_KEY).await;
    let old_token = admin.issue_token("acme", json!({})).await;
    let old_kid = old_token["kid"].as_str().unwrap().to_owned();

    let listed = admin.get("/v1/signing-keys").await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(key_with(&listed.body["data"], &old_kid)["status"], "active");

    let rotated = admin
        .call(Method::POST, "/v1/signing-keys/rotate", None)
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED);
    let new_kid = rotated.body["data"]["kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated.body["data"]["status"], "active");
    assert_eq!(rotated.body["data"]["algorithm"], "EdDSA");
    assert_eq!(rotated.body["data"]["retired_at"], json!(null));
    assert_ne!(new_kid, old_kid);

    let listed = admin.get("/v1/signing-keys").await.body["data"].clone();
    assert_eq!(key_with(&listed, &old_kid)["status"], "verify_only");
    assert_eq!(key_with(&listed, &new_kid)["status"], "active");
    let mut both = vec![old_kid.clone(), new_kid.clone()];
    both.sort();
    assert_eq!(jwks_kids(&admin).await, both);

    // New tokens use the new key; the old token still verifies (and is now cached).
    let new_token = admin.issue_token("acme", json!({})).await;
    assert_eq!(new_token["kid"], new_kid.as_str());
    let old = old_token["token"].as_str().unwrap();
    assert!(admin.verifier.verify(old, now()).is_ok());

    admin
        .call(
            Method::POST,
            &format!("/v1/signing-keys/{new_kid}/retire"),
            None,
        )
        .await
        .assert_refused(409, "signing_key_active");
    admin
        .call(Method::POST, "/v1/signing-keys/no-such-kid/retire", None)
        .await
        .assert_refused(404, "not_found");

    let retired = admin
        .call(
            Method::POST,
            &format!("/v1/signing-keys/{old_kid}/retire"),
            None,
        )
        .await;
    assert_eq!(retired.status, StatusCode::OK);
    assert_eq!(retired.body["data"]["status"], "retired");
    assert!(retired.body["data"]["retired_at"].is_string());
    assert_eq!(jwks_kids(&admin).await, vec![new_kid.clone()]);
    assert!(matches!(
        admin.verifier.verify(old, now()),
        Err(auth::AuthError::TokenKeyUnknown)
    ));
    assert!(
        admin
            .verifier
            .verify(new_token["token"].as_str().unwrap(), now())
            .is_ok()
    );
}
