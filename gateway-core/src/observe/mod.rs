//! Monitoring and logging: what each request did, as metrics and as an access-log line.
//!
//! [`crate::gateway::GatewayService`] opens an [`Exchange`] for every request before routing
//! and puts it in the request extensions; the stages that know something only they can measure
//! record it there (the time spent in backends, the backend's status, the cache's decision,
//! the request body's size). When the response body has been sent in full, or the client went
//! away, the exchange is closed once: its route's [`RouteMetrics`] are updated and, when an
//! [`AccessLog`] is configured, one [`AccessEntry`] is handed to it.
//!
//! Metrics are exposed through prometheus-client: [`crate::GatewayService`],
//! [`crate::server::ListenerStats`] and [`crate::function::FunctionMetrics`] are its `Collector`s, reading the
//! atomics above only when scraped, so recording stays a few relaxed additions.
//!
//! The execution log is `tracing`: every request runs inside a `request` span carrying
//! `opcRequestId`, `deploymentName`, `route` and the route's `executionLogLevel` (from
//! `loggingPolicies`), and the gateway's events carry OCI's execution-log `code`s. A subscriber
//! decides where they go and may drop events below a route's level.

mod access;
pub(crate) mod encode;
mod metrics;

use std::pin::Pin;
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use http_body::{Frame, SizeHint};

use crate::body::{Body, BoxError};
use crate::error::ClientLeft;

pub(crate) use access::AccessFields;
pub use access::{AccessEntry, AccessLog, GatewayIdentity, MatchedRoute};
pub use metrics::{CacheResult, MetricsRegistry, RouteMetrics};
pub(crate) use metrics::{Outcome, RouteKey};

/// Where a gateway's observations go: its metrics (kept across reloads) and, optionally, an
/// access log.
#[derive(Debug, Clone, Default)]
pub struct Observer {
    /// The per-route request metrics; share the `Arc` across reloads to keep the counts.
    pub metrics: Arc<MetricsRegistry>,
    /// Where one entry per finished request goes; `None` for no access log.
    pub access_log: Option<Arc<dyn AccessLog>>,
    /// The gateway and replica named in access-log entries and metrics.
    pub identity: GatewayIdentity,
}

/// One request's measurements, shared by the stages that contribute to them.
#[derive(Debug)]
pub struct Exchange {
    started: Instant,
    integration_nanos: AtomicU64,
    /// 0 until a backend answers.
    backend_status: AtomicU16,
    /// 0 until the response cache decides; then `CacheResult as u8 + 1`.
    cache: AtomicU8,
    bytes_received: AtomicU64,
}

impl Exchange {
    pub(crate) fn new(started: Instant) -> Self {
        Self {
            started,
            integration_nanos: AtomicU64::new(0),
            backend_status: AtomicU16::new(0),
            cache: AtomicU8::new(0),
            bytes_received: AtomicU64::new(0),
        }
    }

    /// Adds time spent waiting for something outside the gateway (a backend, a function, an
    /// authorizer) to the request's integration latency.
    pub fn add_integration(&self, elapsed: Duration) {
        let nanos = elapsed.as_nanos().min(u128::from(u64::MAX)) as u64;
        self.integration_nanos.fetch_add(nanos, Relaxed);
    }

    /// Records the status the backend answered with, before any response policy.
    pub fn set_backend_status(&self, status: http::StatusCode) {
        self.backend_status.store(status.as_u16(), Relaxed);
    }

    /// Records what the response cache did.
    pub fn set_cache_result(&self, result: CacheResult) {
        self.cache.store(result as u8 + 1, Relaxed);
    }

    pub(crate) fn add_bytes_received(&self, bytes: usize) {
        self.bytes_received.fetch_add(bytes as u64, Relaxed);
    }

    fn outcome(&self, status: u16, bytes_sent: u64) -> Outcome {
        let latency = self.started.elapsed();
        let integration = Duration::from_nanos(self.integration_nanos.load(Relaxed));
        Outcome {
            status,
            bytes_sent,
            bytes_received: self.bytes_received.load(Relaxed),
            latency,
            integration: integration.min(latency),
            backend_status: match self.backend_status.load(Relaxed) {
                0 => None,
                s => Some(s),
            },
            cache: match self.cache.load(Relaxed) {
                1 => Some(CacheResult::Hit),
                2 => Some(CacheResult::Miss),
                3 => Some(CacheResult::Bypass),
                _ => None,
            },
        }
    }
}

/// The status recorded for a request whose client went away before its response was ready
/// (nginx's convention; OCI documents none).
const CLIENT_CLOSED_REQUEST: u16 = 499;

/// What is needed to close an exchange once its response is sent. Closing happens exactly
/// once: explicitly with the response's status, or on drop as a request the client abandoned.
#[derive(Debug)]
pub(crate) struct Closing {
    pub(crate) exchange: Arc<Exchange>,
    pub(crate) metrics: Arc<RouteMetrics>,
    pub(crate) method: Method,
    pub(crate) access: Option<(Arc<dyn AccessLog>, Box<AccessFields>)>,
    pub(crate) closed: bool,
}

impl Closing {
    /// Wraps the response body so that the exchange is closed when it ends.
    pub(crate) fn observe(self, response: &http::response::Parts, body: Body) -> Body {
        let status = match response.extensions.get::<ClientLeft>() {
            Some(_) => CLIENT_CLOSED_REQUEST,
            None => response.status.as_u16(),
        };
        Body::new(ObservedBody {
            inner: body,
            status,
            bytes_sent: 0,
            closing: self,
        })
    }

    fn close(&mut self, status: u16, bytes_sent: u64) {
        if std::mem::replace(&mut self.closed, true) {
            return;
        }
        let outcome = self.exchange.outcome(status, bytes_sent);
        self.metrics.response(&self.method, &outcome);
        if let Some((log, fields)) = &self.access {
            log.log(&fields.entry(&self.method, &outcome));
        }
    }
}

impl Drop for Closing {
    fn drop(&mut self) {
        self.close(CLIENT_CLOSED_REQUEST, 0);
    }
}

/// A response body that counts what it sends and closes the exchange when it ends, fails, or
/// is dropped because the client went away.
#[derive(Debug)]
struct ObservedBody {
    inner: Body,
    status: u16,
    bytes_sent: u64,
    closing: Closing,
}

impl ObservedBody {
    fn close(&mut self) {
        self.closing.close(self.status, self.bytes_sent);
    }
}

impl http_body::Body for ObservedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.bytes_sent += data.len() as u64;
                }
                if self.inner.is_end_stream() {
                    self.close();
                }
            }
            Poll::Ready(None | Some(Err(_))) => self.close(),
            Poll::Pending => {}
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

impl Drop for ObservedBody {
    fn drop(&mut self) {
        self.close();
    }
}
