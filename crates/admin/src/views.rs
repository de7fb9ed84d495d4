//! JSON shapes the admin API answers with, and the `{"data": ...}` envelopes around them.
//! Built from store records; none of them can hold an upstream key.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::ser::Error as _;
use serde::{Serialize, Serializer};
use store::{AuditEvent, Binding, RateLimit, SigningKey};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::AdminError;

/// Unix seconds written as RFC 3339 UTC (`2026-01-02T03:04:05Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp(pub(crate) i64);

impl Timestamp {
    /// The RFC 3339 text, or `None` when the instant is out of range.
    pub(crate) fn to_rfc3339(self) -> Option<String> {
        OffsetDateTime::from_unix_timestamp(self.0)
            .ok()?
            .format(&Rfc3339)
            .ok()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = self
            .to_rfc3339()
            .ok_or_else(|| S::Error::custom("timestamp out of range"))?;
        serializer.serialize_str(&text)
    }
}

/// A binding as the API shows it: `api_key_hint` only, never the key.
#[derive(Debug, Serialize)]
pub(crate) struct BindingView<'a> {
    id: &'a str,
    org_id: &'a str,
    generation: i64,
    scopes: &'a [String],
    rate_limit: Option<RateLimit>,
    api_key_hint: &'a str,
    previous_generation: Option<i64>,
    previous_generation_expires_at: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl<'a> From<&'a Binding> for BindingView<'a> {
    fn from(binding: &'a Binding) -> Self {
        Self {
            id: &binding.id,
            org_id: &binding.org_id,
            generation: binding.generation,
            scopes: &binding.scopes,
            rate_limit: binding.rate_limit,
            api_key_hint: &binding.api_key_hint,
            previous_generation: binding.previous_generation,
            previous_generation_expires_at: binding.previous_generation_expires_at.map(Timestamp),
            created_at: Timestamp(binding.created_at),
            updated_at: Timestamp(binding.updated_at),
        }
    }
}

/// A signing key's public facts.
#[derive(Debug, Serialize)]
pub(crate) struct SigningKeyView<'a> {
    kid: &'a str,
    algorithm: &'a str,
    status: &'static str,
    created_at: Timestamp,
    retired_at: Option<Timestamp>,
}

impl<'a> From<&'a SigningKey> for SigningKeyView<'a> {
    fn from(key: &'a SigningKey) -> Self {
        Self {
            kid: &key.kid,
            algorithm: &key.algorithm,
            status: key.status.as_str(),
            created_at: Timestamp(key.created_at),
            retired_at: key.retired_at.map(Timestamp),
        }
    }
}

/// One audit event.
#[derive(Debug, Serialize)]
pub(crate) struct AuditEventView<'a> {
    id: i64,
    at: Timestamp,
    actor: &'a str,
    action: &'a str,
    org_id: Option<&'a str>,
    binding_id: Option<&'a str>,
    detail: &'a serde_json::Value,
}

impl<'a> From<&'a AuditEvent> for AuditEventView<'a> {
    fn from(event: &'a AuditEvent) -> Self {
        Self {
            id: event.id,
            at: Timestamp(event.at),
            actor: &event.actor,
            action: &event.action,
            org_id: event.org_id.as_deref(),
            binding_id: event.binding_id.as_deref(),
            detail: &event.detail,
        }
    }
}

/// `meta` of a list answer.
#[derive(Debug, Serialize)]
pub(crate) struct PageMeta {
    pub(crate) has_more: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cursor: Option<String>,
}

#[derive(Serialize)]
struct DataEnvelope<T> {
    data: T,
}

#[derive(Serialize)]
struct PageEnvelope<T> {
    data: Vec<T>,
    meta: PageMeta,
}

/// A JSON answer, encoded when the response is built. An encoding failure (a timestamp out of
/// range) becomes a 500 in the error format rather than a half-written body.
#[derive(Debug)]
pub(crate) struct Reply {
    status: StatusCode,
    body: Result<Vec<u8>, serde_json::Error>,
}

impl Reply {
    /// 200 `{"data": value}`.
    pub(crate) fn ok<T: Serialize>(value: T) -> Self {
        Self::data(StatusCode::OK, value)
    }

    /// 201 `{"data": value}`.
    pub(crate) fn created<T: Serialize>(value: T) -> Self {
        Self::data(StatusCode::CREATED, value)
    }

    /// 200 `{"data": [...], "meta": {...}}`.
    pub(crate) fn page<T: Serialize>(items: Vec<T>, meta: PageMeta) -> Self {
        Self {
            status: StatusCode::OK,
            body: serde_json::to_vec(&PageEnvelope { data: items, meta }),
        }
    }

    /// A bare JSON document without envelope (JWKS).
    pub(crate) fn raw<T: Serialize>(value: T) -> Self {
        Self {
            status: StatusCode::OK,
            body: serde_json::to_vec(&value),
        }
    }

    fn data<T: Serialize>(status: StatusCode, value: T) -> Self {
        Self {
            status,
            body: serde_json::to_vec(&DataEnvelope { data: value }),
        }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self.body {
            Ok(body) => (
                self.status,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(err) => AdminError::Encode(err).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let text = serde_json::to_string(&Timestamp(1_767_225_600)).unwrap();
        assert_eq!(text, "\"2026-01-01T00:00:00Z\"");
        assert!(serde_json::to_string(&Timestamp(i64::MAX)).is_err());
    }
}
