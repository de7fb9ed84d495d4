//! The end of a request: the response body is wrapped in [`AccessBody`], which counts the bytes
//! sent and, when the body ends (or is dropped), writes the one access-log line and records
//! the request's metrics. So the line carries the total duration and the bytes actually
//! streamed both ways, not just the time to the response head.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use auth::{Claims, ErrorCode};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Either;

use crate::body::LocalBody;
use crate::metrics::{Outcome, Series};
use crate::redact::{RedactingBody, Redactions};
use crate::request_id::RequestId;
use crate::route::Route;
use crate::upstream::{Upload, UpstreamBody};

/// The body of every data-plane response: the upstream's, streamed and scanned for the key,
/// or one the proxy wrote.
pub(crate) type ProxyBody = Either<RedactingBody<UpstreamBody>, LocalBody>;

/// What the access log reports about a request, filled in as the request progresses.
#[derive(Default)]
pub(crate) struct Facts {
    /// Set once routed; cheap clone (shared bytes), read for `api_group`.
    pub(crate) route: Option<Route>,
    /// Set once authenticated.
    pub(crate) claims: Option<Arc<Claims>>,
    /// Time from sending upstream to the response headers.
    pub(crate) upstream: Option<Duration>,
    /// Request body bytes streamed upstream; set when the request is sent.
    pub(crate) uploaded: Option<Arc<Upload>>,
    /// Occurrences of the key taken out of the upstream's response headers.
    pub(crate) header_redactions: u64,
}

/// A request counted in flight; the count drops with this guard, however the request ends
/// (finished, abandoned by the client before the head, or cut at shutdown).
pub(crate) struct Flight(Arc<Series>);

impl Flight {
    pub(crate) fn start(series: Arc<Series>) -> Self {
        series.started();
        Self(series)
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        self.0.finished_flight();
    }
}

/// Everything the access line and the metrics need once the response is over.
pub(crate) struct Record {
    pub(crate) flight: Flight,
    pub(crate) span: tracing::Span,
    pub(crate) request_id: RequestId,
    pub(crate) method: Method,
    pub(crate) facts: Facts,
    pub(crate) status: StatusCode,
    pub(crate) code: Option<ErrorCode>,
    pub(crate) started: Instant,
}

impl Record {
    /// Logs the access line and records the metrics. `completed`: the body was sent to its
    /// end (false: the client went away or the upstream body failed mid-stream). `body`: what
    /// the response body and its trailers had taken out.
    fn finish(self, bytes_out: u64, completed: bool, body: Redactions) {
        let duration = self.started.elapsed();
        let bytes_in = self
            .facts
            .uploaded
            .as_ref()
            .map_or(0, |uploaded| uploaded.bytes());
        let route = self.facts.route.as_ref();
        let series = &self.flight.0;
        let key = series.key(&self.method, route.map(Route::api_group));
        series.finished(
            key,
            self.status,
            duration,
            self.facts.upstream,
            bytes_in,
            bytes_out,
        );
        let claims = self.facts.claims.as_deref();
        let _entered = self.span.enter();
        let redactions = Redactions {
            headers: self.facts.header_redactions + body.headers,
            ..body
        };
        if redactions.any() {
            series.redacted(redactions);
            // The key was on its way to the function; say whose and where, never the key.
            tracing::warn!(
                request_id = self.request_id.as_str(),
                org_id = claims.map(|c| c.sub.as_str()),
                api_group = route.map(Route::api_group),
                status = self.status.as_u16(),
                header_redactions = redactions.headers,
                body_redactions = redactions.body,
                "the upstream's response carried the organization's key; redacted"
            );
        }
        // Never the query string, a token or a key.
        tracing::info!(
            target: "binding_proxy::access",
            request_id = self.request_id.as_str(),
            org_id = claims.map(|c| c.sub.as_str()),
            function_id = claims.and_then(|c| c.fid.as_deref()),
            method = self.method.as_str(),
            api_group = route.map(Route::api_group),
            status = self.status.as_u16(),
            code = self.code.map(ErrorCode::as_str),
            duration_ms = millis(duration),
            upstream_ms = self.facts.upstream.map(millis),
            bytes_in,
            bytes_out,
            completed,
            "request"
        );
    }
}

impl Record {
    /// A handshake answered with a WebSocket session: its request is over (counted now, with
    /// the time to the `101`), and the access line waits for the session's end.
    pub(crate) fn into_session(self) -> SessionLog {
        let route = self.facts.route;
        let series = &self.flight.0;
        let key = series.key(&self.method, route.as_ref().map(Route::api_group));
        series.finished(
            key,
            self.status,
            self.started.elapsed(),
            self.facts.upstream,
            0,
            0,
        );
        SessionLog {
            span: self.span,
            request_id: self.request_id.detached(),
            claims: self.facts.claims,
            route,
            status: self.status,
            started: self.started,
        }
    }
}

/// What a session's one access line reports, written when it ends.
pub(crate) struct SessionLog {
    span: tracing::Span,
    request_id: RequestId,
    claims: Option<Arc<Claims>>,
    route: Option<Route>,
    status: StatusCode,
    started: Instant,
}

/// How a session ended, as its access line reports it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionEnd {
    /// Who or what ended it.
    pub(crate) ended_by: Outcome,
    /// The Close code the proxy sent, when it ended the session.
    pub(crate) close_code: Option<u16>,
    /// Bytes from the client to the upstream.
    pub(crate) bytes_in: u64,
    /// Bytes from the upstream to the client.
    pub(crate) bytes_out: u64,
}

impl SessionEnd {
    /// A session that ended before any byte passed, and without a Close from the proxy.
    pub(crate) fn empty(ended_by: Outcome) -> Self {
        Self {
            ended_by,
            close_code: None,
            bytes_in: 0,
            bytes_out: 0,
        }
    }
}

impl SessionLog {
    /// Writes the session's access line: the handshake's facts, the session's duration (from
    /// the handshake's head), bytes each way and who ended it. Never a token or a key.
    pub(crate) fn finish(self, end: SessionEnd) {
        let claims = self.claims.as_deref();
        let _entered = self.span.enter();
        tracing::info!(
            target: "binding_proxy::access",
            request_id = self.request_id.as_str(),
            org_id = claims.map(|c| c.sub.as_str()),
            function_id = claims.and_then(|c| c.fid.as_deref()),
            api_group = self.route.as_ref().map(Route::api_group),
            status = self.status.as_u16(),
            duration_ms = millis(self.started.elapsed()),
            bytes_in = end.bytes_in,
            bytes_out = end.bytes_out,
            ended_by = end.ended_by.as_str(),
            close_code = end.close_code,
            "session"
        );
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A response body that counts the bytes it yields and finishes its [`Record`] at the end of
/// the stream, on a stream error, or when dropped unfinished. Probe answers carry no record.
pub(crate) struct AccessBody {
    inner: ProxyBody,
    bytes_out: u64,
    record: Option<Record>,
}

impl AccessBody {
    pub(crate) fn new(inner: ProxyBody, record: Option<Record>) -> Self {
        Self {
            inner,
            bytes_out: 0,
            record,
        }
    }

    fn finish(&mut self, completed: bool) {
        if let Some(record) = self.record.take() {
            let redactions = match &self.inner {
                Either::Left(upstream) => upstream.redactions(),
                Either::Right(_) => Redactions::default(),
            };
            record.finish(self.bytes_out, completed, redactions);
        }
    }
}

impl Body for AccessBody {
    type Data = Bytes;
    type Error = <ProxyBody as Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.bytes_out += data.len() as u64;
                }
                // The server may not poll again after the last frame; finish before the
                // client can see the end.
                if this.inner.is_end_stream() {
                    this.finish(true);
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for AccessBody {
    fn drop(&mut self) {
        // An empty body (HEAD, 204, 304) may be dropped without a poll: that is complete.
        let completed = self.inner.is_end_stream();
        self.finish(completed);
    }
}
