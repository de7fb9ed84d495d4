//! HTTP/2 abuse against the real binary (issue #16): rapid reset (CVE-2023-44487), a
//! CONTINUATION flood (CVE-2024-27316's family), a SETTINGS flood and a header list over the
//! limit, each sent as raw frames over h2c. The proxy stays up, a well-behaved client is served
//! while the abuse runs and after it, memory stays bounded, and nothing reaches the upstream.

use std::time::Duration;

use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use crate::Stack;

const KEY: &str = "KEY16H2ABUSE-upstream-key";
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const GOAWAY: u8 = 0x7;
const CONTINUATION: u8 = 0x9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
/// RST_STREAM's CANCEL, what a browser sends when it abandons a request.
const CANCEL: u32 = 0x8;

/// Caps on the abuse, so each test is bounded in count and time.
const RAPID_RESETS: u32 = 20_000;
const FLOOD_FRAMES: usize = 100_000;
/// How far RSS may grow over a whole abuse run; the proxy's idle RSS is ≈ 15 MiB.
const MAX_RSS_GROWTH_KIB: u64 = 64 * 1024;
/// A safety net so a broken test fails instead of hanging; never the thing asserted.
const SAFETY: Duration = Duration::from_secs(60);

/// One HTTP/2 frame: 9-byte header and payload.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("a small payload");
    let mut out = Vec::with_capacity(9 + payload.len());
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// An HPACK literal with incremental indexing whose name is static-table entry `index`.
fn literal(index: u8, value: &[u8]) -> Vec<u8> {
    let len = u8::try_from(value.len()).expect("values under 127 bytes");
    assert!(len < 127);
    let mut out = vec![0x40 | index, len];
    out.extend_from_slice(value);
    out
}

/// `GET http://127.0.0.1{path}` as an HPACK block: static `:method GET` and `:scheme http`,
/// literal `:path` and `:authority`.
fn request_block(path: &str) -> Vec<u8> {
    let mut block = vec![0x82, 0x86];
    block.extend(literal(4, path.as_bytes()));
    block.extend(literal(1, b"127.0.0.1"));
    block
}

/// A frame the server sent: type, flags, stream and (for RST_STREAM and GOAWAY) error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    kind: u8,
    stream: u32,
    error: Option<u32>,
}

/// The error code a server gives a peer it judges abusive.
const ENHANCE_YOUR_CALM: u32 = 0xb;

/// The error code of the server's GOAWAY, if it sent one.
fn goaway(seen: &[Seen]) -> Option<u32> {
    seen.iter().find(|f| f.kind == GOAWAY).and_then(|f| f.error)
}

/// An h2c connection with the preface and an empty SETTINGS sent; the server's frames are read
/// by a task of its own (so its writes never block on us), which returns their headers once
/// the server closes the connection.
async fn connect(stack: &Stack) -> (OwnedWriteHalf, tokio::task::JoinHandle<Vec<Seen>>) {
    let stream = TcpStream::connect(stack.proxy.dataplane)
        .await
        .expect("connect");
    let (mut read, mut write) = stream.into_split();
    write.write_all(PREFACE).await.expect("preface");
    write
        .write_all(&frame(SETTINGS, 0, 0, &[]))
        .await
        .expect("settings");
    let frames = tokio::spawn(async move {
        let mut bytes = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n @ 1..) = read.read(&mut buf).await {
            bytes.extend_from_slice(&buf[..n]);
        }
        parse_frames(&bytes)
    });
    (write, frames)
}

/// The frames in what the server sent, as far as they are whole.
fn parse_frames(mut bytes: &[u8]) -> Vec<Seen> {
    let mut seen = Vec::new();
    while bytes.len() >= 9 {
        let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        let Some(payload) = bytes.get(9..9 + len) else {
            break;
        };
        let kind = bytes[3];
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
        let code = |at: usize| {
            payload
                .get(at..at + 4)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        };
        let error = match kind {
            RST_STREAM => code(0),
            GOAWAY => code(4),
            _ => None,
        };
        seen.push(Seen {
            kind,
            stream,
            error,
        });
        bytes = &bytes[9 + len..];
    }
    seen
}

/// Writes `frames` in batches until all are written or the server closed the connection
/// (both are fine outcomes for an abuser: the server may cut it off).
async fn send_all(write: &mut OwnedWriteHalf, frames: impl Iterator<Item = Vec<u8>>) {
    let mut batch = Vec::with_capacity(64 * 1024);
    for frame in frames {
        batch.extend_from_slice(&frame);
        if batch.len() >= 32 * 1024 {
            if write.write_all(&batch).await.is_err() {
                return;
            }
            batch.clear();
        }
    }
    let _ = write.write_all(&batch).await;
    let _ = write.flush().await;
}

#[tokio::test]
async fn rapid_reset_leaves_the_proxy_serving_others() {
    let (stack, token) = Stack::with_binding("org-h2-reset", KEY).await;
    // The real route, so every stream goes through routing and is refused for its missing
    // token: the work a rapid reset makes a server start and abandon.
    let base = stack.proxy.base_url();
    let origin = format!("http://{}", stack.proxy.dataplane);
    let path = format!("{}/v2/balance", base.trim_start_matches(&origin));
    check(stack, token, move |stack| {
        let path = path.clone();
        Box::pin(async move {
            let (mut write, frames) = connect(stack).await;
            let block = request_block(&path);
            let pairs = (0..RAPID_RESETS).flat_map(|i| {
                let id = 2 * i + 1;
                [
                    frame(HEADERS, END_HEADERS | END_STREAM, id, &block),
                    frame(RST_STREAM, 0, id, &CANCEL.to_be_bytes()),
                ]
            });
            send_all(&mut write, pairs).await;
            drop(write);
            let seen = frames.await.expect("reader task");
            // hyper's h2 counts streams reset before they were answered and ends the connection.
            assert_eq!(goaway(&seen), Some(ENHANCE_YOUR_CALM), "{seen:?}");
        })
    })
    .await;
}

#[tokio::test]
async fn a_continuation_flood_is_cut_off() {
    let (stack, token) = Stack::with_binding("org-h2-continuation", KEY).await;
    check(stack, token, |stack| {
        Box::pin(async move {
            let (mut write, frames) = connect(stack).await;
            let opening = std::iter::once(frame(HEADERS, END_STREAM, 1, &request_block("/")));
            // Empty CONTINUATION frames cost the sender nothing; a server that counted only
            // header bytes would read them forever.
            let empty = (0..FLOOD_FRAMES).map(|_| frame(CONTINUATION, 0, 1, &[]));
            send_all(&mut write, opening.chain(empty)).await;
            // The server must end such a connection (GOAWAY and close), not wait for more.
            let seen = tokio::time::timeout(SAFETY, frames)
                .await
                .expect("the server closes a CONTINUATION flood")
                .expect("reader task");
            assert_eq!(goaway(&seen), Some(ENHANCE_YOUR_CALM), "{seen:?}");
        })
    })
    .await;
}

#[tokio::test]
async fn a_settings_flood_leaves_the_proxy_serving_others() {
    let (stack, token) = Stack::with_binding("org-h2-settings", KEY).await;
    check(stack, token, |stack| {
        Box::pin(async move {
            let (mut write, frames) = connect(stack).await;
            // SETTINGS_MAX_CONCURRENT_STREAMS = 100, over and over: each one asks for an ACK.
            let payload = [0x00, 0x03, 0x00, 0x00, 0x00, 0x64];
            let flood = (0..FLOOD_FRAMES).map(|_| frame(SETTINGS, 0, 0, &payload));
            send_all(&mut write, flood).await;
            drop(write);
            let seen = frames.await.expect("reader task");
            // Every SETTINGS is acknowledged (no queue builds up on the server's side).
            let acks = seen
                .iter()
                .filter(|f| f.kind == SETTINGS && f.stream == 0)
                .count();
            assert!(acks >= FLOOD_FRAMES, "{acks} SETTINGS frames back");
        })
    })
    .await;
}

#[tokio::test]
async fn a_header_list_over_the_limit_is_refused_and_reaches_nobody() {
    let (stack, token) = Stack::with_binding("org-h2-headers", KEY).await;
    check(stack, token, |stack| {
        Box::pin(async move {
            let (mut write, seen) = connect(stack).await;
            // 128 KiB of headers, twice dataplane.max_header_bytes' default: one HEADERS frame
            // and CONTINUATION frames of 16 KiB (the default frame size), the last one ending
            // the list.
            let mut block = request_block("/");
            let value = [b'v'; 100];
            while block.len() < 128 * 1024 {
                block.extend(literal(32, &value)); // `cookie`
            }
            let mut chunks = block.chunks(16 * 1024).peekable();
            let first = chunks.next().expect("a first chunk");
            let mut frames = vec![frame(HEADERS, END_STREAM, 1, first)];
            while let Some(chunk) = chunks.next() {
                let flags = if chunks.peek().is_none() {
                    END_HEADERS
                } else {
                    0
                };
                frames.push(frame(CONTINUATION, flags, 1, chunk));
            }
            send_all(&mut write, frames.into_iter()).await;
            // The stream is refused (or the connection ended); then the client goes away.
            drop(write);
            let seen = tokio::time::timeout(SAFETY, seen)
                .await
                .expect("the server ends the connection")
                .expect("reader task");
            // No answer on the stream, and the connection refused with an error.
            assert!(
                !seen.iter().any(|f| f.kind == HEADERS && f.stream == 1),
                "{seen:?}"
            );
            let refused = goaway(&seen).is_some_and(|code| code != 0)
                || seen.iter().any(|f| f.kind == RST_STREAM && f.stream == 1);
            assert!(refused, "{seen:?}");
        })
    })
    .await;
}

type Abuse<'a> = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Runs `abuse` against `stack` while a well-behaved client keeps calling through it with
/// `token`; then checks the proxy is alive, still serves, grew by a bounded amount, and that
/// the upstream saw only the good client's calls.
async fn check(stack: Stack, token: String, abuse: impl for<'a> Fn(&'a Stack) -> Abuse<'a>) {
    let url = stack.url("/v2/balance");
    // Warm up, so the RSS baseline includes what any first request allocates.
    assert_eq!(
        stack.http.get_with_token(&url, &token).await.status,
        StatusCode::OK
    );
    let before = stack.proxy.rss_kib();
    let good_client = async {
        for _ in 0..20 {
            let reply = stack.http.get_with_token(&url, &token).await;
            assert_eq!(reply.status, StatusCode::OK, "served during the abuse");
        }
    };
    tokio::time::timeout(SAFETY, async { tokio::join!(abuse(&stack), good_client) })
        .await
        .expect("the abuse and the good client finish");
    assert_eq!(
        stack.http.get_with_token(&url, &token).await.status,
        StatusCode::OK,
        "served after the abuse"
    );
    let growth = stack.proxy.rss_kib().saturating_sub(before);
    assert!(
        growth < MAX_RSS_GROWTH_KIB,
        "RSS grew by {growth} KiB during the abuse"
    );
    // The abuser's requests carry no token and never reach the upstream: only the good
    // client's 22 calls did.
    assert_eq!(stack.emulator.journal().len(), 22);
}
