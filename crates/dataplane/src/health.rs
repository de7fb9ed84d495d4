//! Liveness and readiness probes, answered on the data-plane listener without a token.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response};
use http_body_util::Full;

use crate::body::LocalBody;
use crate::error::Refusal;
use crate::request_id::RequestId;

/// Whether the proxy should receive new traffic; shared with the binary, which turns it off
/// on SIGTERM before draining (and on once start-up is complete). `Default` is not ready.
#[derive(Debug, Clone, Default)]
pub struct Readiness(Arc<AtomicBool>);

impl Readiness {
    /// A flag, initially `ready`.
    pub fn new(ready: bool) -> Self {
        Self(Arc::new(AtomicBool::new(ready)))
    }

    /// Turns readiness on or off; `GET /health/readiness` answers 503 while off.
    pub fn set_ready(&self, ready: bool) {
        self.0.store(ready, Ordering::Release);
    }

    /// Whether the proxy is ready.
    pub fn is_ready(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

const LIVENESS: &str = "/health/liveness";
const READINESS: &str = "/health/readiness";
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// The probe answer for `GET`/`HEAD` on a health path, or `None` for every other request.
pub(crate) fn answer<B>(
    request: &Request<B>,
    readiness: &Readiness,
    request_id: &RequestId,
) -> Option<Response<LocalBody>> {
    if !matches!(*request.method(), Method::GET | Method::HEAD) {
        return None;
    }
    match request.uri().path() {
        LIVENESS => Some(ok()),
        READINESS if readiness.is_ready() => Some(ok()),
        READINESS => Some(Refusal::NotReady.into_response(request_id)),
        _ => None,
    }
}

fn ok() -> Response<LocalBody> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
    response.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
    response
}

#[cfg(test)]
mod tests {
    use http::StatusCode;

    use super::*;

    fn probe(method: Method, path: &str, readiness: &Readiness) -> Option<StatusCode> {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .body(())
            .unwrap();
        answer(&request, readiness, &RequestId::mint()).map(|r| r.status())
    }

    #[test]
    fn liveness_is_always_ok() {
        let readiness = Readiness::new(false);
        assert_eq!(
            probe(Method::GET, LIVENESS, &readiness),
            Some(StatusCode::OK)
        );
        assert_eq!(
            probe(Method::HEAD, LIVENESS, &readiness),
            Some(StatusCode::OK)
        );
    }

    #[test]
    fn readiness_follows_the_flag() {
        let readiness = Readiness::new(true);
        assert_eq!(
            probe(Method::GET, READINESS, &readiness),
            Some(StatusCode::OK)
        );
        readiness.clone().set_ready(false);
        assert_eq!(
            probe(Method::GET, READINESS, &readiness),
            Some(StatusCode::SERVICE_UNAVAILABLE)
        );
    }

    #[test]
    fn other_requests_are_not_probes() {
        let readiness = Readiness::new(true);
        assert_eq!(probe(Method::POST, LIVENESS, &readiness), None);
        assert_eq!(probe(Method::GET, "/health", &readiness), None);
        assert_eq!(probe(Method::GET, "/health/liveness/x", &readiness), None);
    }
}
