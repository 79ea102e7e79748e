//! The request side: header and query transformations before the backend.

use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use http::{Request, Response, Uri};
use tower::{Layer, Service};

use super::headers::{HeaderRules, Message};
use super::params::QueryRules;
use crate::body::Body;
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::future::PolicyFuture;
use crate::policy::with_vars;
use crate::spec::{HeaderTransformations, QueryParameterTransformations};

/// Applies a route's request `headerTransformations` and `queryParameterTransformations`.
#[derive(Debug, Clone)]
pub struct RequestTransformLayer {
    rules: Arc<RequestRules>,
}

#[derive(Debug)]
struct RequestRules {
    headers: Option<HeaderRules>,
    query: Option<QueryRules>,
}

impl RequestTransformLayer {
    /// Compiles a route's request transformations. `path` is the JSON path of the route's
    /// `requestPolicies` (e.g. `routes[2].requestPolicies`), under which problems are reported.
    /// `None` when there is nothing to do (no policy, or only protected headers).
    pub fn compile(
        headers: Option<&HeaderTransformations>,
        query: Option<&QueryParameterTransformations>,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<RequestTransformLayer> {
        let headers = headers.and_then(|h| {
            let at = format!("{path}.headerTransformations");
            HeaderRules::compile(h, Message::Request, &at, diags)
        });
        let query = query.and_then(|q| {
            let at = format!("{path}.queryParameterTransformations");
            QueryRules::compile(q, &at, diags)
        });
        (headers.is_some() || query.is_some()).then(|| RequestTransformLayer {
            rules: Arc::new(RequestRules { headers, query }),
        })
    }
}

impl<S> Layer<S> for RequestTransformLayer {
    type Service = RequestTransform<S>;

    fn layer(&self, inner: S) -> RequestTransform<S> {
        RequestTransform {
            inner,
            rules: self.rules.clone(),
        }
    }
}

/// The service of [`RequestTransformLayer`].
#[derive(Debug, Clone)]
pub struct RequestTransform<S> {
    inner: S,
    rules: Arc<RequestRules>,
}

impl<S, B> Service<Request<B>> for RequestTransform<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Error: From<GatewayError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = PolicyFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let rules = &*self.rules;
        // Everything is rendered from the request as it arrived, before any change.
        let (rendered, query) = with_vars(&req, |vars| {
            let rendered = rules.headers.as_ref().map(|h| h.render(vars));
            let query = rules
                .query
                .as_ref()
                .and_then(|q| q.apply(req.uri().query(), vars));
            (rendered, query)
        });
        if let (Some(headers), Some(rendered)) = (&rules.headers, rendered) {
            headers.apply(req.headers_mut(), rendered);
        }
        if let Some(query) = query {
            match with_query(req.uri(), &query) {
                Some(uri) => *req.uri_mut() = uri,
                None => {
                    // Unreachable by construction (the query is built from a valid one and
                    // minimally encoded pieces); failing closed keeps a filter from being
                    // skipped if that ever changes.
                    return PolicyFuture::refused(GatewayError::TransformationFailed);
                }
            }
        }
        PolicyFuture::inner(self.inner.call(req))
    }
}

/// `uri` with its query replaced by `query` (none at all when it is empty).
fn with_query(uri: &Uri, query: &str) -> Option<Uri> {
    let path = uri.path();
    let path_and_query = if query.is_empty() {
        PathAndQuery::try_from(path)
    } else {
        PathAndQuery::try_from(format!("{path}?{query}"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.ok()?);
    Uri::from_parts(parts).ok()
}
