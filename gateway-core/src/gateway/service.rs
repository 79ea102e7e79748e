//! The gateway as a `tower::Service`: request id, path normalisation, deployment and route
//! selection, then the route's own stack.

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::HOST;
use http::uri::PathAndQuery;
use http::{HeaderValue, Request, Response, Uri};
use pin_project_lite::pin_project;
use tower::Service;
use tracing::instrument::Instrumented;
use tracing::{info_span, Instrument};

use crate::body::{Body, BoxError};
use crate::context::{ClientAddr, RequestContext};
use crate::error::GatewayError;
use crate::future::BoxFuture;
use crate::observe::{AccessFields, Closing, Exchange, Observer, RouteKey};
use crate::policy::cors::preflight_method;
use crate::request_id::{RequestId, ResponseFuture};
use crate::request_limits::{LimitedBody, RequestBodyError, MAX_HEADER_COUNT};
use crate::respond::error_response;
use crate::router::{normalize_path, Lookup, Params};

use super::arrival::Arrival;
use super::assemble::Handler;
use super::compile::{CompiledGateway, CompiledRoute, MethodMismatch};

/// The whole gateway for one listener. Cheap to clone (one reference count); every clone
/// serves the same, swappable, compiled gateway.
#[derive(Debug, Clone)]
pub struct GatewayService {
    shared: Arc<Shared>,
}

/// What every clone of a [`GatewayService`] shares.
#[derive(Debug)]
struct Shared {
    current: ArcSwap<CompiledGateway>,
    observer: Observer,
}

impl GatewayService {
    /// Serves `gateway`, keeping request metrics in a registry of its own and no access log.
    pub fn new(gateway: CompiledGateway) -> Self {
        Self::with_observer(gateway, Observer::default())
    }

    /// Serves `gateway`, reporting to `observer`'s metrics registry and access log.
    pub fn with_observer(gateway: CompiledGateway, observer: Observer) -> Self {
        bind_metrics(&observer, &gateway);
        let shared = Arc::new(Shared {
            current: ArcSwap::from_pointee(gateway),
            observer,
        });
        Self { shared }
    }

    /// Serves `gateway` from now on. Requests already routed finish on the one they started
    /// with; nothing is locked. Routes that remain keep their metrics.
    pub fn replace(&self, gateway: CompiledGateway) {
        let shared = self.shared();
        bind_metrics(&shared.observer, &gateway);
        shared.current.store(Arc::new(gateway));
    }

    /// The gateway being served.
    pub fn current(&self) -> Arc<CompiledGateway> {
        self.shared().current.load_full()
    }

    /// Where requests are reported.
    pub fn observer(&self) -> &Observer {
        &self.shared().observer
    }

    fn shared(&self) -> &Shared {
        &self.shared
    }
}

fn bind_metrics(observer: &Observer, gateway: &CompiledGateway) {
    let bound = observer
        .metrics
        .bind(gateway.routes().map(|route| RouteKey {
            deployment: route.deployment.clone(),
            path: route.template.as_str().to_owned(),
            methods: route.methods.to_string(),
            backend: route.backend,
        }));
    for (route, metrics) in gateway.routes().zip(bound) {
        // A gateway served by two services reports to the first one's registry.
        let _ = route.metrics.set(metrics);
    }
}

impl<B> Service<Request<B>> for GatewayService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture<DispatchFuture>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // Hop-by-hop headers go before the request id, transformations or backends add headers
        // the client's `Connection` might name.
        let mut arrival = Arrival::read(req.headers_mut());
        // Before anything can fail, so that every answer carries the id, a 400 for a bad path
        // too. The request itself carries it once it goes to its route's stack.
        let id = arrival.request_id();
        let value = id.header_value().clone();
        ResponseFuture::new(self.dispatch(req, id, &arrival), value)
    }
}

impl GatewayService {
    /// Routes a request to its route's stack, enforcing the request limits and reporting the
    /// exchange.
    fn dispatch<B>(&self, req: Request<B>, id: RequestId, arrival: &Arrival) -> DispatchFuture
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let exchange = Arc::new(Exchange::new(Instant::now()));
        let observer = &self.shared.observer;
        // Everything the request needs from the gateway is taken before `call` returns, so a
        // guard does, without a reference count.
        let gateway = self.shared.current.load();
        let (mut parts, body) = req.into_parts();
        let mut access = observer
            .access_log
            .as_ref()
            .filter(|log| log.wants())
            .map(|log| {
                let client = parts.extensions.get::<ClientAddr>().map(|c| c.0);
                let fields = AccessFields::capture(&parts, &id, client, &observer.identity);
                (log.clone(), Box::new(fields))
            });
        let head_too_large = arrival.head_size(&parts) > gateway.limits.max_header_bytes;
        let too_many_headers = arrival.header_count > MAX_HEADER_COUNT;
        let routed = route(&gateway, &mut parts, arrival.hosts);
        let metrics = match &routed {
            Ok(routed) => routed.route.info.metrics.get(),
            Err(_) => None,
        }
        .unwrap_or_else(|| observer.metrics.unrouted())
        .clone();
        metrics.request(&parts.method);
        if let (Some((_, fields)), Ok(routed)) = (&mut access, &routed) {
            fields.set_route(routed.route.info.matched.clone());
        }
        let closing = Closing {
            exchange: exchange.clone(),
            metrics,
            method: parts.method.clone(),
            access,
            closed: false,
        };
        let refusal = match routed {
            _ if head_too_large => Err(GatewayError::HeadersTooLarge {
                limit: gateway.limits.max_header_bytes,
            }),
            _ if too_many_headers => Err(GatewayError::TooManyHeaders {
                limit: MAX_HEADER_COUNT,
            }),
            Ok(routed)
                if arrival
                    .declared_length
                    .is_some_and(|n| n > routed.route.max_body) =>
            {
                Err(GatewayError::from(RequestBodyError::TooLarge {
                    limit: routed.route.max_body,
                }))
            }
            other => other,
        };
        let state = match refusal {
            Ok(routed) => match &routed.route.handler {
                // Nothing of the request can change this answer: it is dropped unread.
                Handler::Fixed(answer) => DispatchState::Ready {
                    response: Some(answer.response()),
                    closing: Some(closing),
                },
                Handler::Stack(stack) => {
                    let route = routed.route;
                    id.set_on(&mut parts.headers);
                    let context = routed.context(&parts, id);
                    let span = info_span!(
                        "request",
                        opcRequestId = context.request_id().as_str(),
                        deploymentName = &*route.info.deployment,
                        route = route.info.template.as_str(),
                        executionLogLevel = route.info.execution_log_level.map(|l| l.as_str()),
                    );
                    parts
                        .extensions
                        .insert(context.with_exchange(exchange.clone()));
                    let body = LimitedBody::new(
                        body,
                        exchange,
                        route.max_body,
                        gateway.limits.body_read_timeout,
                    );
                    let req = Request::from_parts(parts, Body::new(body));
                    DispatchState::Route {
                        future: stack.call(req).instrument(span),
                        closing: Some(closing),
                    }
                }
            },
            Err(error) => {
                let span = info_span!("request", opcRequestId = id.as_str());
                DispatchState::Ready {
                    response: Some(span.in_scope(|| error_response(error))),
                    closing: Some(closing),
                }
            }
        };
        DispatchFuture { state }
    }
}

/// Normalises the path, selects deployment and route, and builds the request context.
/// When normalisation changed the path, the request's URI is rewritten to the normal form so
/// that every later stage sees the path that was routed.
fn route<'g>(
    gateway: &'g CompiledGateway,
    parts: &mut http::request::Parts,
    hosts: usize,
) -> Result<Routed<'g>, GatewayError> {
    if !parts.uri.path().starts_with('/') {
        return Err(GatewayError::BadTarget);
    }
    if hosts > 1 {
        return Err(GatewayError::DuplicateHost);
    }
    // An absolute-form target (or HTTP/2's `:authority`) names the host; a `Host` header
    // that says otherwise is ignored (RFC 9112 §3.2.2), so every later stage sees one host.
    if let Some(authority) = parts.uri.authority() {
        if let Ok(host) = HeaderValue::from_str(authority.as_str()) {
            parts.headers.insert(HOST, host);
        }
    }
    if let Cow::Owned(normal) = normalize_path(parts.uri.path())? {
        parts.uri = with_path(&parts.uri, &normal)?;
    }
    let path = parts.uri.path();
    let (deployment, route_path) = gateway
        .deployments
        .find(path)
        .ok_or(GatewayError::NotFound)?;
    let matched = match deployment.router.at(&parts.method, route_path) {
        Lookup::Found(m) => m,
        Lookup::MethodNotAllowed(allowed) => {
            // A CORS pre-flight is an OPTIONS request for a route that need not list OPTIONS:
            // it goes to the route its Access-Control-Request-Method would reach, whose CORS
            // layer answers it.
            let preflight =
                preflight_method(&parts.method, &parts.headers).and_then(|method| match deployment
                    .router
                    .at(&method, route_path)
                {
                    Lookup::Found(m) if m.value.has_cors => Some(m),
                    _ => None,
                });
            match (preflight, gateway.method_mismatch) {
                (Some(m), _) => m,
                (None, MethodMismatch::NotFound) => return Err(GatewayError::NotFound),
                (None, MethodMismatch::MethodNotAllowed) => {
                    return Err(GatewayError::MethodNotAllowed {
                        allow: allowed.allow_header(),
                    })
                }
            }
        }
        Lookup::NotFound => return Err(GatewayError::NotFound),
    };
    Ok(Routed {
        route: matched.value,
        offset: path.len() - route_path.len(),
        params: matched.params,
    })
}

/// A request's route, and where its path parameters are.
struct Routed<'g> {
    route: &'g CompiledRoute,
    /// Where the route's part of the path starts (after the deployment's prefix).
    offset: usize,
    params: Params,
}

impl Routed<'_> {
    /// The context the route's stack reads: the request's id, client, route and parameters.
    fn context(self, parts: &http::request::Parts, id: RequestId) -> RequestContext {
        let client = parts.extensions.get::<ClientAddr>().map(|c| c.0);
        RequestContext::new(
            id,
            client,
            self.route.info.clone(),
            parts.uri.clone(),
            self.offset,
            self.params,
        )
    }
}

/// `uri` with its path replaced by `path` (query, scheme and authority kept).
fn with_path(uri: &Uri, path: &str) -> Result<Uri, GatewayError> {
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query =
        Some(PathAndQuery::try_from(path_and_query).map_err(|_| GatewayError::BadTarget)?);
    Uri::from_parts(parts).map_err(|_| GatewayError::BadTarget)
}

pin_project! {
    /// Response future of a [`GatewayService`] inside its request id: a gateway-made answer, or
    /// the route's stack at work. Either way the response body is wrapped so that the exchange
    /// is reported when it ends.
    pub struct DispatchFuture {
        #[pin]
        state: DispatchState,
    }
}

impl fmt::Debug for DispatchFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatchFuture").finish_non_exhaustive()
    }
}

pin_project! {
    #[project = DispatchProj]
    enum DispatchState {
        // A gateway-made answer (no route, a bad path), taken when the future is first polled.
        Ready { response: Option<Response<Body>>, closing: Option<Closing> },
        // The matched route's stack at work.
        Route {
            #[pin]
            future: Instrumented<BoxFuture<'static, Result<Response<Body>, Infallible>>>,
            closing: Option<Closing>,
        },
    }
}

impl Future for DispatchFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (response, closing) = match self.project().state.project() {
            DispatchProj::Ready { response, closing } => match response.take() {
                Some(res) => (res, closing),
                None => return Poll::Pending,
            },
            DispatchProj::Route { future, closing } => match future.poll(cx) {
                Poll::Ready(Ok(res)) => (res, closing),
                Poll::Pending => return Poll::Pending,
            },
        };
        Poll::Ready(Ok(match closing.take() {
            Some(closing) => {
                let (parts, body) = response.into_parts();
                let body = closing.observe(&parts, body);
                Response::from_parts(parts, body)
            }
            None => response,
        }))
    }
}
