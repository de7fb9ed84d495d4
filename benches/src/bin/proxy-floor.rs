//! Reference subjects for `scripts/bench-peers --floor`: the least a Tokio proxy can spend per
//! request on this machine, to tell the runtime's and the kernel's share of binding-proxy's
//! cost from the HTTP machinery's and its own checks'. Bench tooling, not a proxy to deploy:
//! no authentication, no limits; requests without a body only (a body would be read as the
//! next request head) and upstream responses framed by `Content-Length`.
//!
//! ```text
//! proxy-floor raw   LISTEN UPSTREAM KEY   # httparse both ways, request head written from the
//!                                         # client's bytes: no header maps, no hyper
//! proxy-floor hyper LISTEN UPSTREAM KEY   # hyper's server (as binding-proxy's) and `http`
//!                                         # types in front of the same raw upstream side
//! proxy-floor hyper-client LISTEN UPSTREAM KEY
//!                                         # hyper on both sides: the upstream request sent
//!                                         # with hyper's HTTP/1.1 client connection, the
//!                                         # response body streamed back (binding-proxy's
//!                                         # shape, without its checks)
//! ```
//!
//! All: one Tokio worker (as binding-proxy with `runtime.worker_threads = 1`), `TCP_NODELAY`,
//! one keep-alive upstream connection per client connection, `Authorization` replaced by
//! `Bearer KEY`, `Host`, `Connection` and the client's `Authorization` dropped.

use std::io;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;

/// Most headers a request or response may have.
const MAX_HEADERS: usize = 64;
/// Largest request head or upstream response (head and body) held.
const BUFFER: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Raw,
    Hyper,
    HyperClient,
}

#[derive(Debug)]
struct Upstream {
    addr: String,
    authorization: http::HeaderValue,
    host: http::HeaderValue,
    /// `host: …\r\nauthorization: Bearer …\r\n`, written into every upstream request head.
    fixed_headers: Vec<u8>,
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, listen, upstream, key] = args.as_slice() else {
        return Err(io::Error::other(
            "usage: proxy-floor raw|hyper|hyper-client LISTEN UPSTREAM KEY",
        ));
    };
    let mode = match mode.as_str() {
        "raw" => Mode::Raw,
        "hyper" => Mode::Hyper,
        "hyper-client" => Mode::HyperClient,
        other => return Err(io::Error::other(format!("unknown mode {other}"))),
    };
    let authorization = http::HeaderValue::try_from(format!("Bearer {key}"))
        .map_err(|_| io::Error::other("KEY is not a header value"))?;
    let host = http::HeaderValue::try_from(upstream.as_str())
        .map_err(|_| io::Error::other("UPSTREAM is not a header value"))?;
    let upstream = Arc::new(Upstream {
        authorization,
        host,
        addr: upstream.clone(),
        fixed_headers: format!("host: {upstream}\r\nauthorization: Bearer {key}\r\n").into_bytes(),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(listen.as_str()).await?;
        loop {
            let (socket, _) = listener.accept().await?;
            socket.set_nodelay(true)?;
            let upstream = Arc::clone(&upstream);
            match mode {
                Mode::Raw => tokio::spawn(async move {
                    // A connection that breaks the rules is closed; that is all a floor needs.
                    let _ = raw_connection(socket, &upstream).await;
                }),
                Mode::Hyper => tokio::spawn(hyper_connection(socket, upstream)),
                Mode::HyperClient => tokio::spawn(hyper_client_connection(socket, upstream)),
            };
        }
    })
}

fn is(name: &[u8], wanted: &str) -> bool {
    name.eq_ignore_ascii_case(wanted.as_bytes())
}

/// Appends `name: value\r\n` for every header but the ones the proxy replaces or drops.
fn copy_headers<'a>(out: &mut Vec<u8>, headers: impl Iterator<Item = (&'a [u8], &'a [u8])>) {
    for (name, value) in headers {
        if is(name, "authorization") || is(name, "host") || is(name, "connection") {
            continue;
        }
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
}

async fn connect(upstream: &Upstream) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(upstream.addr.as_str()).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends `head` (a request without a body) upstream and reads one `Content-Length` response
/// into `buffer`: the length of its head and of its body.
async fn exchange(
    stream: &mut TcpStream,
    head: &[u8],
    buffer: &mut [u8],
) -> io::Result<(usize, usize)> {
    stream.write_all(head).await?;
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buffer[filled..]).await?;
        if n == 0 {
            return Err(io::Error::other("upstream closed"));
        }
        filled += n;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head_len) = response
            .parse(&buffer[..filled])
            .map_err(io::Error::other)?
        {
            let body_len = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok())
                .unwrap_or(0_usize);
            if head_len + body_len > buffer.len() {
                return Err(io::Error::other("response larger than the buffer"));
            }
            if filled >= head_len + body_len {
                return Ok((head_len, body_len));
            }
        } else if filled == buffer.len() {
            return Err(io::Error::other("response head larger than the buffer"));
        }
    }
}

async fn raw_connection(mut client: TcpStream, upstream: &Upstream) -> io::Result<()> {
    let mut upstream_stream = connect(upstream).await?;
    let mut request = vec![0_u8; BUFFER];
    let mut response = vec![0_u8; BUFFER];
    let mut out = Vec::with_capacity(BUFFER);
    let mut filled = 0;
    loop {
        // One request head: parse, then write the upstream head from the client's bytes.
        let head_len = loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Request::new(&mut headers);
            match parsed.parse(&request[..filled]).map_err(io::Error::other)? {
                httparse::Status::Complete(len) => {
                    out.clear();
                    out.extend_from_slice(parsed.method.unwrap_or("GET").as_bytes());
                    out.push(b' ');
                    out.extend_from_slice(parsed.path.unwrap_or("/").as_bytes());
                    out.extend_from_slice(b" HTTP/1.1\r\n");
                    out.extend_from_slice(&upstream.fixed_headers);
                    copy_headers(
                        &mut out,
                        parsed.headers.iter().map(|h| (h.name.as_bytes(), h.value)),
                    );
                    out.extend_from_slice(b"\r\n");
                    break len;
                }
                httparse::Status::Partial if filled == request.len() => {
                    return Err(io::Error::other("request head larger than the buffer"));
                }
                httparse::Status::Partial => {
                    let n = client.read(&mut request[filled..]).await?;
                    if n == 0 {
                        return Ok(());
                    }
                    filled += n;
                }
            }
        };
        request.copy_within(head_len..filled, 0);
        filled -= head_len;

        let (head_len, body_len) = exchange(&mut upstream_stream, &out, &mut response).await?;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        parsed
            .parse(&response[..head_len])
            .map_err(io::Error::other)?;
        out.clear();
        out.extend_from_slice(b"HTTP/1.1 ");
        out.extend_from_slice(parsed.code.unwrap_or(502).to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(parsed.reason.unwrap_or("").as_bytes());
        out.extend_from_slice(b"\r\n");
        copy_headers(
            &mut out,
            parsed.headers.iter().map(|h| (h.name.as_bytes(), h.value)),
        );
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&response[head_len..head_len + body_len]);
        client.write_all(&out).await?;
    }
}

/// An upstream connection and its read buffer.
type OpenUpstream = (TcpStream, Vec<u8>);

async fn hyper_connection(socket: TcpStream, upstream: Arc<Upstream>) {
    // The upstream connection and its read buffer, both made once per client connection (as
    // in raw mode).
    let upstream_stream: Arc<Mutex<Option<OpenUpstream>>> = Arc::new(Mutex::new(None));
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let upstream = Arc::clone(&upstream);
        let upstream_stream = Arc::clone(&upstream_stream);
        async move {
            let mut out = Vec::with_capacity(1024);
            out.extend_from_slice(request.method().as_str().as_bytes());
            out.push(b' ');
            let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
            out.extend_from_slice(target.as_bytes());
            out.extend_from_slice(b" HTTP/1.1\r\n");
            out.extend_from_slice(&upstream.fixed_headers);
            copy_headers(
                &mut out,
                request
                    .headers()
                    .iter()
                    .map(|(name, value)| (name.as_str().as_bytes(), value.as_bytes())),
            );
            out.extend_from_slice(b"\r\n");

            let mut guard = upstream_stream.lock().await;
            let (stream, buffer) = match guard.as_mut() {
                Some(open) => open,
                None => guard.insert((connect(&upstream).await?, vec![0_u8; BUFFER])),
            };
            let (head_len, body_len) = exchange(stream, &out, buffer).await?;
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut parsed = httparse::Response::new(&mut headers);
            parsed
                .parse(&buffer[..head_len])
                .map_err(io::Error::other)?;
            let mut response = http::Response::builder().status(parsed.code.unwrap_or(502));
            for header in parsed.headers.iter() {
                let name = header.name.as_bytes();
                if is(name, "connection") || is(name, "content-length") {
                    continue;
                }
                response = response.header(header.name, header.value);
            }
            let body = Bytes::copy_from_slice(&buffer[head_len..head_len + body_len]);
            drop(guard);
            response.body(Full::new(body)).map_err(io::Error::other)
        }
    });
    // As binding-proxy's data plane: hyper-util's auto builder (HTTP/1.1 and h2c).
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(socket), service)
        .await;
}

async fn hyper_client_connection(socket: TcpStream, upstream: Arc<Upstream>) {
    type Sender = hyper::client::conn::http1::SendRequest<Incoming>;
    let sender: Arc<Mutex<Option<Sender>>> = Arc::new(Mutex::new(None));
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let upstream = Arc::clone(&upstream);
        let sender = Arc::clone(&sender);
        async move {
            let (mut parts, body) = request.into_parts();
            parts.headers.remove(http::header::CONNECTION);
            parts
                .headers
                .insert(http::header::HOST, upstream.host.clone());
            parts
                .headers
                .insert(http::header::AUTHORIZATION, upstream.authorization.clone());
            parts.version = http::Version::HTTP_11;
            let mut guard = sender.lock().await;
            let send = match guard.as_mut() {
                Some(send) => send,
                None => {
                    let stream = TokioIo::new(connect(&upstream).await?);
                    let (send, connection) = hyper::client::conn::http1::handshake(stream)
                        .await
                        .map_err(io::Error::other)?;
                    tokio::spawn(connection);
                    guard.insert(send)
                }
            };
            send.ready().await.map_err(io::Error::other)?;
            let response = send
                .send_request(http::Request::from_parts(parts, body))
                .await
                .map_err(io::Error::other)?;
            drop(guard);
            let (mut parts, body) = response.into_parts();
            parts.headers.remove(http::header::CONNECTION);
            Ok::<_, io::Error>(http::Response::from_parts(parts, body))
        }
    });
    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
        .serve_connection(TokioIo::new(socket), service)
        .await;
}
