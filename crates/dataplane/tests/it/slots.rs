//! Who holds a connection slot: silent and slow clients lose theirs after the header read
//! timeout, counted from accept; at `max_connections`, an idle keep-alive connection makes
//! room for a new client, a busy one never does.

use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{
    Options, PREFIX, Stack, TestBody, empty, exchange, read_response, read_response_head,
};

/// A safety net so a broken test fails instead of hanging; never the thing asserted.
const SAFETY: Duration = Duration::from_secs(30);

/// Short, so the tests end quickly; every wait on it is bounded by [`SAFETY`] only.
const HEADER_TIMEOUT: Duration = Duration::from_millis(200);

/// `max_connections` slots, and timeouts far beyond [`SAFETY`]: in these tests only the
/// listener making room can free a slot in time.
fn patient(max_connections: usize) -> Options {
    Options {
        max_connections,
        header_read_timeout: Duration::from_secs(3600),
        client_idle_timeout: Duration::from_secs(3600),
        ..Options::default()
    }
}

/// Resolves once the server has closed `stream`: end of file, or a reset when the server
/// dropped it with bytes unread. Anything the server sent first is skipped.
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0_u8; 1024];
    let closed = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(SAFETY, closed)
        .await
        .expect("the server closed the connection");
}

#[tokio::test]
async fn silent_sockets_in_every_slot_are_closed_and_a_new_client_gets_in() {
    let stack = Stack::start_with(Options {
        max_connections: 3,
        header_read_timeout: HEADER_TIMEOUT,
        ..Options::default()
    })
    .await;
    // The kernel hands connections to `accept` in arrival order, so these take every slot
    // before the client below is even looked at.
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(TcpStream::connect(stack.addr).await.unwrap());
    }
    let reply = tokio::time::timeout(SAFETY, stack.get(&format!("{PREFIX}/balance")))
        .await
        .expect("the new client was answered");
    assert_eq!(reply.status, StatusCode::OK);
    for stream in &mut silent {
        closed_by_server(stream).await;
    }
}

#[tokio::test]
async fn connections_that_never_finish_a_first_request_head_are_closed() {
    let stack = Stack::start_with(Options {
        header_read_timeout: HEADER_TIMEOUT,
        ..Options::default()
    })
    .await;
    // Each of these stops before hyper has a request: nothing, half an HTTP/1.1 head, part of
    // the HTTP/2 preface (the server cannot tell the protocol yet).
    for start in [
        &b""[..],
        b"GET /health/liveness HTTP/1.1\r\nHost: proxy\r\n",
        b"PRI * HTTP/2.0\r\n",
    ] {
        let mut stream = TcpStream::connect(stack.addr).await.unwrap();
        stream.write_all(start).await.unwrap();
        closed_by_server(&mut stream).await;
    }
    // A complete h2c handshake with no request after it.
    let tcp = TcpStream::connect(stack.addr).await.unwrap();
    let (_sender, connection) = hyper::client::conn::http2::handshake::<_, _, TestBody>(
        TokioExecutor::new(),
        TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::time::timeout(SAFETY, connection)
        .await
        .expect("the server closed the h2c connection")
        .ok();
}

#[tokio::test]
async fn a_partial_head_after_a_served_request_is_still_cut_by_the_header_timeout() {
    let stack = Stack::start_with(Options {
        header_read_timeout: HEADER_TIMEOUT,
        ..Options::default()
    })
    .await;
    let mut stream = TcpStream::connect(stack.addr).await.unwrap();
    assert_eq!(exchange(&mut stream, &stack, "first").await, 200);
    // The first-request deadline is behind this connection now; hyper's header timer, armed
    // when it starts reading the next head, is what closes it (the idle timeout is 60 s).
    stream
        .write_all(format!("GET {PREFIX}/balance HTTP/1.1\r\nHost: proxy\r\n").as_bytes())
        .await
        .unwrap();
    closed_by_server(&mut stream).await;
    assert_eq!(stack.emulator.journal().len(), 1);
}

#[tokio::test]
async fn at_the_limit_the_longest_idle_connection_makes_room_for_a_new_client() {
    let stack = Stack::start_with(patient(2)).await;
    let mut older = TcpStream::connect(stack.addr).await.unwrap();
    assert_eq!(exchange(&mut older, &stack, "older").await, 200);
    let mut newer = TcpStream::connect(stack.addr).await.unwrap();
    assert_eq!(exchange(&mut newer, &stack, "newer").await, 200);

    let reply = tokio::time::timeout(SAFETY, stack.get(&format!("{PREFIX}/balance?who=new")))
        .await
        .expect("the new client was answered");
    assert_eq!(reply.status, StatusCode::OK);
    // One idle connection was closed (between requests, so nothing was cut); the other still
    // serves. Which one is not asserted: their idle times are recorded to the millisecond.
    let mut open = tokio::select! {
        () = closed_by_server(&mut older) => newer,
        () = closed_by_server(&mut newer) => older,
    };
    assert_eq!(exchange(&mut open, &stack, "again").await, 200);
}

#[tokio::test]
async fn at_the_limit_an_idle_h2c_connection_gets_goaway_to_make_room() {
    let stack = Stack::start_with(patient(1)).await;
    let tcp = TcpStream::connect(stack.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let request = Request::get(format!("http://proxy{PREFIX}/balance"))
        .header("authorization", format!("Bearer {}", stack.token))
        .body(empty())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().collect().await.unwrap();

    let reply = tokio::time::timeout(SAFETY, stack.get(&format!("{PREFIX}/balance")))
        .await
        .expect("the new client was answered");
    assert_eq!(reply.status, StatusCode::OK);
    // GOAWAY, then a clean close: the h2 client's connection ends without an error.
    tokio::time::timeout(SAFETY, connection)
        .await
        .expect("the idle h2c connection was closed")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn at_the_limit_a_new_client_waits_while_every_connection_is_busy() {
    let stack = Stack::start_with(patient(1)).await;
    // An upload still in flight: the body is not finished yet.
    let mut busy = TcpStream::connect(stack.addr).await.unwrap();
    busy.write_all(
        format!(
            "POST {PREFIX}/_emulator/sink?who=busy HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {}\r\n\
             Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
            stack.token
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut waiting = TcpStream::connect(stack.addr).await.unwrap();
    waiting
        .write_all(
            format!(
                "GET {PREFIX}/balance?who=waiting HTTP/1.1\r\nHost: proxy\r\nAuthorization: Bearer {}\r\n\r\n",
                stack.token
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    busy.write_all(b"0\r\n\r\n").await.unwrap();
    let head = tokio::time::timeout(SAFETY, read_response_head(&mut busy))
        .await
        .expect("the upload was answered");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Not asked to close while its request was in flight: hyper would have answered with
    // `connection: close`.
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "{head}"
    );
    // Idle now, it makes room for the waiting client.
    closed_by_server(&mut busy).await;
    let status = tokio::time::timeout(SAFETY, read_response(&mut waiting))
        .await
        .expect("the waiting client was served once the busy connection went idle");
    assert_eq!(status, 200);
    let order: Vec<String> = stack
        .emulator
        .journal()
        .entries()
        .into_iter()
        .map(|e| e.path_and_query)
        .collect();
    assert_eq!(
        order,
        ["/v2/_emulator/sink?who=busy", "/v2/balance?who=waiting"]
    );
}
/// An HPACK integer with an `prefix_bits`-bit prefix, its first byte or-ed with `flags`.
fn hpack_int(out: &mut Vec<u8>, flags: u8, prefix_bits: u32, value: usize) {
    let max = (1_usize << prefix_bits) - 1;
    if value < max {
        out.push(flags | u8::try_from(value).unwrap());
        return;
    }
    out.push(flags | u8::try_from(max).unwrap());
    let mut rest = value - max;
    while rest >= 128 {
        out.push(u8::try_from(rest % 128).unwrap() | 0x80);
        rest /= 128;
    }
    out.push(u8::try_from(rest).unwrap());
}

/// An HTTP/2 frame: 9-byte header, then `payload`.
fn h2_frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let length = u32::try_from(payload.len()).unwrap().to_be_bytes();
    let mut frame = vec![length[1], length[2], length[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

/// A minimal h2c client that acknowledges nothing (no SETTINGS ack, no PING ack): it sends
/// the preface and one `GET {PREFIX}/balance` on stream 1 and reads frames until that
/// stream ends. Left alone afterwards, it never answers the PING of a graceful shutdown.
async fn deaf_h2c_request(stack: &Stack) -> TcpStream {
    let mut headers = Vec::new();
    headers.extend_from_slice(&[0x82, 0x86]); // :method GET, :scheme http (static table)
    for (index, value) in [
        (4, format!("{PREFIX}/balance")),        // :path
        (1, "proxy".to_owned()),                 // :authority
        (23, format!("Bearer {}", stack.token)), // authorization
    ] {
        hpack_int(&mut headers, 0x00, 4, index); // literal without indexing, indexed name
        hpack_int(&mut headers, 0x00, 7, value.len()); // plain (not Huffman) value
        headers.extend_from_slice(value.as_bytes());
    }
    let mut stream = TcpStream::connect(stack.addr).await.unwrap();
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(h2_frame(0x4, 0, 0, &[])); // SETTINGS, all defaults
    hello.extend(h2_frame(0x1, 0x5, 1, &headers)); // HEADERS, END_STREAM | END_HEADERS
    stream.write_all(&hello).await.unwrap();
    loop {
        let mut head = [0_u8; 9];
        stream.read_exact(&mut head).await.unwrap();
        let length = usize::from(head[0]) << 16 | usize::from(head[1]) << 8 | usize::from(head[2]);
        let mut payload = vec![0_u8; length];
        stream.read_exact(&mut payload).await.unwrap();
        let on_stream_1 = head[5..9] == [0, 0, 0, 1];
        let end_stream = head[4] & 0x1 != 0;
        // HEADERS or DATA on stream 1 with END_STREAM: the response is complete.
        if on_stream_1 && matches!(head[3], 0x0 | 0x1) && end_stream {
            return stream;
        }
    }
}

#[tokio::test]
async fn at_the_limit_an_h2c_client_that_ignores_goaway_is_cut() {
    let stack = Stack::start_with(Options {
        header_read_timeout: HEADER_TIMEOUT,
        ..patient(1)
    })
    .await;
    let mut deaf = deaf_h2c_request(&stack).await;
    assert_eq!(stack.emulator.journal().len(), 1);

    let reply = tokio::time::timeout(SAFETY, stack.get(&format!("{PREFIX}/balance")))
        .await
        .expect("the new client was answered");
    assert_eq!(reply.status, StatusCode::OK);
    closed_by_server(&mut deaf).await;
}

#[tokio::test]
async fn an_idle_h2c_client_that_ignores_goaway_is_cut_after_the_idle_timeout() {
    let stack = Stack::start_with(Options {
        header_read_timeout: HEADER_TIMEOUT,
        client_idle_timeout: Duration::from_millis(100),
        ..Options::default()
    })
    .await;
    let mut deaf = deaf_h2c_request(&stack).await;
    closed_by_server(&mut deaf).await;
}
