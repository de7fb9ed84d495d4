use http::{Method, StatusCode, Version};

use crate::support::{Api, full};

#[tokio::test]
async fn journal_records_raw_path_and_query_headers_and_body_length() {
    let api = Api::start().await;
    let target = "/v2/storage/kvs/x/keys/user%2F1?prefix=a%20b&x=%2F";
    let request = api
        .request(Method::PUT, target)
        .header("x-custom", "kept")
        .header("x-stainless-lang", "js")
        .body(full("four"))
        .unwrap();
    let reply = api.send(request).await;
    assert_eq!(reply.version, Version::HTTP_11);

    let entry = api.running.journal().last().unwrap();
    assert_eq!(entry.method, Method::PUT);
    assert_eq!(entry.path_and_query, target);
    assert_eq!(entry.headers["x-custom"], "kept");
    assert_eq!(entry.headers["x-stainless-lang"], "js");
    assert_eq!(
        entry.headers["authorization"],
        format!("Bearer {}", crate::support::KEY).as_str()
    );
    assert_eq!(entry.body_bytes, 4);
    assert_eq!(entry.version, Version::HTTP_11);
}

#[tokio::test]
async fn refused_requests_are_journaled_in_order_and_clear_empties_it() {
    let api = Api::start().await;
    let journal = api.running.journal();
    assert!(journal.is_empty());
    let request = http::Request::get(api.url("/v2/balance?first"))
        .body(full(""))
        .unwrap();
    assert_eq!(api.send(request).await.status, StatusCode::UNAUTHORIZED);
    api.get("/v2/balance?second").await;
    api.get("/elsewhere").await;

    let paths: Vec<_> = journal
        .entries()
        .into_iter()
        .map(|entry| entry.path_and_query)
        .collect();
    assert_eq!(
        paths,
        ["/v2/balance?first", "/v2/balance?second", "/elsewhere"]
    );
    assert_eq!(journal.len(), 3);
    journal.clear();
    assert!(journal.is_empty());
    assert!(journal.last().is_none());
}
