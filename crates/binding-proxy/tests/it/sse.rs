//! Server-Sent Events through the real binary (issue #17, point 8), from an upstream on
//! 127.0.0.1 that sends each event only when the test releases it: every event reaches the
//! client, over HTTP/1.1 and over HTTP/2, before the upstream is told to send the next (so
//! anything in the proxy that held an event back would fail the test by its timeout); a
//! stream that outlasts `upstream.response_timeout_ms` is not cut; one the upstream leaves
//! silent for `upstream.body_idle_timeout_ms` is, as docs/configuration.md says, and
//! keep-alive comments sent more often than that keep it open.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream;
use http::{Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use testkit::{ProxyOptions, ProxyProcess};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::bin;

/// As long as a real key, so that anything held back per chunk would hold back a whole event.
const KEY: &str = "KEY17SSE_0123456789abcdefghijklmnopqrstuvwxyzABCDEF";
const ORG: &str = "org-sse";
/// An event stream under a scoped path (`voice`).
const PATH: &str = "/v2/calls/v3-sse-1/events?stream=true";
/// A failure bound only: no assertion here is about speed.
const BOUND: Duration = Duration::from_secs(10);

/// One request the upstream answered with an event stream.
struct Opened {
    path_and_query: String,
    authorization: Option<String>,
    /// Each message is one write of the body; dropping the sender ends the body cleanly.
    events: mpsc::Sender<Bytes>,
}

/// A hyper HTTP/1.1 server that answers every request with `text/event-stream` and a chunked
/// body, written one piece at a time as the test sends them.
struct SseUpstream {
    base_url: String,
    opened: mpsc::Receiver<Opened>,
}

impl SseUpstream {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (opened_tx, opened) = mpsc::channel(4);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let opened_tx = opened_tx.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    let opened_tx = opened_tx.clone();
                    async move {
                        let (events, released) = mpsc::channel::<Bytes>(1);
                        let header = |name: &str| {
                            request
                                .headers()
                                .get(name)
                                .and_then(|value| value.to_str().ok())
                                .map(str::to_owned)
                        };
                        let seen = Opened {
                            path_and_query: request
                                .uri()
                                .path_and_query()
                                .map_or_else(String::new, ToString::to_string),
                            authorization: header("authorization"),
                            events,
                        };
                        opened_tx.send(seen).await.expect("the test listens");
                        let body = stream::unfold(released, |mut released| async move {
                            let event = released.recv().await?;
                            Some((Ok::<_, Infallible>(Frame::data(event)), released))
                        });
                        Ok::<_, Infallible>(
                            Response::builder()
                                .header("content-type", "text/event-stream")
                                .header("cache-control", "no-cache")
                                .body(StreamBody::new(body))
                                .expect("a valid response"),
                        )
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        Self {
            base_url: format!("http://{addr}"),
            opened,
        }
    }

    /// The next stream the upstream opened (panics after [`BOUND`]).
    async fn next_opened(&mut self) -> Opened {
        tokio::time::timeout(BOUND, self.opened.recv())
            .await
            .expect("the upstream got the request in time")
            .expect("the upstream runs")
    }
}

/// The `n`th event. Events differ in shape: several `data` lines, CRLF line ends, a comment
/// (what upstreams send as a keep-alive).
fn event(n: usize) -> Bytes {
    Bytes::from(match n % 4 {
        0 => format!("id: {n}\nevent: call.progress\ndata: {{\"n\":{n}}}\n\n"),
        1 => format!("id: {n}\r\nevent: call.answered\r\ndata: {{\"n\":{n}}}\r\n\r\n"),
        2 => format!("event: call.dtmf\ndata: {{\"n\":{n},\ndata: \"digit\":\"5\"}}\n\n"),
        _ => format!(": keep-alive {n}\n\n"),
    })
}

/// A client that speaks `version` to the proxy: HTTP/1.1, or HTTP/2 with prior knowledge
/// (h2c).
fn client(version: Version) -> Client<HttpConnector, Empty<Bytes>> {
    let mut builder = Client::builder(TokioExecutor::new());
    if version == Version::HTTP_2 {
        builder.http2_only(true);
    }
    builder.build_http()
}

/// Opens the event stream through `proxy` and checks its head: 200, `text/event-stream`, no
/// length, the protocol asked for.
async fn open_stream(proxy: &ProxyProcess, token: &str, version: Version) -> Events {
    // The SDK form, `{TELNYX_BASE_URL}/calls/…`, as the official SDKs call it.
    let request = Request::get(format!("{}{}", proxy.base_url(), &PATH["/v2".len()..]))
        .header("authorization", format!("Bearer {token}"))
        .header("accept", "text/event-stream")
        .body(Empty::new())
        .expect("a valid request");
    let response = tokio::time::timeout(BOUND, client(version).request(request))
        .await
        .expect("the head arrives before any event")
        .expect("the proxy answers");
    assert_eq!(response.status(), StatusCode::OK, "{response:?}");
    assert_eq!(response.version(), version);
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "{response:?}"
    );
    assert!(
        !response.headers().contains_key("content-length"),
        "{response:?}"
    );
    Events {
        body: response.into_body(),
        unread: Vec::new(),
    }
}

/// The client's side of the stream: what arrived and was not matched to an event yet.
struct Events {
    body: Incoming,
    unread: Vec<u8>,
}

impl Events {
    /// Reads until `expected` has arrived and checks it is what came next (panics after
    /// [`BOUND`], showing what did arrive). Bytes after it stay for the next call: how the
    /// stream is cut into frames is not the test's business.
    async fn expect(&mut self, expected: &Bytes) {
        let (body, unread) = (&mut self.body, &mut self.unread);
        let read = async {
            while unread.len() < expected.len() {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            unread.extend_from_slice(&data);
                        }
                    }
                    Some(Err(err)) => panic!("the stream broke: {err:?}"),
                    None => panic!("the stream ended early"),
                }
            }
        };
        let arrived = tokio::time::timeout(BOUND, read).await.is_ok();
        assert!(
            arrived,
            "{expected:?} did not reach the client within {BOUND:?}; only {:?} did",
            Bytes::copy_from_slice(unread)
        );
        let next: Vec<u8> = unread.drain(..expected.len()).collect();
        assert_eq!(Bytes::from(next), *expected);
    }

    /// The end of the stream: clean, without an error, nothing unread, within [`BOUND`]. (An
    /// HTTP/2 stream may end with an empty DATA frame.)
    async fn expect_clean_end(mut self) {
        assert!(self.unread.is_empty(), "more than the upstream sent");
        loop {
            match tokio::time::timeout(BOUND, self.body.frame()).await {
                Ok(None) => return,
                Ok(Some(Ok(frame))) if frame.data_ref().is_some_and(Bytes::is_empty) => {}
                Ok(Some(Ok(frame))) => panic!("more than the upstream sent: {frame:?}"),
                Ok(Some(Err(err))) => panic!("the stream ended with an error: {err:?}"),
                Err(_) => panic!("the stream did not end within {BOUND:?}"),
            }
        }
    }

    /// The end of the stream: an error (HTTP/1.1: the connection closed before the last
    /// chunk; HTTP/2: the stream reset), never a clean end, within [`BOUND`].
    async fn expect_cut(mut self) {
        assert!(self.unread.is_empty(), "more than the upstream sent");
        loop {
            match tokio::time::timeout(BOUND, self.body.frame()).await {
                Ok(Some(Err(_))) => return,
                Ok(Some(Ok(frame))) if frame.data_ref().is_some_and(Bytes::is_empty) => {}
                Ok(Some(Ok(frame))) => panic!("more than the upstream sent: {frame:?}"),
                Ok(None) => panic!("a cut stream ended as if it were complete"),
                Err(_) => panic!("the stream was not cut within {BOUND:?}"),
            }
        }
    }
}

/// The proxy's access line for the stream (the only data-plane request), once its body ended.
async fn access_line(proxy: &ProxyProcess) -> Value {
    let line = proxy
        .wait_for_log(BOUND, |line| {
            serde_json::from_str::<Value>(line).is_ok_and(|event| {
                event["target"] == "binding_proxy::access" && event["api_group"] == "calls"
            })
        })
        .await;
    serde_json::from_str(&line).expect("a JSON log line")
}

async fn proxy_with_binding(options: ProxyOptions) -> (ProxyProcess, String) {
    let proxy = ProxyProcess::start(bin(), options).await;
    proxy.create_binding(ORG, KEY).await;
    let token = proxy.token(ORG).await;
    (proxy, token)
}

/// Releases events one at a time, each only once the client has the one before.
async fn each_event_arrives_before_the_next_is_sent(version: Version) {
    let mut upstream = SseUpstream::start().await;
    let (proxy, token) = proxy_with_binding(ProxyOptions::new(&upstream.base_url)).await;
    let mut events = open_stream(&proxy, &token, version).await;
    let opened = upstream.next_opened().await;
    assert_eq!(opened.path_and_query, PATH);
    assert_eq!(
        opened.authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str()),
        "the upstream gets the organization's key, not the function's token"
    );

    let mut sent = 0;
    for n in 0..8 {
        let event = event(n);
        opened
            .events
            .send(event.clone())
            .await
            .expect("the upstream body is open");
        events.expect(&event).await;
        sent += event.len();
    }
    drop(opened.events);
    events.expect_clean_end().await;

    let access = access_line(&proxy).await;
    assert_eq!(access["completed"], true, "{access}");
    assert_eq!(access["bytes_out"], sent, "{access}");
}

#[tokio::test]
async fn each_event_reaches_an_http1_client_before_the_upstream_sends_the_next() {
    each_event_arrives_before_the_next_is_sent(Version::HTTP_11).await;
}

#[tokio::test]
async fn each_event_reaches_an_http2_client_before_the_upstream_sends_the_next() {
    each_event_arrives_before_the_next_is_sent(Version::HTTP_2).await;
}

/// Far below the stream's length. The client connection's timers (`header_read_timeout_ms`,
/// `client_idle_timeout_secs`) are set below it too: none of them may cut the stream either.
const RESPONSE_TIMEOUT_MS: u64 = 300;
/// Longer than the response timeout, well under `upstream.body_idle_timeout_ms` (5 s here).
const GAP: Duration = Duration::from_millis(400);
const SPACED_EVENTS: usize = 6;

/// The upstream sends its events `GAP` apart (the first one `GAP` after the head) while the
/// client reads the stream to its end. Whether each event arrives at once is the tests
/// above; here, only that the stream is whole and ends cleanly.
async fn a_stream_outlasting_the_response_timeout_is_whole(version: Version) {
    let mut upstream = SseUpstream::start().await;
    let options = ProxyOptions::new(&upstream.base_url)
        .set(
            "upstream.response_timeout_ms",
            RESPONSE_TIMEOUT_MS.to_string(),
        )
        .set("upstream.body_idle_timeout_ms", "5000")
        .set("dataplane.header_read_timeout_ms", "1000")
        .set("dataplane.client_idle_timeout_secs", "1");
    let (proxy, token) = proxy_with_binding(options).await;
    let started = Instant::now();
    let mut events = open_stream(&proxy, &token, version).await;
    let opened = upstream.next_opened().await;

    let upstream_side = tokio::spawn(async move {
        for n in 0..SPACED_EVENTS {
            // Not a wait for something to happen: the time passing is what is tested, on the
            // clock of another process, which paused Tokio time cannot move.
            tokio::time::sleep(GAP).await;
            opened
                .events
                .send(event(n))
                .await
                .expect("the upstream body is open");
        }
        // Dropping the sender ends the upstream body cleanly.
    });
    let expected: Bytes = (0..SPACED_EVENTS).flat_map(|n| event(n).to_vec()).collect();
    events.expect(&expected).await;
    events.expect_clean_end().await;
    upstream_side.await.expect("the upstream sent every event");
    // The premise, guaranteed by the gaps: the stream lasted several response timeouts.
    assert!(started.elapsed() > Duration::from_millis(4 * RESPONSE_TIMEOUT_MS));

    let access = access_line(&proxy).await;
    assert_eq!(access["completed"], true, "{access}");
    assert_eq!(access["bytes_out"], expected.len(), "{access}");
    assert!(
        access["duration_ms"]
            .as_f64()
            .is_some_and(|ms| ms > (4 * RESPONSE_TIMEOUT_MS) as f64),
        "{access}"
    );
}

#[tokio::test]
async fn an_http1_stream_longer_than_the_response_timeout_is_not_cut() {
    a_stream_outlasting_the_response_timeout_is_whole(Version::HTTP_11).await;
}

#[tokio::test]
async fn an_http2_stream_longer_than_the_response_timeout_is_not_cut() {
    a_stream_outlasting_the_response_timeout_is_whole(Version::HTTP_2).await;
}

/// `upstream.body_idle_timeout_ms` for the test below.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Keep-alive comments come this often: more often than the body idle timeout.
const KEEP_ALIVE: Duration = Duration::from_millis(200);

/// Keep-alive comments for two body idle timeouts keep the stream open; then the upstream
/// falls silent, and the stream is cut: the client sees a broken stream, not an end it could
/// take for the last event, and the access line says it was not completed.
async fn a_stream_silent_for_the_body_idle_timeout_is_cut(version: Version) {
    let mut upstream = SseUpstream::start().await;
    let options = ProxyOptions::new(&upstream.base_url).set(
        "upstream.body_idle_timeout_ms",
        BODY_IDLE_TIMEOUT.as_millis().to_string(),
    );
    let (proxy, token) = proxy_with_binding(options).await;
    let mut events = open_stream(&proxy, &token, version).await;
    let opened = upstream.next_opened().await;

    let mut sent = 0;
    let keep_alives = 2 * BODY_IDLE_TIMEOUT.as_millis() / KEEP_ALIVE.as_millis();
    for n in 0..keep_alives {
        // The time passing is what is tested (see above).
        tokio::time::sleep(KEEP_ALIVE).await;
        let comment = Bytes::from(format!(": keep-alive {n}\n\n"));
        opened
            .events
            .send(comment.clone())
            .await
            .expect("the upstream body is open");
        events.expect(&comment).await;
        sent += comment.len();
    }
    // Silent from here on, with the upstream's body still open.
    events.expect_cut().await;
    drop(opened);

    let access = access_line(&proxy).await;
    assert_eq!(access["completed"], false, "{access}");
    assert_eq!(access["bytes_out"], sent, "{access}");
}

#[tokio::test]
async fn an_http1_stream_silent_for_the_body_idle_timeout_is_cut() {
    a_stream_silent_for_the_body_idle_timeout_is_cut(Version::HTTP_11).await;
}

#[tokio::test]
async fn an_http2_stream_silent_for_the_body_idle_timeout_is_cut() {
    a_stream_silent_for_the_body_idle_timeout_is_cut(Version::HTTP_2).await;
}
