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
//!
//! An HTTP/1 connection that has sent nothing for [`PARK_AFTER`] is parked: its reader is told
//! the stream ended, so hyper finishes the connection and gives its buffers back, but the
//! socket stays open (shutting it down does nothing while parked) and the connection loop
//! waits for the client's next bytes without holding any buffer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::stream::ReadReady;
use crate::error::GatewayError;

/// What an HTTP/1.1 client that stalled in its request head is told before the connection
/// closes.
static REQUEST_TIMEOUT: LazyLock<Vec<u8>> =
    LazyLock::new(|| GatewayError::HeadTimeout.to_http1_close());

/// How long an idle HTTP/1 connection keeps hyper's buffers (16 KiB) before it parks: long
/// enough that a connection in steady use never parks between two requests, short enough that
/// thousands of idle keep-alive connections cost little more than their sockets.
pub(super) const PARK_AFTER: Duration = Duration::from_secs(1);

/// The shortest pause before a connection with a request in flight is looked at again.
const MIN_CHECK: Duration = Duration::from_millis(10);

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

    pub(super) fn expire(&self, expiry: Expiry) {
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
        // HTTP/2 has no request heads to time and never parks: only the idle timeout applies.
        http2: bool,
        parked: bool,
        // Wakes the connection, whose reader then looks at its deadlines.
        alarm: Alarm,
        // How soon after any progress the connection is looked at again.
        check_every: Duration,
    }
}

impl<I> Watched<I> {
    /// An HTTP/1 connection, whose first request head began at `head_began` if its first
    /// bytes have been read already.
    pub(super) fn http1(
        inner: I,
        state: Arc<ConnState>,
        timeouts: ConnTimeouts,
        head_began: Option<Instant>,
    ) -> Self {
        Self::new(inner, state, timeouts, false, head_began.map(|at| (0, at)))
    }

    pub(super) fn http2(inner: I, state: Arc<ConnState>, timeouts: ConnTimeouts) -> Self {
        Self::new(inner, state, timeouts, true, None)
    }

    fn new(
        inner: I,
        state: Arc<ConnState>,
        timeouts: ConnTimeouts,
        http2: bool,
        head_began: Option<(u64, Instant)>,
    ) -> Self {
        Self {
            inner,
            state,
            timeouts,
            last_progress: Instant::now(),
            head_began,
            http2,
            parked: false,
            alarm: Alarm::default(),
            check_every: PARK_AFTER.min(timeouts.idle).max(MIN_CHECK),
        }
    }

    /// Whether the connection parked (and is no longer), rather than ended.
    pub(super) fn take_parked(&mut self) -> bool {
        std::mem::take(&mut self.parked)
    }

    /// Waits, parked, for the client's next bytes, until the idle timeout of its last ones
    /// (which then ends the connection as idle).
    pub(super) fn poll_unpark(&mut self, cx: &mut Context<'_>) -> Poll<Unparked>
    where
        I: ReadReady,
    {
        match self.inner.poll_read_ready(cx) {
            Poll::Ready(Ok(())) => return Poll::Ready(Unparked::Readable),
            Poll::Ready(Err(_)) => return Poll::Ready(Unparked::Gone),
            Poll::Pending => {}
        }
        let idle_at = self.last_progress + self.timeouts.idle;
        loop {
            let now = Instant::now();
            if idle_at <= now {
                self.state.expire(Expiry::Idle);
                return Poll::Ready(Unparked::Idle);
            }
            // The timer may have been armed for an earlier look (parking): fired, it is
            // re-armed for the idle deadline.
            if self.alarm.arm_by(idle_at, now, cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    pub(super) fn get_mut(&mut self) -> &mut I {
        &mut self.inner
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
                    progress(this.last_progress, this.alarm, *this.check_every, cx);
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
            Poll::Pending => loop {
                let now = Instant::now();
                let due = if this.state.in_flight.load(Relaxed) > 0 {
                    // No deadline while a request is in flight; look again later, since its
                    // end may not make hyper read again.
                    *this.head_began = None;
                    Due::Check(now + *this.check_every)
                } else {
                    let finished = this.state.finished.load(Relaxed);
                    if this.head_began.is_some_and(|(began, _)| began != finished) {
                        *this.head_began = None;
                    }
                    // The head's whole time counts, not the pause since the last byte: a
                    // client that dribbles a byte at a time is cut off all the same.
                    let head_start = this.head_began.filter(|_| !*this.http2).map(|(_, at)| at);
                    let idle_at = *this.last_progress + this.timeouts.idle;
                    let park_at = *this.last_progress + PARK_AFTER;
                    match head_start {
                        Some(at) => Due::HeadTimeout(at + this.timeouts.header_read),
                        None if !*this.http2 && park_at < idle_at => Due::Park(park_at),
                        None => Due::Idle(idle_at),
                    }
                };
                let at = due.at();
                if at > now {
                    if this.alarm.arm_by(at, now, cx).is_pending() {
                        return Poll::Pending;
                    }
                    continue;
                }
                return match due {
                    Due::Check(_) => continue,
                    Due::HeadTimeout(_) => {
                        this.state.expire(Expiry::HeadTimeout);
                        // Best effort: a client too slow to send its head may be too slow to
                        // read.
                        let _ = this.inner.as_mut().poll_write(cx, &REQUEST_TIMEOUT);
                        let _ = this.inner.as_mut().poll_flush(cx);
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the request head was not received in time",
                        )))
                    }
                    // End of stream: hyper ends the connection as if the client had closed it.
                    Due::Park(_) => {
                        *this.parked = true;
                        Poll::Ready(Ok(()))
                    }
                    Due::Idle(_) => {
                        this.state.expire(Expiry::Idle);
                        Poll::Ready(Ok(()))
                    }
                };
            },
        }
    }
}

/// Bytes moved: the connection's idle clock restarts now, and it is looked at again within
/// `check_every`.
fn progress(
    last_progress: &mut Instant,
    alarm: &mut Alarm,
    check_every: Duration,
    cx: &mut Context<'_>,
) {
    let now = Instant::now();
    *last_progress = now;
    let _ = alarm.arm_by(now + check_every, now, cx);
}

/// A timer that fires at `armed_for` (never later than the connection's next deadline,
/// sometimes earlier) and wakes the connection.
#[derive(Default)]
struct Alarm {
    timer: Option<Pin<Box<Sleep>>>,
    armed_for: Option<Instant>,
    /// Whom the timer wakes, once it has been polled for its current deadline.
    waker: Option<Waker>,
}

impl Alarm {
    /// Makes the timer fire by `at` and wake this task: re-armed when it would fire later or
    /// has fired already, otherwise left as it is. Deadlines that progress pushes later are
    /// found when the earlier timer fires, so a connection in steady use does not touch the
    /// timer for each request, yet one that goes quiet is always looked at again: hyper may
    /// not read again once a response is written, and nothing else would wake it.
    fn arm_by(&mut self, at: Instant, now: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if self
            .armed_for
            .is_none_or(|armed| armed > at || armed <= now)
        {
            timer.as_mut().reset(at);
            self.armed_for = Some(at);
            self.waker = None;
        } else if self
            .waker
            .as_ref()
            .is_some_and(|waker| waker.will_wake(cx.waker()))
        {
            // Not due yet, and it wakes this task already: polling it would only say so again
            // (it is asked at every read and write).
            return Poll::Pending;
        }
        let polled = timer.as_mut().poll(cx);
        if polled.is_pending() {
            self.waker = Some(cx.waker().clone());
        }
        polled
    }
}

/// Why a parked connection stopped waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unparked {
    /// The client sent its next bytes.
    Readable,
    /// The socket failed.
    Gone,
    /// The idle timeout passed.
    Idle,
}

/// What a connection waiting to read is due for next, and when.
#[derive(Debug, Clone, Copy)]
enum Due {
    /// A request is in flight: nothing but a look at the connection again.
    Check(Instant),
    HeadTimeout(Instant),
    Park(Instant),
    Idle(Instant),
}

impl Due {
    fn at(self) -> Instant {
        match self {
            Self::Check(at) | Self::HeadTimeout(at) | Self::Park(at) | Self::Idle(at) => at,
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
            progress(this.last_progress, this.alarm, *this.check_every, cx);
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
            progress(this.last_progress, this.alarm, *this.check_every, cx);
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
        let this = self.project();
        if *this.parked {
            // The connection loop keeps the socket for the client's next request.
            return Poll::Ready(Ok(()));
        }
        this.inner.poll_shutdown(cx)
    }
}
