//! CORS (reference 4.3): answers pre-flight requests and adds the CORS headers to actual
//! responses.
//!
//! The layer sits outermost in a route's stack, so a pre-flight is answered before
//! authentication, rate limiting or validation could reject it (browsers send pre-flights
//! without credentials), and every later answer — a 401, a 429, a validation 400, the backend's
//! — carries the allow-origin header, so the calling script can read it.
//!
//! # Semantics
//!
//! * **Origins**: `*` matches any origin, `null` matches the literal `null` origin (`file:`
//!   pages, sandboxed frames), anything else matches on scheme, host (both case-insensitive)
//!   and port (the scheme's default port implied). One origin is returned, the best match:
//!   an exact entry echoes the request's `Origin`, then `null`, then `*` — which is sent as
//!   `*`, or as the request's `Origin` when `isAllowCredentialsEnabled` is set (browsers
//!   reject `*` on credentialed requests; the loader warns about this combination).
//! * **Pre-flight** (`OPTIONS` with `Origin` and `Access-Control-Request-Method`): always
//!   answered here, `204` with an empty body, never forwarded. When the origin, the requested
//!   method and every requested header are allowed, the answer carries
//!   `Access-Control-Allow-Origin`, `-Allow-Methods`, `-Allow-Headers`, `-Allow-Credentials`
//!   and `-Max-Age` (omitted when `maxAgeInSeconds` is 0 or absent); otherwise it carries none
//!   of them, as OCI answers, and the browser blocks the actual request. Methods: `*` allows
//!   all (the requested one is echoed); the CORS-safelisted `GET`, `HEAD` and `POST` pass even
//!   when not listed, which is what lets an empty list still allow simple methods. Headers:
//!   `*` allows all (the requested list is echoed), else each must be listed,
//!   case-insensitively.
//! * **Actual requests** with an allowed `Origin`: the response gets
//!   `Access-Control-Allow-Origin`, `-Allow-Credentials` when enabled and
//!   `-Expose-Headers` when configured (`*` with credentials lists the response's own header
//!   names, since browsers read `*` literally there), replacing any the backend set.
//! * **`Vary: Origin`** is added to every answer to a request with an `Origin` whenever the
//!   answer depends on it (anything but `*` alone without credentials); pre-flights also vary
//!   on the two request headers. Requests without `Origin` are not CORS requests and pass
//!   through untouched. A shared cache in front of the gateway that stores such a response
//!   could later serve it to a CORS request without the allow header; the gateway's own
//!   response cache must therefore key on `Origin` for routes with CORS.
//!
//! # Routing pre-flights
//!
//! A pre-flight is an `OPTIONS` request, and routes rarely list `OPTIONS`. See
//! [`preflight_method`] for how the dispatcher should route one.

mod config;
mod origin;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::header::{ACCESS_CONTROL_REQUEST_METHOD, ORIGIN};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::diagnostics::Diagnostics;
use crate::spec::CorsPolicy;
use config::CorsConfig;

/// The method a request should be routed by: for a CORS pre-flight (`OPTIONS` with `Origin`
/// and a valid `Access-Control-Request-Method`), the method it asks about; `None` for any
/// other request, which is routed by its own method.
///
/// **Recommendation for the dispatcher.** Route every request by its own method first. When
/// that finds no route (`MethodNotAllowed`, or `NotFound` caused only by the method) and this
/// function returns `Some(m)`, look the path up again with `m`; if that finds a route *whose
/// stack has a CORS layer*, dispatch the `OPTIONS` request, unchanged, to that route's stack,
/// where [`CorsLayer`] answers it before anything else runs. Otherwise keep the first result
/// (404, or 405 when configured). So:
///
/// * a route that lists `OPTIONS` (or `ANY`) itself receives its pre-flights directly, and its
///   own CORS layer, if any, still answers them;
/// * a pre-flight is answered with the CORS policy of the route the actual request will hit —
///   the one a route-level `cors` replaces the deployment's for;
/// * a pre-flight for a method no route accepts, or for a route without CORS, gets the same
///   404 an `OPTIONS` request would, and the browser blocks the actual request.
pub(crate) fn preflight_method(method: &Method, headers: &HeaderMap) -> Option<Method> {
    if method != Method::OPTIONS || !headers.contains_key(ORIGIN) {
        return None;
    }
    let requested = headers.get(ACCESS_CONTROL_REQUEST_METHOD)?;
    Method::from_bytes(requested.as_bytes()).ok()
}

/// Applies one CORS policy (the route's, or the deployment's when the route has none).
#[derive(Debug, Clone)]
pub struct CorsLayer {
    config: Arc<CorsConfig>,
}

impl CorsLayer {
    /// Compiles the effective CORS policy of a route. `path` is the JSON path of that policy
    /// (`requestPolicies.cors` for the deployment's, `routes[2].requestPolicies.cors` for a
    /// route's).
    pub fn compile(policy: &CorsPolicy, path: &str, diags: &mut Diagnostics) -> CorsLayer {
        CorsLayer {
            config: Arc::new(CorsConfig::compile(policy, path, diags)),
        }
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;

    fn layer(&self, inner: S) -> Cors<S> {
        Cors {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`CorsLayer`].
#[derive(Debug, Clone)]
pub struct Cors<S> {
    inner: S,
    config: Arc<CorsConfig>,
}

impl<S, B, ResBody> Service<Request<B>> for Cors<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: Default,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = CorsFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let Some(origin) = req.headers().get(ORIGIN) else {
            return CorsFuture::Inner {
                future: self.inner.call(req),
                cors: None,
            };
        };
        let is_preflight = req.method() == Method::OPTIONS
            && req.headers().contains_key(ACCESS_CONTROL_REQUEST_METHOD);
        if is_preflight {
            let mut response = Response::new(ResBody::default());
            *response.status_mut() = StatusCode::NO_CONTENT;
            *response.headers_mut() = self.config.preflight(origin, req.headers());
            return CorsFuture::Preflight {
                response: Some(response),
            };
        }
        let allow_origin = self.config.allow_origin(origin);
        let cors = (allow_origin.is_some() || self.config.varies_by_origin())
            .then(|| (self.config.clone(), allow_origin));
        CorsFuture::Inner {
            future: self.inner.call(req),
            cors,
        }
    }
}

pin_project! {
    /// Response future of [`Cors`]: a pre-flight answer, or the inner response to decorate.
    #[project = Proj]
    #[derive(Debug)]
    // pin_project! accepts no doc comments on variant fields.
    #[allow(missing_docs)]
    pub enum CorsFuture<F, ResBody> {
        /// A pre-flight request, answered by the gateway; taken when the future is first polled.
        Preflight { response: Option<Response<ResBody>> },
        /// The inner service at work; its response gets the CORS headers its origin calls for.
        Inner {
            #[pin]
            future: F,
            // The policy and the allow-origin value; `None` leaves the response untouched.
            cors: Option<(Arc<CorsConfig>, Option<HeaderValue>)>,
        },
    }
}

impl<F, ResBody, E> Future for CorsFuture<F, ResBody>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Preflight { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
            Proj::Inner { future, cors } => {
                let mut res = ready!(future.poll(cx))?;
                if let Some((config, allow_origin)) = cors.take() {
                    config.decorate(allow_origin, res.headers_mut());
                }
                Poll::Ready(Ok(res))
            }
        }
    }
}
