//! What ends a session besides its peers: idleness, its maximum lifetime, its token's expiry,
//! a revocation, rotation or deletion (through this replica or another), and the drain. The
//! client gets a Close frame with the documented code and reason, and so does the upstream.
//! Time bounds here are failure bounds, never speed checks.

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use http::Method;
use serde_json::json;
use testkit::{ProxyOptions, ProxyProcess, TestSchema};
use tokio_tungstenite::tungstenite::Message;

use super::{Client, KEY, TRANSCRIBE, Upstream, connect, handshake, next_message, stack, ws_url};
use crate::bin;

const LIMIT: Duration = Duration::from_secs(20);

/// Reads until the proxy's Close arrives; its code and reason.
async fn closed_with(client: &mut Client) -> (u16, String) {
    match next_message(client, LIMIT).await {
        Some(Message::Close(Some(frame))) => (u16::from(frame.code), frame.reason.to_string()),
        other => panic!("expected a Close frame, got {other:?}"),
    }
}

async fn echo_once(client: &mut Client, text: &str) {
    client.send(Message::Text(text.into())).await.expect("send");
    match next_message(client, LIMIT).await {
        Some(Message::Text(back)) => assert_eq!(back.as_str(), text),
        other => panic!("expected the echo, got {other:?}"),
    }
}

/// Polls until the upstream has seen `count` Close codes.
async fn upstream_closes(upstream: &Upstream, count: usize) -> Vec<u16> {
    let started = Instant::now();
    loop {
        let codes = upstream.close_codes();
        if codes.len() >= count || started.elapsed() > LIMIT {
            return codes;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn silence_shorter_than_the_idle_timeout_is_kept_and_longer_is_closed() {
    let (stack, upstream, token) =
        stack("org-ws-idle", |o| o.set("websocket.idle_timeout_secs", "2")).await;
    let mut client = connect(handshake(&ws_url(&stack, TRANSCRIBE), Some(&token)))
        .await
        .expect("session");
    for round in 0..3 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        echo_once(&mut client, &format!("after a silence, {round}")).await;
    }
    // Now silent past the timeout.
    assert_eq!(
        closed_with(&mut client).await,
        (1001, "idle_timeout".to_owned())
    );
    assert_eq!(upstream_closes(&upstream, 1).await, [1001]);
}

#[tokio::test]
async fn a_busy_session_ends_at_its_maximum_lifetime() {
    let (stack, upstream, token) = stack("org-ws-lifetime", |o| {
        o.set("websocket.max_lifetime_secs", "2")
    })
    .await;
    let mut client = connect(handshake(&ws_url(&stack, TRANSCRIBE), Some(&token)))
        .await
        .expect("session");
    let started = Instant::now();
    let code = loop {
        client
            .send(Message::Text("busy".into()))
            .await
            .expect("send");
        match next_message(&mut client, LIMIT).await {
            Some(Message::Text(_)) => tokio::time::sleep(Duration::from_millis(200)).await,
            Some(Message::Close(Some(frame))) => break (u16::from(frame.code), frame.reason),
            other => panic!("{other:?}"),
        }
    };
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "closed too early"
    );
    assert_eq!((code.0, code.1.as_str()), (1001, "session_lifetime"));
    assert_eq!(upstream_closes(&upstream, 1).await, [1001]);
}

#[tokio::test]
async fn an_expiring_token_ends_its_session_unless_allowed_past_expiry() {
    for allow in [false, true] {
        let (stack, upstream, _) = stack("org-ws-expiry", |o| {
            o.set("tokens.leeway_secs", "0")
                .set("websocket.allow_past_expiry", allow.to_string())
        })
        .await;
        let minted = stack
            .proxy
            .mint("org-ws-expiry", json!({"ttl_secs": 2}))
            .await;
        let token = minted["token"].as_str().expect("token");
        let mut client = connect(handshake(&ws_url(&stack, TRANSCRIBE), Some(token)))
            .await
            .expect("session");
        if allow {
            tokio::time::sleep(Duration::from_secs(4)).await;
            echo_once(&mut client, "past its expiry").await;
        } else {
            assert_eq!(
                closed_with(&mut client).await,
                (1008, "token_expired".to_owned())
            );
            assert_eq!(upstream_closes(&upstream, 1).await, [1008]);
        }
    }
}

#[tokio::test]
async fn revocation_rotation_scope_key_retirement_and_deletion_end_open_sessions() {
    let (stack, upstream, _) = stack("org-ws-revoke", |o| o).await;
    let url = ws_url(&stack, TRANSCRIBE);
    let mint = || stack.proxy.mint("org-ws-revoke", json!({}));

    let revoked = mint().await;
    let mut client = connect(handshake(&url, revoked["token"].as_str()))
        .await
        .expect("session");
    let jti = revoked["jti"].as_str().expect("jti");
    let reply = stack
        .proxy
        .admin_call(Method::DELETE, &format!("/v1/tokens/{jti}"), None)
        .await;
    assert_eq!(reply.status.as_u16(), 204);
    assert_eq!(
        closed_with(&mut client).await,
        (1008, "token_revoked".to_owned())
    );

    // Rotated without grace: the old generation is superseded at once.
    let old = mint().await;
    let mut client = connect(handshake(&url, old["token"].as_str()))
        .await
        .expect("session");
    let reply = stack
        .proxy
        .admin_call(Method::POST, "/v1/bindings/org-ws-revoke/rotate", None)
        .await;
    assert_eq!(reply.status.as_u16(), 200);
    assert_eq!(
        closed_with(&mut client).await,
        (1008, "token_superseded".to_owned())
    );

    // The binding loses the scope the session's path needs.
    let narrowed = mint().await;
    let mut client = connect(handshake(&url, narrowed["token"].as_str()))
        .await
        .expect("session");
    let scopes = |list: serde_json::Value| {
        stack.proxy.admin_call(
            Method::PATCH,
            "/v1/bindings/org-ws-revoke",
            Some(json!({ "scopes": list })),
        )
    };
    assert_eq!(scopes(json!(["messaging"])).await.status.as_u16(), 200);
    assert_eq!(
        closed_with(&mut client).await,
        (1008, "scope_denied".to_owned())
    );
    assert_eq!(scopes(json!(["speech"])).await.status.as_u16(), 200);

    // Its token's signing key retired.
    let signed = mint().await;
    let mut client = connect(handshake(&url, signed["token"].as_str()))
        .await
        .expect("session");
    let rotated = stack
        .proxy
        .admin_call(Method::POST, "/v1/signing-keys/rotate", None)
        .await;
    assert_eq!(rotated.status.as_u16(), 201);
    let kid = signed["kid"].as_str().expect("kid");
    let retired = stack
        .proxy
        .admin_call(
            Method::POST,
            &format!("/v1/signing-keys/{kid}/retire"),
            None,
        )
        .await;
    assert_eq!(retired.status.as_u16(), 200);
    assert_eq!(
        closed_with(&mut client).await,
        (1008, "token_key_unknown".to_owned())
    );

    // Deleted.
    let current = mint().await;
    let mut client = connect(handshake(&url, current["token"].as_str()))
        .await
        .expect("session");
    let reply = stack
        .proxy
        .admin_call(Method::DELETE, "/v1/bindings/org-ws-revoke", None)
        .await;
    assert_eq!(reply.status.as_u16(), 204);
    assert_eq!(
        closed_with(&mut client).await,
        (1008, "binding_not_found".to_owned())
    );
    assert_eq!(upstream_closes(&upstream, 5).await, [1008; 5]);
}

#[tokio::test]
async fn a_revocation_through_another_replica_ends_the_session() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let upstream = Upstream::start().await;
    let url = schema.store_url(None);
    let options = || ProxyOptions::new(upstream.base_url()).set("store.url", &url);
    let a = ProxyProcess::start(bin(), options()).await;
    let b = ProxyProcess::start(
        bin(),
        options().set(
            "crypto.master_key_file",
            a.master_key_file().display().to_string(),
        ),
    )
    .await;
    a.create_binding("org-ws-replicas", KEY).await;
    let minted = a.mint("org-ws-replicas", json!({})).await;
    let session_url = format!("{}{TRANSCRIBE}", a.base_url()).replacen("http://", "ws://", 1);
    let mut client = connect(handshake(&session_url, minted["token"].as_str()))
        .await
        .expect("session on replica a");
    echo_once(&mut client, "before").await;

    let jti = minted["jti"].as_str().expect("jti");
    let revoked_at = Instant::now();
    let reply = b
        .admin_call(Method::DELETE, &format!("/v1/tokens/{jti}"), None)
        .await;
    assert_eq!(reply.status.as_u16(), 204);
    assert_eq!(
        closed_with(&mut client).await,
        (1008, "token_revoked".to_owned())
    );
    // The design target is one second; the bound here is generous against a loaded machine.
    let took = revoked_at.elapsed();
    eprintln!("session closed {took:?} after the revocation through the other replica");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_eq!(upstream_closes(&upstream, 1).await, [1008]);
    drop((a, b));
    schema.drop_schema().await;
}

#[tokio::test]
async fn sigterm_closes_sessions_with_going_away_and_the_drain_waits_for_them() {
    let (mut stack, upstream, token) =
        stack("org-ws-drain", |o| o.set("shutdown.grace_secs", "10")).await;
    let mut client = connect(handshake(&ws_url(&stack, TRANSCRIBE), Some(&token)))
        .await
        .expect("session");
    echo_once(&mut client, "before the drain").await;
    stack.proxy.signal("TERM");
    assert_eq!(
        closed_with(&mut client).await,
        (1001, "going_away".to_owned())
    );
    assert_eq!(upstream_closes(&upstream, 1).await, [1001]);
    let status = stack.proxy.wait_exit(LIMIT).await;
    assert!(status.success(), "{status:?}");
    assert_eq!(
        upstream.ended(),
        1,
        "the upstream connection was closed too"
    );
    let drained = stack
        .proxy
        .logs()
        .iter()
        .any(|line| line.contains("drain complete"));
    assert!(drained, "the drain ended within its grace");
}

/// A session carrying as much as it can still ends on time: the proxy's timers and revocation
/// checks are not starved by a tunnel that always has bytes to move.
#[tokio::test]
async fn a_saturated_session_still_ends_when_its_token_is_revoked() {
    use futures_util::StreamExt;

    let (stack, upstream, _) = stack("org-ws-flood", |o| o).await;
    let minted = stack.proxy.mint("org-ws-flood", json!({})).await;
    let client = connect(handshake(
        &ws_url(&stack, TRANSCRIBE),
        minted["token"].as_str(),
    ))
    .await
    .expect("session");
    let (mut sink, mut stream) = client.split();
    // The client sends 256 KiB messages back to back and reads the echoes as fast as they come.
    let flood = tokio::spawn(async move {
        let message = Message::Binary(vec![0x42u8; 256 << 10].into());
        while sink.send(message.clone()).await.is_ok() {}
    });
    let reader = tokio::spawn(async move {
        let mut echoed = 0usize;
        loop {
            match stream.next().await {
                Some(Ok(Message::Binary(data))) => echoed += data.len(),
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (
                        echoed,
                        Some((u16::from(frame.code), frame.reason.to_string())),
                    );
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return (echoed, None),
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let jti = minted["jti"].as_str().expect("jti");
    let reply = stack
        .proxy
        .admin_call(Method::DELETE, &format!("/v1/tokens/{jti}"), None)
        .await;
    assert_eq!(reply.status.as_u16(), 204);
    let (echoed, closed) = tokio::time::timeout(LIMIT, reader)
        .await
        .expect("the session ended in time")
        .expect("reader");
    flood.abort();
    assert!(
        echoed > 1 << 20,
        "the session was busy: {echoed} bytes echoed"
    );
    assert_eq!(closed, Some((1008, "token_revoked".to_owned())));
    assert_eq!(upstream_closes(&upstream, 1).await, [1008]);
}
