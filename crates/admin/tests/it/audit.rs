//! Every mutation leaves an audit event.

use http::Method;
use serde_json::json;

use crate::harness::{ADMIN_TOKEN, Admin, REAL_KEY, REPLACED_KEY, sha256};

#[tokio::test]
async fn every_mutation_is_recorded_newest_first_with_the_actor() {
    let admin = Admin::start().await;
    admin.create_binding("acme", REAL_KEY).await;
    admin
        .call(
            Method::PATCH,
            "/v1/bindings/acme",
            Some(json!({ "api_key": REPLACED_KEY })),
        )
        .await;
    admin
        .post(
            "/v1/bindings/acme/rotate",
            json!({ "grace_period_secs": 60 }),
        )
        .await;
    let issued = admin
        .issue_token("acme", json!({ "function_id": "fn-1" }))
        .await;
    let jti = issued["jti"].as_str().unwrap();
    admin
        .call(Method::DELETE, &format!("/v1/tokens/{jti}"), None)
        .await;
    let old_kid = admin.keyring.active_kid().unwrap();
    admin
        .call(Method::POST, "/v1/signing-keys/rotate", None)
        .await;
    admin
        .call(
            Method::POST,
            &format!("/v1/signing-keys/{old_kid}/retire"),
            None,
        )
        .await;
    admin.call(Method::DELETE, "/v1/bindings/acme", None).await;
    // Reads and refusals are not mutations.
    admin.get("/v1/bindings").await;
    admin.post("/v1/bindings", json!({ "org_id": "" })).await;

    let answer = admin.get("/v1/audit-events").await;
    let events = answer.body["data"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "binding.delete",
            "signing_key.retire",
            "signing_key.rotate",
            "token.revoke",
            "token.issue",
            "binding.rotate",
            "binding.update",
            "binding.create",
        ]
    );
    let actor = format!("admin:{}", &hex::encode(sha256(ADMIN_TOKEN))[..8]);
    assert!(events.iter().all(|e| e["actor"] == actor.as_str()));
    assert!(events.iter().all(|e| e["at"].is_string()));

    let issue = &events[4];
    assert_eq!(issue["org_id"], "acme");
    assert_eq!(issue["detail"]["jti"], jti);
    assert_eq!(issue["detail"]["function_id"], "fn-1");
    assert_eq!(issue["detail"]["generation"], 2);
    assert!(issue["detail"]["expires_at"].is_string());
    let everything = answer.body.to_string();
    assert!(!everything.contains(issued["token"].as_str().unwrap()));
    assert_eq!(events[6]["detail"]["changed"], json!(["api_key"]));
}

#[tokio::test]
async fn audit_events_filter_by_org_and_paginate() {
    let admin = Admin::start().await;
    admin.create_binding("acme", REAL_KEY).await;
    admin.create_binding("other", REAL_KEY).await;
    for _ in 0..3 {
        admin
            .call(Method::POST, "/v1/bindings/acme/rotate", None)
            .await;
    }

    let first = admin.get("/v1/audit-events?org_id=acme&limit=3").await;
    let page: Vec<&str> = first.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(page, ["binding.rotate", "binding.rotate", "binding.rotate"]);
    assert_eq!(first.body["meta"]["has_more"], true);
    let cursor = first.body["meta"]["cursor"].as_str().unwrap();

    let second = admin
        .get(&format!(
            "/v1/audit-events?org_id=acme&limit=3&cursor={cursor}"
        ))
        .await;
    let events = second.body["data"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["action"], "binding.create");
    assert_eq!(events[0]["org_id"], "acme");
    assert_eq!(second.body["meta"]["has_more"], false);

    admin
        .get("/v1/audit-events?cursor=bm90LWEtbnVtYmVy")
        .await
        .assert_refused(400, "invalid_request");
}
