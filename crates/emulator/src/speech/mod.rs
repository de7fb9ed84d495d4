//! The speech-to-text WebSocket endpoint, `GET /v2/speech-to-text/transcription`, as the Telnyx
//! SDKs open it (`wss://<base>/speech-to-text/transcription?<params>`, bearer key in the
//! handshake). Query parameters are accepted and ignored.
//!
//! Emulator choices: the transcript is deterministic (`"<n> bytes of audio"`, one final event
//! per binary message) so tests can assert it; frames up to 16 MiB and messages up to 64 MiB
//! (tungstenite's defaults), no subprotocol, no extensions.

mod handshake;
mod session;

use http::header::{CONNECTION, HeaderValue, SEC_WEBSOCKET_ACCEPT, UPGRADE};
use http::{Response, StatusCode};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::problem::{HandshakeFault, Problem};
use crate::reply::{self, ResponseBody};
use crate::sessions::Sessions;

/// Answers a checked handshake with `101 Switching Protocols` and starts the session, tracked
/// by `sessions`, on the upgraded connection once the `101` has been sent.
///
/// # Errors
/// [`Problem::BadHandshake`] when the request is not an RFC 6455 opening handshake.
pub(crate) fn transcription(
    parts: &mut http::request::Parts,
    sessions: &Sessions,
) -> Result<Response<ResponseBody>, Problem> {
    let accept = handshake::accept_key(parts.version, &parts.headers)?;
    let on_upgrade = parts
        .extensions
        .remove::<OnUpgrade>()
        .ok_or(Problem::BadHandshake(HandshakeFault::NotUpgradable))?;
    let shutdown = sessions.shutdown_signal();
    sessions.spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = TokioIo::new(upgraded);
                let socket = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
                session::run(socket, shutdown).await;
            }
            Err(err) => tracing::debug!(error = %err, "speech session upgrade failed"),
        }
    });
    let mut response = reply::empty(StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers_mut();
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    Ok(response)
}
