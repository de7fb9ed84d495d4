//! Binding lifecycle: create, list, get, update, rotate, delete.

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::Full;
use serde_json::json;

use crate::harness::{ADMIN_TOKEN, Admin, REAL_KEY, REPLACED_KEY, bearer, now, unix};

#[tokio::test]
async fn create_answers_201_with_the_binding_and_only_a_key_hint() {
    let admin = Admin::start().await;
    let answer = admin
        .post(
            "/v1/bindings",
            json!({ "org_id": "acme", "api_key": REAL_KEY }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let data = &answer.body["data"];
    assert_eq!(data["org_id"], "acme");
    assert_eq!(data["generation"], 1);
    assert_eq!(
        data["scopes"],
        json!([
            "voice",
            "messaging",
            "numbers",
            "fax",
            "verify",
            "kv",
            "speech",
            "account"
        ])
    );
    assert_eq!(data["rate_limit"], json!(null));
    assert_eq!(data["api_key_hint"], "_123");
    assert_eq!(data["previous_generation"], json!(null));
    assert!(data["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert!((unix(&data["created_at"]) - now()).abs() < 60);
    assert!(data.get("api_key").is_none());
}

#[tokio::test]
async fn create_keeps_given_scopes_and_rate_limit() {
    let admin = Admin::start().await;
    let answer = admin
        .post(
            "/v1/bindings",
            json!({
                "org_id": "acme",
                "api_key": REAL_KEY,
                "scopes": ["messaging", "kv:ns-1"],
                "rate_limit": { "requests_per_second": 5, "burst": 10 },
            }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CREATED);
    assert_eq!(
        answer.body["data"]["scopes"],
        json!(["messaging", "kv:ns-1"])
    );
    assert_eq!(
        answer.body["data"]["rate_limit"],
        json!({ "requests_per_second": 5, "burst": 10 })
    );
}

#[tokio::test]
async fn second_binding_for_an_org_is_409_binding_exists() {
    let admin = Admin::start().await;
    admin.create_binding("acme", REAL_KEY).await;
    let answer = admin
        .post(
            "/v1/bindings",
            json!({ "org_id": "acme", "api_key": REAL_KEY }),
        )
        .await;
    answer.assert_refused(409, "binding_exists");
}

#[tokio::test]
async fn bad_fields_are_400_invalid_request_naming_the_field() {
    let admin = Admin::start().await;
    let cases = [
        (json!({ "org_id": "", "api_key": REAL_KEY }), "org_id"),
        (json!({ "org_id": "a/b", "api_key": REAL_KEY }), "org_id"),
        (
            json!({ "org_id": "x".repeat(129), "api_key": REAL_KEY }),
            "org_id",
        ),
        (json!({ "org_id": "acme", "api_key": "" }), "api_key"),
        (
            json!({ "org_id": "acme", "api_key": "KEY_REAL_123 x" }),
            "api_key",
        ),
        (
            json!({ "org_id": "acme", "api_key": "K".repeat(513) }),
            "api_key",
        ),
        (
            json!({ "org_id": "acme", "api_key": REAL_KEY, "scopes": [] }),
            "scopes",
        ),
        (
            json!({ "org_id": "acme", "api_key": REAL_KEY, "scopes": ["sms"] }),
            "scopes[0]",
        ),
        (
            json!({ "org_id": "acme", "api_key": REAL_KEY, "scopes": ["kv:a_b"] }),
            "scopes[0]",
        ),
        (
            json!({ "org_id": "acme", "api_key": REAL_KEY, "rate_limit": { "requests_per_second": 0, "burst": 1 } }),
            "rate_limit.requests_per_second",
        ),
        (
            json!({ "org_id": "acme", "api_key": REAL_KEY, "rate_limit": { "requests_per_second": 1, "burst": 0 } }),
            "rate_limit.burst",
        ),
        (
            json!({ "org_id": "acme", "api_key": REAL_KEY, "extra": 1 }),
            "extra",
        ),
        (json!({ "org_id": "acme" }), "api_key"),
        // A key in the wrong field must not be echoed back in the detail.
        (
            json!({ "org_id": "acme", "api_key": REAL_KEY, "rate_limit": REAL_KEY }),
            "rate_limit",
        ),
        (json!({ "org_id": 7, "api_key": REAL_KEY }), "org_id"),
    ];
    for (body, field) in cases {
        let answer = admin.post("/v1/bindings", body.clone()).await;
        answer.assert_refused(400, "invalid_request");
        assert!(
            answer.detail().contains(field),
            "{body}: {}",
            answer.detail()
        );
    }
    assert_eq!(admin.get("/v1/bindings").await.body["data"], json!([]));
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_400_in_the_error_format() {
    let admin = Admin::start().await;
    let send = |content_type: Option<&'static str>, body: &'static str| {
        let mut request = admin
            .request(Method::POST, "/v1/bindings")
            .header(header::AUTHORIZATION, bearer(ADMIN_TOKEN));
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        admin.send(
            request
                .body(Full::new(Bytes::from_static(body.as_bytes())))
                .unwrap(),
        )
    };
    let body = r#"{"org_id":"acme","api_key":"KEY_REAL_123"}"#;
    send(None, body)
        .await
        .assert_refused(400, "invalid_request");
    send(Some("text/plain"), body)
        .await
        .assert_refused(400, "invalid_request");
    send(Some("application/json"), "{not json")
        .await
        .assert_refused(400, "invalid_request");
    send(Some("application/json"), "")
        .await
        .assert_refused(400, "invalid_request");
    send(Some("application/json"), "[]")
        .await
        .assert_refused(400, "invalid_request");
}

#[tokio::test]
async fn get_answers_the_binding_or_404_not_found() {
    let admin = Admin::start().await;
    let created = admin.create_binding("acme", REAL_KEY).await;
    let answer = admin.get("/v1/bindings/acme").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["data"], created);
    admin
        .get("/v1/bindings/nobody")
        .await
        .assert_refused(404, "not_found");
}

#[tokio::test]
async fn list_pages_through_every_binding_in_org_order() {
    let admin = Admin::start().await;
    for org in ["org-e", "org-a", "org-c", "org-b", "org-d"] {
        admin.create_binding(org, REAL_KEY).await;
    }
    let mut seen = Vec::new();
    let mut path = "/v1/bindings?limit=2".to_owned();
    let mut pages = 0;
    loop {
        let answer = admin.get(&path).await;
        assert_eq!(answer.status, StatusCode::OK);
        pages += 1;
        let data = answer.body["data"].as_array().unwrap();
        seen.extend(
            data.iter()
                .map(|b| b["org_id"].as_str().unwrap().to_owned()),
        );
        let meta = &answer.body["meta"];
        if meta["has_more"] == json!(false) {
            assert!(meta.get("cursor").is_none());
            break;
        }
        assert_eq!(data.len(), 2);
        path = format!(
            "/v1/bindings?limit=2&cursor={}",
            meta["cursor"].as_str().unwrap()
        );
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, ["org-a", "org-b", "org-c", "org-d", "org-e"]);

    let all = admin.get("/v1/bindings").await;
    assert_eq!(all.body["data"].as_array().unwrap().len(), 5);
    assert_eq!(all.body["meta"]["has_more"], false);
}

#[tokio::test]
async fn list_refuses_bad_limits_and_cursors() {
    let admin = Admin::start().await;
    for path in [
        "/v1/bindings?limit=0",
        "/v1/bindings?limit=101",
        "/v1/bindings?limit=abc",
        "/v1/bindings?cursor=%25%25",
        "/v1/bindings?unknown=1",
    ] {
        admin.get(path).await.assert_refused(400, "invalid_request");
    }
}

#[tokio::test]
async fn patch_replaces_key_scopes_and_rate_limit_and_null_clears_the_limit() {
    let admin = Admin::start().await;
    let created = admin.create_binding("acme", REAL_KEY).await;
    let binding_id = created["id"].as_str().unwrap().to_owned();
    // Warm the data plane's cache: the update must drop it.
    let before = admin.credentials.get(&binding_id, now()).await.unwrap();
    assert_eq!(before.scopes.len(), 8);

    let answer = admin
        .call(
            Method::PATCH,
            "/v1/bindings/acme",
            Some(json!({
                "api_key": REPLACED_KEY,
                "scopes": ["kv"],
                "rate_limit": { "requests_per_second": 3, "burst": 4 },
            })),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let data = &answer.body["data"];
    assert_eq!(data["scopes"], json!(["kv"]));
    assert_eq!(data["api_key_hint"], "_789");
    assert_eq!(data["generation"], 1);
    assert_eq!(
        data["rate_limit"],
        json!({ "requests_per_second": 3, "burst": 4 })
    );

    let after = admin.credentials.get(&binding_id, now()).await.unwrap();
    assert_eq!(after.scopes, ["kv"]);
    assert_eq!(
        after.upstream_authorization().as_bytes(),
        format!("Bearer {REPLACED_KEY}").as_bytes()
    );

    let cleared = admin
        .call(
            Method::PATCH,
            "/v1/bindings/acme",
            Some(json!({ "rate_limit": null })),
        )
        .await;
    assert_eq!(cleared.body["data"]["rate_limit"], json!(null));
    assert_eq!(cleared.body["data"]["scopes"], json!(["kv"]));
}

#[tokio::test]
async fn patch_refuses_empty_and_bad_updates_and_unknown_orgs() {
    let admin = Admin::start().await;
    admin.create_binding("acme", REAL_KEY).await;
    let patch = |path: &'static str, body| admin.call(Method::PATCH, path, Some(body));
    patch("/v1/bindings/acme", json!({}))
        .await
        .assert_refused(400, "invalid_request");
    patch("/v1/bindings/acme", json!({ "api_key": "bad key" }))
        .await
        .assert_refused(400, "invalid_request");
    patch("/v1/bindings/acme", json!({ "org_id": "other" }))
        .await
        .assert_refused(400, "invalid_request");
    patch("/v1/bindings/nobody", json!({ "scopes": ["kv"] }))
        .await
        .assert_refused(404, "not_found");
}

#[tokio::test]
async fn rotate_bumps_the_generation_and_keeps_the_old_one_for_the_grace_period() {
    let admin = Admin::start().await;
    let created = admin.create_binding("acme", REAL_KEY).await;
    let binding_id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(
        admin
            .credentials
            .get(&binding_id, now())
            .await
            .unwrap()
            .generation,
        1
    );

    let answer = admin
        .post(
            "/v1/bindings/acme/rotate",
            json!({ "grace_period_secs": 600 }),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let data = &answer.body["data"];
    assert_eq!(data["generation"], 2);
    assert_eq!(data["previous_generation"], 1);
    let grace_end = unix(&data["previous_generation_expires_at"]);
    assert!((grace_end - now() - 600).abs() < 60, "{grace_end}");
    assert_eq!(
        admin
            .credentials
            .get(&binding_id, now())
            .await
            .unwrap()
            .generation,
        2
    );

    // No body at all: grace 0.
    let bare = admin
        .call(Method::POST, "/v1/bindings/acme/rotate", None)
        .await;
    assert_eq!(bare.status, StatusCode::OK);
    assert_eq!(bare.body["data"]["generation"], 3);
}

#[tokio::test]
async fn rotate_refuses_long_grace_and_unknown_orgs() {
    let admin = Admin::start().await;
    admin.create_binding("acme", REAL_KEY).await;
    admin
        .post(
            "/v1/bindings/acme/rotate",
            json!({ "grace_period_secs": 604_801 }),
        )
        .await
        .assert_refused(400, "invalid_request");
    admin
        .post(
            "/v1/bindings/acme/rotate",
            json!({ "grace_period_secs": -1 }),
        )
        .await
        .assert_refused(400, "invalid_request");
    admin
        .post("/v1/bindings/nobody/rotate", json!({}))
        .await
        .assert_refused(404, "not_found");
    assert_eq!(
        admin.get("/v1/bindings/acme").await.body["data"]["generation"],
        1
    );
}

#[tokio::test]
async fn delete_answers_204_and_the_binding_is_gone_at_once() {
    let admin = Admin::start().await;
    let created = admin.create_binding("acme", REAL_KEY).await;
    let binding_id = created["id"].as_str().unwrap().to_owned();
    admin.credentials.get(&binding_id, now()).await.unwrap();

    let answer = admin.call(Method::DELETE, "/v1/bindings/acme", None).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(matches!(
        admin.credentials.get(&binding_id, now()).await,
        Err(auth::AuthError::BindingNotFound)
    ));
    admin
        .get("/v1/bindings/acme")
        .await
        .assert_refused(404, "not_found");
    admin
        .call(Method::DELETE, "/v1/bindings/acme", None)
        .await
        .assert_refused(404, "not_found");
}
