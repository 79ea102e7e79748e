//! `rateLimiting` (reference 4.4) as a tower layer.
//!
//! A deployment's [`RateLimiter`] is built once and shared by all its routes (OCI's limit is per
//! deployment): every route's [`RateLimitLayer`] holds the same `Arc`. Each request is one
//! store check; with the in-memory store it is decided synchronously and the response future
//! is a plain enum with nothing boxed.
//!
//! Responses: admitted requests carry `X-RateLimit-*` (see [`super::headers`]); refused ones get
//! OCI's 429 JSON body, `Retry-After` and the same headers. When the store is unreachable the
//! request is admitted (`open`, no rate headers) or refused with 503 (`closed`); either way the
//! event is counted and logged with `rateLimiting.storeUnavailable`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use tower::{Layer, Service};

use super::client_ip::subject_of;
use super::future::{Decide, LimitFuture, Throttled, Verdict};
use super::gcra::Gcra;
use super::headers::RateHeaders;
use super::settings::{LimitSettings, OnUnavailable};
use super::store::{key_part, LimitKey, LimitOutcome, LimitRequest, Subject};
use crate::body::Body;
use crate::context::{ClientAddr, RequestContext};
use crate::error::GatewayError;
use crate::spec::{RateKey, RateLimitingPolicy};
use crate::store::{StoreCall, StoreError};

/// OCI's execution-log code for a request the rate limit admitted.
pub(crate) const LOG_PERMITTED: &str = "rateLimiting.requestPermitted";
/// OCI's execution-log code for a request refused with 429.
pub(crate) const LOG_DENIED: &str = "rateLimiting.requestDenied";
/// OCI's execution-log code for a request decided without the store, which could not be
/// reached: admitted or refused as `on_unavailable` says.
pub(crate) const LOG_UNAVAILABLE: &str = "rateLimiting.storeUnavailable";

/// Counters for the metrics, per limiter.
#[derive(Debug, Default)]
pub struct LimitCounters {
    permitted: AtomicU64,
    denied: AtomicU64,
    store_unavailable: AtomicU64,
}

impl LimitCounters {
    /// Requests admitted (fail-open admissions included).
    pub fn permitted(&self) -> u64 {
        self.permitted.load(Ordering::Relaxed)
    }

    /// Requests refused with 429.
    pub fn denied(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }

    /// Requests decided without the store because it was unreachable.
    pub fn store_unavailable(&self) -> u64 {
        self.store_unavailable.load(Ordering::Relaxed)
    }

    pub(crate) fn count_permitted(&self) {
        self.permitted.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_denied(&self) {
        self.denied.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_unavailable(&self) {
        self.store_unavailable.fetch_add(1, Ordering::Relaxed);
    }
}

/// One deployment's rate limit, shared by its routes.
#[derive(Debug)]
pub struct RateLimiter {
    deployment: Arc<str>,
    /// `rl/<deployment>/<rateKey>`: the bucket namespace, fixed at load time.
    namespace: Box<str>,
    per_client: bool,
    gcra: Gcra,
    settings: LimitSettings,
    counters: LimitCounters,
}

impl RateLimiter {
    /// The limit of `policy` for deployment `deployment`, with bursts of one second's worth of
    /// requests (as governor's `Quota::per_second`): a client idle for a second may send its
    /// whole second at once.
    pub fn new(deployment: &str, policy: &RateLimitingPolicy, settings: LimitSettings) -> Self {
        let rate = policy.rate_in_requests_per_second;
        let per_client = policy.rate_key == RateKey::ClientIp;
        let key = if per_client { "CLIENT_IP" } else { "TOTAL" };
        Self {
            deployment: deployment.into(),
            namespace: format!("rl/{}/{key}", key_part(deployment)).into(),
            per_client,
            gcra: Gcra::per_second(rate, rate),
            settings,
            counters: LimitCounters::default(),
        }
    }

    /// Overrides the burst (at least 1).
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.gcra = Gcra::per_second(self.gcra.rate(), burst);
        self
    }

    /// The bucket's rate and burst.
    pub fn gcra(&self) -> Gcra {
        self.gcra
    }

    /// What the limiter decided so far, for the metrics.
    pub fn counters(&self) -> &LimitCounters {
        &self.counters
    }

    /// The name of the deployment the limit belongs to.
    pub fn deployment(&self) -> &str {
        &self.deployment
    }

    /// The bucket of a request: everyone, or the client address (see `client_ip`).
    pub fn subject<B>(&self, req: &Request<B>) -> Subject<'static> {
        if !self.per_client {
            return Subject::Total;
        }
        subject_of(self.client_ip(req))
    }

    fn client_ip<B>(&self, req: &Request<B>) -> Option<IpAddr> {
        let peer = match req.extensions().get::<RequestContext>() {
            Some(ctx) => ctx.client_addr(),
            None => req.extensions().get::<ClientAddr>().map(|c| c.0),
        };
        self.settings
            .trusted_proxies
            .client_ip(peer.map(|a| a.ip()), req.headers())
    }

    fn check<B>(&self, req: &Request<B>) -> StoreCall<Result<LimitOutcome, StoreError>> {
        let key = LimitKey {
            namespace: &self.namespace,
            subject: self.subject(req),
            window: None,
        };
        self.settings.store.check(&LimitRequest {
            rate: Some((key, self.gcra)),
            quota: None,
        })
    }

    /// Turns the store's answer into what happens to the request.
    fn verdict(&self, result: Result<LimitOutcome, StoreError>) -> Verdict {
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(error) => return self.unavailable(&error),
        };
        let Some(decision) = outcome.rate else {
            // A store that answers without a rate decision is broken; treat it as unreachable.
            return self.unavailable(&StoreError::Protocol("no rate decision".into()));
        };
        let headers = RateHeaders::new(self.gcra.burst(), &decision);
        if outcome.admitted {
            self.counters.count_permitted();
            tracing::trace!(
                code = LOG_PERMITTED,
                deployment = &*self.deployment,
                "rate limit"
            );
            return Verdict::Pass(Some(headers));
        }
        self.counters.count_denied();
        tracing::debug!(
            code = LOG_DENIED,
            deployment = &*self.deployment,
            retry_after_us = decision.retry_after_us,
            "rate limit exceeded"
        );
        Verdict::Reject(
            Throttled {
                retry_after: Duration::from_micros(decision.retry_after_us),
                log_code: LOG_DENIED,
                rate: Some(headers),
            }
            .into(),
        )
    }

    fn unavailable(&self, error: &StoreError) -> Verdict {
        self.counters.count_unavailable();
        tracing::debug!(
            code = LOG_UNAVAILABLE,
            deployment = &*self.deployment,
            store = self.settings.store.kind(),
            %error,
            on_unavailable = ?self.settings.on_unavailable,
            "rate-limit store unavailable"
        );
        match self.settings.on_unavailable {
            OnUnavailable::Open => {
                self.counters.count_permitted();
                Verdict::Pass(None)
            }
            OnUnavailable::Closed => Verdict::Reject(GatewayError::LimitStoreUnavailable {
                log_code: LOG_UNAVAILABLE,
            }),
        }
    }
}

/// The rate limiter decides from the store's answer alone.
#[derive(Debug, Clone)]
pub struct RateDecider(Arc<RateLimiter>);

impl<B> Decide<B> for RateDecider {
    fn decide(&mut self, result: Result<LimitOutcome, StoreError>, _: &mut Request<B>) -> Verdict {
        self.0.verdict(result)
    }
}

/// Response future of [`RateLimit`].
pub type ResponseFuture<S, B> = LimitFuture<S, B, RateDecider>;

/// Applies a deployment's [`RateLimiter`] to a route.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: Arc<RateLimiter>,
}

impl RateLimitLayer {
    /// A layer that applies `limiter`; give every route of the deployment the same `Arc`.
    pub fn new(limiter: Arc<RateLimiter>) -> Self {
        Self { limiter }
    }

    /// The limiter applied.
    pub fn limiter(&self) -> &Arc<RateLimiter> {
        &self.limiter
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// Refuses requests over the deployment's rate; see the module docs.
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    limiter: Arc<RateLimiter>,
}

impl<S> RateLimit<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, B> Service<Request<B>> for RateLimit<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone,
    S::Error: From<GatewayError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let call = self.limiter.check(&req);
        LimitFuture::start(
            &mut self.inner,
            call,
            req,
            RateDecider(self.limiter.clone()),
        )
    }
}
