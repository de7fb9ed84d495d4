//! The client's request body on its way to the upstream: streamed frame by frame, counted,
//! cut at the size limit, and its progress shared with the sender and the access record.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::oneshot;

/// Where an upload stands. The body, the sender and the access record share it through an
/// [`AtomicU8`], so it converts to its `u8` and back, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UploadState {
    /// The body is still streaming upstream.
    Streaming,
    /// The body ended, failed or was abandoned: nothing more goes upstream.
    Done,
    /// The body passed `max_body_bytes` and was cut.
    TooLarge,
}

impl From<UploadState> for u8 {
    fn from(state: UploadState) -> Self {
        match state {
            UploadState::Streaming => 0,
            UploadState::Done => 1,
            UploadState::TooLarge => 2,
        }
    }
}

/// A `u8` that is not an [`UploadState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NotAnUploadState(u8);

impl TryFrom<u8> for UploadState {
    type Error = NotAnUploadState;

    fn try_from(value: u8) -> Result<Self, NotAnUploadState> {
        match value {
            0 => Ok(Self::Streaming),
            1 => Ok(Self::Done),
            2 => Ok(Self::TooLarge),
            other => Err(NotAnUploadState(other)),
        }
    }
}

/// How far a request body got: bytes passed upstream (for the access log) and whether the
/// upload is over. Shared by the body, the sender and the access record.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    bytes: AtomicU64,
    /// An [`UploadState`]; 0 (`Streaming`) when the upload starts.
    state: AtomicU8,
}

impl Upload {
    /// Request body bytes streamed upstream so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Where the upload stands.
    pub(super) fn state(&self) -> UploadState {
        UploadState::try_from(self.state.load(Ordering::Acquire))
            .expect("only `UploadState`s are stored in `Upload::state`")
    }

    /// Ends a streaming upload as `state`; an upload that ended already keeps how it ended.
    fn end(&self, state: UploadState) {
        let _ = self.state.compare_exchange(
            UploadState::Streaming.into(),
            state.into(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }
}

/// Why the request body stopped streaming upstream.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    /// Reading the client's body failed.
    #[error("reading the client's request body failed")]
    Client(#[source] hyper::Error),
    /// The body passed `max_body_bytes`.
    #[error("request body exceeds the size limit")]
    TooLarge,
}

/// The client's request body, streamed to the upstream frame by frame; records its progress
/// and stops at the size limit. Never buffers.
#[derive(Debug)]
pub(crate) struct UploadBody {
    inner: Incoming,
    /// Bytes still allowed through; `None`: no limit.
    remaining: Option<u64>,
    /// `None` for an empty body, whose upload is over before it starts.
    pub(super) upload: Option<Arc<Upload>>,
    /// HTTP/2 only: dropped when the upload ends, to wake the sender in another task.
    pub(super) ended: Option<oneshot::Sender<()>>,
}

impl UploadBody {
    /// Wraps the client's body; `max_body_bytes` caps what is passed on, `upload` records the
    /// progress of a body that is not empty.
    pub(super) fn new(
        inner: Incoming,
        max_body_bytes: Option<u64>,
        upload: Option<Arc<Upload>>,
    ) -> Self {
        Self {
            inner,
            remaining: max_body_bytes,
            upload,
            ended: None,
        }
    }

    fn finish(&mut self, state: UploadState) {
        if let Some(upload) = &self.upload {
            upload.end(state);
        }
        self.ended = None;
    }
}

impl Drop for UploadBody {
    fn drop(&mut self) {
        // Abandoned (the connection failed or the upstream answered early): over as well.
        self.finish(UploadState::Done);
    }
}

impl Body for UploadBody {
    type Data = Bytes;
    type Error = UploadError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, UploadError>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            let len = frame.data_ref().map_or(0, |data| data.len() as u64);
            if let Some(remaining) = &mut this.remaining {
                match remaining.checked_sub(len) {
                    Some(left) => *remaining = left,
                    None => {
                        this.finish(UploadState::TooLarge);
                        return Poll::Ready(Some(Err(UploadError::TooLarge)));
                    }
                }
            }
            if let Some(upload) = &this.upload {
                upload.bytes.fetch_add(len, Ordering::Relaxed);
            }
        }
        let finished = match &polled {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => this.inner.is_end_stream(),
            Poll::Pending => false,
        };
        if finished {
            this.finish(UploadState::Done);
        }
        polled.map(|frame| frame.map(|result| result.map_err(UploadError::Client)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_upload_state_survives_the_round_trip_through_its_byte() {
        for state in [
            UploadState::Streaming,
            UploadState::Done,
            UploadState::TooLarge,
        ] {
            assert_eq!(UploadState::try_from(u8::from(state)), Ok(state));
        }
        assert_eq!(UploadState::try_from(3), Err(NotAnUploadState(3)));
    }

    #[test]
    fn an_upload_keeps_how_it_ended() {
        let upload = Upload::default();
        assert_eq!(upload.state(), UploadState::Streaming);
        upload.end(UploadState::TooLarge);
        upload.end(UploadState::Done);
        assert_eq!(upload.state(), UploadState::TooLarge);
    }
}
