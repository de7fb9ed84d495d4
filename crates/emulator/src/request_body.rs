//! The request body as handlers read it: data frames only, each counted into the journal.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::journal::Recorded;
use crate::problem::Problem;

/// A streaming request body that adds every data byte it yields to its journal entry.
#[derive(Debug)]
pub(crate) struct RequestBody {
    inner: Incoming,
    recorded: Arc<Recorded>,
}

impl RequestBody {
    pub(crate) fn new(inner: Incoming, recorded: Arc<Recorded>) -> Self {
        Self { inner, recorded }
    }

    /// The next data chunk, `None` at the end. Trailers are skipped.
    ///
    /// # Errors
    /// [`Problem::UnreadableBody`] when the stream fails (the client went away mid-body).
    pub(crate) async fn chunk(&mut self) -> Option<Result<Bytes, Problem>> {
        loop {
            if self.inner.is_end_stream() {
                return None;
            }
            match self.inner.frame().await? {
                Err(err) => {
                    tracing::debug!(error = %err, "request body failed");
                    return Some(Err(Problem::UnreadableBody));
                }
                Ok(frame) => {
                    if let Ok(data) = frame.into_data() {
                        self.recorded.add_body_bytes(data.len() as u64);
                        return Some(Ok(data));
                    }
                }
            }
        }
    }

    /// The whole body, refusing to buffer more than `limit_bytes`.
    ///
    /// # Errors
    /// [`Problem::BodyTooLarge`] past the limit; [`Problem::UnreadableBody`] on a failed stream.
    pub(crate) async fn read_to_end(&mut self, limit_bytes: u64) -> Result<Bytes, Problem> {
        let too_large = Problem::BodyTooLarge { limit_bytes };
        if self.inner.size_hint().lower() > limit_bytes {
            return Err(too_large);
        }
        let mut buffer = BytesMut::new();
        while let Some(chunk) = self.chunk().await {
            let chunk = chunk?;
            if (buffer.len() + chunk.len()) as u64 > limit_bytes {
                return Err(too_large);
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(buffer.freeze())
    }

    /// Reads and counts whatever is left, so the journal holds the full body length.
    ///
    /// # Errors
    /// [`Problem::UnreadableBody`] on a failed stream; the count holds what arrived.
    pub(crate) async fn drain(&mut self) -> Result<u64, Problem> {
        let mut total = 0;
        while let Some(chunk) = self.chunk().await {
            total += chunk?.len() as u64;
        }
        Ok(total)
    }
}
