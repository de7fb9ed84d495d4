//! A checked WebSocket handshake on its way up: admitted under the session caps, sent on a
//! connection of its own as an HTTP/1.1 upgrade, and either answered with a session (`101`
//! from the upstream) or relayed like any answer.

use std::sync::Arc;
use std::time::Instant;

use auth::{AuthError, Authenticated, Invalidation};
use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue, UPGRADE};
use http::{Method, Request};
use http_body_util::Empty;
use hyper::body::Incoming;
use tokio::sync::broadcast;

use super::exchange::answer_head;
use super::{Forwarded, Proxy};
use crate::access::Facts;
use crate::error::{Refusal, SwitchProblem, UpstreamError};
use crate::forwarded::ClientAddr;
use crate::hop_headers;
use crate::request_id::RequestId;
use crate::route::Route;
use crate::upstream::Upgrade;
use crate::websocket::{self, Handshake, PendingSession};

/// What the checks decided about a handshake.
pub(super) struct Opening {
    pub(super) handshake: Handshake,
    /// Subscribed before the token was checked.
    pub(super) invalidations: broadcast::Receiver<Invalidation>,
    pub(super) authenticated: Authenticated,
    /// The organization's rate limit and what is left of it, for the answer's headers.
    pub(super) budget: Option<(u32, u32)>,
}

impl Proxy {
    /// Admits the session, sends the handshake upstream and answers the client: a session on
    /// a `101` that is a WebSocket one, the upstream's answer otherwise.
    pub(super) async fn open_session(
        &self,
        opening: Opening,
        mut request: Request<Incoming>,
        route: Route,
        client: &ClientAddr,
        request_id: &RequestId,
        facts: &mut Facts,
    ) -> Result<Forwarded, Refusal> {
        let Opening {
            handshake,
            invalidations,
            authenticated,
            budget,
        } = opening;
        // Draining: a session started now would be closed at once.
        if self.sessions.stopping() {
            return Err(Refusal::NotReady);
        }
        let admission = self
            .sessions
            .admit(&authenticated.claims.sub)
            .map_err(Refusal::TooManySessions)?;
        let client_connection = hyper::upgrade::on(&mut request);
        // An HTTP/1.1 handshake has no body (checked); an extended CONNECT's is the session,
        // which the upgrade hands over.
        let (mut parts, _body) = request.into_parts();
        // Kept for the session's re-checks (authentication found exactly one header), copied:
        // a clone would share, and so keep alive for the whole session, the connection's read
        // buffer the request head was parsed from (kilobytes per idle session).
        let mut authorization = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|value| HeaderValue::from_bytes(value.as_bytes()).ok())
            .ok_or(Refusal::Auth(AuthError::TokenMissing))?;
        authorization.set_sensitive(true);
        let api_path: Box<str> = route.api_path().into();
        self.upstream_head(
            &mut parts,
            &authenticated.credential,
            route,
            client,
            request_id,
        );
        let expected_accept = websocket::upstream_headers(handshake, &mut parts.headers);
        parts.method = Method::GET;
        let sent = Instant::now();
        let answer = self
            .client
            .upgrade(
                Request::from_parts(parts, Empty::<Bytes>::new()),
                self.series.connections(),
            )
            .await
            .map_err(Refusal::Upstream)?;
        facts.upstream = Some(sent.elapsed());
        let (mut head, upstream_connection) = match answer {
            // RFC 8441: a 2xx to an extended CONNECT means the session is open; an upstream
            // that answered without switching must not be relayed as one.
            Upgrade::Answered(response)
                if handshake == Handshake::ExtendedConnect && response.status().is_success() =>
            {
                return Err(Refusal::Upstream(UpstreamError::Switch(
                    SwitchProblem::NotSwitched,
                )));
            }
            Upgrade::Answered(response) => {
                return self
                    .relay(*response, authenticated.credential, budget, facts)
                    .await
                    .map(Forwarded::Response);
            }
            Upgrade::Switched { head, connection } => (head, connection),
        };
        let upgrade = head.headers.get(UPGRADE).cloned();
        hop_headers::strip_hop_by_hop(&mut head.headers);
        websocket::client_answer(
            handshake,
            &mut head,
            upgrade.as_ref(),
            expected_accept.as_deref(),
        )
        .map_err(|problem| Refusal::Upstream(UpstreamError::Switch(problem)))?;
        answer_head(&mut head, &authenticated.credential, budget, facts);
        Ok(Forwarded::Session(
            head,
            Box::new(PendingSession {
                client: client_connection,
                upstream: upstream_connection,
                claims: Arc::clone(&authenticated.claims),
                credential: authenticated.credential,
                authorization,
                api_path,
                admission,
                invalidations,
                log: None,
            }),
        ))
    }
}
