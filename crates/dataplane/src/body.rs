//! Body and error types that sit below every other module of the crate, so that the modules
//! which pass bodies along (upstream, error, health, access, proxy, server) share them without
//! importing each other.

use bytes::Bytes;
use http_body_util::Full;

/// A connection, handshake or body error, of whichever layer failed.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of a response the proxy writes itself (an error document, a probe answer): small,
/// whole and in memory.
pub(crate) type LocalBody = Full<Bytes>;
