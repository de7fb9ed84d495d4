//! Names of the headers the proxy sets itself, in one leaf module: the request id, and the
//! rate-limit headers that both allowed and limited responses carry.

use http::HeaderName;

/// `X-Request-Id`.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The organization's rate limit (sustained requests per second), on every limited response.
pub(crate) const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");

/// Requests that still fit in the organization's burst right now.
pub(crate) const X_RATELIMIT_REMAINING: HeaderName =
    HeaderName::from_static("x-ratelimit-remaining");
