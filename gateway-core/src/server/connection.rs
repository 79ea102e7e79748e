//! One accepted connection, from its first bytes to its end: which protocol it speaks, its
//! requests, parking while it idles, and graceful shutdown.
//!
//! A plain connection's first bytes tell HTTP/2 with prior knowledge (the client's preface) from
//! HTTP/1; under TLS, ALPN decides. HTTP/1 is served by hyper's HTTP/1 connection directly. When
//! such a connection idles (see `conn`), hyper's connection ends and gives its buffers back
//! while the socket stays open; the connection then waits, holding no buffer, for the client's
//! next bytes, the idle timeout or shutdown, and starts a new hyper connection on the same
//! socket for the next request.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::Waker;

use bytes::Bytes;
use http::uri::Scheme;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{sleep_until, Instant};
use tokio_rustls::server::TlsStream;
use tracing::{debug, info};

use super::capacity::Slot;
use super::conn::{ConnState, ConnTimeouts, Expiry, Unparked, Watched};
use super::in_flight::Tracked;
use super::stream::{Prefixed, ReadReady};
use super::{Served, ServerBuilder};
use crate::context::ClientCertificate;
use crate::error::GatewayError;
use crate::request_limits::MAX_HEADER_COUNT;

/// The first bytes of every HTTP/2 connection with prior knowledge.
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What all of a listener's connections share: how they speak HTTP, the server's setup and
/// the connection timeouts.
#[derive(Debug)]
pub(super) struct Listening {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    pub(super) setup: ServerBuilder,
    timeouts: ConnTimeouts,
}

impl Listening {
    pub(super) fn new(setup: ServerBuilder) -> Self {
        let mut http1 = http1::Builder::new();
        // Request-head and idle deadlines are the connection's own (`conn`), not hyper's.
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .max_headers(MAX_HEADER_COUNT);
        let mut http2 = http2::Builder::new(TokioExecutor::new());
        http2.timer(TokioTimer::new());
        let timeouts = ConnTimeouts {
            header_read: setup.limits.header_read_timeout,
            idle: setup.limits.idle_timeout,
        };
        Self {
            http1,
            http2,
            setup,
            timeouts,
        }
    }
}

/// One accepted connection, ready to be served.
///
/// Its task lives as long as the connection, idle or not, so what it holds is kept small:
/// what every connection shares sits behind one `Arc`, the futures a plain HTTP/1 connection
/// lives in (`serve_plain`, `http1`) are not `async fn`s (whose arguments a task would store
/// twice), and hyper's connection is boxed and dropped while the connection is parked.
pub(super) struct Connection<S> {
    pub(super) listening: Arc<Listening>,
    pub(super) service: S,
    pub(super) peer: SocketAddr,
    /// Changes (or closes) when the server begins to shut down.
    pub(super) shutdown: watch::Receiver<()>,
    /// The connection's place under the connection limits, given back when it ends.
    pub(super) _slot: Slot,
}

/// What a plain connection's first bytes say.
enum FirstBytes {
    /// HTTP/1: the first bytes of its first request, and when they arrived.
    Http1(Bytes, Instant),
    /// HTTP/2 with prior knowledge: the client's preface, read.
    Http2(Bytes),
    /// Nothing within the idle timeout.
    Idle,
    /// The client closed, the socket failed, or the server is shutting down.
    Gone,
}

impl<S: Served> Connection<S> {
    /// Serves a plain connection until it ends or shutdown closes it, then counts and logs what
    /// the listener's own limits did to it.
    // Not an `async fn`, which would keep `self` and `stream` twice in the task.
    #[allow(clippy::manual_async_fn)]
    pub(super) fn serve_plain(mut self, stream: TcpStream) -> impl Future<Output = ()> + Send {
        async move {
            let state = Arc::new(ConnState::default());
            let error = match self.first_bytes(&stream).await {
                FirstBytes::Http1(bytes, at) => {
                    let io = self.watched_http1(Prefixed::new(stream, bytes), Some(at), &state);
                    self.http1(io, None, Scheme::HTTP, &state).await
                }
                FirstBytes::Http2(bytes) => {
                    let io = Prefixed::new(stream, bytes);
                    self.http2(io, None, Scheme::HTTP, &state).await
                }
                FirstBytes::Idle => {
                    state.expire(Expiry::Idle);
                    None
                }
                FirstBytes::Gone => None,
            };
            self.report(&state, error.as_ref());
        }
    }

    /// Serves a TLS connection, in the protocol ALPN chose, like [`serve_plain`](Self::serve_plain).
    pub(super) async fn serve_tls(
        mut self,
        stream: TlsStream<TcpStream>,
        cert: Option<ClientCertificate>,
    ) {
        let state = Arc::new(ConnState::default());
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = Prefixed::new(stream, Bytes::new());
        let error = if h2 {
            self.http2(io, cert, Scheme::HTTPS, &state).await
        } else {
            let io = self.watched_http1(io, None, &state);
            self.http1(io, cert, Scheme::HTTPS, &state).await
        };
        self.report(&state, error.as_ref());
    }

    /// Reads a plain connection's first bytes, up to HTTP/2's preface: all of it is HTTP/2,
    /// anything else HTTP/1. The first byte must come within the idle timeout, the rest of a
    /// preface within the header timeout of it (else what came is served as HTTP/1, whose head
    /// has then timed out).
    async fn first_bytes(&mut self, stream: &TcpStream) -> FirstBytes {
        let timeouts = self.listening.timeouts;
        let mut read = [0u8; H2_PREFACE.len()];
        let mut len = 0;
        let mut first_at = None;
        let mut deadline = Instant::now() + timeouts.idle;
        loop {
            tokio::select! {
                ready = stream.readable() => if ready.is_err() { return FirstBytes::Gone },
                () = sleep_until(deadline) => return match first_at {
                    Some(at) => FirstBytes::Http1(Bytes::copy_from_slice(&read[..len]), at),
                    None => FirstBytes::Idle,
                },
                _ = self.shutdown.changed() => return FirstBytes::Gone,
            }
            match stream.try_read(&mut read[len..]) {
                Ok(0) => return FirstBytes::Gone,
                Ok(n) => {
                    let at = *first_at.get_or_insert_with(Instant::now);
                    deadline = at + timeouts.header_read;
                    len += n;
                    if read[..len] != H2_PREFACE[..len] {
                        return FirstBytes::Http1(Bytes::copy_from_slice(&read[..len]), at);
                    }
                    if len == H2_PREFACE.len() {
                        return FirstBytes::Http2(Bytes::copy_from_slice(&read));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(_) => return FirstBytes::Gone,
            }
        }
    }

    /// An HTTP/1 connection's I/O with its deadlines; its first request head began at
    /// `head_began` if its first bytes have been read already.
    fn watched_http1<I>(
        &self,
        io: Prefixed<I>,
        head_began: Option<Instant>,
        state: &Arc<ConnState>,
    ) -> Watched<Prefixed<I>> {
        Watched::http1(io, state.clone(), self.listening.timeouts, head_began)
    }

    /// HTTP/1: one hyper connection after another on the same socket, parked in between while
    /// the client idles. Returns the error that ended it, if one did.
    fn http1<'a, I>(
        &'a mut self,
        mut io: Watched<Prefixed<I>>,
        cert: Option<ClientCertificate>,
        scheme: Scheme,
        state: &Arc<ConnState>,
    ) -> impl Future<Output = Option<hyper::Error>> + Send + 'a
    where
        I: AsyncRead + AsyncWrite + ReadReady + Unpin + Send + 'static,
    {
        let service = Tracked::new(self.service.clone(), state.clone(), self.peer, scheme, cert);
        async move {
            loop {
                // Boxed, and dropped before the connection parks: a parked connection's task
                // holds neither hyper's state nor its buffers.
                let (ended, read_buf) = {
                    let mut conn = Box::new(
                        self.listening
                            .http1
                            .serve_connection(TokioIo::new(io), service.clone()),
                    );
                    let ended = until_shutdown(&mut *conn, &mut self.shutdown, |conn| {
                        conn.graceful_shutdown()
                    })
                    .await;
                    let http1::Parts {
                        io: next, read_buf, ..
                    } = conn.into_parts();
                    io = next.into_inner();
                    (ended, read_buf)
                };
                if !io.take_parked() {
                    return ended.err();
                }
                // Parked: hyper saw the stream end while idle and wrote nothing. A head it had
                // begun reading (pipelined behind the last request) goes to the next connection.
                if !read_buf.is_empty() {
                    io.get_mut().replay(read_buf);
                    continue;
                }
                drop(read_buf);
                let woke = tokio::select! {
                    woke = poll_fn(|cx| io.poll_unpark(cx)) => woke,
                    _ = self.shutdown.changed() => return None,
                };
                if woke != Unparked::Readable {
                    return None;
                }
            }
        }
    }

    /// HTTP/2: one hyper connection for the connection's life.
    async fn http2<I>(
        &mut self,
        io: Prefixed<I>,
        cert: Option<ClientCertificate>,
        scheme: Scheme,
        state: &Arc<ConnState>,
    ) -> Option<hyper::Error>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let service = Tracked::new(self.service.clone(), state.clone(), self.peer, scheme, cert);
        let io = Watched::http2(io, state.clone(), self.listening.timeouts);
        let conn = self
            .listening
            .http2
            .serve_connection(TokioIo::new(io), service);
        let mut conn = Box::pin(conn);
        until_shutdown(&mut conn, &mut self.shutdown, |conn| {
            conn.get_mut().as_mut().graceful_shutdown()
        })
        .await
        .err()
    }

    /// Counts and logs what the listener's limits did to a connection that has ended.
    fn report(&self, state: &ConnState, error: Option<&hyper::Error>) {
        let setup = &self.listening.setup;
        let peer = self.peer;
        let stats = &setup.stats;
        let refused = match state.expiry() {
            Some(Expiry::HeadTimeout) => {
                stats.head_timeouts.fetch_add(1, Relaxed);
                Some((408, GatewayError::HeadTimeout.log_code()))
            }
            Some(Expiry::Idle) => {
                stats.idle_closed.fetch_add(1, Relaxed);
                debug!(%peer, "idle connection closed");
                None
            }
            None => match error {
                Some(e) if e.is_parse_too_large() => {
                    stats.heads_too_large.fetch_add(1, Relaxed);
                    Some((431, "request.headersTooLarge"))
                }
                _ => {
                    if let Some(e) = error {
                        debug!(%peer, error = %e, "connection ended with an error");
                    }
                    None
                }
            },
        };
        if let Some((status, code)) = refused {
            info!(code, %peer, status, "request head refused");
            if let Some(log) = &setup.access_log {
                log.log_refused(peer, status, code);
            }
        }
    }
}

/// Drives a hyper connection to its end. Once shutdown begins, asks it (once) to finish
/// gracefully: answer what is in flight, then close.
///
/// The connection is polled once or more per request; the shutdown signal's future is polled
/// only when it could have something new to say: on the first poll, when the task's waker
/// changed, or when the signal's version moved. Polling it every time cost 160 instructions a
/// request (a lock in tokio's `Notify`), about 1.4 % of a stock response.
async fn until_shutdown<C: Future + Unpin>(
    conn: &mut C,
    shutdown: &mut watch::Receiver<()>,
    graceful: impl Fn(Pin<&mut C>),
) -> C::Output {
    let watcher = shutdown.clone();
    let mut signal = pin!(shutdown.changed());
    let mut registered: Option<Waker> = None;
    let mut asked = false;
    poll_fn(|cx| {
        if !asked {
            let stale = !registered.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
            // A closed channel (`Err`) is a shutdown too.
            if stale || watcher.has_changed().unwrap_or(true) {
                if signal.as_mut().poll(cx).is_ready() {
                    asked = true;
                    graceful(Pin::new(&mut *conn));
                } else if stale {
                    registered = Some(cx.waker().clone());
                }
            }
        }
        Pin::new(&mut *conn).poll(cx)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::{Gateway, GatewayService};
    use crate::server::capacity::Capacity;

    /// A connection's task is allocated once, at the size of its largest state, and lives as
    /// long as the connection: idle keep-alive connections cost what it holds.
    #[tokio::test]
    async fn a_connection_task_fits_in_a_kilobyte() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let client = TcpStream::connect(listener.local_addr().expect("addr"))
            .await
            .expect("connect");
        let setup = ServerBuilder::default();
        let capacity = Capacity::new(&setup.limits, setup.stats.clone());
        let (_closing, shutdown) = watch::channel(());
        let connection = Connection {
            listening: Arc::new(Listening::new(setup)),
            service: GatewayService::new(Gateway::builder().compile().expect("empty gateway")),
            peer: client.local_addr().expect("addr"),
            shutdown,
            _slot: capacity
                .claim(client.local_addr().expect("addr").ip())
                .expect("slot"),
        };
        let task = connection.serve_plain(client);
        let size = std::mem::size_of_val(&task);
        assert!(size <= 896, "a connection's task holds {size} bytes");
    }
}
