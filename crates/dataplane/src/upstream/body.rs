//! The upstream's response body on its way back to the client. On HTTP/1.1 it drives its
//! connection while it is read and hands it back to the pool once the body is complete. An
//! upstream that stops sending in the middle of a body for `upstream.body_idle_timeout_ms`
//! ends it with an error, as a cut-off would: the client's connection is then closed (HTTP/1.1)
//! or its stream reset (HTTP/2), never ended as if the body were complete.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::time::{Instant, Sleep};

use super::pool::{Http1, Pool};
use crate::error::BodyError;

/// The upstream's response body. On HTTP/1.1 it drives its connection while it is read and
/// returns it to the pool once the body is complete; dropped unfinished, it closes it.
pub(crate) struct UpstreamBody {
    incoming: Incoming,
    connection: Option<Box<Http1>>,
    pool: Option<Arc<Pool>>,
    idle_timeout: Duration,
    /// Counts a wait for the upstream: armed when the body has nothing ready, disarmed when a
    /// frame arrives. Allocated on the first wait only, so a body that is always ready when
    /// polled (a small answer in the head's packet) never touches the timer wheel; time the
    /// client spends not reading is not counted (the body is not polled then).
    idle: Option<Pin<Box<Sleep>>>,
    waiting: bool,
    /// The whole body, once [`UpstreamBody::read_whole`] read it; handed out as one frame.
    whole: Option<Frame<Bytes>>,
    /// Trailers read with the whole body, handed out after it.
    trailers: Option<Frame<Bytes>>,
}

impl UpstreamBody {
    /// Wraps a response that came on `connection` (HTTP/1.1; `None` on HTTP/2), which goes
    /// back to `pool` once the body is complete.
    pub(super) fn new(
        incoming: Incoming,
        connection: Option<Box<Http1>>,
        pool: &Arc<Pool>,
    ) -> Self {
        let mut body = Self {
            incoming,
            pool: connection.as_ref().map(|_| Arc::clone(pool)),
            connection,
            idle_timeout: pool.body_idle_timeout,
            idle: None,
            waiting: false,
            whole: None,
            trailers: None,
        };
        // A response without a body may never be polled: its exchange is over already.
        if body.incoming.is_end_stream() {
            body.release();
        }
        body
    }

    /// Reads the rest of the body now, so a cut-off is known before the answer's head is sent;
    /// the body then hands out what it read. For answers that declared a small length
    /// (`upstream.buffer_small_responses_bytes`); the caller bounds the size by that length.
    ///
    /// # Errors
    /// [`BodyError`] when the upstream cut the body off or stalled in it.
    pub(crate) async fn read_whole(&mut self) -> Result<(), BodyError> {
        let mut data: Option<Bytes> = None;
        let mut more = bytes::BytesMut::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut *self).poll_frame(cx)).await
        {
            match frame?.into_data() {
                // Most small answers arrive as one frame: kept as it is, not copied.
                Ok(chunk) if data.is_none() && more.is_empty() => data = Some(chunk),
                Ok(chunk) => {
                    if let Some(first) = data.take() {
                        more.extend_from_slice(&first);
                    }
                    more.extend_from_slice(&chunk);
                }
                Err(frame) => {
                    self.trailers = Some(frame);
                    break;
                }
            }
        }
        let whole = data.unwrap_or_else(|| more.freeze());
        self.whole = (!whole.is_empty()).then(|| Frame::data(whole));
        Ok(())
    }

    /// Hands the connection back to the pool, once.
    fn release(&mut self) {
        if let (Some(connection), Some(pool)) = (self.connection.take(), self.pool.take()) {
            pool.release(connection);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        if let Some(frame) = this.whole.take().or_else(|| this.trailers.take()) {
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(connection) = &mut this.connection
            && Pin::new(&mut connection.driver).poll(cx).is_ready()
        {
            // Closed or failed mid-body: the body reports it.
            this.connection = None;
        }
        let polled = Pin::new(&mut this.incoming).poll_frame(cx);
        match polled {
            Poll::Ready(None) => {
                this.waiting = false;
                this.release();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(frame))) => {
                this.waiting = false;
                if this.incoming.is_end_stream() {
                    this.release();
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) => {
                this.waiting = false;
                this.connection = None;
                Poll::Ready(Some(Err(BodyError::Cut(err))))
            }
            Poll::Pending => this.poll_idle(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.whole.is_none() && self.trailers.is_none() && self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.whole.as_ref().and_then(Frame::data_ref) {
            Some(whole) => SizeHint::with_exact(whole.len() as u64),
            None => self.incoming.size_hint(),
        }
    }
}

impl UpstreamBody {
    /// The body has nothing ready: starts counting the wait if it was not counted yet, and
    /// ends the body once it has lasted `idle_timeout`. The connection is not reused then.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if !self.waiting {
            self.waiting = true;
            let deadline = Instant::now() + self.idle_timeout;
            match &mut self.idle {
                Some(sleep) => sleep.as_mut().reset(deadline),
                None => self.idle = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        let stalled = self
            .idle
            .as_mut()
            .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
        if stalled {
            self.connection = None;
            self.pool = None;
            return Poll::Ready(Some(Err(BodyError::Stalled(self.idle_timeout))));
        }
        Poll::Pending
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody").finish_non_exhaustive()
    }
}
