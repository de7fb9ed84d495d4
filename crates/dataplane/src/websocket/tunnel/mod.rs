//! The bytes of a session, both ways: whatever one side sends is written to the other as it
//! arrives, frames of any size, without parsing more of them than their boundaries
//! ([`Frames`]).
//!
//! Buffers: each read goes into a 16 KiB buffer on the stack and is written on at once; only
//! what the other side does not take immediately is copied to the heap, and that copy is freed
//! once written. An idle session holds no buffer, and a session never holds more than 16 KiB
//! per direction: while a side's copy waits, nothing more is read from the other.
//!
//! Ending: when one side ends its stream, the other is told (its write half is shut down) and
//! the tunnel ends once both have. [`Tunnel::close`] ends it from the proxy's side: each
//! direction finishes the frame in flight (reading no further than its end), writes a Close
//! frame, shuts down, then reads and drops what the peer still sends until its Close frame
//! or its end, so the peer reads our Close before the socket closes rather than a reset.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use prometheus_client::metrics::counter::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::frames::{CloseCode, Frames, close_frame};

/// The most one read takes: a buffer on the stack, so idle sessions hold none.
const READ_SIZE: usize = 16 * 1024;

/// Reads one direction makes per turn before it lets the other (and the session's timers) go:
/// a client that always has bytes to send does not hold back what the upstream sends it.
const READS_PER_TURN: usize = 8;

/// Which side ended the session's stream first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Upstream,
}

/// A session's two connections and the bytes between them.
pub(super) struct Tunnel<C, U> {
    client: C,
    upstream: U,
    /// Client to upstream.
    up: Half,
    /// Upstream to client.
    down: Half,
    /// When a byte last moved either way.
    activity: Instant,
    /// Which side's stream ended first, if one has.
    first_end: Option<Side>,
    /// Which side sent the first Close frame, if one has.
    first_close: Option<Side>,
}

/// One direction.
struct Half {
    frames: Frames,
    /// Read and not yet written: the rest of a read the writer did not take at once.
    pending: Vec<u8>,
    written: usize,
    /// Bytes were written since the last flush.
    unflushed: bool,
    phase: Phase,
    /// The Close frame this direction sends once [`Tunnel::close`] is called; `None` before.
    close: Option<Vec<u8>>,
    bytes: u64,
    counter: Counter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Carrying bytes.
    Open,
    /// Closing: carrying the frame in flight to its end, then the Close frame.
    Finishing,
    /// Shutting the writer down; then, if `drain`, reading what the peer still sends.
    Shutdown { drain: bool },
    /// Reading and dropping until the peer's Close frame or its end.
    Draining,
    /// Over.
    Done,
}

impl Half {
    fn new(counter: Counter) -> Self {
        Self {
            frames: Frames::default(),
            pending: Vec::new(),
            written: 0,
            unflushed: false,
            phase: Phase::Open,
            close: None,
            bytes: 0,
            counter,
        }
    }

    /// Whether nothing more is to come this way: the stream ended, or a Close frame has been
    /// carried whole (nothing may follow it, RFC 6455 §5.5.1) and written out.
    fn finished(&self) -> bool {
        self.phase == Phase::Done
            || (self.frames.close_seen()
                && self.frames.at_boundary()
                && self.pending.is_empty()
                && !self.unflushed)
    }

    /// Writes what is pending; ready once nothing is.
    fn poll_pending<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut *writer).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
            self.unflushed = true;
        }
        if !self.pending.is_empty() {
            // Freed: an idle session holds no buffer.
            self.pending = Vec::new();
            self.written = 0;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes `data` now, keeping what the writer does not take for later.
    fn write_or_keep<W: AsyncWrite + Unpin>(
        &mut self,
        writer: &mut W,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> io::Result<()> {
        let mut at = 0;
        while at < data.len() {
            match Pin::new(&mut *writer).poll_write(cx, &data[at..]) {
                Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Poll::Ready(Ok(n)) => {
                    at += n;
                    self.unflushed = true;
                }
                Poll::Ready(Err(err)) => return Err(err),
                Poll::Pending => {
                    self.pending = data[at..].to_vec();
                    self.written = 0;
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Moves this direction along; ready when it is over. `activity` is set whenever bytes
    /// arrive; `ended` when the reader's stream ends while open.
    fn poll<R, W>(
        &mut self,
        reader: &mut R,
        writer: &mut W,
        cx: &mut Context<'_>,
        activity: &mut Instant,
        ended: &mut bool,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut reads = 0;
        loop {
            match self.phase {
                Phase::Done => return Poll::Ready(Ok(())),
                Phase::Open | Phase::Finishing => {
                    ready!(self.poll_pending(writer, cx))?;
                    if self.phase == Phase::Finishing && self.frames.at_boundary() {
                        self.pending = self.close.take().unwrap_or_default();
                        self.written = 0;
                        self.phase = Phase::Shutdown { drain: true };
                        continue;
                    }
                    if reads == READS_PER_TURN {
                        // Flushed before the turn ends, and polled again at once.
                        if self.unflushed {
                            ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                            self.unflushed = false;
                        }
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    reads += 1;
                    let limit = match self.phase {
                        Phase::Finishing => self.frames.to_boundary().min(READ_SIZE),
                        _ => READ_SIZE,
                    };
                    let mut buffer = [0u8; READ_SIZE];
                    let mut read = ReadBuf::new(&mut buffer[..limit]);
                    match Pin::new(&mut *reader).poll_read(cx, &mut read) {
                        Poll::Pending => {
                            if self.unflushed {
                                ready!(Pin::new(&mut *writer).poll_flush(cx))?;
                                self.unflushed = false;
                            }
                            return Poll::Pending;
                        }
                        Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                        Poll::Ready(Ok(())) => {
                            let data = read.filled();
                            if data.is_empty() {
                                if self.phase == Phase::Open {
                                    *ended = true;
                                }
                                // The peer ended its stream: no Close frame can follow it.
                                self.phase = Phase::Shutdown { drain: false };
                                continue;
                            }
                            *activity = Instant::now();
                            self.frames.feed(data);
                            self.bytes += data.len() as u64;
                            self.counter.inc_by(data.len() as u64);
                            self.write_or_keep(writer, cx, data)?;
                        }
                    }
                }
                Phase::Shutdown { drain } => {
                    ready!(self.poll_pending(writer, cx))?;
                    // A writer the peer already closed cannot be shut down cleanly; over anyway.
                    let _ = ready!(Pin::new(&mut *writer).poll_shutdown(cx));
                    self.unflushed = false;
                    self.phase = if drain && !self.frames.close_seen() {
                        Phase::Draining
                    } else {
                        Phase::Done
                    };
                }
                Phase::Draining => {
                    let mut buffer = [0u8; READ_SIZE];
                    let mut read = ReadBuf::new(&mut buffer);
                    ready!(Pin::new(&mut *reader).poll_read(cx, &mut read))?;
                    let data = read.filled();
                    self.frames.feed(data);
                    if data.is_empty() || self.frames.close_seen() {
                        self.phase = Phase::Done;
                    }
                }
            }
        }
    }
}

impl<C, U> Tunnel<C, U>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    /// A tunnel between `client` and `upstream`, counting bytes each way in the two counters.
    pub(super) fn new(client: C, upstream: U, up: Counter, down: Counter) -> Self {
        Self {
            client,
            upstream,
            up: Half::new(up),
            down: Half::new(down),
            activity: Instant::now(),
            first_end: None,
            first_close: None,
        }
    }

    /// When a byte last moved either way.
    pub(super) fn activity(&self) -> Instant {
        self.activity
    }

    /// Bytes from the client to the upstream, and back.
    pub(super) fn bytes(&self) -> (u64, u64) {
        (self.up.bytes, self.down.bytes)
    }

    /// Which side ended the session: the first to send a Close frame, else the first to end
    /// its stream.
    pub(super) fn ended_by(&self) -> Option<Side> {
        self.first_close.or(self.first_end)
    }

    /// Ends the session from the proxy's side: each direction still open finishes its frame in
    /// flight, sends a Close frame with `code` and `reason` (masked towards the upstream, as a
    /// client's frames must be), and shuts down. The tunnel is over once both peers have
    /// answered or ended; bound the wait from outside.
    pub(super) fn close(&mut self, code: CloseCode, reason: &str) {
        let mask = aws_lc_rs_mask();
        for (half, mask) in [(&mut self.up, Some(mask)), (&mut self.down, None)] {
            if half.phase != Phase::Open {
                continue;
            }
            if half.frames.close_seen() {
                // This peer's Close has passed already: no frame may follow it, ours included.
                // Its writer is shut down once what it sent is written.
                half.phase = Phase::Shutdown { drain: false };
            } else {
                half.close = Some(close_frame(code, reason, mask));
                half.phase = Phase::Finishing;
            }
        }
    }

    /// Carries bytes both ways; ready when both directions are over, or on the first error.
    pub(super) fn poll_transfer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut client_ended = false;
        let mut upstream_ended = false;
        let up = self.up.poll(
            &mut self.client,
            &mut self.upstream,
            cx,
            &mut self.activity,
            &mut client_ended,
        );
        let down = self.down.poll(
            &mut self.upstream,
            &mut self.client,
            cx,
            &mut self.activity,
            &mut upstream_ended,
        );
        if self.first_end.is_none() {
            if client_ended {
                self.first_end = Some(Side::Client);
            } else if upstream_ended {
                self.first_end = Some(Side::Upstream);
            }
        }
        if self.first_close.is_none() {
            if self.up.frames.close_seen() {
                self.first_close = Some(Side::Client);
            } else if self.down.frames.close_seen() {
                self.first_close = Some(Side::Upstream);
            }
        }
        match (up, down) {
            (Poll::Ready(Err(err)), _) | (_, Poll::Ready(Err(err))) => Poll::Ready(Err(err)),
            (Poll::Ready(Ok(())), Poll::Ready(Ok(()))) => Poll::Ready(Ok(())),
            // The closing handshake is complete once both Close frames have passed and one
            // side has ended its stream: the other (a client waiting for the server to close
            // first) is not waited for.
            _ if self.up.finished()
                && self.down.finished()
                && (self.up.phase == Phase::Done || self.down.phase == Phase::Done) =>
            {
                Poll::Ready(Ok(()))
            }
            _ => Poll::Pending,
        }
    }
}

impl<C, U> Future for Tunnel<C, U>
where
    C: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_transfer(cx)
    }
}

/// A masking key for a frame the proxy sends upstream: random, as RFC 6455 §5.3 asks (falls
/// back to a fixed key if the system's generator fails; masking is not secrecy).
fn aws_lc_rs_mask() -> [u8; 4] {
    let mut key = [0u8; 4];
    if aws_lc_rs::rand::fill(&mut key).is_err() {
        key = [0x5a, 0x17, 0xc3, 0x8e];
    }
    key
}

#[cfg(test)]
mod tests;
