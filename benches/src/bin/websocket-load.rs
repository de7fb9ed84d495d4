//! The two ends of `scripts/bench-websocket`: a WebSocket echo upstream and a load generator
//! that holds many idle sessions open through a proxy, then tunnels a fixed number of bytes
//! through a few of them. Bench tooling, not a client or server to deploy; 127.0.0.1 in the
//! script, though nothing here checks that.
//!
//! ```text
//! websocket-load upstream LISTEN [KEY]
//!     An echo server: accepts any handshake on any path (with KEY, only those carrying
//!     `Authorization: Bearer KEY`, others get 401, so a session that opens proves the proxy
//!     swapped the key) and sends every text and binary message back; pings are answered.
//!
//! websocket-load load URL HEADER [--sessions=N[,N…]] [--throughput-sessions=K] [--mib=M]
//!                                [--message-kib=S] [--open-concurrency=C] [--wait]
//!     Opens sessions to URL with HEADER (`Name: value`) up to each N in turn (default
//!     1000), C handshakes at a time (default 10), and leaves them idle. Then sends M MiB
//!     (default 256) through the first K sessions (default 8), in binary messages of S KiB
//!     (default 64), and waits until every message has come back, byte for byte. Then closes
//!     every session with a Close frame and counts those whose Close was answered.
//! ```
//!
//! `load` prints one line per step, words `key=value`, for scripts:
//!
//! ```text
//! open sessions=1000 secs=1.234
//! throughput sessions=8 message_bytes=65536 messages=4096 bytes=268435456 secs=2.345 mib_per_sec=109.2
//! closed sessions=1000 clean=1000
//! ```
//!
//! With `--wait` it reads a line from stdin after each of the first two kinds of line before
//! going on, so that the script can read the proxy's memory and CPU between the steps; at the
//! end of stdin it goes on without waiting. One thread each (a current-thread Tokio runtime):
//! the script pins both to the load CPU.

use std::io::{self, BufRead, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _, future, stream};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, accept_hdr_async_with_config, client_async_with_config};

/// Each session's read buffer, on both ends. tungstenite allocates it up front (128 KiB by
/// default): small here so that 1,000 idle sessions do not crowd the machine.
const READ_BUFFER: usize = 16 * 1024;

/// How long the closing handshakes of all sessions may take together.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(10);

const USAGE: &str = "usage: websocket-load upstream LISTEN [KEY]\n       \
    websocket-load load URL HEADER [--sessions=N[,N…]] [--throughput-sessions=K] [--mib=M] \
    [--message-kib=S] [--open-concurrency=C] [--wait]";

/// What `load` was asked to do.
#[derive(Debug)]
struct Load {
    url: String,
    header: (HeaderName, HeaderValue),
    /// Session counts to reach in turn; the last is the total.
    sessions: Vec<usize>,
    throughput_sessions: usize,
    mib: usize,
    message_bytes: usize,
    open_concurrency: usize,
    wait: bool,
}

type Session = WebSocketStream<TcpStream>;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("websocket-load: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("upstream") => {
            let (listen, key) = match &args[1..] {
                [listen] => (listen.as_str(), None),
                [listen, key] => (listen.as_str(), Some(format!("Bearer {key}"))),
                _ => return Err(io::Error::other(USAGE)),
            };
            runtime.block_on(upstream(listen, key))
        }
        Some("load") => {
            let load = parse_load(&args[1..])?;
            runtime.block_on(run_load(&load))
        }
        _ => Err(io::Error::other(USAGE)),
    }
}

fn config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(READ_BUFFER)
}

fn number(option: &str, value: &str) -> io::Result<usize> {
    match value.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(io::Error::other(format!(
            "{option} takes a whole number above 0, got {value:?}"
        ))),
    }
}

fn parse_load(args: &[String]) -> io::Result<Load> {
    let [url, header, options @ ..] = args else {
        return Err(io::Error::other(USAGE));
    };
    let (name, value) = header
        .split_once(':')
        .ok_or_else(|| io::Error::other("HEADER is `Name: value`"))?;
    let header = (
        HeaderName::try_from(name.trim()).map_err(|_| io::Error::other("bad header name"))?,
        HeaderValue::try_from(value.trim()).map_err(|_| io::Error::other("bad header value"))?,
    );
    let mut load = Load {
        url: url.clone(),
        header,
        sessions: vec![1000],
        throughput_sessions: 8,
        mib: 256,
        message_bytes: 64 * 1024,
        open_concurrency: 10,
        wait: false,
    };
    for option in options {
        let (name, value) = option.split_once('=').unwrap_or((option.as_str(), ""));
        match name {
            "--sessions" => {
                load.sessions = value
                    .split(',')
                    .map(|n| number(name, n))
                    .collect::<io::Result<_>>()?;
                if !load.sessions.is_sorted() {
                    return Err(io::Error::other("--sessions counts go up"));
                }
            }
            "--throughput-sessions" => load.throughput_sessions = number(name, value)?,
            "--mib" => load.mib = number(name, value)?,
            "--message-kib" => load.message_bytes = number(name, value)? * 1024,
            "--open-concurrency" => load.open_concurrency = number(name, value)?,
            "--wait" => load.wait = true,
            _ => {
                return Err(io::Error::other(format!(
                    "unknown option {option}\n{USAGE}"
                )));
            }
        }
    }
    Ok(load)
}

/// Accepts connections on `listen` and echoes each session's messages.
async fn upstream(listen: &str, key: Option<String>) -> io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let key = key.clone();
        tokio::spawn(async move {
            // A refused or broken handshake ends that connection, nothing more.
            let Ok(mut session) =
                accept_hdr_async_with_config(socket, KeyCheck(key), Some(config())).await
            else {
                return;
            };
            while let Some(Ok(message)) = session.next().await {
                if (message.is_binary() || message.is_text())
                    && session.send(message).await.is_err()
                {
                    return;
                }
            }
        });
    }
}

/// The upstream's handshake check: with a key, `Authorization: Bearer KEY` or 401.
#[derive(Debug)]
struct KeyCheck(Option<String>);

impl Callback for KeyCheck {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        let seen = request.headers().get("authorization");
        match self.0 {
            Some(wanted) if seen.is_none_or(|seen| seen.as_bytes() != wanted.as_bytes()) => {
                let mut refusal = ErrorResponse::new(Some("wrong key".to_owned()));
                *refusal.status_mut() = StatusCode::UNAUTHORIZED;
                Err(refusal)
            }
            _ => Ok(response),
        }
    }
}

/// Opens one session.
async fn open(load: &Load) -> Result<Session, WsError> {
    let mut request = load.url.as_str().into_client_request()?;
    request
        .headers_mut()
        .insert(load.header.0.clone(), load.header.1.clone());
    let authority = request
        .uri()
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .unwrap_or_default();
    let socket = TcpStream::connect(authority).await?;
    socket.set_nodelay(true)?;
    let (session, _) = client_async_with_config(request, socket, Some(config())).await?;
    Ok(session)
}

/// Prints one result line at once; with `wait`, then waits for a line on stdin.
fn step(line: &str, wait: bool) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    if wait {
        let mut ignored = String::new();
        io::stdin().lock().read_line(&mut ignored)?;
    }
    Ok(())
}

async fn run_load(load: &Load) -> io::Result<()> {
    let mut sessions: Vec<Session> = Vec::new();
    for &target in &load.sessions {
        let started = Instant::now();
        let opened: Vec<Result<Session, WsError>> = stream::iter(sessions.len()..target)
            .map(|_| open(load))
            .buffer_unordered(load.open_concurrency)
            .collect()
            .await;
        for session in opened {
            sessions.push(session.map_err(|err| {
                io::Error::other(format!(
                    "session {} did not open: {err}",
                    sessions.len() + 1
                ))
            })?);
        }
        step(
            &format!(
                "open sessions={} secs={:.3}",
                sessions.len(),
                started.elapsed().as_secs_f64()
            ),
            load.wait,
        )?;
    }

    let busy = load.throughput_sessions.min(sessions.len());
    let per_session = (load.mib * 1024 * 1024 / load.message_bytes).div_ceil(busy);
    let started = Instant::now();
    let echoed = future::join_all(
        sessions[..busy]
            .iter_mut()
            .map(|session| echo(session, per_session, load.message_bytes)),
    )
    .await;
    let secs = started.elapsed().as_secs_f64();
    for result in echoed {
        result?;
    }
    let bytes = busy * per_session * load.message_bytes;
    step(
        &format!(
            "throughput sessions={busy} message_bytes={} messages={} bytes={bytes} secs={secs:.3} \
             mib_per_sec={:.1}",
            load.message_bytes,
            busy * per_session,
            bytes as f64 / (1024.0 * 1024.0) / secs
        ),
        load.wait,
    )?;

    let total = sessions.len();
    let closed = tokio::time::timeout(
        CLOSE_TIMEOUT,
        future::join_all(sessions.iter_mut().map(close)),
    )
    .await
    .unwrap_or_default();
    let clean = closed.into_iter().filter(|clean| *clean).count();
    step(&format!("closed sessions={total} clean={clean}"), false)
}

/// Sends `count` messages of `size` bytes through `session` while reading their echoes, and
/// checks each echo is the message sent, in order.
async fn echo(session: &mut Session, count: usize, size: usize) -> io::Result<()> {
    let template: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let (mut sink, mut source) = (&mut *session).split();
    let send = async {
        for index in 0..count {
            let mut payload = template.clone();
            let tag = (index as u64).to_le_bytes();
            let tagged = tag.len().min(size);
            payload[..tagged].copy_from_slice(&tag[..tagged]);
            sink.send(Message::binary(payload))
                .await
                .map_err(io::Error::other)?;
        }
        Ok::<(), io::Error>(())
    };
    let receive = async {
        let mut expected = template.clone();
        for index in 0..count {
            let tag = (index as u64).to_le_bytes();
            let tagged = tag.len().min(size);
            expected[..tagged].copy_from_slice(&tag[..tagged]);
            match source.next().await {
                Some(Ok(Message::Binary(data))) if data[..] == expected[..] => {}
                Some(Ok(Message::Binary(_))) => {
                    return Err(io::Error::other(format!(
                        "echo {index} differs from message {index}"
                    )));
                }
                Some(Ok(other)) => {
                    return Err(io::Error::other(format!(
                        "expected echo {index}, got {other:?}"
                    )));
                }
                Some(Err(err)) => return Err(io::Error::other(err)),
                None => {
                    return Err(io::Error::other(format!(
                        "session ended before echo {index}"
                    )));
                }
            }
        }
        Ok(())
    };
    tokio::try_join!(send, receive).map(|_| ())
}

/// Sends a Close frame and reads until the peer's: whether the closing handshake completed.
async fn close(session: &mut Session) -> bool {
    if session.close(None).await.is_err() {
        return false;
    }
    loop {
        match session.next().await {
            Some(Ok(Message::Close(_))) => return true,
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return false,
        }
    }
}
