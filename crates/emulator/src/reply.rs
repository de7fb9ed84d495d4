//! Response builders: one body type for every answer the emulator gives.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};

/// The body of every emulator response: a whole buffer, nothing, or a generated stream.
pub(crate) type ResponseBody = UnsyncBoxBody<Bytes, Infallible>;

/// The content type of KV values and generated streams.
pub(crate) const OCTET_STREAM: HeaderValue = HeaderValue::from_static("application/octet-stream");

const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

/// `status` with an empty body.
pub(crate) fn empty(status: StatusCode) -> Response<ResponseBody> {
    with_status(status, Empty::new().boxed_unsync())
}

/// `status` with `value` as an `application/json` body.
pub(crate) fn json(status: StatusCode, value: &serde_json::Value) -> Response<ResponseBody> {
    let mut response = with_status(
        status,
        Full::new(Bytes::from(value.to_string())).boxed_unsync(),
    );
    response
        .headers_mut()
        .insert(CONTENT_TYPE, APPLICATION_JSON);
    response
}

/// `200 OK` with raw bytes as `application/octet-stream`.
pub(crate) fn octets(bytes: Bytes) -> Response<ResponseBody> {
    let mut response = with_status(StatusCode::OK, Full::new(bytes).boxed_unsync());
    response.headers_mut().insert(CONTENT_TYPE, OCTET_STREAM);
    response
}

/// `status` with any body.
pub(crate) fn with_status(status: StatusCode, body: ResponseBody) -> Response<ResponseBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
