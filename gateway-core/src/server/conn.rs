//! One client connection's clock: how long it may take to send a request head, and how long it
//! may sit idle between requests.
//!
//! hyper's own header-read timer also runs while a keep-alive connection waits for its next
//! request and closes without answering, so both limits are enforced here instead, below
//! hyper, on the connection's I/O. [`ConnState`] knows how many requests are in flight (the
//! server counts them: see `in_flight`); while one is, the
//! connection has no deadline of its own (the request body's read timeout applies). With none
//! in flight, a connection that has sent part of a request head must finish it within the
//! header timeout of its first byte or gets `408 Request Timeout`; one that has sent nothing is closed quietly
//! after the idle timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::error::GatewayError;

/// What an HTTP/1.1 client that stalled in its request head is told before the connection
/// closes.
static REQUEST_TIMEOUT: LazyLock<Vec<u8>> =
    LazyLock::new(|| GatewayError::HeadTimeout.to_http1_close());

/// The first bytes of every HTTP/2 connection: such a connection never gets an HTTP/1 answer.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// How a connection's own deadline ended it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// The client sent part of a request head and stalled: answered 408.
    HeadTimeout,
    /// Nothing in flight and nothing sent for the idle timeout: closed.
    Idle,
}

/// Requests in flight on one connection, and how the connection ended.
#[derive(Debug, Default)]
pub(super) struct ConnState {
    in_flight: AtomicUsize,
    /// Responses finished so far: a request head that began before the last one finished
    /// belongs to an earlier request.
    finished: AtomicU64,
    expiry: AtomicU8,
}

impl ConnState {
    /// The server calls this as a request enters the gateway.
    pub(super) fn request_started(&self) {
        self.in_flight.fetch_add(1, Relaxed);
    }

    pub(super) fn expiry(&self) -> Option<Expiry> {
        match self.expiry.load(Relaxed) {
            1 => Some(Expiry::HeadTimeout),
            2 => Some(Expiry::Idle),
            _ => None,
        }
    }

    fn expire(&self, expiry: Expiry) {
        let code = match expiry {
            Expiry::HeadTimeout => 1,
            Expiry::Idle => 2,
        };
        self.expiry.store(code, Relaxed);
    }
}

impl ConnState {
    /// The server calls this when a response has been sent in full, or abandoned.
    pub(super) fn response_done(&self) {
        self.finished.fetch_add(1, Relaxed);
        self.in_flight.fetch_sub(1, Relaxed);
    }
}

/// The connection's two timeouts.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnTimeouts {
    pub(super) header_read: Duration,
    pub(super) idle: Duration,
}

pin_project! {
    /// A client connection's I/O, with the deadlines described in the module documentation.
    pub(super) struct Watched<I> {
        #[pin]
        inner: I,
        state: Arc<ConnState>,
        timeouts: ConnTimeouts,
        last_progress: Instant,
        // `finished` when the current request head began, and when, if one has.
        head_began: Option<(u64, Instant)>,
        // Decided by the first bytes the client sends.
        http2: Option<bool>,
        timer: Option<Pin<Box<Sleep>>>,
        armed_for: Option<Instant>,
    }
}

impl<I> Watched<I> {
    pub(super) fn new(inner: I, state: Arc<ConnState>, timeouts: ConnTimeouts) -> Self {
        Self {
            inner,
            state,
            timeouts,
            last_progress: Instant::now(),
            head_began: None,
            http2: None,
            timer: None,
            armed_for: None,
        }
    }
}

impl<I: AsyncRead + AsyncWrite> AsyncRead for Watched<I> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut this = self.project();
        let before = buf.filled().len();
        match this.inner.as_mut().poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let read = &buf.filled()[before..];
                if !read.is_empty() {
                    *this.last_progress = Instant::now();
                    if this.http2.is_none() {
                        *this.http2 = Some(read.starts_with(H2_PREFACE));
                    }
                    // A head that began before the last response finished belongs to an
                    // earlier request: these bytes start a new one.
                    let finished = this.state.finished.load(Relaxed);
                    if this.state.in_flight.load(Relaxed) == 0
                        && this.head_began.is_none_or(|(began, _)| began != finished)
                    {
                        *this.head_began = Some((finished, *this.last_progress));
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if this.state.in_flight.load(Relaxed) > 0 {
                    *this.head_began = None;
                    return Poll::Pending;
                }
                let finished = this.state.finished.load(Relaxed);
                if this.head_began.is_some_and(|(began, _)| began != finished) {
                    *this.head_began = None;
                }
                // The head's whole time counts, not the pause since the last byte: a client
                // that dribbles a byte at a time is cut off all the same.
                let head_start = this
                    .head_began
                    .filter(|_| *this.http2 != Some(true))
                    .map(|(_, at)| at);
                let in_head = head_start.is_some();
                let deadline = match head_start {
                    Some(at) => at + this.timeouts.header_read,
                    None => *this.last_progress + this.timeouts.idle,
                };
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                if *this.armed_for != Some(deadline) {
                    timer.as_mut().reset(deadline);
                    *this.armed_for = Some(deadline);
                }
                if timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if in_head {
                    this.state.expire(Expiry::HeadTimeout);
                    // Best effort: a client too slow to send its head may be too slow to read.
                    let _ = this.inner.as_mut().poll_write(cx, &REQUEST_TIMEOUT);
                    let _ = this.inner.as_mut().poll_flush(cx);
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request head was not received in time",
                    )))
                } else {
                    // End of stream: hyper closes the connection as if the client had.
                    this.state.expire(Expiry::Idle);
                    Poll::Ready(Ok(()))
                }
            }
        }
    }
}

impl<I: AsyncWrite> AsyncWrite for Watched<I> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let written = this.inner.poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            *this.last_progress = Instant::now();
        }
        written
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        let written = this.inner.poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            *this.last_progress = Instant::now();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}
