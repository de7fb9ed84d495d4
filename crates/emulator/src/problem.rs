//! Every error answer the emulator gives, with its status, code and title in one place.
//!
//! Bodies have the upstream's shape: `{"errors":[{"code":"...","title":"...","detail":"..."}]}`.
//!
//! | problem | status | code |
//! |---|---|---|
//! | missing or unknown API key | 401 | `10009` |
//! | unknown route, namespace or key | 404 | `10005` |
//! | bad KV key (characters outside `a-z A-Z 0-9 - _ / = .`, empty, bad escape, > 1024 bytes) | 400 | `10015` |
//! | bad query parameter, namespace name or JSON body (KV) | 400 | `10015` |
//! | unreadable request body | 400 | `10015` |
//! | not a WebSocket handshake on `/v2/speech-to-text/transcription` | 400 | `10015` |
//! | method not allowed on a known route | 405 | `10015` |
//! | body larger than the route allows | 413 | `10015` |
//! | `POST /v2/messages` body is not a JSON object | 422 | `10015` |
//! | `POST /v2/messages` without `from` or `to` | 422 | `10004` |
//! | namespace name already taken | 409 | `10020` (emulator's choice) |
//! | `/v2/_emulator/status/{code}` | `code` | `code`, e.g. `"503"` |

use http::header::{ALLOW, HeaderValue, RETRY_AFTER, SEC_WEBSOCKET_VERSION};
use http::{Response, StatusCode};
use serde_json::json;

use crate::reply::{self, ResponseBody};

/// An error answer. Each variant says what went wrong; [`Problem::into_response`] renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// No `Authorization: Bearer <key>` with a configured key.
    Unauthenticated,
    /// No route for the path.
    RouteNotFound,
    /// The namespace id names no (live) namespace.
    NamespaceNotFound,
    /// The namespace holds no such key.
    KeyNotFound,
    /// The route exists but not for this method.
    MethodNotAllowed { allow: &'static str },
    /// The KV key is empty, badly escaped, too long, or has a disallowed character.
    InvalidKey,
    /// A query parameter is malformed or out of range.
    InvalidParameter {
        parameter: &'static str,
        reason: &'static str,
    },
    /// The namespace name is missing or not `[a-z0-9-]{1,63}`.
    InvalidNamespaceName,
    /// A KV request's JSON body does not parse.
    MalformedJson,
    /// A namespace with that name already exists.
    NamespaceExists,
    /// The request body is larger than the route accepts.
    BodyTooLarge { limit_bytes: u64 },
    /// The request body stream failed before its end.
    UnreadableBody,
    /// The `POST /v2/messages` body is not a JSON object.
    MalformedMessage,
    /// A required message field is missing or not a non-empty string.
    MissingParameter { parameter: &'static str },
    /// Asked for by `/v2/_emulator/status/{code}`, with optional retry headers.
    Emulated {
        status: StatusCode,
        retry_after: Option<HeaderValue>,
        retry_after_ms: Option<HeaderValue>,
    },
    /// A request to a WebSocket endpoint that is not an RFC 6455 opening handshake.
    BadHandshake(HandshakeFault),
}

/// What a WebSocket handshake lacks: the first requirement of RFC 6455 section 4.2.1 it misses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HandshakeFault {
    /// Not HTTP/1.1 (HTTP/1.0 cannot upgrade; the emulator offers no HTTP/2 extended CONNECT).
    NotHttp11,
    /// No `upgrade` token in `Connection`.
    NoConnectionUpgrade,
    /// No `websocket` token in `Upgrade`.
    NoUpgradeWebsocket,
    /// `Sec-WebSocket-Version` missing, repeated or not 13.
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` missing, repeated or not the base64 of 16 bytes.
    InvalidKey,
    /// The connection offers no upgrade, although the headers ask for one.
    NotUpgradable,
}

impl HandshakeFault {
    fn detail(self) -> &'static str {
        match self {
            Self::NotHttp11 => "A WebSocket handshake must use HTTP/1.1.",
            Self::NoConnectionUpgrade => "The Connection header must include 'upgrade'.",
            Self::NoUpgradeWebsocket => "The Upgrade header must include 'websocket'.",
            Self::UnsupportedVersion => "The Sec-WebSocket-Version header must be 13.",
            Self::InvalidKey => {
                "The Sec-WebSocket-Key header must be the base64 encoding of 16 bytes."
            }
            Self::NotUpgradable => "This connection cannot be upgraded.",
        }
    }
}

impl Problem {
    fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::RouteNotFound | Self::NamespaceNotFound | Self::KeyNotFound => {
                StatusCode::NOT_FOUND
            }
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidKey
            | Self::InvalidParameter { .. }
            | Self::InvalidNamespaceName
            | Self::MalformedJson
            | Self::UnreadableBody
            | Self::BadHandshake(_) => StatusCode::BAD_REQUEST,
            Self::NamespaceExists => StatusCode::CONFLICT,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MalformedMessage | Self::MissingParameter { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::Emulated { status, .. } => *status,
        }
    }

    fn code(&self) -> String {
        let code = match self {
            Self::Unauthenticated => "10009",
            Self::RouteNotFound | Self::NamespaceNotFound | Self::KeyNotFound => "10005",
            Self::MethodNotAllowed { .. }
            | Self::InvalidKey
            | Self::InvalidParameter { .. }
            | Self::InvalidNamespaceName
            | Self::MalformedJson
            | Self::BodyTooLarge { .. }
            | Self::UnreadableBody
            | Self::MalformedMessage
            | Self::BadHandshake(_) => "10015",
            Self::MissingParameter { .. } => "10004",
            Self::NamespaceExists => "10020",
            Self::Emulated { status, .. } => return status.as_u16().to_string(),
        };
        code.to_owned()
    }

    fn title(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "Authentication failed",
            Self::RouteNotFound | Self::NamespaceNotFound | Self::KeyNotFound => {
                "Resource not found"
            }
            Self::MethodNotAllowed { .. } => "Method not allowed",
            Self::InvalidKey
            | Self::InvalidParameter { .. }
            | Self::InvalidNamespaceName
            | Self::MalformedJson
            | Self::UnreadableBody
            | Self::MalformedMessage
            | Self::BadHandshake(_) => "Bad Request",
            Self::BodyTooLarge { .. } => "Payload too large",
            Self::MissingParameter { .. } => "Missing required parameter",
            Self::NamespaceExists => "Resource already exists",
            Self::Emulated { .. } => "Emulated error",
        }
    }

    fn detail(&self) -> String {
        match self {
            Self::Unauthenticated => "The API key you provided is invalid or missing.".to_owned(),
            Self::RouteNotFound => "The requested resource or URL could not be found.".to_owned(),
            Self::NamespaceNotFound => "The KV namespace does not exist.".to_owned(),
            Self::KeyNotFound => "The key does not exist in this namespace.".to_owned(),
            Self::MethodNotAllowed { allow } => {
                format!("This route allows only: {allow}.")
            }
            Self::InvalidKey => "Keys may contain only a-z, A-Z, 0-9 and - _ / = . \
                                 (at most 1024 bytes after percent-decoding)."
                .to_owned(),
            Self::InvalidParameter { parameter, reason } => {
                format!("The query parameter '{parameter}' {reason}.")
            }
            Self::InvalidNamespaceName => "The name must be 1 to 63 characters of lowercase \
                                           letters, numbers and hyphens."
                .to_owned(),
            Self::MalformedJson => "The request body is not valid JSON.".to_owned(),
            Self::NamespaceExists => "A KV namespace with this name already exists.".to_owned(),
            Self::BodyTooLarge { limit_bytes } => {
                format!("The request body exceeds {limit_bytes} bytes.")
            }
            Self::UnreadableBody => "The request body could not be read.".to_owned(),
            Self::MalformedMessage => "The request body must be a JSON object.".to_owned(),
            Self::MissingParameter { parameter } => {
                format!("The parameter '{parameter}' is required.")
            }
            Self::Emulated { status, .. } => {
                format!("The emulator was asked to answer {}.", status.as_u16())
            }
            Self::BadHandshake(fault) => fault.detail().to_owned(),
        }
    }

    /// The error response: status, JSON error document, and any headers the problem implies.
    pub(crate) fn into_response(self) -> Response<ResponseBody> {
        let document = json!({
            "errors": [{
                "code": self.code(),
                "title": self.title(),
                "detail": self.detail(),
            }]
        });
        let status = self.status();
        // 204, 205 and 304 never carry a body.
        let mut response = if matches!(status.as_u16(), 204 | 205 | 304) {
            reply::empty(status)
        } else {
            reply::json(status, &document)
        };
        let headers = response.headers_mut();
        match self {
            Self::MethodNotAllowed { allow } => {
                headers.insert(ALLOW, HeaderValue::from_static(allow));
            }
            Self::Emulated {
                retry_after,
                retry_after_ms,
                ..
            } => {
                if let Some(value) = retry_after {
                    headers.insert(RETRY_AFTER, value);
                }
                if let Some(value) = retry_after_ms {
                    headers.insert("retry-after-ms", value);
                }
            }
            // RFC 6455 section 4.4: name the versions the server speaks.
            Self::BadHandshake(HandshakeFault::UnsupportedVersion) => {
                headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
            }
            Self::Unauthenticated
            | Self::RouteNotFound
            | Self::NamespaceNotFound
            | Self::KeyNotFound
            | Self::InvalidKey
            | Self::InvalidParameter { .. }
            | Self::InvalidNamespaceName
            | Self::MalformedJson
            | Self::NamespaceExists
            | Self::BodyTooLarge { .. }
            | Self::UnreadableBody
            | Self::MalformedMessage
            | Self::MissingParameter { .. }
            | Self::BadHandshake(
                HandshakeFault::NotHttp11
                | HandshakeFault::NoConnectionUpgrade
                | HandshakeFault::NoUpgradeWebsocket
                | HandshakeFault::InvalidKey
                | HandshakeFault::NotUpgradable,
            ) => {}
        }
        response
    }
}
