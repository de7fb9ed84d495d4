//! `POST /v1/bindings/{org_id}/validate` against the emulator.

use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::harness::{Admin, REAL_KEY, UNKNOWN_KEY};

fn check<'a>(data: &'a Value, name: &str) -> &'a Value {
    data["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {data}"))
}

#[tokio::test]
async fn a_binding_the_upstream_accepts_is_valid() {
    let admin = Admin::start().await;
    admin.create_binding("acme", REAL_KEY).await;
    let answer = admin
        .call(Method::POST, "/v1/bindings/acme/validate", None)
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let data = &answer.body["data"];
    assert_eq!(data["valid"], true, "{data}");
    let names: Vec<&str> = data["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "api_key_decrypts",
            "signing_key_usable",
            "upstream_accepts_key"
        ]
    );
    assert_eq!(
        check(data, "upstream_accepts_key")["detail"],
        "GET /v2/balance answered 200"
    );

    let probe = admin.upstream.journal().last().unwrap();
    assert_eq!(probe.method, Method::GET);
    assert_eq!(probe.path_and_query, "/v2/balance");
    assert_eq!(
        probe.headers[header::AUTHORIZATION],
        format!("Bearer {REAL_KEY}").as_str()
    );
}

#[tokio::test]
async fn a_key_the_upstream_refuses_makes_the_binding_invalid() {
    let admin = Admin::start().await;
    admin.create_binding("acme", UNKNOWN_KEY).await;
    let answer = admin.post("/v1/bindings/acme/validate", json!({})).await;
    assert_eq!(answer.status, StatusCode::OK);
    let data = &answer.body["data"];
    assert_eq!(data["valid"], false);
    assert_eq!(check(data, "api_key_decrypts")["ok"], true);
    assert_eq!(check(data, "signing_key_usable")["ok"], true);
    let upstream = check(data, "upstream_accepts_key");
    assert_eq!(upstream["ok"], false);
    assert_eq!(upstream["detail"], "upstream refused the key (401)");
}

#[tokio::test]
async fn an_unreachable_upstream_makes_the_binding_invalid_and_says_so() {
    // A port that was just free: nothing listens there.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let target = format!("http://{}", closed.local_addr().unwrap())
        .parse()
        .unwrap();
    drop(closed);
    let admin = Admin::start_with_probe_target(Some(target)).await;
    admin.create_binding("acme", REAL_KEY).await;
    let answer = admin
        .call(Method::POST, "/v1/bindings/acme/validate", None)
        .await;
    let data = &answer.body["data"];
    assert_eq!(data["valid"], false);
    let upstream = check(data, "upstream_accepts_key");
    assert_eq!(upstream["ok"], false);
    assert!(
        upstream["detail"].as_str().unwrap().contains("unreachable"),
        "{upstream}"
    );
}

#[tokio::test]
async fn validating_an_unknown_org_is_404_and_sends_no_probe() {
    let admin = Admin::start().await;
    admin
        .call(Method::POST, "/v1/bindings/nobody/validate", None)
        .await
        .assert_refused(404, "not_found");
    assert!(admin.upstream.journal().is_empty());
}
