//! The organization's key never reaches the function, even when the upstream reflects it.
//!
//! An upstream that echoes the request's `Authorization` (in an error's `detail`, a body, a
//! `WWW-Authenticate` challenge, any other header) would hand the real key to untrusted
//! function code. Every upstream response passes through here on its way back:
//!
//! - `headers`: `Authorization` and `Proxy-Authorization` are dropped, and each form of the key
//!   in any other header value (trailers too) and in the reason phrase becomes `[redacted]`; `is_encoded` tells a body
//!   under a content coding apart, which no byte scan could read (the proxy asks the upstream
//!   for `identity` and refuses an answer encoded anyway);
//! - `stream`: the body is scanned as it streams; each form of the key becomes a marker of the
//!   same length, so `Content-Length` stays true. The last `longest form - 1` bytes of every
//!   chunk, or only those after a line break among them (no form holds one), are held back
//!   until the next chunk (or the end): a key cut across chunks is still found, an event of an
//!   event stream goes out when it ends, and since the held-back length never depends on
//!   whether the bytes begin the key, chunk sizes tell a function nothing about how much of a
//!   guess matched it;
//! - `body`: the response body that does it ([`RedactingBody`]) and what it found.
//!
//! The forms of the key (its bytes and its JSON-string escapes) and their searchers are built
//! once per credential by `auth` ([`auth::KeyPatterns`]). Nothing here logs or counts: the
//! access record does, when the body ends.

mod body;
mod headers;
mod stream;
#[cfg(test)]
mod testing;

pub(crate) use body::{RedactingBody, Redactions};
pub use headers::redact_headers;
pub(crate) use headers::{is_encoded, redact_head};
pub use stream::Scanner;
