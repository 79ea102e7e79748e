//! The gateway as a `tower::Service`: request id, path normalisation, deployment and route
//! selection, then the route's own stack.

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::uri::PathAndQuery;
use http::{Request, Response, Uri};
use pin_project_lite::pin_project;
use tower::util::Oneshot;
use tower::{Layer, Service, ServiceExt};

use crate::body::{Body, BoxError};
use crate::context::{ClientAddr, RequestContext};
use crate::error::GatewayError;
use crate::policy::cors::preflight_method;
use crate::request_id::{RequestId, RequestIdLayer, SetRequestId};
use crate::router::{normalize_path, Lookup};

use super::assemble::RouteService;
use super::compile::{CompiledGateway, MethodMismatch};

/// The whole gateway for one listener. Cheap to clone; every clone serves the same, swappable,
/// compiled gateway.
#[derive(Debug, Clone)]
pub struct GatewayService {
    current: Arc<ArcSwap<CompiledGateway>>,
    inner: SetRequestId<Dispatch>,
}

impl GatewayService {
    pub fn new(gateway: CompiledGateway) -> Self {
        let current = Arc::new(ArcSwap::from_pointee(gateway));
        // The request id is outermost so every response carries it, a 400 for a bad path too.
        let inner = RequestIdLayer.layer(Dispatch {
            current: current.clone(),
        });
        Self { current, inner }
    }

    /// Serves `gateway` from now on. Requests already routed finish on the one they started
    /// with; nothing is locked.
    pub fn replace(&self, gateway: CompiledGateway) {
        self.current.store(Arc::new(gateway));
    }

    /// The gateway being served.
    pub fn current(&self) -> Arc<CompiledGateway> {
        self.current.load_full()
    }
}

impl<B> Service<Request<B>> for GatewayService
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = crate::request_id::ResponseFuture<DispatchFuture>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.inner.call(req)
    }
}

/// Routes a request to its route's stack. Expects a [`RequestId`] extension (set by the
/// request-id layer) and, when the server provides it, a [`ClientAddr`].
#[derive(Debug, Clone)]
pub struct Dispatch {
    current: Arc<ArcSwap<CompiledGateway>>,
}

impl<B> Service<Request<B>> for Dispatch
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = DispatchFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> DispatchFuture {
        let gateway = self.current.load_full();
        let (mut parts, body) = req.into_parts();
        match route(&gateway, &mut parts) {
            Ok((context, service)) => {
                parts.extensions.insert(context);
                let req = Request::from_parts(parts, Body::new(body));
                DispatchFuture::Route {
                    future: service.oneshot(req),
                }
            }
            Err(error) => DispatchFuture::Ready {
                response: Some(error.into_response()),
            },
        }
    }
}

/// Normalises the path, selects deployment and route, and builds the request context.
/// When normalisation changed the path, the request's URI is rewritten to the normal form so
/// that every later stage sees the path that was routed.
fn route(
    gateway: &CompiledGateway,
    parts: &mut http::request::Parts,
) -> Result<(RequestContext, RouteService), GatewayError> {
    if !parts.uri.path().starts_with('/') {
        return Err(GatewayError::BadTarget);
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
                    return Err(GatewayError::MethodNotAllowed { allowed })
                }
            }
        }
        Lookup::NotFound => return Err(GatewayError::NotFound),
    };
    let offset = path.len() - route_path.len();
    let request_id = parts
        .extensions
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(RequestId::generate);
    let client = parts.extensions.get::<ClientAddr>().map(|c| c.0);
    let context = RequestContext::new(
        request_id,
        client,
        matched.value.info.clone(),
        parts.uri.clone(),
        offset,
        matched.params,
    );
    Ok((context, matched.value.service.clone()))
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
    /// Response future of [`Dispatch`]: a gateway-made answer, or the route's stack at work.
    #[project = DispatchProj]
    #[allow(missing_debug_implementations)]
    pub enum DispatchFuture {
        Ready { response: Option<Response<Body>> },
        Route { #[pin] future: Oneshot<RouteService, Request<Body>> },
    }
}

impl Future for DispatchFuture {
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            DispatchProj::Ready { response } => match response.take() {
                Some(res) => Poll::Ready(Ok(res)),
                None => Poll::Pending,
            },
            DispatchProj::Route { future } => future.poll(cx),
        }
    }
}
