//! The upstream's response body on its way back to the client. On HTTP/1.1 it drives its
//! connection while it is read and hands it back to the pool once the body is complete.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::pool::{Http1, Pool};

/// The upstream's response body. On HTTP/1.1 it drives its connection while it is read and
/// returns it to the pool once the body is complete; dropped unfinished, it closes it.
pub(crate) struct UpstreamBody {
    incoming: Incoming,
    connection: Option<Box<Http1>>,
    pool: Option<Arc<Pool>>,
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
        };
        // A response without a body may never be polled: its exchange is over already.
        if body.incoming.is_end_stream() {
            body.release();
        }
        body
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
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        if let Some(connection) = &mut this.connection
            && Pin::new(&mut connection.driver).poll(cx).is_ready()
        {
            // Closed or failed mid-body: the body reports it.
            this.connection = None;
        }
        let polled = Pin::new(&mut this.incoming).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) if this.incoming.is_end_stream() => this.release(),
            Poll::Ready(Some(Err(_))) => this.connection = None,
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody").finish_non_exhaustive()
    }
}
