//! A session through the binding carries what a direct one does: frames of any size both ways,
//! text and binary, ping/pong, the client's Close code, subprotocols and extensions, on both
//! route forms, over HTTP/1.1 and HTTP/2 (RFC 8441); the upstream gets the organization's key.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::Empty;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::{KEY, TRANSCRIBE, config, connect, handshake, next_message, stack, ws_url};
use crate::metrics::{scrape, value};

const LIMIT: Duration = Duration::from_secs(20);

/// Sends each message and expects it back unchanged.
async fn echo<S>(client: &mut WebSocketStream<S>, messages: Vec<Message>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    for message in messages {
        client.send(message.clone()).await.expect("send");
        let back = tokio::time::timeout(LIMIT, async {
            loop {
                match client.next().await {
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    other => return other,
                }
            }
        })
        .await
        .expect("echo in time")
        .expect("the session is open")
        .expect("a message");
        assert_eq!(back.len(), message.len());
        assert!(back == message, "the message came back changed");
    }
}

fn sizes() -> Vec<Message> {
    let patterned = |len: usize| -> Vec<u8> { (0..len).map(|i| (i * 7 % 251) as u8).collect() };
    vec![
        Message::Binary(Bytes::new()),
        Message::Binary(patterned(125).into()),
        Message::Text("a transcript, in text".into()),
        Message::Binary(patterned(64 << 10).into()),
        Message::Binary(patterned(16 << 20).into()),
        Message::Text("x".repeat(70_000).into()),
    ]
}

#[tokio::test]
async fn frames_of_every_size_pass_both_ways_and_the_close_code_reaches_the_upstream() {
    let (stack, upstream, token) = stack("org-ws-frames", |o| o).await;
    let mut request = handshake(&ws_url(&stack, TRANSCRIBE), Some(&token));
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "transcribe.v1, transcribe.v0".parse().expect("header"),
    );
    request.headers_mut().insert(
        "origin",
        "https://functions.example".parse().expect("header"),
    );
    let mut client = connect(request).await.expect("session opened");
    echo(&mut client, sizes()).await;

    // Ping answered by the upstream, through the proxy.
    client
        .send(Message::Ping(Bytes::from_static(b"are you there")))
        .await
        .expect("ping");
    let pong = tokio::time::timeout(LIMIT, client.next())
        .await
        .expect("pong in time");
    assert!(
        matches!(pong, Some(Ok(Message::Pong(ref data))) if data.as_ref() == b"are you there"),
        "{pong:?}"
    );

    client
        .close(Some(CloseFrame {
            code: CloseCode::from(4000),
            reason: "done transcribing".into(),
        }))
        .await
        .expect("close");
    while let Some(Ok(_)) = client.next().await {}
    assert_eq!(upstream.close_codes(), [4000]);

    // The upstream got the handshake with the key swapped in, the rest unchanged.
    let (uri, headers) = upstream.last_handshake();
    assert_eq!(
        uri,
        "/v2/speech-to-text/transcription?transcription_engine=B"
    );
    assert_eq!(headers["authorization"], format!("Bearer {KEY}").as_str());
    assert_eq!(
        headers["sec-websocket-protocol"],
        "transcribe.v1, transcribe.v0"
    );
    assert_eq!(headers["origin"], "https://functions.example");
    assert_eq!(headers["sec-websocket-version"], "13");
    assert_eq!(headers["upgrade"], "websocket");

    // One access line for the session, at its end, with bytes each way and who ended it.
    let line = stack
        .proxy
        .wait_for_log(LIMIT, |line| line.contains("\"message\":\"session\""))
        .await;
    let record: serde_json::Value = serde_json::from_str(&line).expect("json log");
    let fields = &record;
    assert_eq!(fields["ended_by"], "client_closed", "{line}");
    assert_eq!(fields["status"], 101);
    assert!(fields["bytes_in"].as_u64().expect("bytes_in") > 16 << 20);
    assert!(fields["bytes_out"].as_u64().expect("bytes_out") > 16 << 20);
    assert!(!line.contains(&token) && !line.contains(KEY), "{line}");

    let (_, samples) = scrape(&stack).await;
    assert_eq!(
        value(
            &samples,
            "binding_proxy_websocket_sessions_ended_total{outcome=\"client_closed\"}"
        ),
        1.0
    );
    assert_eq!(value(&samples, "binding_proxy_websocket_sessions"), 0.0);
    assert!(
        value(
            &samples,
            "binding_proxy_websocket_bytes_total{direction=\"client_to_upstream\"}"
        ) > f64::from(16 << 20)
    );
}

#[tokio::test]
async fn the_v2_route_form_works_and_the_subprotocol_is_answered() {
    let (stack, upstream, token) = stack("org-ws-v2", |o| o).await;
    let mut request = handshake(
        &ws_url(&stack, "/v2/text-to-speech/speech?voice=a"),
        Some(&token),
    );
    request
        .headers_mut()
        .insert("sec-websocket-protocol", "tts.v2".parse().expect("header"));
    let (mut client, response) =
        tokio_tungstenite::connect_async_with_config(request, Some(config()), false)
            .await
            .expect("session opened");
    assert_eq!(response.headers()["sec-websocket-protocol"], "tts.v2");
    assert!(response.headers().contains_key("x-request-id"));
    echo(&mut client, vec![Message::Text("hello".into())]).await;
    assert_eq!(
        upstream.last_handshake().0,
        "/v2/text-to-speech/speech?voice=a"
    );
}

#[tokio::test]
async fn a_non_101_answer_is_relayed_as_a_response() {
    let (stack, upstream, token) = stack("org-ws-refused", |o| o).await;
    let refused = connect(handshake(
        &ws_url(&stack, "/speech-to-text/refused"),
        Some(&token),
    ))
    .await
    .expect_err("the upstream refused");
    assert_eq!(refused.0, 403);
    assert!(refused.1.contains("10010"), "{refused:?}");
    assert_eq!(upstream.handshakes(), 1);
}

/// A raw HTTP/1.1 handshake offering `permessage-deflate`: the extension is agreed between the
/// client and the upstream, and a compressed frame (RSV1 set) passes unchanged both ways.
#[tokio::test]
async fn permessage_deflate_frames_pass_as_they_are() {
    // An upstream that agrees to the extension and echoes raw bytes after its 101.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            socket.read_exact(&mut byte).await.expect("head");
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).expect("ascii");
        assert!(head.contains("permessage-deflate"), "{head}");
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("sec-websocket-key: "))
            .expect("key");
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        socket
            .write_all(
                format!(
                    "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\
                     Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .expect("101");
        let mut buffer = [0u8; 1024];
        loop {
            let n = socket.read(&mut buffer).await.unwrap_or(0);
            if n == 0 || socket.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
    });
    let upstream = format!("http://{addr}");
    let (stack, token) = crate::Stack::start_with(KEY, |o| {
        let mut o = o;
        o.upstream_base_url = upstream;
        o
    })
    .await
    .bind("org-ws-deflate", KEY)
    .await;
    let mut socket = tokio::net::TcpStream::connect(stack.proxy.dataplane)
        .await
        .expect("connect");
    let request = format!(
        "GET /v2/compute/internal/binding-proxy/speech-to-text/transcription HTTP/1.1\r\n\
         Host: proxy\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
         Authorization: Bearer {token}\r\n\r\n"
    );
    socket
        .write_all(request.as_bytes())
        .await
        .expect("handshake");
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        socket.read_exact(&mut byte).await.expect("answer");
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).expect("ascii").to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 101"), "{head}");
    assert!(
        head.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );
    assert!(
        head.contains("sec-websocket-extensions: permessage-deflate"),
        "{head}"
    );
    // "Hello" compressed, as RFC 7692 §7.2.3.1 shows it, masked as a client must: RSV1 set.
    let mask = [1u8, 2, 3, 4];
    let payload = [0xf2u8, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let mut frame = vec![0xc1, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().zip(mask.iter().cycle()).map(|(b, k)| b ^ k));
    socket.write_all(&frame).await.expect("frame");
    let mut back = vec![0u8; frame.len()];
    tokio::time::timeout(LIMIT, socket.read_exact(&mut back))
        .await
        .expect("in time")
        .expect("echo");
    assert_eq!(back, frame, "the compressed frame came back byte for byte");
}

/// RFC 8441: an HTTP/2 client opens the session with an extended CONNECT; the upstream sees an
/// HTTP/1.1 upgrade with a key the proxy made, and messages pass both ways.
#[tokio::test]
async fn an_http2_client_opens_a_session_with_extended_connect() {
    let (stack, upstream, token) = stack("org-ws-h2", |o| o).await;
    let tcp = tokio::net::TcpStream::connect(stack.proxy.dataplane)
        .await
        .expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2 handshake");
    tokio::spawn(connection);
    // A first exchange, so the server's SETTINGS (ENABLE_CONNECT_PROTOCOL) have arrived.
    let probe = http::Request::get(format!("http://{}/health/liveness", stack.proxy.dataplane))
        .body(Empty::<Bytes>::new())
        .expect("request");
    sender.send_request(probe).await.expect("liveness");

    let mut request = http::Request::connect(format!(
        "http://{}/v2/compute/internal/binding-proxy/speech-to-text/transcription",
        stack.proxy.dataplane
    ))
    .header("authorization", format!("Bearer {token}"))
    .header("sec-websocket-version", "13")
    .body(Empty::<Bytes>::new())
    .expect("request");
    request
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let mut response = sender.send_request(request).await.expect("answer");
    assert_eq!(response.status(), 200);
    let upgraded = hyper::upgrade::on(&mut response).await.expect("stream");
    let mut client =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Client, Some(config()))
            .await;
    echo(
        &mut client,
        vec![
            Message::Binary(vec![7u8; 64 << 10].into()),
            Message::Text("over h2".into()),
        ],
    )
    .await;
    let (_, headers) = upstream.last_handshake();
    assert_eq!(headers["authorization"], format!("Bearer {KEY}").as_str());
    assert!(headers.contains_key("sec-websocket-key"));

    // An upstream that answers 200 without switching: to an HTTP/2 client a 200 means the
    // session is open, so the proxy says 502 instead of relaying it.
    let mut plain = http::Request::connect(format!(
        "http://{}/v2/compute/internal/binding-proxy/speech-to-text/plain200",
        stack.proxy.dataplane
    ))
    .header("authorization", format!("Bearer {token}"))
    .header("sec-websocket-version", "13")
    .body(Empty::<Bytes>::new())
    .expect("request");
    plain
        .extensions_mut()
        .insert(hyper::ext::Protocol::from_static("websocket"));
    let answer = sender.send_request(plain).await.expect("answer");
    assert_eq!(answer.status(), 502);
    client.close(None).await.expect("close");
    let ended = next_message(&mut client, LIMIT).await;
    assert!(matches!(ended, None | Some(Message::Close(_))), "{ended:?}");
}
