//! The HTTP server: what the `gateway` binary serves with, for embedders too.
//!
//! [`Server::builder`] takes the connection-level protections a gateway needs in front of its
//! [`GatewayService`](crate::GatewayService) (or any service of the same shape) and serves it on
//! a listener:
//!
//! * HTTP/1.1 and HTTP/2 (prior knowledge on a plain listener, ALPN under TLS);
//! * a request head must arrive within [`ConnectionLimits::header_read_timeout`] of its first
//!   byte (else `408`), an idle keep-alive connection is closed after
//!   [`ConnectionLimits::idle_timeout`], heads with too many headers get `431`;
//! * an HTTP/1 connection idle for a second gives its buffers back until the client sends
//!   again, so thousands of idle keep-alive connections cost little more than their sockets;
//! * at most [`ConnectionLimits::max_connections`] connections, and
//!   [`ConnectionLimits::max_connections_per_client`] per client address (IPv6: per /64); over
//!   either, `503` and close;
//! * TLS with [`TlsAcceptor`], whose client certificate (when one is presented) reaches the
//!   `mutualTls` policy as a [`ClientCertificate`](crate::ClientCertificate) extension;
//! * every request carries the client's [`ClientAddr`](crate::ClientAddr) (what `CLIENT_IP`
//!   rate limits and the access log use), and a request over TLS an [`http::uri::Scheme`]
//!   extension, `https`;
//! * on shutdown, no new connections, and in-flight requests get a grace period.
//!
//! ```no_run
//! # async fn run(service: gateway_core::GatewayService) -> std::io::Result<()> {
//! use std::time::Duration;
//! use gateway_core::server::{ConnectionLimits, Server};
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let shutdown = async { let _ = tokio::signal::ctrl_c().await; };
//! Server::builder()
//!     .limits(ConnectionLimits::default())
//!     .serve(listener, service, shutdown, Duration::from_secs(10))
//!     .await
//! # }
//! ```

mod capacity;
mod conn;
mod connection;
mod in_flight;
mod listen;
mod stats;
mod stream;
mod tls;

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body as HttpBody;
use hyper::body::Incoming;
use tokio::net::TcpListener;
use tower::Service;

use crate::body::BoxError;
use crate::observe::AccessLog;

pub use listen::{accept, Running};
pub use stats::ListenerStats;
pub use tls::{TlsAcceptor, TlsError};

/// What one client connection may do before the server cuts it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionLimits {
    /// How long a client may take to send a request head, from its first byte: slower gets
    /// `408`.
    pub header_read_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests before it is closed.
    pub idle_timeout: Duration,
    /// Connections served at once; more are answered `503` and closed.
    pub max_connections: usize,
    /// Connections served at once per client address (IPv6: per /64); more get `503`.
    pub max_connections_per_client: usize,
}

impl Default for ConnectionLimits {
    /// 15 s for a head, 60 s idle, 10,000 connections, 1,000 per client.
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
            max_connections_per_client: 1_000,
        }
    }
}

impl ConnectionLimits {
    /// These limits with `header_read_timeout` and `idle_timeout` set.
    pub fn with_timeouts(mut self, header_read: Duration, idle: Duration) -> Self {
        self.header_read_timeout = header_read;
        self.idle_timeout = idle;
        self
    }

    /// These limits with `max_connections` and `max_connections_per_client` set.
    pub fn with_connections(mut self, max: usize, per_client: usize) -> Self {
        self.max_connections = max;
        self.max_connections_per_client = per_client;
        self
    }
}

/// What a server serves: a cloneable service of hyper requests that answers every request
/// (errors are responses), whose futures and bodies can move between threads. Every such
/// service is one, [`GatewayService`](crate::GatewayService) and an axum `Router` among them;
/// nothing implements it by hand.
pub trait Served:
    Service<
        Request<Incoming>,
        Response = Response<Self::Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
    /// The response body.
    type Body: HttpBody<Data = Bytes, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> Served for S
where
    S: Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Body = B;
}

/// The entry point: `Server::builder()`.
#[derive(Debug, Clone, Copy)]
pub struct Server;

impl Server {
    /// A server with [`ConnectionLimits::default`], plain HTTP, no access log.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }
}

/// How a server treats its connections; [`serve`](ServerBuilder::serve) runs it.
#[derive(Debug, Clone, Default)]
pub struct ServerBuilder {
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    access_log: Option<Arc<dyn AccessLog>>,
    stats: Arc<ListenerStats>,
    workers: usize,
}

impl ServerBuilder {
    /// What a connection may do.
    pub fn limits(mut self, limits: ConnectionLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Speak TLS on the listener.
    pub fn tls(mut self, tls: TlsAcceptor) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Where connections the server answers itself (`408`, `431`, `503` before any request
    /// reached the service) are recorded: [`AccessLog::log_refused`].
    pub fn access_log(mut self, log: Arc<dyn AccessLog>) -> Self {
        self.access_log = Some(log);
        self
    }

    /// Serves on `n` threads of the server's own, each running a single-threaded runtime that
    /// accepts from the listener and drives its connections to their end: a request, the
    /// upstream connections it opens and its timers stay on one thread, and nothing but the
    /// service and the connection limits is shared between them. 0 (the default) serves on the
    /// runtime that calls [`start`](Self::start) or [`serve`](Self::serve). Either way, shutdown and the grace period
    /// are the same.
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Counters of what the limits did, shared with whoever reports them.
    pub fn stats(mut self, stats: Arc<ListenerStats>) -> Self {
        self.stats = stats;
        self
    }

    /// Serves `service` on `listener` until `shutdown` resolves; then stops accepting and gives
    /// requests in flight up to `grace` to finish. [`start`](Self::start) followed by
    /// [`Running::serve_until`].
    pub async fn serve<S: Served>(
        self,
        listener: TcpListener,
        service: S,
        shutdown: impl Future<Output = ()>,
        grace: Duration,
    ) -> io::Result<()> {
        self.start(listener, service)
            .await?
            .serve_until(shutdown, grace)
            .await;
        Ok(())
    }

    /// Starts serving `service` on `listener` and returns once every worker accepts, so that
    /// whatever announces the server (a `listening on` line, a readiness probe) speaks of one
    /// that is whole; fails if a worker cannot start (its thread, runtime or listener). Must
    /// be called within a Tokio runtime; without workers, the accept loop is a task of it.
    pub async fn start<S: Served>(self, listener: TcpListener, service: S) -> io::Result<Running> {
        listen::start(listener, service, self).await
    }
}
