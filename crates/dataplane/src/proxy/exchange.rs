//! The request head on its way up and the answer on its way back, shared by plain requests
//! and WebSocket handshakes.

use std::sync::Arc;

use http::header::HeaderValue;
use http::{Extensions, Response, Uri, Version};

use super::Proxy;
use crate::access::Facts;
use crate::error::{Refusal, UpstreamError};
use crate::forwarded::{self, ClientAddr};
use crate::headers::{X_RATELIMIT_LIMIT, X_RATELIMIT_REMAINING};
use crate::hop_headers;
use crate::redact::{self, RedactingBody};
use crate::request_id::RequestId;
use crate::route::Route;
use crate::upstream::UpstreamBody;

impl Proxy {
    /// The request head as the upstream gets it: hop-by-hop headers and the client's `Host`
    /// out (the upstream client sets the upstream's: `Host` on HTTP/1, `:authority` on
    /// HTTP/2), `Authorization` swapped, the forwarded headers as configured, the routed
    /// path in origin form.
    pub(super) fn upstream_head(
        &self,
        parts: &mut http::request::Parts,
        credential: &auth::Credential,
        route: Route,
        client: &ClientAddr,
        request_id: &RequestId,
    ) {
        hop_headers::rewrite_request_headers(
            &mut parts.headers,
            credential.upstream_authorization().clone(),
            request_id.header_value(),
        );
        forwarded::rewrite(
            &mut parts.headers,
            self.settings.listener.forwarded_headers,
            client,
        );
        // Origin-form; the upstream client adds what its connection's protocol needs.
        parts.uri = Uri::from(route.into_path_and_query());
        // The upstream connection's protocol is negotiated by ALPN, not inherited from ours.
        parts.version = Version::HTTP_11;
        parts.extensions = Extensions::new();
    }

    /// The upstream's answer on its way back: refused if encoded, read whole if small,
    /// hop-by-hop headers out, the key taken out of its head (and of its body as it streams),
    /// the rate-limit headers in.
    pub(super) async fn relay(
        &self,
        response: Response<UpstreamBody>,
        credential: Arc<auth::Credential>,
        budget: Option<(u32, u32)>,
        facts: &mut Facts,
    ) -> Result<Response<RedactingBody<UpstreamBody>>, Refusal> {
        let (mut parts, mut body) = response.into_parts();
        // Asked for `identity`, an upstream that compresses anyway sends bytes no scan can
        // check for the key: refused, not passed on unread.
        if !http_body::Body::is_end_stream(&body) && redact::is_encoded(&parts.headers) {
            return Err(Refusal::Upstream(UpstreamError::Encoded));
        }
        // A small answer is read whole before its head goes out: if the upstream cuts it off,
        // the client gets a 502 that tells the SDKs not to retry, not a truncated 200 they
        // would send again.
        if buffers_whole(
            &parts.headers,
            self.settings.upstream.buffer_small_responses,
        ) && !http_body::Body::is_end_stream(&body)
        {
            body.read_whole()
                .await
                .map_err(|err| Refusal::Upstream(UpstreamError::Cut(err)))?;
        }
        hop_headers::strip_hop_by_hop(&mut parts.headers);
        parts.version = Version::HTTP_11;
        answer_head(&mut parts, &credential, budget, facts);
        Ok(Response::from_parts(
            parts,
            RedactingBody::new(body, credential),
        ))
    }
}

/// The last touches on an answer's head: an upstream that echoes the request's
/// `Authorization` would hand the function the key this proxy exists to keep from it, so it is
/// taken out of the headers (and, by the caller, out of the body as it streams); the
/// rate-limit headers go in.
pub(super) fn answer_head(
    parts: &mut http::response::Parts,
    credential: &auth::Credential,
    budget: Option<(u32, u32)>,
    facts: &mut Facts,
) {
    facts.header_redactions = redact::redact_head(parts, credential.key_patterns());
    if let Some((limit, remaining)) = budget {
        parts
            .headers
            .insert(X_RATELIMIT_LIMIT, HeaderValue::from(limit));
        parts
            .headers
            .insert(X_RATELIMIT_REMAINING, HeaderValue::from(remaining));
    }
}

/// Whether an answer declares a length of at most `limit` bytes (0: none is read whole).
fn buffers_whole(headers: &http::HeaderMap, limit: u64) -> bool {
    limit > 0
        && headers
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok())
            .is_some_and(|length| length <= limit)
}
