//! The response future shared by the rate-limit and usage-plan layers.
//!
//! A limit layer either knows its answer when called (in-memory store) or waits for the store
//! (Redis); then it runs the route, or answers itself. One enum covers the three states, so the
//! synchronous path boxes nothing, and the layers differ only in their [`Decide`] step.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderMap, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::Service;

use super::headers::{retry_after_value, RateHeaders};
use super::store::LimitOutcome;
use crate::body::Body;
use crate::error::{GatewayError, Refusal};
use crate::store::{StoreCall, StoreError};

/// What a limit layer does with a request.
#[derive(Debug)]
pub enum Verdict {
    /// Run the route; add these rate headers to its response.
    Pass(Option<RateHeaders>),
    /// Refuse it.
    Reject(GatewayError),
}

/// A rate limit or a usage plan's rate or quota refused the request: 429 with `Retry-After`
/// and, when a rate bucket said so, the `X-RateLimit-*` headers.
#[derive(Debug, Clone, thiserror::Error)]
#[error("too many requests; retry after {retry_after:?}")]
pub struct Throttled {
    /// How long the client should wait before retrying, sent as `Retry-After`.
    pub retry_after: Duration,
    /// The execution-log code: `rateLimiting.requestDenied` or `usagePlans.requestRejected`.
    pub log_code: &'static str,
    /// The rate headers of the bucket that refused.
    pub rate: Option<RateHeaders>,
}

impl Refusal for Throttled {
    fn status(&self) -> StatusCode {
        StatusCode::TOO_MANY_REQUESTS
    }

    fn log_code(&self) -> &'static str {
        self.log_code
    }

    fn headers(&self, headers: &mut HeaderMap) {
        headers.insert(RETRY_AFTER, retry_after_value(self.retry_after));
        if let Some(rate) = &self.rate {
            rate.apply(headers);
        }
    }
}

/// Turns a store's answer into a [`Verdict`], possibly marking the request (usage plans record
/// the matched plan in its extensions).
pub trait Decide<B> {
    /// Decides on `request` from the store's answer, or from its failure.
    fn decide(
        &mut self,
        result: Result<LimitOutcome, StoreError>,
        request: &mut Request<B>,
    ) -> Verdict;
}

pin_project! {
    /// Response future of the limit layers.
    pub struct LimitFuture<S, B, D>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B, D>,
    }
}

impl<S: Service<Request<B>>, B, D> fmt::Debug for LimitFuture<S, B, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitFuture").finish_non_exhaustive()
    }
}

pin_project! {
    #[project = Proj]
    enum State<S, B, D>
    where
        S: Service<Request<B>>,
    {
        // Waiting for the store.
        Waiting {
            call: StoreCall<Result<LimitOutcome, StoreError>>,
            request: Option<Request<B>>,
            inner: Option<S>,
            decider: D,
        },
        // The route is running.
        Inner {
            #[pin]
            future: S::Future,
            headers: Option<RateHeaders>,
        },
        // The layer refused.
        Refused {
            error: Option<GatewayError>,
        },
    }
}

impl<S, B, D> LimitFuture<S, B, D>
where
    S: Service<Request<B>, Response = Response<Body>> + Clone,
    D: Decide<B>,
{
    /// Starts a request: decided now when the store answered synchronously, otherwise waiting.
    /// `inner` must be the service that was polled ready.
    pub(crate) fn start(
        inner: &mut S,
        call: StoreCall<Result<LimitOutcome, StoreError>>,
        mut request: Request<B>,
        mut decider: D,
    ) -> Self {
        let state = match call {
            StoreCall::Ready(Some(result)) => match decider.decide(result, &mut request) {
                Verdict::Pass(headers) => State::Inner {
                    future: inner.call(request),
                    headers,
                },
                Verdict::Reject(error) => State::Refused { error: Some(error) },
            },
            call => {
                // The service polled ready goes with the request; a fresh clone stays.
                let clone = inner.clone();
                let inner = std::mem::replace(inner, clone);
                State::Waiting {
                    call,
                    request: Some(request),
                    inner: Some(inner),
                    decider,
                }
            }
        };
        Self { state }
    }

    /// A request the layer refuses without asking the store.
    pub(crate) fn refuse(error: GatewayError) -> Self {
        Self {
            state: State::Refused { error: Some(error) },
        }
    }

    /// A request the layer passes without asking the store.
    pub(crate) fn pass(inner: &mut S, request: Request<B>) -> Self {
        Self {
            state: State::Inner {
                future: inner.call(request),
                headers: None,
            },
        }
    }
}

impl<S, B, D> Future for LimitFuture<S, B, D>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Error: From<GatewayError>,
    D: Decide<B>,
{
    type Output = Result<Response<Body>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.project().state;
        loop {
            match state.as_mut().project() {
                Proj::Waiting {
                    call,
                    request,
                    inner,
                    decider,
                } => {
                    let result = ready!(Pin::new(call).poll(cx));
                    let (Some(mut req), Some(mut svc)) = (request.take(), inner.take()) else {
                        // Polled again after completion.
                        return Poll::Pending;
                    };
                    let next = match decider.decide(result, &mut req) {
                        Verdict::Pass(headers) => State::Inner {
                            future: svc.call(req),
                            headers,
                        },
                        Verdict::Reject(error) => State::Refused { error: Some(error) },
                    };
                    state.set(next);
                }
                Proj::Inner { future, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(h) = headers.take() {
                        h.apply(response.headers_mut());
                    }
                    return Poll::Ready(Ok(response));
                }
                Proj::Refused { error } => {
                    return match error.take() {
                        Some(error) => Poll::Ready(Err(error.into())),
                        None => Poll::Pending,
                    }
                }
            }
        }
    }
}
