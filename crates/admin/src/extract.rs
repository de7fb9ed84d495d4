//! The extractors every handler uses, so every bad body, query or path parameter is answered
//! as 400 `invalid_request` in our error format (axum's own rejections are plain text).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use http::request::Parts;
use http::{HeaderMap, header};
use serde::de::DeserializeOwned;

use crate::error::{AdminError, BodyRejection};

/// A required JSON body, declared `application/json`.
#[derive(Debug)]
pub(crate) struct JsonBody<T>(pub(crate) T);

/// A JSON body that may be left out: an empty body means `T::default()`.
#[derive(Debug)]
pub(crate) struct JsonOrEmpty<T>(pub(crate) T);

/// A decoded query string.
#[derive(Debug)]
pub(crate) struct QueryParams<T>(pub(crate) T);

/// Decoded path parameters.
#[derive(Debug)]
pub(crate) struct PathParam<T>(pub(crate) T);

/// What an empty body means for a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenEmpty {
    Refuse,
    UseDefault,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match decode(request, state, WhenEmpty::Refuse).await? {
            Some(value) => Ok(Self(value)),
            None => Err(AdminError::Body(BodyRejection::Empty)),
        }
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = decode(request, state, WhenEmpty::UseDefault).await?;
        Ok(Self(value.unwrap_or_default()))
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(AdminError::Query)
    }
}

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for PathParam<T> {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| Self(value))
            .map_err(AdminError::Path)
    }
}

/// Reads the body (within axum's body limit) and decodes it with axum's JSON decoder, which
/// names the failing field. `None` for an empty body when the route allows one.
async fn decode<S: Send + Sync, T: DeserializeOwned>(
    request: Request,
    state: &S,
    when_empty: WhenEmpty,
) -> Result<Option<T>, AdminError> {
    let is_json = declares_json(request.headers());
    let bytes = Bytes::from_request(request, state)
        .await
        .map_err(|err| AdminError::Body(BodyRejection::Read(err)))?;
    if bytes.is_empty() {
        return match when_empty {
            WhenEmpty::UseDefault => Ok(None),
            WhenEmpty::Refuse if is_json => Err(AdminError::Body(BodyRejection::Empty)),
            WhenEmpty::Refuse => Err(AdminError::Body(BodyRejection::ContentType)),
        };
    }
    if !is_json {
        return Err(AdminError::Body(BodyRejection::ContentType));
    }
    Json::<T>::from_bytes(&bytes)
        .map(|Json(value)| Some(value))
        .map_err(|err| AdminError::Body(BodyRejection::Json(err)))
}

/// `application/json` or `application/<something>+json`, parameters allowed.
fn declares_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json") || subtype.to_ascii_lowercase().ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn json_content_types_are_recognised() {
        let check = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            declares_json(&headers)
        };
        assert!(check("application/json"));
        assert!(check("Application/JSON; charset=utf-8"));
        assert!(check("application/merge-patch+json"));
        assert!(!check("text/plain"));
        assert!(!check("application/jsonx"));
        assert!(!declares_json(&HeaderMap::new()));
    }
}
