//! WebSocket sessions through the real binary, with a real WebSocket client
//! (tokio-tungstenite) and a real WebSocket upstream on 127.0.0.1 that echoes every message
//! and records every handshake and the Close codes it receives.

mod lifetime;
mod refusals;
mod sessions;
mod tls_upstream;

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::HeaderMap;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::Stack;

pub(crate) const KEY: &str = "KEY17WEBSOCKET_real_upstream_key";

/// The SDKs' speech-to-text path, in the SDK form (`{prefix}/<path>`).
pub(crate) const TRANSCRIBE: &str = "/speech-to-text/transcription?transcription_engine=B";

/// Frames up to 16 MiB both ways (tungstenite's default caps a frame at 16 MiB exactly).
pub(crate) fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_frame_size(Some(32 << 20))
        .max_message_size(Some(64 << 20))
}

/// What the upstream saw.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    /// Handshake headers, one map per session accepted or refused.
    pub(crate) handshakes: Vec<(String, HeaderMap)>,
    /// Close codes received from the proxy's side, in order.
    pub(crate) close_codes: Vec<u16>,
    /// Sessions whose connection has ended.
    pub(crate) ended: usize,
}

/// A WebSocket upstream: echoes messages; `/v2/speech-to-text/refused` answers 403 JSON
/// instead of switching; `Sec-WebSocket-Protocol` is answered with the first offered one.
pub(crate) struct Upstream {
    pub(crate) addr: SocketAddr,
    pub(crate) seen: Arc<RwLock<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Upstream {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(RwLock::new(Seen::default()));
        let shared = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Self { addr, seen, task }
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub(crate) fn handshakes(&self) -> usize {
        self.seen.read().expect("lock").handshakes.len()
    }

    pub(crate) fn last_handshake(&self) -> (String, HeaderMap) {
        self.seen
            .read()
            .expect("lock")
            .handshakes
            .last()
            .cloned()
            .expect("a handshake reached the upstream")
    }

    pub(crate) fn close_codes(&self) -> Vec<u16> {
        self.seen.read().expect("lock").close_codes.clone()
    }

    pub(crate) fn ended(&self) -> usize {
        self.seen.read().expect("lock").ended
    }
}

#[expect(
    clippy::result_large_err,
    reason = "tungstenite's handshake callback returns its own ErrorResponse"
)]
async fn serve(stream: TcpStream, seen: Arc<RwLock<Seen>>) {
    let record = Arc::clone(&seen);
    let callback = move |request: &Request, mut response: Response| {
        record
            .write()
            .expect("lock")
            .handshakes
            .push((request.uri().to_string(), request.headers().clone()));
        if request.uri().path().ends_with("/plain200") {
            // An upstream that ignores Upgrade and answers as for a REST call.
            let mut plain = ErrorResponse::new(Some(r#"{"data":{}}"#.to_owned()));
            *plain.status_mut() = http::StatusCode::OK;
            return Err(plain);
        }
        if request.uri().path().ends_with("/refused") {
            let mut refusal = ErrorResponse::new(Some(
                r#"{"errors":[{"code":"10010","title":"upstream says no"}]}"#.to_owned(),
            ));
            *refusal.status_mut() = http::StatusCode::FORBIDDEN;
            return Err(refusal);
        }
        if let Some(protocols) = request.headers().get("sec-websocket-protocol") {
            let first = protocols
                .to_str()
                .unwrap_or_default()
                .split(',')
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned();
            response.headers_mut().insert(
                "sec-websocket-protocol",
                first.parse().expect("header value"),
            );
        }
        Ok(response)
    };
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config())).await
    else {
        return;
    };
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Text(_) | Message::Binary(_) => {
                if ws.send(message).await.is_err() {
                    break;
                }
            }
            Message::Close(frame) => {
                let code = frame.map_or(1005, |frame| u16::from(frame.code));
                seen.write().expect("lock").close_codes.push(code);
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
    seen.write().expect("lock").ended += 1;
}

pub(crate) type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The handshake request for `url` with `Authorization: Bearer <token>`, when given.
pub(crate) fn handshake(url: &str, token: Option<&str>) -> http::Request<()> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request().expect("request");
    if let Some(token) = token {
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("header"),
        );
    }
    request
}

/// Opens a session, or returns the refusal's status and body.
pub(crate) async fn connect(request: http::Request<()>) -> Result<Client, (u16, String)> {
    match tokio_tungstenite::connect_async_with_config(request, Some(config()), true).await {
        Ok((client, _response)) => Ok(client),
        Err(tungstenite::Error::Http(response)) => {
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .map(|body| String::from_utf8_lossy(&body).into_owned())
                .unwrap_or_default();
            Err((status, body))
        }
        Err(other) => panic!("handshake failed: {other}"),
    }
}

/// The `ws://` URL of `path` on the proxy's data plane.
pub(crate) fn ws_url(stack: &Stack, path: &str) -> String {
    stack.url(path).replacen("http://", "ws://", 1)
}

/// A stack whose upstream is a WebSocket [`Upstream`], with a binding for `org`.
pub(crate) async fn stack(
    org: &str,
    options: impl FnOnce(testkit::ProxyOptions) -> testkit::ProxyOptions,
) -> (Stack, Upstream, String) {
    let upstream = Upstream::start().await;
    let base = upstream.base_url();
    let (stack, token) = Stack::start_with(KEY, |o| {
        let mut o = options(o);
        o.upstream_base_url = base;
        o
    })
    .await
    .bind(org, KEY)
    .await;
    (stack, upstream, token)
}

/// Waits for the next message that is not a ping or pong, within `limit`.
pub(crate) async fn next_message<S>(
    client: &mut WebSocketStream<S>,
    limit: Duration,
) -> Option<Message>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(limit, async {
        loop {
            match client.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the session neither answered nor ended in time")
}
