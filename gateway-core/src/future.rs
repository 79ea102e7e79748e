//! Futures shared across the crate: the boxed future of trait objects, and the response future
//! of policies that refuse some requests themselves and hand the others on.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::error::GatewayError;

/// A boxed, sendable future: what the crate's trait objects (function invokers, stores,
/// authenticators) return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pin_project! {
    /// Response future of a policy: its refusal, or the inner service at work.
    #[derive(Debug)]
    pub struct PolicyFuture<F> {
        #[pin]
        state: State<F>,
    }
}

pin_project! {
    #[project = StateProj]
    #[derive(Debug)]
    enum State<F> {
        Refused { error: Option<GatewayError> },
        Inner { #[pin] future: F },
    }
}

impl<F> PolicyFuture<F> {
    /// The request is handed on: the inner service's future.
    pub(crate) fn inner(future: F) -> Self {
        Self {
            state: State::Inner { future },
        }
    }

    /// The request is refused with `error`, without calling the inner service.
    pub(crate) fn refused(error: GatewayError) -> Self {
        Self {
            state: State::Refused { error: Some(error) },
        }
    }
}

impl<F, T, E> Future for PolicyFuture<F>
where
    F: Future<Output = Result<T, E>>,
    E: From<GatewayError>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Inner { future } => future.poll(cx),
            StateProj::Refused { error } => match error.take() {
                Some(error) => Poll::Ready(Err(error.into())),
                None => panic!("PolicyFuture polled after completion"),
            },
        }
    }
}
