//! One request's life, in the order [`Proxy::handle`] and `Proxy::forward` run it:
//!
//! 1. request id: the client's `X-Request-Id` when it is sane, else a fresh one;
//! 2. probes: `GET`/`HEAD` on `/health/liveness` and `/health/readiness`, without a token;
//! 3. method: `CONNECT` is refused, except an HTTP/2 WebSocket handshake (`:protocol`);
//! 4. target: origin form only, then the target check (dot segments, `;`, double-encoded
//!    and non-UTF-8 escapes, control bytes, backslashes, empty segments) and the route to
//!    the upstream path;
//! 5. deny-list: credential and account routes, and the proxy's own mount point;
//! 6. declared body size: a `Content-Length` above `max_body_bytes`;
//! 7. authentication: the token verified, the binding's credential resolved;
//! 8. scope: the binding's scopes, narrowed by the token's, must open the path;
//! 9. rate limit: the organization's budget (429 over it);
//! 10. upstream exchange: hop-by-hop headers and `Host` out, `Authorization` swapped,
//!     `Accept-Encoding: identity`, the body streamed up within `max_body_bytes`, the response
//!     head awaited within the response timeout; an answer whose body is encoded anyway is
//!     refused (the key scan cannot read it);
//! 11. the answer streamed back: hop-by-hop headers stripped, the organization's key taken
//!     out of its headers and body wherever the upstream reflected it (`redact`),
//!     `X-RateLimit-*` added; the access line and the metrics are written when its body ends.
//!
//! Steps 2–9 decide their refusals before a byte goes upstream; every refusal is answered
//! with the error document and its status (`error`).
//!
//! A WebSocket handshake (`websocket::detect`) takes the same steps, its own headers checked
//! before the token and its session admitted under the caps after the rate limit; `session`
//! then sends it upstream on a connection of its own and starts the session on a `101`.

mod exchange;
mod session;

use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use auth::{AuthError, Authenticator};
use http::{Method, Request, Response, Version};
use http_body_util::Either;
use hyper::body::Incoming;
use tokio_rustls::TlsAcceptor;
use tracing::Instrument;
use tracing::field::Empty;

use crate::access::{AccessBody, Facts, Flight, Record};
use crate::deny_list::DenyList;
use crate::error::{DataplaneError, Refusal};
use crate::forwarded::ClientAddr;
use crate::headers::X_REQUEST_ID;
use crate::health::{self, Readiness};
use crate::metrics::{ClientConnectionCounters, DataplaneMetrics, Series};
use crate::rate_limit::{Decision, RateLimiters};
use crate::redact::RedactingBody;
use crate::request_id::RequestId;
use crate::route::{Route, RouteError};
use crate::settings::DataplaneSettings;
use crate::target::TargetProblem;
use crate::tls;
use crate::upstream::{SendError, Upload, UpstreamBody, UpstreamClient};
use crate::websocket::{self, PendingSession, SessionContext, Sessions};

/// The data plane's shared state. Build once, share as `Arc<Proxy>` with [`crate::serve`].
pub struct Proxy {
    limiters: RateLimiters,
    settings: DataplaneSettings,
    deny_list: DenyList,
    authenticator: Arc<Authenticator>,
    client: UpstreamClient,
    /// TLS on the listener, from `settings.listener.tls`; the server shakes hands with it.
    listener_tls: Option<TlsAcceptor>,
    readiness: Readiness,
    clock: fn() -> i64,
    /// Metrics resolved against `settings.scopes`; unregistered unless [`Proxy::with_metrics`].
    series: Arc<Series>,
    /// The WebSocket sessions open.
    sessions: Arc<Sessions>,
    /// `settings.scopes`, shared with the sessions' re-checks.
    scopes: Arc<auth::scope::ScopeTable>,
}

/// What a request that got past the checks led to.
#[expect(
    clippy::large_enum_variant,
    reason = "the large variant is every request's; boxing it would allocate per request to save a move"
)]
enum Forwarded {
    /// The upstream's answer, streamed back.
    Response(Response<RedactingBody<UpstreamBody>>),
    /// A WebSocket session: the client's answer, and the session to start once it is sent.
    Session(http::response::Parts, Box<PendingSession>),
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("settings", &self.settings)
            .field("ready", &self.readiness.is_ready())
            .finish_non_exhaustive()
    }
}

/// Unix seconds from the system clock; the default clock.
fn system_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        })
}

impl Proxy {
    /// Builds the upstream client from checked `settings` (no connection is opened yet).
    ///
    /// # Errors
    /// [`DataplaneError`] when the upstream TLS configuration cannot be built (`ca_file`
    /// unreadable, not PEM, or without a certificate) or the listener's TLS files do not load.
    pub fn new(
        settings: DataplaneSettings,
        authenticator: Arc<Authenticator>,
        readiness: Readiness,
    ) -> Result<Self, DataplaneError> {
        let client = UpstreamClient::new(&settings.upstream)?;
        let listener_tls = match &settings.listener.tls {
            Some(files) => Some(tls::acceptor(files)?),
            None => None,
        };
        let deny_list = DenyList::new(&settings.listener);
        let series = Arc::new(Series::new(DataplaneMetrics::default(), &settings.scopes));
        let sessions = Arc::new(Sessions::new(&settings.websocket));
        let scopes = Arc::new(settings.scopes.clone());
        Ok(Self {
            sessions,
            scopes,
            limiters: RateLimiters::new(settings.rate_limit),
            settings,
            deny_list,
            authenticator,
            client,
            listener_tls,
            readiness,
            clock: system_clock,
            series,
        })
    }

    /// Records requests in `metrics` (registered by the caller) instead of private counters.
    #[must_use]
    pub fn with_metrics(mut self, metrics: DataplaneMetrics) -> Self {
        self.series = Arc::new(Series::new(metrics, &self.settings.scopes));
        self
    }

    /// Replaces the clock (unix seconds) token times are checked against; for tests.
    #[must_use]
    pub fn with_clock(mut self, clock: fn() -> i64) -> Self {
        self.clock = clock;
        self
    }

    /// The settings this proxy runs with.
    pub fn settings(&self) -> &DataplaneSettings {
        &self.settings
    }

    /// The listener's TLS acceptor, when `dataplane.tls_cert_file` is set.
    pub(crate) fn listener_tls(&self) -> Option<&TlsAcceptor> {
        self.listener_tls.as_ref()
    }

    /// The readiness flag the probes report.
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// Stops the upstream client's tasks and closes its connections; [`crate::serve`] calls it
    /// once every client connection has drained. The proxy forwards nothing afterwards.
    pub(crate) async fn close_upstream(&self) {
        self.client.close().await;
    }

    /// The counters of client connections the listener closed on its own initiative.
    pub(crate) fn client_connections(&self) -> &ClientConnectionCounters {
        self.series.client_connections()
    }

    /// How many of the upstream client's tasks still run.
    pub(crate) fn upstream_tasks(&self) -> usize {
        self.client.tasks()
    }

    /// Answers one request; never fails (refusals are responses). The access line and the
    /// request's metrics are written when the returned body ends or is dropped. A WebSocket
    /// handshake the upstream accepted also returns its session, for the caller to start with
    /// [`Proxy::start_session`] (its access line is written when it ends).
    pub(crate) async fn handle(
        &self,
        request: Request<Incoming>,
        client: &ClientAddr,
    ) -> (Response<AccessBody>, Option<Box<PendingSession>>) {
        let request_id = RequestId::from_headers(request.headers());
        if let Some(probe) = health::answer(&request, &self.readiness, &request_id) {
            return (
                probe.map(|body| AccessBody::new(Either::Right(body), None)),
                None,
            );
        }
        let started = Instant::now();
        let flight = Flight::start(Arc::clone(&self.series));
        let method = request.method().clone();
        let span = tracing::info_span!(
            "request",
            request_id = request_id.as_str(),
            method = method.as_str(),
            api_group = Empty,
            org_id = Empty,
            binding_id = Empty,
            function_id = Empty,
        );
        let mut facts = Facts::default();
        // Only the forward future is instrumented: wrapping the whole of this function in an
        // instrumented block made its future hold that of `forward` twice (≈ 16 KB more in
        // every request's future).
        let forwarded = self
            .forward(request, client, &request_id, &mut facts)
            .instrument(span.clone())
            .await;
        let mut session = None;
        let (mut response, code) = match forwarded {
            Ok(Forwarded::Response(response)) => (response.map(Either::Left), None),
            Ok(Forwarded::Session(head, pending)) => {
                session = Some(pending);
                (
                    Response::from_parts(head, Either::Right(crate::body::LocalBody::default())),
                    None,
                )
            }
            Err(refusal) => {
                // Logged inside the request's span (no await while it is entered).
                let _entered = span.enter();
                log_refusal(&refusal);
                let code = refusal.code();
                self.series.refused(code);
                (
                    refusal.into_response(&request_id).map(Either::Right),
                    Some(code),
                )
            }
        };
        response
            .headers_mut()
            .insert(X_REQUEST_ID, request_id.header_value());
        let record = Record {
            flight,
            span,
            request_id,
            method,
            facts,
            status: response.status(),
            code,
            started,
        };
        match session {
            Some(mut pending) => {
                pending.log = Some(record.into_session());
                (
                    response.map(|body| AccessBody::new(body, None)),
                    Some(pending),
                )
            }
            None => (
                response.map(|body| AccessBody::new(body, Some(record))),
                None,
            ),
        }
    }

    /// Runs a session [`Proxy::handle`] returned on a task of its own, owned by the proxy
    /// (the drain closes it and waits for it). `hold` lives as long as the session: the
    /// connection's count of requests in flight, so an HTTP/2 connection carrying a session
    /// is not taken for idle.
    pub(crate) fn start_session(&self, session: Box<PendingSession>, hold: impl Send + 'static) {
        let context = SessionContext {
            authenticator: Arc::clone(&self.authenticator),
            clock: self.clock,
            settings: self.settings.websocket,
            series: self.series.sessions().clone(),
            stop: self.sessions.stop_signal(),
            scopes: Arc::clone(&self.scopes),
        };
        self.sessions.spawn(async move {
            let _hold = hold;
            session.run(context).await;
        });
    }

    /// The WebSocket sessions, for the drain.
    pub(crate) fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Checks, authenticates and forwards; returns the upstream response with hop-by-hop
    /// headers removed and the organization's key taken out of it.
    async fn forward(
        &self,
        request: Request<Incoming>,
        client: &ClientAddr,
        request_id: &RequestId,
        facts: &mut Facts,
    ) -> Result<Forwarded, Refusal> {
        let handshake = websocket::detect(&request);
        if request.method() == Method::CONNECT && handshake.is_none() {
            return Err(Refusal::MethodNotAllowed);
        }
        // Absolute-form (`GET http://other/ HTTP/1.1`) would let a client pick the upstream
        // host. HTTP/2 requests always carry :scheme and :authority, so only HTTP/1 is checked.
        let uri = request.uri();
        if request.version() <= Version::HTTP_11
            && (uri.scheme().is_some() || uri.authority().is_some())
        {
            return Err(Refusal::BadTarget(TargetProblem::NotOriginForm));
        }
        let target = uri
            .path_and_query()
            .ok_or(Refusal::BadTarget(TargetProblem::NotOriginForm))?;
        let route = Route::parse(self.settings.listener.path_prefix.as_str(), target.as_str())
            .map_err(|err| match err {
                RouteError::NotFound => Refusal::RouteNotFound,
                RouteError::BadTarget(problem) => Refusal::BadTarget(problem),
            })?;
        let span = tracing::Span::current();
        span.record("api_group", route.api_group());
        facts.route = Some(route.clone());
        // Credential and account management, and our own mount point: no token opens them.
        if self.deny_list.denies(route.api_path()) {
            return Err(Refusal::RouteDenied);
        }
        // A declared length over the limit is refused before any work or upstream contact.
        if let Some(limit) = self.settings.listener.max_body_bytes
            && http_body::Body::size_hint(request.body()).lower() > limit
        {
            return Err(Refusal::BodyTooLarge { limit });
        }
        // A session's token is re-checked on every change to its binding from the handshake
        // on: listening starts before the token is checked, so no change falls in between.
        let invalidations = match handshake {
            Some(handshake) => {
                let body_empty = http_body::Body::is_end_stream(request.body());
                websocket::check(handshake, request.headers(), body_empty)
                    .map_err(Refusal::BadHandshake)?;
                Some((handshake, self.authenticator.invalidations()))
            }
            None => None,
        };

        let authenticated = self
            .authenticator
            .authenticate(request.headers(), (self.clock)())
            .await
            .map_err(Refusal::Auth)?;
        let claims = &authenticated.claims;
        span.record("org_id", claims.sub.as_str());
        span.record("binding_id", claims.bid.as_str());
        if let Some(function_id) = &claims.fid {
            span.record("function_id", function_id.as_str());
        }
        facts.claims = Some(Arc::clone(claims));
        if !self
            .settings
            .scopes
            .allows(&authenticated, route.api_path())
        {
            return Err(Refusal::ScopeDenied {
                service: self.settings.scopes.service_for(route.api_path()),
            });
        }
        // Per organization: one organization's traffic never limits another's.
        let budget = match self
            .limiters
            .check(&claims.sub, authenticated.credential.rate_limit)
        {
            Decision::Unlimited => None,
            Decision::Allowed { limit, remaining } => Some((limit, remaining)),
            Decision::Limited { limit, retry_after } => {
                return Err(Refusal::RateLimited { limit, retry_after });
            }
        };

        if let Some((handshake, invalidations)) = invalidations {
            let opening = session::Opening {
                handshake,
                invalidations,
                authenticated,
                budget,
            };
            return self
                .open_session(opening, request, route, client, request_id, facts)
                .await;
        }

        let (mut parts, body) = request.into_parts();
        self.upstream_head(
            &mut parts,
            &authenticated.credential,
            route,
            client,
            request_id,
        );

        // An empty body's upload is over before it starts: nothing to track.
        let upload = (!http_body::Body::is_end_stream(&body)).then(|| Arc::new(Upload::default()));
        facts.uploaded.clone_from(&upload);
        let sent = Instant::now();
        let response = self
            .client
            .send(
                Request::from_parts(parts, body),
                self.settings.listener.max_body_bytes,
                upload,
                self.series.connections(),
            )
            .await
            .map_err(|err| match err {
                SendError::BodyTooLarge => Refusal::BodyTooLarge {
                    limit: self.settings.listener.max_body_bytes.unwrap_or(0),
                },
                SendError::Upstream(err) => Refusal::Upstream(err),
            })?;
        facts.upstream = Some(sent.elapsed());
        self.relay(response, authenticated.credential, budget, facts)
            .await
            .map(Forwarded::Response)
    }
}

/// How many of `proxy`'s upstream client tasks still run: 0 once [`crate::serve`] returned.
/// For tests that check no task outlives a drained server.
pub fn upstream_tasks(proxy: &Proxy) -> usize {
    proxy.upstream_tasks()
}

/// A refusal is the client's problem or a degraded upstream or store: never ERROR. Only a
/// broken invariant on our side (bad stored data) needs an operator.
fn log_refusal(refusal: &Refusal) {
    match refusal {
        Refusal::Upstream(err) => {
            let cause = std::error::Error::source(err).map(tracing::field::display);
            tracing::warn!(error = %err, cause, "upstream exchange failed");
        }
        Refusal::Auth(AuthError::StoreUnavailable(err)) => {
            tracing::warn!(error = %err, "store unavailable");
        }
        Refusal::Auth(AuthError::Internal { reason }) => {
            tracing::error!(reason, "authentication failed on our side");
        }
        Refusal::MethodNotAllowed
        | Refusal::BadTarget(_)
        | Refusal::RouteNotFound
        | Refusal::RouteDenied
        | Refusal::ScopeDenied { .. }
        | Refusal::RateLimited { .. }
        | Refusal::BadHandshake(_)
        | Refusal::TooManySessions(_)
        | Refusal::BodyTooLarge { .. }
        | Refusal::Auth(_)
        | Refusal::NotReady => tracing::debug!(error = %refusal, "request refused"),
    }
}
