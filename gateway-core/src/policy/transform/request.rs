//! The request side: header and query transformations before the backend.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use http::{Request, Response, Uri};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::error;

use super::headers::{HeaderRules, Message};
use super::params::QueryRules;
use crate::body::Body;
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
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
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = RequestTransformFuture<S::Future>;

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
                    error!(
                        code = "queryParameterTransformation.badParameterValue",
                        "the transformed query string is not valid in a URI"
                    );
                    let response = GatewayError::TransformationFailed.into_response();
                    return RequestTransformFuture::Ready {
                        response: Some(response),
                    };
                }
            }
        }
        RequestTransformFuture::Inner {
            future: self.inner.call(req),
        }
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

pin_project! {
    /// Response future of [`RequestTransform`]: the inner service's, or a gateway error.
    #[project = Proj]
    #[derive(Debug)]
    // pin_project! accepts no doc comments on variant fields.
    #[allow(missing_docs)]
    pub enum RequestTransformFuture<F> {
        /// The transformation failed: the gateway's answer, taken when the future is first polled.
        Ready { response: Option<Response<Body>> },
        /// The transformed request at the inner service.
        Inner { #[pin] future: F },
    }
}

impl<F, E> Future for RequestTransformFuture<F>
where
    F: Future<Output = Result<Response<Body>, E>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Ready { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
            Proj::Inner { future } => future.poll(cx),
        }
    }
}
