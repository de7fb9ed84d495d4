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

const UPLOAD_STREAMING: u8 = 0;
pub(super) const UPLOAD_DONE: u8 = 1;
pub(super) const UPLOAD_TOO_LARGE: u8 = 2;

/// How far a request body got: bytes passed upstream (for the access log) and whether the
/// upload is over. Shared by the body, the sender and the access record.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    bytes: AtomicU64,
    state: AtomicU8,
}

impl Upload {
    /// Request body bytes streamed upstream so far.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    pub(super) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    fn end(&self, state: u8) {
        let _ = self.state.compare_exchange(
            UPLOAD_STREAMING,
            state,
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

    fn finish(&mut self, state: u8) {
        if let Some(upload) = &self.upload {
            upload.end(state);
        }
        self.ended = None;
    }
}

impl Drop for UploadBody {
    fn drop(&mut self) {
        // Abandoned (the connection failed or the upstream answered early): over as well.
        self.finish(UPLOAD_DONE);
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
                        this.finish(UPLOAD_TOO_LARGE);
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
            this.finish(UPLOAD_DONE);
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
