//! The response future shared by the rate-limit and usage-plan layers.
//!
//! A limit layer either knows its answer when called (in-memory store) or waits for the store
//! (Redis); then it runs the route, or answers itself. One enum covers the three states, so the
//! synchronous path boxes nothing, and the layers differ only in their [`Decide`] step.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::{Request, Response};
use pin_project_lite::pin_project;
use tower::Service;

use super::headers::RateHeaders;
use super::store::{LimitOutcome, StoreCall, StoreError};
use crate::body::Body;

/// What a limit layer does with a request.
#[derive(Debug)]
pub enum Verdict {
    /// Run the route; add these rate headers to its response.
    Pass(Option<RateHeaders>),
    /// Answer with this instead.
    Reject(Response<Body>),
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
    #[project = Proj]
    #[allow(missing_debug_implementations)]
    // pin_project! accepts no doc comments on variant fields.
    #[allow(missing_docs)]
    pub enum LimitFuture<S, B, D>
    where
        S: Service<Request<B>>,
    {
        /// Waiting for the store.
        Waiting {
            call: StoreCall<Result<LimitOutcome, StoreError>>,
            request: Option<Request<B>>,
            inner: Option<S>,
            decider: D,
        },
        /// The route is running.
        Inner {
            #[pin]
            future: S::Future,
            headers: Option<RateHeaders>,
        },
        /// The layer answered.
        Ready {
            response: Option<Response<Body>>,
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
        match call {
            StoreCall::Ready(Some(result)) => match decider.decide(result, &mut request) {
                Verdict::Pass(headers) => LimitFuture::Inner {
                    future: inner.call(request),
                    headers,
                },
                Verdict::Reject(response) => LimitFuture::Ready {
                    response: Some(response),
                },
            },
            call => {
                // The service polled ready goes with the request; a fresh clone stays.
                let clone = inner.clone();
                let inner = std::mem::replace(inner, clone);
                LimitFuture::Waiting {
                    call,
                    request: Some(request),
                    inner: Some(inner),
                    decider,
                }
            }
        }
    }

    /// A request the layer answers without asking the store.
    pub(crate) fn respond(response: Response<Body>) -> Self {
        LimitFuture::Ready {
            response: Some(response),
        }
    }

    /// A request the layer passes without asking the store.
    pub(crate) fn pass(inner: &mut S, request: Request<B>) -> Self {
        LimitFuture::Inner {
            future: inner.call(request),
            headers: None,
        }
    }
}

impl<S, B, D> Future for LimitFuture<S, B, D>
where
    S: Service<Request<B>, Response = Response<Body>>,
    D: Decide<B>,
{
    type Output = Result<Response<Body>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
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
                    match decider.decide(result, &mut req) {
                        Verdict::Pass(headers) => {
                            let future = svc.call(req);
                            self.set(LimitFuture::Inner { future, headers });
                        }
                        Verdict::Reject(response) => {
                            self.set(LimitFuture::Ready { response: None });
                            return Poll::Ready(Ok(response));
                        }
                    }
                }
                Proj::Inner { future, headers } => {
                    let mut response = ready!(future.poll(cx))?;
                    if let Some(h) = headers.take() {
                        h.apply(response.headers_mut());
                    }
                    return Poll::Ready(Ok(response));
                }
                Proj::Ready { response } => {
                    return match response.take() {
                        Some(response) => Poll::Ready(Ok(response)),
                        None => Poll::Pending,
                    }
                }
            }
        }
    }
}
