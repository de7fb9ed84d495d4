//! One transcription session after the handshake: audio in, transcript events out.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;

/// How long a session closed by shutdown waits for the client's Close before it drops the
/// connection, so one silent client cannot hold the emulator's shutdown.
const CLOSE_REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// Speaks the session until the client closes it, the connection fails, or `shutdown` fires.
///
/// Each binary message is audio and is answered with one text message, a transcript event
/// numbered from 1: `{"type":"transcript","transcript":"<n> bytes of audio","is_final":true,
/// "sequence":<k>}`. A text message is answered with an error event and the session goes on.
/// Pings are answered with pongs and a client's Close with a Close (tungstenite queues both and
/// sends them on the next read). On `shutdown` the session sends Close 1001 (going away).
pub(crate) async fn run<S>(mut socket: WebSocketStream<S>, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut transcripts: u64 = 0;
    loop {
        let message = tokio::select! {
            () = shutdown.cancelled() => {
                going_away(socket).await;
                return;
            }
            message = socket.next() => message,
        };
        let event = match message {
            // The close handshake is complete, or the client went away without one.
            None => return,
            Some(Err(err)) => {
                tracing::debug!(error = %err, "speech session ended with an error");
                return;
            }
            Some(Ok(Message::Binary(audio))) => {
                transcripts += 1;
                transcript_event(transcripts, audio.len())
            }
            Some(Ok(Message::Text(_))) => text_refused_event(),
            // Replies to pings and to a Close are tungstenite's; reading on sends them.
            Some(Ok(
                Message::Ping(_) | Message::Pong(_) | Message::Close(_) | Message::Frame(_),
            )) => {
                continue;
            }
        };
        if let Err(err) = socket.send(Message::text(event.to_string())).await {
            tracing::debug!(error = %err, "speech session could not send an event");
            return;
        }
    }
}

/// The answer to one audio message.
fn transcript_event(sequence: u64, audio_bytes: usize) -> serde_json::Value {
    json!({
        "type": "transcript",
        "transcript": format!("{audio_bytes} bytes of audio"),
        "is_final": true,
        "sequence": sequence,
    })
}

/// The answer to a text message: audio comes in binary messages only.
fn text_refused_event() -> serde_json::Value {
    json!({
        "type": "error",
        "error": {
            "code": "10015",
            "title": "Bad Request",
            "detail": "Send audio in binary messages; text messages are not transcribed.",
        },
    })
}

/// Sends Close 1001 and waits, bounded, for the client's Close so the close is clean.
async fn going_away<S>(mut socket: WebSocketStream<S>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let frame = CloseFrame {
        code: CloseCode::Away,
        reason: "the emulator is shutting down".into(),
    };
    if let Err(err) = socket.close(Some(frame)).await {
        tracing::debug!(error = %err, "speech session could not send its Close");
        return;
    }
    let close_reply = async { while let Some(Ok(_)) = socket.next().await {} };
    if tokio::time::timeout(CLOSE_REPLY_TIMEOUT, close_reply)
        .await
        .is_err()
    {
        tracing::debug!("speech session client did not answer the Close; dropping it");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use tokio::io::{DuplexStream, duplex};
    use tokio::task::JoinHandle;
    use tokio_tungstenite::tungstenite::protocol::Role;

    struct Pair {
        client: WebSocketStream<DuplexStream>,
        server: JoinHandle<()>,
        shutdown: CancellationToken,
    }

    async fn pair() -> Pair {
        let (client_io, server_io) = duplex(64 * 1024);
        let shutdown = CancellationToken::new();
        let server_socket = WebSocketStream::from_raw_socket(server_io, Role::Server, None).await;
        let server = tokio::spawn(run(server_socket, shutdown.clone()));
        let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        Pair {
            client,
            server,
            shutdown,
        }
    }

    async fn next_json(client: &mut WebSocketStream<DuplexStream>) -> serde_json::Value {
        match client.next().await {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn each_audio_message_gets_a_numbered_transcript() {
        let Pair { mut client, .. } = pair().await;
        for (sequence, size) in [(1, 0), (2, 125), (3, 3200)] {
            client
                .send(Message::Binary(Bytes::from(vec![7u8; size])))
                .await
                .unwrap();
            let event = next_json(&mut client).await;
            assert_eq!(event, transcript_event(sequence, size));
            assert_eq!(event["transcript"], format!("{size} bytes of audio"));
        }
    }

    #[tokio::test]
    async fn text_gets_an_error_event_and_the_session_goes_on() {
        let Pair { mut client, .. } = pair().await;
        client.send(Message::text("hello")).await.unwrap();
        let event = next_json(&mut client).await;
        assert_eq!(event["type"], "error");
        assert_eq!(event["error"]["code"], "10015");
        client
            .send(Message::Binary(Bytes::from_static(b"pcm")))
            .await
            .unwrap();
        assert_eq!(next_json(&mut client).await, transcript_event(1, 3));
    }

    #[tokio::test]
    async fn ping_gets_its_pong() {
        let Pair { mut client, .. } = pair().await;
        client
            .send(Message::Ping(Bytes::from_static(b"are you there")))
            .await
            .unwrap();
        match client.next().await {
            Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"are you there"),
            other => panic!("expected a pong, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn client_close_is_answered_and_ends_the_session() {
        let Pair {
            mut client, server, ..
        } = pair().await;
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "done".into(),
        };
        client.close(Some(frame)).await.unwrap();
        match client.next().await {
            Some(Ok(Message::Close(Some(reply)))) => assert_eq!(reply.code, CloseCode::Normal),
            other => panic!("expected the server's Close, got {other:?}"),
        }
        server.await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_closes_the_session_with_going_away() {
        let Pair {
            mut client,
            server,
            shutdown,
        } = pair().await;
        shutdown.cancel();
        match client.next().await {
            Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("expected Close 1001, got {other:?}"),
        }
        // Reading on sends the client's Close reply, which lets the server finish.
        assert!(client.next().await.is_none());
        server.await.unwrap();
    }
}
