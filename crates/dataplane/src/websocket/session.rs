//! One session after its handshake: the tunnel, and everything that may end it besides its
//! peers — the idle timeout, the maximum lifetime, the token's expiry, a rotation's grace
//! window, a revocation or deletion announced by the credential cache, and the drain.
//!
//! Revocation: every invalidation of the session's binding (from this replica's admin API or
//! another replica's change, as the credential cache hears of it), every signing-key reload,
//! and once a minute regardless, the session's token is authenticated again exactly as the next
//! request with it would be (its expiry only unless sessions may outlive it), and its scope
//! checked against the session's path. While the store cannot be read the session carries on
//! and the check is retried (1 s, doubling to 30 s): an outage does not end every session.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use auth::scope::ScopeTable;
use auth::{AuthError, Authenticated, Authenticator, Claims, Credential, Invalidation};
use http::HeaderMap;
use http::header::{AUTHORIZATION, HeaderValue};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::time::{Instant, sleep_until};

use super::frames::CloseCode;
use super::sessions::{Admission, Stop};
use super::tunnel::{Side, Tunnel};
use crate::access::{SessionEnd, SessionLog};
use crate::metrics::{Outcome, SessionSeries};
use crate::settings::WebSocketSettings;

/// How long both connections may take to be handed over after the handshake's answer.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the peers get to answer the proxy's Close frame (or end their streams) before
/// their connections are dropped.
const CLOSE_GRACE: Duration = Duration::from_millis(500);

/// How soon a re-check the store could not answer is tried again; doubled after each failure
/// up to [`RECHECK_RETRY_MAX`].
const RECHECK_RETRY: Duration = Duration::from_secs(1);
const RECHECK_RETRY_MAX: Duration = Duration::from_secs(30);

/// A session's token is checked again at least this often, change or not: the last fallback
/// should a change notification be missed or race with a cache load.
const RECHECK_PERIOD: Duration = Duration::from_secs(60);

/// A session whose handshake the upstream accepted, waiting to be started.
pub(crate) struct PendingSession {
    /// The client's connection, once hyper has written the answer.
    pub(crate) client: OnUpgrade,
    /// The upstream's connection, once hyper has read its `101`.
    pub(crate) upstream: OnUpgrade,
    pub(crate) claims: Arc<Claims>,
    pub(crate) credential: Arc<Credential>,
    /// The handshake's `Authorization` (the token, marked sensitive; never logged): re-checks
    /// verify it again as a request with it would be.
    pub(crate) authorization: HeaderValue,
    /// The handshake's API path (after `/v2/`): re-checks hold the token's scope to it. A copy,
    /// not the request's: that would keep the connection's read buffer alive.
    pub(crate) api_path: Box<str>,
    pub(crate) admission: Admission,
    /// Subscribed before the handshake's token was checked, so no change is missed.
    pub(crate) invalidations: broadcast::Receiver<Invalidation>,
    /// The handshake's access facts; set once the answer is built.
    pub(crate) log: Option<SessionLog>,
}

/// What a session needs of its proxy.
pub(crate) struct SessionContext {
    pub(crate) authenticator: Arc<Authenticator>,
    pub(crate) clock: fn() -> i64,
    pub(crate) settings: WebSocketSettings,
    pub(crate) series: SessionSeries,
    pub(crate) stop: watch::Receiver<Stop>,
    pub(crate) scopes: Arc<ScopeTable>,
}

/// Why a re-check did not allow the session.
enum Refused {
    /// As a request with the token would be refused (or the store could not be read).
    Auth(AuthError),
    /// The token's scope no longer opens the session's path (the binding lost the scope).
    Scope,
}

impl From<AuthError> for Refused {
    fn from(err: AuthError) -> Self {
        Self::Auth(err)
    }
}

type Recheck = Pin<Box<dyn Future<Output = Result<Arc<Credential>, Refused>> + Send>>;

/// The re-check in flight; never resolves without one.
async fn in_flight(recheck: &mut Option<Recheck>) -> Result<Arc<Credential>, Refused> {
    match recheck {
        Some(check) => check.await,
        None => std::future::pending().await,
    }
}

/// When the token stops allowing the session on its own: its expiry (unless allowed past it)
/// or the end of the rotation grace window its generation is in; with the outcome and reason.
fn token_deadline(
    claims: &Claims,
    credential: &Credential,
    context: &SessionContext,
) -> Option<(i64, Outcome, &'static str)> {
    let expiry = (!context.settings.allow_past_expiry).then(|| {
        (
            context.authenticator.expires_at(claims),
            Outcome::Expired,
            "token_expired",
        )
    });
    let grace = (claims.generation != credential.generation)
        .then_some(credential.previous_valid_until)
        .flatten()
        .map(|until| (until, Outcome::Revoked, "token_superseded"));
    [expiry, grace]
        .into_iter()
        .flatten()
        .min_by_key(|(at, ..)| *at)
}

/// The instant `at` (unix seconds) falls on, on the monotonic clock.
fn instant_of(at: i64, clock: fn() -> i64) -> Instant {
    let from_now = u64::try_from(at.saturating_sub(clock())).unwrap_or(0);
    Instant::now() + Duration::from_secs(from_now)
}

impl PendingSession {
    /// Runs the session to its end, then writes its access line and metrics.
    pub(crate) async fn run(self, context: SessionContext) {
        let PendingSession {
            client,
            upstream,
            claims,
            credential,
            authorization,
            api_path,
            admission,
            invalidations,
            log,
        } = self;
        context.series.open.inc();
        // A drain whose grace runs out does not wait for a handover either.
        let mut stop = context.stop.clone();
        let handed_over = tokio::select! {
            handed_over = tokio::time::timeout(UPGRADE_TIMEOUT, async {
                tokio::try_join!(client, upstream)
            }) => handed_over,
            _ = stop.wait_for(|stop| *stop == Stop::Cut) => {
                tracing::debug!("the drain ended before a WebSocket connection was handed over");
                return finish(&context, log, admission, SessionEnd::empty(Outcome::Cut));
            }
        };
        let end = match handed_over {
            Ok(Ok((client, upstream))) => {
                let tunnel = Tunnel::new(
                    TokioIo::new(client),
                    TokioIo::new(upstream),
                    context.series.up.clone(),
                    context.series.down.clone(),
                );
                let mut live = Live {
                    tunnel,
                    claims,
                    credential,
                    authorization,
                    api_path,
                    invalidations,
                    context: &context,
                };
                live.run().await
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "a WebSocket connection was not handed over");
                SessionEnd::empty(Outcome::Error)
            }
            Err(_elapsed) => {
                tracing::debug!("a WebSocket connection was not handed over in time");
                SessionEnd::empty(Outcome::Error)
            }
        };
        finish(&context, log, admission, end);
    }
}

/// A session is over: its place under the caps freed, its metrics and access line written.
fn finish(
    context: &SessionContext,
    log: Option<SessionLog>,
    admission: Admission,
    end: SessionEnd,
) {
    drop(admission);
    context.series.open.dec();
    context.series.ended(end.ended_by);
    if let Some(log) = log {
        log.finish(end);
    }
}

/// A session with both connections in hand.
struct Live<'a, C, U> {
    tunnel: Tunnel<C, U>,
    claims: Arc<Claims>,
    credential: Arc<Credential>,
    authorization: HeaderValue,
    api_path: Box<str>,
    invalidations: broadcast::Receiver<Invalidation>,
    context: &'a SessionContext,
}

impl<C, U> Live<'_, C, U>
where
    C: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    U: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    /// The token checked again exactly as a request with it would be now (signature and key,
    /// binding, generation, revocation, and its expiry unless sessions may outlive it), then its
    /// scope against the session's path.
    fn recheck(&self) -> Recheck {
        let authenticator = Arc::clone(&self.context.authenticator);
        let claims = Arc::clone(&self.claims);
        let scopes = Arc::clone(&self.context.scopes);
        let api_path = self.api_path.clone();
        let allow_past_expiry = self.context.settings.allow_past_expiry;
        let mut headers = HeaderMap::with_capacity(1);
        headers.insert(AUTHORIZATION, self.authorization.clone());
        let now = (self.context.clock)();
        Box::pin(async move {
            let credential = match authenticator.authenticate(&headers, now).await {
                Ok(authenticated) => authenticated.credential,
                Err(AuthError::TokenExpired) if allow_past_expiry => {
                    authenticator.recheck(&claims, now).await?
                }
                Err(err) => return Err(Refused::Auth(err)),
            };
            let authenticated = Authenticated { claims, credential };
            if !scopes.allows(&authenticated, &api_path) {
                return Err(Refused::Scope);
            }
            Ok(authenticated.credential)
        })
    }

    /// The earliest of the maximum lifetime and the token's own deadline, with what ends the
    /// session then.
    fn deadline(&self, lifetime_end: Instant) -> (Instant, Outcome, CloseCode, &'static str) {
        let lifetime = (
            lifetime_end,
            Outcome::MaxLifetime,
            CloseCode::GoingAway,
            "session_lifetime",
        );
        match token_deadline(&self.claims, &self.credential, self.context) {
            Some((at, outcome, reason)) => {
                let at = instant_of(at, self.context.clock);
                if at < lifetime_end {
                    (at, outcome, CloseCode::PolicyViolation, reason)
                } else {
                    lifetime
                }
            }
            None => lifetime,
        }
    }

    async fn run(&mut self) -> SessionEnd {
        let settings = self.context.settings;
        let lifetime_end = Instant::now() + settings.max_lifetime;
        let mut stop = self.context.stop.clone();
        let mut deadline = self.deadline(lifetime_end);
        let deadline_sleep = sleep_until(deadline.0);
        let idle = sleep_until(self.tunnel.activity() + settings.idle_timeout);
        let grace = sleep_until(Instant::now());
        let retry = sleep_until(Instant::now());
        tokio::pin!(deadline_sleep, idle, grace, retry);
        let mut recheck: Option<Recheck> = None;
        let mut recheck_again = false;
        let mut retrying = false;
        let mut retry_delay = RECHECK_RETRY;
        let periodic = sleep_until(Instant::now() + RECHECK_PERIOD);
        tokio::pin!(periodic);
        let mut listening = true;
        let mut watching = true;
        let mut closing: Option<(Outcome, CloseCode)> = None;
        // The drain may have begun before this session started.
        let mut stopped = *stop.borrow_and_update();

        let (outcome, close_code) = loop {
            if closing.is_none() {
                let ending = match stopped {
                    Stop::Serving => None,
                    Stop::GoAway => Some((Outcome::Drained, CloseCode::GoingAway, "going_away")),
                    Stop::Cut => break (Outcome::Cut, None),
                };
                if let Some((outcome, code, reason)) = ending {
                    self.tunnel.close(code, reason);
                    closing = Some((outcome, code));
                    grace.as_mut().reset(Instant::now() + CLOSE_GRACE);
                }
            }
            tokio::select! {
                biased;
                () = &mut grace, if closing.is_some() => {
                    // The peers did not answer the Close in time: dropped.
                    if let Some((outcome, code)) = closing {
                        break (outcome, Some(code));
                    }
                }
                changed = stop.changed(), if watching => match changed {
                    Ok(()) => {
                        stopped = *stop.borrow_and_update();
                        if stopped == Stop::Cut {
                            break (Outcome::Cut, closing.map(|(_, code)| code));
                        }
                    }
                    // The proxy is gone: nothing will tell this session to stop again.
                    Err(_) => {
                        watching = false;
                        stopped = Stop::GoAway;
                    }
                },
                received = self.invalidations.recv(), if listening && closing.is_none() => {
                    let concerned = match received {
                        Ok(Invalidation::Binding(id)) => *id == *self.claims.bid,
                        Ok(Invalidation::All | Invalidation::SigningKeys)
                        | Err(RecvError::Lagged(_)) => true,
                        Err(RecvError::Closed) => {
                            listening = false;
                            false
                        }
                    };
                    if concerned {
                        if recheck.is_some() {
                            recheck_again = true;
                        } else {
                            recheck = Some(self.recheck());
                        }
                    }
                }
                checked = in_flight(&mut recheck), if recheck.is_some() && closing.is_none() => {
                    recheck = None;
                    match checked {
                        Ok(credential) => {
                            self.credential = credential;
                            deadline = self.deadline(lifetime_end);
                            deadline_sleep.as_mut().reset(deadline.0);
                            retry_delay = RECHECK_RETRY;
                            if std::mem::take(&mut recheck_again) {
                                recheck = Some(self.recheck());
                            }
                        }
                        Err(Refused::Auth(AuthError::StoreUnavailable(_))) => {
                            // Logged once per outage, not once a retry: every session of a
                            // replica may be retrying at once.
                            if retry_delay == RECHECK_RETRY {
                                tracing::warn!("a WebSocket session's token could not be re-checked (store unavailable); retrying");
                            }
                            retry.as_mut().reset(Instant::now() + retry_delay);
                            retry_delay = (retry_delay * 2).min(RECHECK_RETRY_MAX);
                            retrying = true;
                        }
                        Err(refused) => {
                            let (outcome, reason) = match &refused {
                                Refused::Auth(AuthError::TokenExpired) => (Outcome::Expired, "token_expired"),
                                Refused::Auth(err) => (Outcome::Revoked, err.code().as_str()),
                                Refused::Scope => (Outcome::Revoked, "scope_denied"),
                            };
                            tracing::info!(code = reason, "WebSocket session closed: its token no longer allows it");
                            self.tunnel.close(CloseCode::PolicyViolation, reason);
                            closing = Some((outcome, CloseCode::PolicyViolation));
                            grace.as_mut().reset(Instant::now() + CLOSE_GRACE);
                        }
                    }
                }
                () = &mut periodic, if closing.is_none() => {
                    periodic.as_mut().reset(Instant::now() + RECHECK_PERIOD);
                    if recheck.is_none() && !retrying {
                        recheck = Some(self.recheck());
                    }
                }
                () = &mut retry, if retrying && recheck.is_none() => {
                    retrying = false;
                    recheck = Some(self.recheck());
                }
                () = &mut idle, if closing.is_none() => {
                    let until = self.tunnel.activity() + settings.idle_timeout;
                    if until <= Instant::now() {
                        self.tunnel.close(CloseCode::GoingAway, "idle_timeout");
                        closing = Some((Outcome::IdleTimeout, CloseCode::GoingAway));
                        grace.as_mut().reset(Instant::now() + CLOSE_GRACE);
                    } else {
                        idle.as_mut().reset(until);
                    }
                }
                () = &mut deadline_sleep, if closing.is_none() => {
                    let (_, outcome, code, reason) = deadline;
                    self.tunnel.close(code, reason);
                    closing = Some((outcome, code));
                    grace.as_mut().reset(Instant::now() + CLOSE_GRACE);
                }
                // Last: the control arms above are polled first on every turn, with the task's
                // whole coop budget, so a tunnel that always has bytes to move cannot starve
                // the timers and re-checks.
                result = &mut self.tunnel => {
                    break match (closing, result) {
                        (Some((outcome, code)), _) => (outcome, Some(code)),
                        (None, Ok(())) => match self.tunnel.ended_by() {
                            Some(Side::Client) => (Outcome::ClientClosed, None),
                            Some(Side::Upstream) | None => (Outcome::UpstreamClosed, None),
                        },
                        (None, Err(err)) => {
                            tracing::debug!(error = %err, "WebSocket session failed");
                            (Outcome::Error, None)
                        }
                    };
                }
            }
        };
        let (bytes_in, bytes_out) = self.tunnel.bytes();
        SessionEnd {
            ended_by: outcome,
            close_code: close_code.map(CloseCode::as_u16),
            bytes_in,
            bytes_out,
        }
    }
}
