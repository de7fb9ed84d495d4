//! WebSocket sessions through the binding (`docs/websockets.md`).
//!
//! A handshake is a request like any other until the upstream answers it: routed, checked,
//! authenticated, scoped and rate limited by `proxy`, which then sends it upstream on a
//! connection of its own as an HTTP/1.1 upgrade and, on a `101`, answers the client and starts
//! the session here.
//!
//! - `handshake`: telling a handshake from a request, and the upstream's and client's heads.
//! - `frames`: where frames end, and the Close frames the proxy sends.
//! - `tunnel`: the bytes both ways, and closing from the proxy's side.
//! - `session`: one session's life (timeouts, revocation, drain) and its access line.
//! - `sessions`: the caps, the tasks and the stop signal of all of them.

mod frames;
mod handshake;
mod session;
mod sessions;
mod tunnel;

pub(crate) use handshake::{Handshake, check, client_answer, detect, upstream_headers};
pub(crate) use session::{PendingSession, SessionContext};
pub(crate) use sessions::Sessions;
