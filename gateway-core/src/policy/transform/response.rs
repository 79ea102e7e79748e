//! The response side: a route's response `headerTransformations`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::headers::{HeaderRules, Message, Rendered};
use crate::diagnostics::Diagnostics;
use crate::policy::with_vars;
use crate::spec::HeaderTransformations;

/// Applies a route's response `headerTransformations` to every response from inside it.
///
/// Context variables name the *request* (`${request.headers[x]}`, `${request.auth[sub]}`), so
/// they are rendered when the request passes through, before the inner service consumes it,
/// and only applied when the response comes back.
#[derive(Debug, Clone)]
pub struct ResponseHeaderTransformLayer {
    rules: Arc<HeaderRules>,
}

impl ResponseHeaderTransformLayer {
    /// Compiles a route's response header transformations. `path` is the JSON path of the
    /// route's `responsePolicies` (e.g. `routes[2].responsePolicies`). `None` when there is
    /// nothing to do.
    pub fn compile(
        headers: Option<&HeaderTransformations>,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<ResponseHeaderTransformLayer> {
        let at = format!("{path}.headerTransformations");
        let rules = HeaderRules::compile(headers?, Message::Response, &at, diags)?;
        Some(ResponseHeaderTransformLayer {
            rules: Arc::new(rules),
        })
    }
}

impl<S> Layer<S> for ResponseHeaderTransformLayer {
    type Service = ResponseHeaderTransform<S>;

    fn layer(&self, inner: S) -> ResponseHeaderTransform<S> {
        ResponseHeaderTransform {
            inner,
            rules: self.rules.clone(),
        }
    }
}

/// The service of [`ResponseHeaderTransformLayer`].
#[derive(Debug, Clone)]
pub struct ResponseHeaderTransform<S> {
    inner: S,
    rules: Arc<HeaderRules>,
}

impl<S, B, ResBody> Service<Request<B>> for ResponseHeaderTransform<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseHeaderTransformFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let rendered = with_vars(&req, |vars| self.rules.render(vars));
        ResponseHeaderTransformFuture {
            inner: self.inner.call(req),
            rules: self.rules.clone(),
            rendered: Some(rendered),
        }
    }
}

pin_project! {
    /// Response future of [`ResponseHeaderTransform`].
    #[derive(Debug)]
    pub struct ResponseHeaderTransformFuture<F> {
        #[pin]
        inner: F,
        rules: Arc<HeaderRules>,
        rendered: Option<Rendered>,
    }
}

impl<F, ResBody, E> Future for ResponseHeaderTransformFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = ready!(this.inner.poll(cx))?;
        if let Some(rendered) = this.rendered.take() {
            this.rules.apply(res.headers_mut(), rendered);
        }
        Poll::Ready(Ok(res))
    }
}
