//! The speech-to-text WebSocket endpoint, driven by a real WebSocket client over a socket.

use bytes::Bytes;
use emulator::Emulator;
use futures_util::{SinkExt as _, StreamExt as _};
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{Api, KEY, config, full};

const PATH: &str = "/v2/speech-to-text/transcription?transcription_engine=A&input_format=wav";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a session with `authorization` in the handshake, as the SDKs do.
async fn open(api: &Api, authorization: Option<&str>) -> Result<Socket, WsError> {
    let url = api.url(PATH).replacen("http://", "ws://", 1);
    let mut request = url.into_client_request().unwrap();
    if let Some(value) = authorization {
        request
            .headers_mut()
            .insert("authorization", value.parse().unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, response)| {
            assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
            socket
        })
}

async fn next_event(socket: &mut Socket) -> serde_json::Value {
    match socket.next().await {
        Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
        other => panic!("expected a text event, got {other:?}"),
    }
}

/// An upgrade request built by hand, for handshakes a WebSocket client would never send.
fn handshake(api: &Api, version: &str, key: &str) -> Request<crate::support::ClientBody> {
    api.request(Method::GET, PATH)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", version)
        .header("sec-websocket-key", key)
        .body(full(""))
        .unwrap()
}

#[tokio::test]
async fn each_binary_frame_gets_one_transcript_event_in_order() {
    let api = Api::start().await;
    let mut socket = open(&api, Some(&format!("Bearer {KEY}"))).await.unwrap();
    for (sequence, size) in [(1, 0usize), (2, 125), (3, 64 * 1024)] {
        socket
            .send(Message::Binary(Bytes::from(vec![0x55; size])))
            .await
            .unwrap();
        let event = next_event(&mut socket).await;
        assert_eq!(
            event,
            serde_json::json!({
                "type": "transcript",
                "transcript": format!("{size} bytes of audio"),
                "is_final": true,
                "sequence": sequence,
            })
        );
    }
}

#[tokio::test]
async fn text_frame_gets_an_error_event_and_the_session_stays_open() {
    let api = Api::start().await;
    let mut socket = open(&api, Some(&format!("Bearer {KEY}"))).await.unwrap();
    socket.send(Message::text("not audio")).await.unwrap();
    let error = next_event(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["error"]["code"], "10015");
    socket
        .send(Message::Binary(Bytes::from_static(b"\x00\x01")))
        .await
        .unwrap();
    let event = next_event(&mut socket).await;
    assert_eq!(event["transcript"], "2 bytes of audio");
    assert_eq!(event["sequence"], 1);
}

#[tokio::test]
async fn ping_gets_a_pong_and_close_is_answered_with_the_same_code() {
    let api = Api::start().await;
    let mut socket = open(&api, Some(&format!("Bearer {KEY}"))).await.unwrap();
    socket
        .send(Message::Ping(Bytes::from_static(b"hi")))
        .await
        .unwrap();
    match socket.next().await {
        Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"hi"),
        other => panic!("expected a pong, got {other:?}"),
    }
    // An application code, so the echo cannot be a default.
    let frame = CloseFrame {
        code: CloseCode::Library(4000),
        reason: "bye".into(),
    };
    socket.close(Some(frame)).await.unwrap();
    match socket.next().await {
        Some(Ok(Message::Close(Some(reply)))) => assert_eq!(reply.code, CloseCode::Library(4000)),
        other => panic!("expected the emulator's Close, got {other:?}"),
    }
    assert!(
        socket.next().await.is_none(),
        "the session ends after Close"
    );
}

#[tokio::test]
async fn handshake_is_journaled_with_the_authorization_and_raw_query() {
    let api = Api::start().await;
    let _socket = open(&api, Some(&format!("Bearer {KEY}"))).await.unwrap();
    let entry = api.running.journal().last().unwrap();
    assert_eq!(entry.method, Method::GET);
    assert_eq!(entry.path_and_query, PATH);
    assert_eq!(entry.headers["authorization"], format!("Bearer {KEY}"));
    assert_eq!(entry.headers["upgrade"], "websocket");
    assert_eq!(entry.version, Version::HTTP_11);
}

#[tokio::test]
async fn missing_or_unknown_key_gets_401_and_no_upgrade() {
    let api = Api::start().await;
    for authorization in [None, Some("Bearer wrong-key"), Some(KEY)] {
        match open(&api, authorization).await {
            Err(WsError::Http(response)) => {
                assert_eq!(
                    response.status(),
                    StatusCode::UNAUTHORIZED,
                    "{authorization:?}"
                );
                assert!(response.headers().get("upgrade").is_none());
                let body: serde_json::Value =
                    serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
                assert_eq!(body["errors"][0]["code"], "10009");
            }
            Ok(_) => panic!("{authorization:?} opened a session"),
            Err(other) => panic!("{authorization:?}: unexpected error {other}"),
        }
    }
}

#[tokio::test]
async fn request_that_is_not_a_handshake_gets_a_400_problem() {
    let api = Api::start().await;
    let plain = api.get(PATH).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST);
    assert_eq!(plain.error_code(), "10015");
    assert!(
        plain.json()["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("Connection")
    );

    let reply = api
        .send(handshake(&api, "8", "dGhlIHNhbXBsZSBub25jZQ=="))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_code(), "10015");
    assert_eq!(reply.headers["sec-websocket-version"], "13");

    let reply = api.send(handshake(&api, "13", "c2hvcnQ=")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.json()["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("Sec-WebSocket-Key")
    );
    assert!(reply.headers.get("sec-websocket-accept").is_none());

    let post = api.call(Method::POST, PATH, "").await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers["allow"], "GET");
}

#[tokio::test]
async fn http2_request_is_refused_as_no_handshake() {
    let api = Api::start().await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Empty<Bytes>>();
    let request = Request::get(api.url(PATH))
        .header("authorization", format!("Bearer {KEY}"))
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .body(Empty::new())
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("HTTP/1.1")
    );
}

#[tokio::test]
async fn shutdown_closes_open_sessions_with_going_away() {
    let running = Emulator::spawn(config()).await.unwrap();
    let url = format!("ws://{}{PATH}", running.addr());
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {KEY}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    drop(running);
    // A guard against a hang, not a timing claim: the Close comes at once.
    let closed = tokio::time::timeout(std::time::Duration::from_secs(30), socket.next())
        .await
        .expect("the emulator closes its sessions when it shuts down");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected Close 1001, got {other:?}"),
    }
    assert!(socket.next().await.is_none());
}
