use bytes::Bytes;
use http::{Method, StatusCode};

use crate::support::Api;

#[tokio::test]
async fn namespace_goes_pending_then_provision_ok_then_is_listed_then_deleted() {
    let api = Api::start().await;
    let created = api
        .call(Method::POST, "/v2/storage/kvs", r#"{"name":"my-cache"}"#)
        .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let data = created.json()["data"].clone();
    assert_eq!(data["record_type"], "storage_kv");
    assert_eq!(data["name"], "my-cache");
    assert_eq!(data["status"], "pending");
    let created_at = data["created_at"].as_str().unwrap();
    assert_eq!(created_at.len(), "2024-01-15T10:30:00.000Z".len());
    let id = data["id"].as_str().unwrap().to_owned();

    let listed = api.get("/v2/storage/kvs").await.json();
    assert_eq!(listed["data"][0]["status"], "pending");
    assert_eq!(listed["meta"]["total_results"], 1);

    let polled = api.get(&format!("/v2/storage/kvs/{id}")).await;
    assert_eq!(polled.status, StatusCode::OK);
    assert_eq!(polled.json()["data"]["status"], "provision_ok");

    let listed = api.get("/v2/storage/kvs").await.json();
    assert_eq!(listed["data"][0]["id"], id.as_str());
    assert_eq!(listed["data"][0]["status"], "provision_ok");

    let deleted = api
        .call(Method::DELETE, &format!("/v2/storage/kvs/{id}"), "")
        .await;
    assert_eq!(deleted.status, StatusCode::OK);
    let gone = api.get(&format!("/v2/storage/kvs/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(gone.error_code(), "10005");
    let keys = api.get(&format!("/v2/storage/kvs/{id}/keys")).await;
    assert_eq!(keys.status, StatusCode::NOT_FOUND);
    let listed = api.get("/v2/storage/kvs").await.json();
    assert_eq!(listed["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn namespace_names_must_be_lowercase_and_unique() {
    let api = Api::start().await;
    for body in [
        r#"{"name":"My-Cache"}"#,
        r#"{"name":""}"#,
        r#"{"name":"has_underscore"}"#,
        r#"{}"#,
        "not json",
    ] {
        let reply = api.call(Method::POST, "/v2/storage/kvs", body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body}");
    }
    let long = format!(r#"{{"name":"{}"}}"#, "a".repeat(64));
    let reply = api.call(Method::POST, "/v2/storage/kvs", long).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    api.namespace("taken").await;
    let again = api
        .call(Method::POST, "/v2/storage/kvs", r#"{"name":"taken"}"#)
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn key_put_is_201_then_200_and_get_returns_the_bytes_verbatim() {
    let api = Api::start().await;
    let id = api.namespace("users").await;
    let value = r#"{"name": "Alice 👋"}"#;
    let path = format!("/v2/storage/kvs/{id}/keys/user/123");

    let created = api.call(Method::PUT, &path, value).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert!(created.body.is_empty());
    let updated = api.call(Method::PUT, &path, value).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert!(updated.body.is_empty());

    // The escaped and the literal slash name the same key.
    let read = api
        .get(&format!("/v2/storage/kvs/{id}/keys/user%2F123"))
        .await;
    assert_eq!(read.status, StatusCode::OK);
    assert_eq!(read.content_type(), "application/octet-stream");
    assert_eq!(read.body, Bytes::from(value));
}

#[tokio::test]
async fn binary_values_round_trip() {
    let api = Api::start().await;
    let id = api.namespace("bin").await;
    let value: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
    let path = format!("/v2/storage/kvs/{id}/keys/blob.bin");
    assert_eq!(
        api.call(Method::PUT, &path, value.clone()).await.status,
        StatusCode::CREATED
    );
    assert_eq!(api.get(&path).await.body, value);
}

#[tokio::test]
async fn missing_key_is_404_and_delete_is_204_then_404() {
    let api = Api::start().await;
    let id = api.namespace("ns").await;
    let path = format!("/v2/storage/kvs/{id}/keys/nope");
    let missing = api.get(&path).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.error_code(), "10005");

    api.call(Method::PUT, &path, "v").await;
    let deleted = api.call(Method::DELETE, &path, "").await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(api.get(&path).await.status, StatusCode::NOT_FOUND);
    let again = api.call(Method::DELETE, &path, "").await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn key_operations_on_an_unknown_namespace_are_404() {
    let api = Api::start().await;
    let path = "/v2/storage/kvs/00000000-0000-0000-0000-000000000000/keys/k";
    assert_eq!(api.get(path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::PUT, path, "v").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn key_with_a_colon_is_400_10015() {
    let api = Api::start().await;
    let id = api.namespace("ns").await;
    for key in ["user:123", "user%3A123", "", "caf%C3%A9", "bad%zz"] {
        let reply = api
            .call(
                Method::PUT,
                &format!("/v2/storage/kvs/{id}/keys/{key}"),
                "v",
            )
            .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{key:?}");
        assert_eq!(reply.error_code(), "10015", "{key:?}");
    }
}

#[tokio::test]
async fn key_with_an_escaped_space_is_400_and_the_journal_keeps_the_raw_path() {
    let api = Api::start().await;
    let id = api.namespace("ns").await;
    let path = format!("/v2/storage/kvs/{id}/keys/greeting%2Fa%20b");
    let reply = api.call(Method::PUT, &path, "hello").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "10015");
    let entry = api.running.journal().last().unwrap();
    assert_eq!(entry.path_and_query, path);
    assert_eq!(entry.body_bytes, 5);
}

async fn list_keys(api: &Api, id: &str, query: &str) -> serde_json::Value {
    let reply = api.get(&format!("/v2/storage/kvs/{id}/keys{query}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    reply.json()
}

fn key_names(page: &serde_json::Value) -> Vec<String> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn key_listing_filters_by_prefix_and_sorts() {
    let api = Api::start().await;
    let id = api.namespace("ns").await;
    for key in ["user/2", "session/a", "user/1", "user/10"] {
        api.call(
            Method::PUT,
            &format!("/v2/storage/kvs/{id}/keys/{key}"),
            "12345",
        )
        .await;
    }
    let page = list_keys(&api, &id, "?prefix=user/").await;
    assert_eq!(page["record_type"], "storage_kv_key");
    assert_eq!(key_names(&page), ["user/1", "user/10", "user/2"]);
    assert_eq!(page["data"][0]["size_bytes"], 5);
    assert!(
        page["data"][0]["updated_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(page["meta"]["has_more"], false);
    assert!(page["meta"].get("cursor").is_none());

    let escaped = list_keys(&api, &id, "?prefix=user%2F").await;
    assert_eq!(key_names(&escaped), key_names(&page));
    let all = list_keys(&api, &id, "").await;
    assert_eq!(key_names(&all).len(), 4);
}

#[tokio::test]
async fn key_listing_pages_with_a_cursor_until_has_more_is_false() {
    let api = Api::start().await;
    let id = api.namespace("ns").await;
    let expected = ["k/a", "k/b", "k/c", "k/d"];
    for key in expected.iter().rev() {
        api.call(
            Method::PUT,
            &format!("/v2/storage/kvs/{id}/keys/{key}"),
            "v",
        )
        .await;
    }
    api.call(
        Method::PUT,
        &format!("/v2/storage/kvs/{id}/keys/other"),
        "v",
    )
    .await;

    let mut seen = Vec::new();
    let mut query = "?prefix=k/&limit=1".to_owned();
    loop {
        let page = list_keys(&api, &id, &query).await;
        seen.extend(key_names(&page));
        if page["meta"]["has_more"] == false {
            break;
        }
        let cursor = page["meta"]["cursor"].as_str().unwrap();
        query = format!("?prefix=k/&limit=1&cursor={cursor}");
        assert!(
            seen.len() <= expected.len(),
            "paging does not end: {seen:?}"
        );
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn key_listing_refuses_bad_limits_and_cursors() {
    let api = Api::start().await;
    let id = api.namespace("ns").await;
    for query in [
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?limit=",
        "?cursor=%21%21",
    ] {
        let reply = api.get(&format!("/v2/storage/kvs/{id}/keys{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.error_code(), "10015", "{query}");
    }
    let max = api
        .get(&format!("/v2/storage/kvs/{id}/keys?limit=1000"))
        .await;
    assert_eq!(max.status, StatusCode::OK);
}
