//! Request validations (reference 4.8): `headerValidations`, `queryParameterValidations` and
//! `bodyValidation`, in one layer.
//!
//! # Semantics
//!
//! * Checks run in the order headers, query parameters, body; the first enforced failure
//!   answers `400` with OCI's JSON body and a message saying what was wrong
//!   (`{"code":400,"message":"Bad Request: missing required header X-Username"}`), logged as
//!   `requestValidation.validationError`; the request never reaches the backend.
//! * Each policy has its own `validationMode`: `ENFORCING` (the default) rejects,
//!   `PERMISSIVE` logs `requestValidation.validationPermitted` and lets the request continue,
//!   `DISABLED` is not compiled.
//! * A required header is present when one of its values is not blank; a required query
//!   parameter when it appears with a non-empty value. Names compare case-insensitively for
//!   both, as OCI documents (query names after percent-decoding). Items that are not
//!   `required` check nothing: OCI validates presence, not values.
//! * `bodyValidation.required` needs a non-empty body. The `content` media ranges (`*/*`,
//!   `type/*`, `type/subtype`; the most specific match wins) are checked against the request
//!   `Content-Type`, parameters such as `charset` ignored, and only when there is a body: an
//!   empty body has no type to check.
//! * The body is never buffered. Emptiness comes from the body's end-of-stream flag, its size
//!   hint or `Content-Length`; only when none of them tells (a chunked upload) and the answer
//!   matters does the layer wait for the first data frame, which it then replays to the
//!   backend (see `peek`).

mod media;
mod peek;
mod rules;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::body::Body;
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::request_limits::RequestBodyError;
use crate::spec::RouteRequestPolicies;
use peek::Peek;
use rules::{Rules, Step};

/// Enforces a route's header, query-parameter and body validations.
#[derive(Debug, Clone)]
pub struct ValidationLayer {
    rules: Arc<Rules>,
}

impl ValidationLayer {
    /// Compiles the validations of a route's `requestPolicies`; `path` is its JSON path
    /// (e.g. `routes[2].requestPolicies`). `None` when no check can fail: no validation, all
    /// `DISABLED`, nothing `required`, or a body that is optional and may be of any type.
    pub fn compile(
        policies: &RouteRequestPolicies,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<ValidationLayer> {
        let rules = Rules::compile(policies, path, diags)?;
        Some(ValidationLayer {
            rules: Arc::new(rules),
        })
    }
}

impl<S> Layer<S> for ValidationLayer {
    type Service = Validate<S>;

    fn layer(&self, inner: S) -> Validate<S> {
        Validate {
            inner,
            rules: self.rules.clone(),
        }
    }
}

/// The service of [`ValidationLayer`].
///
/// The inner service must be `Clone`: when the body has to be peeked, the service readied by
/// `poll_ready` is moved into the future and called once the peek is done.
#[derive(Debug, Clone)]
pub struct Validate<S> {
    inner: S,
    rules: Arc<Rules>,
}

impl<S> Service<Request<Body>> for Validate<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone,
    S::Error: From<GatewayError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ValidationFuture<S, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let state = match self.rules.check(&req) {
            Step::Pass => State::Inner {
                future: self.inner.call(req),
            },
            Step::Reject(reason) => State::refused(reject(reason)),
            Step::Peek(content) => {
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                let (parts, body) = req.into_parts();
                State::Peeking {
                    state: Some(PeekState {
                        inner,
                        parts,
                        peek: Peek::new(body),
                        content,
                        rules: self.rules.clone(),
                    }),
                }
            }
        };
        ValidationFuture { state }
    }
}

fn reject(reason: String) -> GatewayError {
    GatewayError::RequestValidation { reason }
}

/// A request waiting for its first body frame before it is judged.
#[derive(Debug)]
struct PeekState<S> {
    inner: S,
    parts: Parts,
    peek: Peek,
    content: Option<String>,
    rules: Arc<Rules>,
}

pin_project! {
    /// Response future of [`Validate`]: a rejection, a body being peeked, or the inner
    /// service at work.
    #[derive(Debug)]
    pub struct ValidationFuture<S, F> {
        #[pin]
        state: State<S, F>,
    }
}

pin_project! {
    #[project = Proj]
    #[derive(Debug)]
    enum State<S, F> {
        // A rejection (or a body that could not be read), taken when the future is first polled.
        Refused { error: Option<GatewayError> },
        // Waiting for the first body frame, to tell whether the body is empty.
        Peeking { state: Option<PeekState<S>> },
        // The request passed: the inner service at work.
        Inner { #[pin] future: F },
    }
}

impl<S, F> State<S, F> {
    fn refused(error: GatewayError) -> Self {
        Self::Refused { error: Some(error) }
    }
}

impl<S, F, E> Future for ValidationFuture<S, F>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = E, Future = F>,
    F: Future<Output = Result<Response<Body>, E>>,
    E: From<GatewayError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            let next = match state.as_mut().project() {
                Proj::Refused { error } => {
                    return match error.take() {
                        Some(error) => Poll::Ready(Err(error.into())),
                        None => Poll::Pending,
                    };
                }
                Proj::Inner { future } => return future.poll(cx),
                Proj::Peeking { state } => {
                    let Some(peeking) = state.as_mut() else {
                        return Poll::Pending;
                    };
                    let peeked = ready!(peeking.peek.poll(cx));
                    let Some(PeekState {
                        mut inner,
                        parts,
                        content,
                        rules,
                        ..
                    }) = state.take()
                    else {
                        return Poll::Pending;
                    };
                    match peeked {
                        Err(e) => State::refused(RequestBodyError::classify(&*e).into()),
                        Ok((non_empty, body)) => {
                            match rules.after_peek(non_empty, content, &parts.extensions) {
                                Some(reason) => State::refused(reject(reason)),
                                None => State::Inner {
                                    future: inner.call(Request::from_parts(parts, body)),
                                },
                            }
                        }
                    }
                }
            };
            state.set(next);
        }
    }
}
