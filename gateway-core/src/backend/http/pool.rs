//! Connections to upstreams, kept open between requests.
//!
//! An [`Upstream`] (one scheme and authority) keeps its idle HTTP/1.1 connections, most
//! recently used first, and the HTTP/2 connection it shares when TLS negotiated `h2`. A request
//! takes the most recently used idle connection or opens one. Idle connections are kept per
//! thread: under the server's workers, a connection's task runs on the thread that opened it,
//! and a request on that thread reusing it never wakes another. An HTTP/1.1 connection serves one
//! exchange at a time and goes back to its upstream when the response body ends, from the
//! body itself: no task per response waits for that. A response dropped before its end closes
//! its connection, since the rest of that body would have to be read first.
//!
//! A backend whose host is literal holds its upstream from the moment it is compiled, so a
//! request finds its connections without a lookup; a dynamic routing branch with a variable
//! host looks its upstream up by scheme and authority. Every idle timeout a sweep closes the
//! connections idle that long and forgets upstreams nobody holds and nothing is pooled for, so
//! hosts chosen per request do not accumulate.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, Scheme};
use http::{Request, Response, Uri, Version};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connection as _, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use thread_local::ThreadLocal;
use tokio::time::Instant;
use tower::ServiceExt;
use tracing::debug;

use super::error::HttpBackendError;
use super::progress::{Progress, TrackedBody};
use crate::causes::chain;

/// TCP, then TLS for `https`, offering `h2` and `http/1.1` by ALPN.
pub(crate) type Connector = HttpsConnector<HttpConnector>;

/// How long idle connections are kept, and how many per upstream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) idle_timeout: Duration,
    pub(crate) max_idle: usize,
}

/// The upstreams reached with one TLS configuration. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Pool {
    shared: Arc<Shared>,
}

struct Shared {
    connector: Connector,
    settings: Settings,
    upstreams: Mutex<HashMap<(Scheme, Authority), Arc<Upstream>>>,
    /// Whether the sweep task runs (it is started by the first connection opened).
    sweeping: AtomicBool,
}

impl Pool {
    pub(crate) fn new(connector: Connector, settings: Settings) -> Self {
        Self {
            shared: Arc::new(Shared {
                connector,
                settings,
                upstreams: Mutex::default(),
                sweeping: AtomicBool::new(false),
            }),
        }
    }

    /// The upstream at `scheme://authority`, created on first use.
    pub(crate) fn upstream(&self, scheme: &Scheme, authority: &Authority) -> Arc<Upstream> {
        let mut upstreams = lock(&self.shared.upstreams);
        upstreams
            .entry((scheme.clone(), authority.clone()))
            .or_insert_with(|| {
                Arc::new(Upstream {
                    origin: origin(scheme, authority),
                    pool: Arc::downgrade(&self.shared),
                    connector: self.shared.connector.clone(),
                    settings: self.shared.settings,
                    idle: ThreadLocal::new(),
                    shared_h2: Mutex::default(),
                })
            })
            .clone()
    }
}

impl Shared {
    /// Starts the sweep once, from a task of the runtime that serves the requests.
    fn start_sweeping(self: &Arc<Self>) {
        if self.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let pool = Arc::downgrade(self);
        let every = self.settings.idle_timeout.max(Duration::from_millis(100));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks.tick().await;
            loop {
                ticks.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                pool.sweep();
            }
        });
    }

    /// Closes what has been idle too long, and forgets upstreams with nothing left that only
    /// this map holds.
    fn sweep(&self) {
        let mut upstreams = lock(&self.upstreams);
        upstreams.retain(|_, upstream| {
            let empty = upstream.sweep();
            !(empty && Arc::strong_count(upstream) == 1)
        });
    }
}

/// `scheme://authority/`, what the connector is asked to connect to.
fn origin(scheme: &Scheme, authority: &Authority) -> Uri {
    let mut parts = http::uri::Parts::default();
    parts.scheme = Some(scheme.clone());
    parts.authority = Some(authority.clone());
    parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    // A scheme, an authority that parsed and `/` always make a URI.
    Uri::from_parts(parts).unwrap_or_default()
}

/// One upstream's connections.
pub(crate) struct Upstream {
    origin: Uri,
    pool: Weak<Shared>,
    connector: Connector,
    settings: Settings,
    /// Idle HTTP/1.1 connections of each thread, the most recently used last.
    idle: ThreadLocal<Mutex<VecDeque<Idle>>>,
    /// The HTTP/2 connection requests share, and when it was last used.
    shared_h2: Mutex<Option<(http2::SendRequest<TrackedBody>, Instant)>>,
}

struct Idle {
    sender: http1::SendRequest<TrackedBody>,
    since: Instant,
}

/// A connection ready for one request.
pub(crate) struct Conn {
    kind: ConnKind,
    /// Taken from the pool rather than just opened: a failure to send on it may only mean
    /// the upstream closed it while it sat idle.
    reused: bool,
}

enum ConnKind {
    Http1(http1::SendRequest<TrackedBody>),
    Http2(http2::SendRequest<TrackedBody>),
}

/// A request that did not get a response.
pub(crate) struct SendFailed {
    pub(crate) error: HttpBackendError,
    /// The request, when it was never written to a connection that had been idle: it can be
    /// sent again on another.
    pub(crate) retry: Option<Request<TrackedBody>>,
}

impl Upstream {
    /// A connection for the next request: the shared HTTP/2 one, the most recently used idle
    /// HTTP/1.1 one that is still open, or a new one.
    pub(crate) async fn connection(self: &Arc<Self>) -> Result<Conn, HttpBackendError> {
        if let Some(sender) = self.http2() {
            return Ok(Conn {
                kind: ConnKind::Http2(sender),
                reused: true,
            });
        }
        while let Some(mut sender) = self.pop_idle() {
            // Ready once the connection has finished the previous exchange; an error means the
            // upstream closed it.
            if sender.ready().await.is_ok() {
                return Ok(Conn {
                    kind: ConnKind::Http1(sender),
                    reused: true,
                });
            }
        }
        self.connect().await
    }

    fn http2(&self) -> Option<http2::SendRequest<TrackedBody>> {
        let mut shared = lock(&self.shared_h2);
        match &mut *shared {
            Some((sender, _)) if sender.is_closed() => {
                *shared = None;
                None
            }
            Some((sender, used)) => {
                *used = Instant::now();
                Some(sender.clone())
            }
            None => None,
        }
    }

    fn pop_idle(&self) -> Option<http1::SendRequest<TrackedBody>> {
        let mut idle = lock(self.idle.get_or_default());
        while let Some(conn) = idle.pop_back() {
            if !conn.sender.is_closed() && conn.since.elapsed() < self.settings.idle_timeout {
                return Some(conn.sender);
            }
        }
        None
    }

    async fn connect(self: &Arc<Self>) -> Result<Conn, HttpBackendError> {
        if let Some(pool) = self.pool.upgrade() {
            pool.start_sweeping();
        }
        let io = self
            .connector
            .clone()
            .oneshot(self.origin.clone())
            .await
            .map_err(|e| HttpBackendError::from_connect(&*e))?;
        let handshake_failed = |e: hyper::Error| HttpBackendError::Connect(chain(&e));
        let kind = if io.connected().is_negotiated_h2() {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(io)
                .await
                .map_err(handshake_failed)?;
            spawn_connection(connection);
            *lock(&self.shared_h2) = Some((sender.clone(), Instant::now()));
            ConnKind::Http2(sender)
        } else {
            let (sender, connection) = http1::Builder::new()
                .handshake(io)
                .await
                .map_err(handshake_failed)?;
            spawn_connection(connection);
            ConnKind::Http1(sender)
        };
        Ok(Conn {
            kind,
            reused: false,
        })
    }

    /// Stops sharing `failed` (if it is still the shared connection).
    fn forget_http2(&self, failed: &http2::SendRequest<TrackedBody>) {
        let mut shared = lock(&self.shared_h2);
        if shared
            .as_ref()
            .is_some_and(|(sender, _)| sender.is_closed() || failed.is_closed())
        {
            *shared = None;
        }
    }

    /// Takes back an HTTP/1.1 connection whose exchange has ended.
    fn check_in(&self, sender: http1::SendRequest<TrackedBody>) {
        if sender.is_closed() || self.settings.max_idle == 0 {
            return;
        }
        let mut idle = lock(self.idle.get_or_default());
        if idle.len() >= self.settings.max_idle {
            idle.pop_front();
        }
        idle.push_back(Idle {
            sender,
            since: Instant::now(),
        });
    }

    /// Closes connections idle past the timeout (or closed by the upstream); true when
    /// nothing is left.
    fn sweep(&self) -> bool {
        let timeout = self.settings.idle_timeout;
        let mut empty = true;
        for idle in self.idle.iter() {
            let mut idle = lock(idle);
            idle.retain(|c| !c.sender.is_closed() && c.since.elapsed() < timeout);
            empty &= idle.is_empty();
        }
        let mut shared = lock(&self.shared_h2);
        if shared
            .as_ref()
            .is_some_and(|(sender, used)| sender.is_closed() || used.elapsed() >= timeout)
        {
            *shared = None;
        }
        empty && shared.is_none()
    }
}

impl Conn {
    /// Sends `req` (an absolute URI, the `Host` header set; its body reporting to `progress`)
    /// and waits for the response head.
    pub(crate) async fn send(
        self,
        upstream: Arc<Upstream>,
        mut req: Request<TrackedBody>,
        progress: Arc<Progress>,
    ) -> Result<Response<UpstreamBody>, SendFailed> {
        let reused = self.reused;
        let failed = |mut e: hyper::client::conn::TrySendError<Request<TrackedBody>>| {
            let retry = e.take_message().filter(|_| reused);
            SendFailed {
                error: HttpBackendError::from_send(e.error()),
                retry,
            }
        };
        match self.kind {
            ConnKind::Http1(mut sender) => {
                // HTTP/1.1 asks an origin server for the path; the authority is in `Host`.
                let origin_form = req.uri().path_and_query().cloned();
                *req.uri_mut() = origin_form.map(Uri::from).unwrap_or_default();
                *req.version_mut() = Version::HTTP_11;
                let res = sender.try_send_request(req).await.map_err(failed)?;
                let give_back = GiveBack {
                    sender,
                    upstream,
                    progress,
                };
                Ok(res.map(|body| UpstreamBody::new(body, Some(give_back))))
            }
            ConnKind::Http2(mut sender) => {
                *req.version_mut() = Version::HTTP_2;
                let res = sender.try_send_request(req).await.map_err(|e| {
                    // Not used again: the next request opens a new connection.
                    upstream.forget_http2(&sender);
                    failed(e)
                })?;
                Ok(res.map(|body| UpstreamBody::new(body, None)))
            }
        }
    }
}

fn spawn_connection<F>(connection: F)
where
    F: Future<Output = Result<(), hyper::Error>> + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            debug!(error = %chain(&e), "upstream connection closed with an error");
        }
    });
}

/// An upstream response body; at its end, an HTTP/1.1 connection goes back to its upstream.
#[derive(Debug)]
pub(crate) struct UpstreamBody {
    inner: Incoming,
    give_back: Option<GiveBack>,
}

/// What an HTTP/1.1 response body needs to give its connection back.
struct GiveBack {
    sender: http1::SendRequest<TrackedBody>,
    upstream: Arc<Upstream>,
    /// The request's: a connection whose request is still being written when the response
    /// has ended (the upstream answered before reading the whole upload) stays busy until the
    /// upload ends, so it is closed once done rather than pooled.
    progress: Arc<Progress>,
}

impl std::fmt::Debug for GiveBack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GiveBack").finish_non_exhaustive()
    }
}

impl UpstreamBody {
    fn new(inner: Incoming, give_back: Option<GiveBack>) -> Self {
        let mut body = Self { inner, give_back };
        // A response without a body (204, `HEAD`, `Content-Length: 0`) is over already.
        if body.inner.is_end_stream() {
            body.end();
        }
        body
    }

    fn end(&mut self) {
        if let Some(give_back) = self.give_back.take() {
            if give_back.progress.state().done.is_some() {
                give_back.upstream.check_in(give_back.sender);
            }
        }
    }
}

impl http_body::Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = std::pin::Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.end(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.end(),
            // A broken body leaves the connection unusable: it is dropped, not given back.
            Poll::Ready(Some(Err(_))) => self.give_back = None,
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::http::HttpClient;

    #[test]
    fn the_sweep_forgets_upstreams_nobody_holds_with_nothing_pooled() {
        let client = HttpClient::new();
        let pool = client.pool(true);
        let held = pool.upstream(&Scheme::HTTP, &Authority::from_static("held.example"));
        drop(pool.upstream(&Scheme::HTTPS, &Authority::from_static("gone.example")));
        assert_eq!(lock(&pool.shared.upstreams).len(), 2);
        pool.shared.sweep();
        let upstreams = lock(&pool.shared.upstreams);
        let left: Vec<&str> = upstreams.keys().map(|(_, a)| a.as_str()).collect();
        assert_eq!(left, ["held.example"]);
        assert!(Arc::ptr_eq(
            &held,
            &upstreams[&(
                Scheme::HTTP,
                held.origin.authority().cloned().expect("authority")
            )]
        ));
    }

    #[test]
    fn an_upstream_is_found_again_by_scheme_and_authority() {
        let client = HttpClient::new();
        let pool = client.pool(false);
        let a = pool.upstream(&Scheme::HTTP, &Authority::from_static("a.example:8080"));
        let again = pool.upstream(&Scheme::HTTP, &Authority::from_static("a.example:8080"));
        let tls = pool.upstream(&Scheme::HTTPS, &Authority::from_static("a.example:8080"));
        assert!(Arc::ptr_eq(&a, &again));
        assert!(!Arc::ptr_eq(&a, &tls));
        assert_eq!(tls.origin, "https://a.example:8080/");
    }
}
