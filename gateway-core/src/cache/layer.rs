//! `responseCacheLookup` + `responseCacheStore` (reference 4.9) as one tower layer around the
//! backend.
//!
//! Per request:
//!
//! 1. Not `GET`, `HEAD` or `OPTIONS`, or carrying credentials (`Authorization`, or the
//!    authentication policy's token header or query parameter) while private caching is off:
//!    **BYPASS** — the backend answers and nothing is stored.
//! 2. Otherwise the key (URL path without query, method, deployment, `cacheKeyAdditions`) is
//!    looked up. Found: **HIT**, served from the cache; the backend is not called.
//! 3. Not found: **MISS** — the backend answers and, when the route has a store policy, a
//!    `200`, `204`, `301` or `410` response without `Set-Cookie` and at most 50 MB is stored
//!    for the policy's TTL while it streams to the client (`super::tee`).
//!
//! `Cache-Control` is ignored, as OCI documents. Responses carrying `Set-Cookie` are not stored
//! (a decision of this gateway: replaying one client's cookie to others is a session leak that
//! no TTL makes safe). A cache that cannot be reached never fails a request: the lookup turns
//! into BYPASS (logged `responseCache.unavailable`, counted), and a failed store is only logged.
//! Every response carries `X-Cache-Status`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::header::{AUTHORIZATION, CONTENT_LENGTH, SET_COOKIE};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::entry::{CachedResponse, X_CACHE_STATUS};
use super::key::CacheKey;
use super::store::ResponseCacheStore;
use super::tee::{Tee, TeeBody};
use crate::body::Body;
use crate::context::{first_query_value, RawVars, RequestContext};
use crate::observe::CacheResult;
use crate::spec::{
    Authentication, DynamicAuthentication, ResponseCacheLookupPolicy, ResponseCacheStorePolicy,
    TokenSource,
};
use crate::store::{StoreCall, StoreError};
use crate::vars::{Selector, Table, TableSet, VarError, VarSource};

/// OCI's limit on one cached response (reference 11).
pub const MAX_ENTRY_BYTES: usize = 50 * 1024 * 1024;

const MISS: &str = "MISS";
const BYPASS: &str = "BYPASS";

/// Where the deployment's authentication policy reads its token: requests carrying one are
/// private. `Authorization` is always included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CredentialLocations {
    headers: Vec<HeaderName>,
    query: Vec<Box<str>>,
}

impl CredentialLocations {
    /// Only `Authorization`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a token header (`tokenHeader`).
    pub fn header(mut self, name: HeaderName) -> Self {
        self.headers.push(name);
        self
    }

    /// Adds a token query parameter (`tokenQueryParam`).
    pub fn query_param(mut self, name: &str) -> Self {
        self.query.push(name.into());
        self
    }

    /// Adds where `auth` reads credentials: its `tokenHeader` / `tokenQueryParam`, or the
    /// headers and query parameters a multi-argument authorizer's `parameters` read.
    pub fn with_authentication(mut self, auth: &Authentication) -> Self {
        match auth.token_source() {
            Some(TokenSource::Header(h)) => {
                if let Ok(name) = HeaderName::from_bytes(h.as_bytes()) {
                    self.headers.push(name);
                }
            }
            Some(TokenSource::QueryParam(q)) => self.query.push(q.into()),
            None => {
                let Authentication::Custom(custom) = auth else {
                    return self;
                };
                for value in custom.parameters.iter().flat_map(|p| p.values()) {
                    let Ok(selector) = Selector::parse(value, TableSet::AUTHORIZER_PARAMETERS)
                    else {
                        continue;
                    };
                    let key = selector.var().key().unwrap_or_default();
                    match selector.table() {
                        Table::Headers => {
                            if let Ok(name) = HeaderName::from_bytes(key.as_bytes()) {
                                self.headers.push(name);
                            }
                        }
                        Table::Query => self.query.push(key.into()),
                        _ => {}
                    }
                }
            }
        }
        self
    }

    /// Adds the credentials of a deployment's `authentication` or of every server of its
    /// `dynamicAuthentication`.
    pub fn for_deployment(
        authentication: Option<&Authentication>,
        dynamic: Option<&DynamicAuthentication>,
    ) -> Self {
        let servers = dynamic
            .into_iter()
            .flat_map(|d| d.authentication_servers.iter())
            .map(|s| &s.authentication_server_detail);
        authentication
            .into_iter()
            .chain(servers)
            .fold(Self::new(), Self::with_authentication)
    }

    fn present<B>(&self, req: &Request<B>) -> bool {
        req.headers().contains_key(AUTHORIZATION)
            || self.headers.iter().any(|h| req.headers().contains_key(h))
            || req.uri().query().is_some_and(|q| {
                self.query
                    .iter()
                    .any(|name| first_query_value(q, name).is_some())
            })
    }
}

/// Cache outcomes, for the `ResponseCacheAction` metric.
#[derive(Debug, Default)]
pub struct CacheCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
    unavailable: AtomicU64,
}

impl CacheCounters {
    /// Requests served from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
    /// Lookups that found nothing, so the backend answered.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
    /// Bypasses, lookups that failed included.
    pub fn bypasses(&self) -> u64 {
        self.bypasses.load(Ordering::Relaxed)
    }
    /// Lookups that failed because the cache could not be reached.
    pub fn unavailable(&self) -> u64 {
        self.unavailable.load(Ordering::Relaxed)
    }
}

/// A route's compiled cache policies.
#[derive(Debug)]
pub struct ResponseCachePolicy {
    deployment: Arc<str>,
    additions: Box<[Selector]>,
    private_caching: bool,
    credentials: CredentialLocations,
    /// `None` without a store policy: lookups only.
    ttl: Option<Duration>,
    max_entry_bytes: usize,
    store: Arc<dyn ResponseCacheStore>,
    counters: CacheCounters,
}

impl ResponseCachePolicy {
    /// Compiles a route's lookup and store policies; `None` when the lookup is disabled
    /// (`isEnabled: false`). `credentials` are the deployment authentication's token
    /// locations.
    pub fn compile(
        deployment: &str,
        lookup: &ResponseCacheLookupPolicy,
        store_policy: Option<&ResponseCacheStorePolicy>,
        credentials: CredentialLocations,
        store: Arc<dyn ResponseCacheStore>,
    ) -> Result<Option<Self>, VarError> {
        let ResponseCacheLookupPolicy::Simple(lookup) = lookup;
        if lookup.is_enabled == Some(false) {
            return Ok(None);
        }
        let additions = lookup
            .cache_key_additions
            .iter()
            .map(|text| Selector::parse_either(text, TableSet::CACHE_KEY))
            .collect::<Result<Box<[_]>, _>>()?;
        let ttl = store_policy.map(|ResponseCacheStorePolicy::FixedTtl(p)| {
            Duration::from_secs(u64::from(p.time_to_live_in_seconds))
        });
        Ok(Some(Self {
            deployment: deployment.into(),
            additions,
            private_caching: lookup.is_private_caching_enabled == Some(true),
            credentials,
            ttl,
            max_entry_bytes: MAX_ENTRY_BYTES,
            store,
            counters: CacheCounters::default(),
        }))
    }

    /// Lowers the per-entry cap (never above OCI's 50 MB).
    pub fn with_max_entry_bytes(mut self, max: usize) -> Self {
        self.max_entry_bytes = max.min(MAX_ENTRY_BYTES);
        self
    }

    /// What the cache did for this route's requests so far.
    pub fn counters(&self) -> &CacheCounters {
        &self.counters
    }

    /// The key of a request: its routed path (the context's, normalised) or the URI's path.
    pub fn key<B>(&self, req: &Request<B>) -> CacheKey {
        match req.extensions().get::<RequestContext>() {
            Some(ctx) => self.key_with(req.method(), ctx.path(), &ctx.vars(req.headers())),
            None => self.key_with(
                req.method(),
                req.uri().path(),
                &RawVars {
                    headers: req.headers(),
                    query: req.uri().query(),
                },
            ),
        }
    }

    fn key_with(&self, method: &Method, path: &str, vars: &impl VarSource) -> CacheKey {
        CacheKey::compute(
            &self.deployment,
            method,
            path,
            self.additions.iter().map(|s| s.value(vars)),
        )
    }

    /// Wraps a MISS response's body for storing when the response may be stored.
    fn maybe_store(&self, key: CacheKey, response: Response<Body>) -> Response<Body> {
        let Some(ttl) = self.ttl else {
            return response;
        };
        let cacheable = matches!(
            response.status(),
            StatusCode::OK
                | StatusCode::NO_CONTENT
                | StatusCode::MOVED_PERMANENTLY
                | StatusCode::GONE
        );
        if !cacheable || response.headers().contains_key(SET_COOKIE) {
            return response;
        }
        let declared = response
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max_entry_bytes as u64) {
            return response;
        }
        let (parts, body) = response.into_parts();
        let tee = Tee::new(
            self.store.clone(),
            key,
            ttl,
            parts.status,
            parts.headers.clone(),
            self.max_entry_bytes,
        );
        Response::from_parts(parts, Body::new(TeeBody::new(body, tee)))
    }

    fn lookup_failed(&self, error: &StoreError) {
        self.counters.unavailable.fetch_add(1, Ordering::Relaxed);
        self.counters.bypasses.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            code = "responseCache.unavailable",
            deployment = &*self.deployment,
            store = self.store.kind(),
            %error,
            "cache lookup failed; bypassing the cache"
        );
    }
}

/// Applies a route's [`ResponseCachePolicy`].
#[derive(Debug, Clone)]
pub struct ResponseCacheLayer {
    policy: Arc<ResponseCachePolicy>,
}

impl ResponseCacheLayer {
    /// A layer that applies `policy`; share the `Arc` to read its counters.
    pub fn new(policy: Arc<ResponseCachePolicy>) -> Self {
        Self { policy }
    }

    /// The policy applied, for its counters.
    pub fn policy(&self) -> &Arc<ResponseCachePolicy> {
        &self.policy
    }
}

impl<S> Layer<S> for ResponseCacheLayer {
    type Service = ResponseCache<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ResponseCache {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// Serves cacheable requests from the cache and stores what the backend answers; see the
/// module docs.
#[derive(Debug, Clone)]
pub struct ResponseCache<S> {
    inner: S,
    policy: Arc<ResponseCachePolicy>,
}

impl<S> ResponseCache<S> {
    /// The route's policy, for its counters.
    pub fn policy(&self) -> &Arc<ResponseCachePolicy> {
        &self.policy
    }

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

impl<S, B> Service<Request<B>> for ResponseCache<S>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let policy = &self.policy;
        let eligible = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
            && (policy.private_caching || !policy.credentials.present(&req));
        if !eligible {
            policy.counters.bypasses.fetch_add(1, Ordering::Relaxed);
            report(&req, CacheResult::Bypass);
            return ResponseFuture {
                state: State::Inner {
                    future: self.inner.call(req),
                    status: BYPASS,
                    store: None,
                },
            };
        }
        let key = policy.key(&req);
        let state = match policy.store.get(&key) {
            StoreCall::Ready(Some(result)) => {
                State::after_lookup(&mut self.inner, policy, key, req, result)
            }
            call => {
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                State::Lookup {
                    call,
                    request: Some(req),
                    inner: Some(inner),
                    key,
                    policy: policy.clone(),
                }
            }
        };
        ResponseFuture { state }
    }
}

/// Tells the request's exchange what the cache did, for the `ResponseCacheAction` metric.
fn report<B>(req: &Request<B>, result: CacheResult) {
    if let Some(exchange) = req
        .extensions()
        .get::<RequestContext>()
        .and_then(RequestContext::exchange)
    {
        exchange.set_cache_result(result);
    }
}

type Lookup = StoreCall<Result<Option<Arc<CachedResponse>>, StoreError>>;

pin_project! {
    /// Response future of [`ResponseCache`].
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

impl<S: Service<Request<B>>, B> fmt::Debug for ResponseFuture<S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

pin_project! {
    #[project = Proj]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        /// Waiting for the cache.
        Lookup {
            call: Lookup,
            request: Option<Request<B>>,
            inner: Option<S>,
            key: CacheKey,
            policy: Arc<ResponseCachePolicy>,
        },
        /// The backend is answering (MISS or BYPASS); `store` is set on a MISS.
        Inner {
            #[pin]
            future: S::Future,
            status: &'static str,
            store: Option<(CacheKey, Arc<ResponseCachePolicy>)>,
        },
        /// Served from the cache.
        Hit {
            response: Option<Response<Body>>,
        },
    }
}

impl<S, B> State<S, B>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    fn after_lookup(
        inner: &mut S,
        policy: &Arc<ResponseCachePolicy>,
        key: CacheKey,
        req: Request<B>,
        result: Result<Option<Arc<CachedResponse>>, StoreError>,
    ) -> Self {
        report(
            &req,
            match &result {
                Ok(Some(_)) => CacheResult::Hit,
                Ok(None) => CacheResult::Miss,
                Err(_) => CacheResult::Bypass,
            },
        );
        match result {
            Ok(Some(entry)) => {
                policy.counters.hits.fetch_add(1, Ordering::Relaxed);
                State::Hit {
                    response: Some(entry.to_response()),
                }
            }
            Ok(None) => {
                policy.counters.misses.fetch_add(1, Ordering::Relaxed);
                State::Inner {
                    future: inner.call(req),
                    status: MISS,
                    store: Some((key, policy.clone())),
                }
            }
            Err(error) => {
                policy.lookup_failed(&error);
                State::Inner {
                    future: inner.call(req),
                    status: BYPASS,
                    store: None,
                }
            }
        }
    }
}

impl<S, B> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Output = Result<Response<Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().state.poll(cx)
    }
}

impl<S, B> Future for State<S, B>
where
    S: Service<Request<B>, Response = Response<Body>>,
{
    type Output = Result<Response<Body>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                Proj::Lookup {
                    call,
                    request,
                    inner,
                    key,
                    policy,
                } => {
                    let result = ready!(Pin::new(call).poll(cx));
                    let (Some(req), Some(mut svc)) = (request.take(), inner.take()) else {
                        return Poll::Pending;
                    };
                    let next = Self::after_lookup(&mut svc, policy, *key, req, result);
                    self.set(next);
                }
                Proj::Inner {
                    future,
                    status,
                    store,
                } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some((key, policy)) = store.take() {
                        response = policy.maybe_store(key, response);
                    }
                    response
                        .headers_mut()
                        .insert(X_CACHE_STATUS.clone(), HeaderValue::from_static(status));
                    return Poll::Ready(Ok(response));
                }
                Proj::Hit { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        None => Poll::Pending,
                    }
                }
            }
        }
    }
}
