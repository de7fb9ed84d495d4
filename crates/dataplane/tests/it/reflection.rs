//! An upstream that reflects the request's `Authorization` never hands the real key to the
//! function: not in a header, not in a body, not behind a content coding.

use std::net::SocketAddr;

use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::harness::{API_KEY, Options, PREFIX, Reply, Stack, empty, masked};

/// `/v2/_emulator/echo_auth` through the proxy, with `query`.
async fn echo(stack: &Stack, query: &str) -> Reply {
    stack
        .get(&format!("{PREFIX}/_emulator/echo_auth?{query}"))
        .await
}

/// Every header name and value and the body, as one text to search.
fn everything(reply: &Reply) -> String {
    let mut text = String::from_utf8_lossy(&reply.body).into_owned();
    for (name, value) in &reply.headers {
        text.push_str(&format!(
            "\n{name}: {}",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    text
}

/// The reply holds the key nowhere, its body is as long as its `Content-Length` says, and the
/// upstream did get the real key.
fn assert_no_key(stack: &Stack, reply: &Reply, key: &str) {
    let text = everything(reply);
    assert!(!text.contains(key), "the key reached the client: {text}");
    if let Some(length) = reply.headers.get("content-length") {
        assert_eq!(length.to_str().unwrap(), reply.body.len().to_string());
    }
    let seen = stack.emulator.journal().last().unwrap();
    assert_eq!(
        seen.headers["authorization"],
        format!("Bearer {key}").as_str()
    );
}

#[tokio::test]
async fn a_key_reflected_in_a_body_is_masked_to_the_same_length() {
    let stack = Stack::start().await;
    let reply = echo(&stack, "body=text&padding=3").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_no_key(&stack, &reply, API_KEY);
    assert_eq!(
        reply.body,
        format!("...you sent Authorization: Bearer {}\n", masked(API_KEY)).as_bytes()
    );
}

#[tokio::test]
async fn a_key_cut_across_the_upstreams_chunks_is_masked_at_every_offset() {
    let stack = Stack::start().await;
    // 7-byte chunks a millisecond apart: the proxy reads the key in pieces, cut at each of
    // seven offsets in turn.
    for padding in 0..7 {
        let reply = echo(
            &stack,
            &format!("body=text&padding={padding}&chunk_bytes=7&chunk_delay_ms=1"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_no_key(&stack, &reply, API_KEY);
        let expected = format!(
            "{}you sent Authorization: Bearer {}\n",
            ".".repeat(padding),
            masked(API_KEY)
        );
        assert_eq!(reply.body, expected.as_bytes(), "padding {padding}");
    }
}

#[tokio::test]
async fn a_key_in_a_json_body_or_an_errors_detail_is_masked_and_the_json_still_parses() {
    let stack = Stack::start().await;
    let json = echo(&stack, "body=json").await;
    assert_eq!(json.status, StatusCode::OK);
    assert_no_key(&stack, &json, API_KEY);
    assert_eq!(
        json.json()["data"]["authorization"],
        format!("Bearer {}", masked(API_KEY))
    );
    let detail = echo(&stack, "body=detail&chunk_bytes=5&chunk_delay_ms=1").await;
    assert_eq!(
        detail.status,
        StatusCode::UNAUTHORIZED,
        "the upstream's status passes"
    );
    assert_no_key(&stack, &detail, API_KEY);
    assert_eq!(detail.code(), "10009");
    let text = detail.json()["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains(&format!("Bearer {}", masked(API_KEY))),
        "{text}"
    );
}

#[tokio::test]
async fn a_key_in_x_echo_auth_becomes_redacted() {
    let stack = Stack::start().await;
    let reply = echo(&stack, "body=none&headers=x-echo-auth").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_no_key(&stack, &reply, API_KEY);
    assert_eq!(reply.headers["x-echo-auth"], "Bearer [redacted]");
}

#[tokio::test]
async fn a_key_quoted_in_www_authenticate_becomes_redacted() {
    let stack = Stack::start().await;
    let reply = echo(&stack, "body=detail&headers=www-authenticate").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_no_key(&stack, &reply, API_KEY);
    assert_eq!(
        reply.headers["www-authenticate"],
        r#"Bearer realm="emulator", error="invalid_token", error_description="rejected Bearer [redacted]""#
    );
}

#[tokio::test]
async fn an_authorization_response_header_is_dropped() {
    let stack = Stack::start().await;
    let reply = echo(&stack, "body=none&headers=authorization,x-echo-auth").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_no_key(&stack, &reply, API_KEY);
    assert!(!reply.headers.contains_key("authorization"));
    assert_eq!(reply.headers["x-echo-auth"], "Bearer [redacted]");
}

#[tokio::test]
async fn a_key_in_the_upstreams_reason_phrase_becomes_redacted() {
    let (addr, _seen) = canned_upstream(
        "HTTP/1.1 401 Bad key Bearer KEYreal-upstream-key-0001\r\nContent-Length: 2\r\n\r\n{}",
    )
    .await;
    let stack = stack_for(addr).await;
    let raw = stack
        .raw(&format!(
            "GET {PREFIX}/balance HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {}\r\n\
             Connection: close\r\n\r\n",
            stack.token
        ))
        .await;
    let status_line = raw.lines().next().unwrap_or_default();
    assert_eq!(status_line, "HTTP/1.1 401 Bad key Bearer [redacted]");
    assert!(!raw.contains(API_KEY), "{raw}");
}

#[tokio::test]
async fn a_key_with_json_specials_is_masked_raw_and_escaped() {
    const ODD_KEY: &str = r#"KEY"odd\key/0001"#;
    let stack = Stack::start_with(Options {
        api_key: ODD_KEY,
        ..Options::default()
    })
    .await;
    let json = echo(&stack, "body=json&headers=x-echo-auth").await;
    assert_eq!(json.status, StatusCode::OK);
    assert_no_key(&stack, &json, ODD_KEY);
    let escaped = serde_json::to_string(ODD_KEY).unwrap();
    let escaped = escaped.trim_matches('"');
    assert!(
        !everything(&json).contains(escaped),
        "{}",
        everything(&json)
    );
    let value = json.json()["data"]["authorization"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(value, format!("Bearer {}", masked(escaped)));
    assert_eq!(json.headers["x-echo-auth"], "Bearer [redacted]");
}

#[tokio::test]
async fn a_response_without_the_key_passes_byte_for_byte() {
    let stack = Stack::start().await;
    for path in [
        "/v2/balance",
        "/v2/_emulator/source?bytes=300000&chunk_bytes=777",
        "/v2/_emulator/echo_auth?body=none",
        "/v2/_emulator/status/422",
    ] {
        let direct = direct(&stack, path).await;
        let proxied = stack.get(&format!("{PREFIX}{path}")).await;
        assert_eq!(proxied.status, direct.status, "{path}");
        assert_eq!(proxied.body, direct.body, "{path}");
        for (name, value) in &direct.headers {
            if name != "date" {
                assert_eq!(proxied.headers.get(name), Some(value), "{path}: {name}");
            }
        }
    }
}

/// `path` straight from the emulator, with the real key.
async fn direct(stack: &Stack, path: &str) -> Reply {
    let request = Request::get(format!("{}{path}", stack.emulator.base_url()))
        .header("authorization", format!("Bearer {API_KEY}"))
        .body(empty())
        .unwrap();
    let response = stack.client.request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// An upstream that answers every connection with `response`, verbatim, and reports each
/// request head it read.
async fn canned_upstream(response: &'static str) -> (SocketAddr, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (heads, seen) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let heads = heads.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0_u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = heads
                    .send(String::from_utf8_lossy(&head).into_owned())
                    .await;
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, seen)
}

async fn stack_for(addr: SocketAddr) -> Stack {
    Stack::start_with(Options {
        upstream: Some(format!("http://{addr}")),
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn the_upstream_is_asked_for_identity_whatever_the_client_accepts() {
    let stack = Stack::start().await;
    let request = stack
        .authorized(Method::GET, &format!("{PREFIX}/balance"))
        .header("accept-encoding", "gzip, deflate, br")
        .body(empty())
        .unwrap();
    let reply = stack.send(request).await;
    assert_eq!(reply.status, StatusCode::OK);
    let seen = stack.emulator.journal().last().unwrap();
    let accepted: Vec<_> = seen.headers.get_all("accept-encoding").iter().collect();
    assert_eq!(accepted, ["identity"]);
}

#[tokio::test]
async fn an_answer_encoded_anyway_gets_502_upstream_failed_and_no_byte_of_it() {
    for response in [
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 9\r\n\r\nKEY-bytes",
        "HTTP/1.1 401 Unauthorized\r\nContent-Encoding: br\r\nContent-Length: 9\r\n\r\nKEY-bytes",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n9\r\nKEY-bytes\r\n0\r\n\r\n",
    ] {
        let (addr, mut seen) = canned_upstream(response).await;
        let stack = stack_for(addr).await;
        let reply = stack.get(&format!("{PREFIX}/balance")).await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{response}");
        assert_eq!(reply.code(), "upstream_failed");
        assert_eq!(reply.headers["x-should-retry"], "false");
        assert!(!reply.headers.contains_key("content-encoding"));
        assert!(!String::from_utf8_lossy(&reply.body).contains("KEY-bytes"));
        let head = seen.recv().await.unwrap().to_ascii_lowercase();
        assert!(head.contains("\r\naccept-encoding: identity\r\n"), "{head}");
    }
}

#[tokio::test]
async fn an_identity_answer_and_an_encoded_empty_one_pass() {
    for (response, body) in [
        (
            "HTTP/1.1 200 OK\r\nContent-Encoding: identity\r\nContent-Length: 2\r\n\r\n{}",
            "{}",
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 0\r\n\r\n",
            "",
        ),
    ] {
        let (addr, _seen) = canned_upstream(response).await;
        let stack = stack_for(addr).await;
        let reply = stack.get(&format!("{PREFIX}/balance")).await;
        assert_eq!(reply.status, StatusCode::OK, "{response}");
        assert_eq!(reply.body, body.as_bytes());
    }
}
