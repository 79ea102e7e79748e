//! [`PerThread`]: a route's layer stack called through one clone per thread.
//!
//! tower's `call` takes `&mut self`, so a stack shared by every connection is usually cloned
//! for each request and the clone dropped with its future: for a route with a dozen layers,
//! a tenth of what a stock response costs. Every layer of a route is ready at once, so each
//! worker thread instead keeps a clone of its own, made on its first request, and calls it
//! again and again.

use std::cell::RefCell;
use std::fmt;
use std::task::{Context, Poll, Waker};

use thread_local::ThreadLocal;
use tower::{Service, ServiceExt};

use crate::future::BoxFuture;

/// `shared`, called on each thread through that thread's own clone.
pub(crate) struct PerThread<S: Send> {
    shared: S,
    local: ThreadLocal<RefCell<S>>,
}

impl<S: Clone + Send> PerThread<S> {
    pub(crate) fn new(shared: S) -> Self {
        Self {
            shared,
            local: ThreadLocal::new(),
        }
    }
}

impl<S> PerThread<S>
where
    S: Clone + Send,
{
    /// Calls the service with `req`: through this thread's clone when it is ready, otherwise
    /// (not ready, or a call already under way on this thread) through a fresh clone, as
    /// tower's contract asks.
    pub(crate) fn call<R, T, E>(&self, req: R) -> BoxFuture<'static, Result<T, E>>
    where
        S: Service<R, Response = T, Error = E, Future = BoxFuture<'static, Result<T, E>>> + 'static,
        R: Send + 'static,
    {
        let local = self.local.get_or(|| RefCell::new(self.shared.clone()));
        if let Ok(mut service) = local.try_borrow_mut() {
            let mut cx = Context::from_waker(Waker::noop());
            if let Poll::Ready(Ok(())) = service.poll_ready(&mut cx) {
                return service.call(req);
            }
        }
        Box::pin(self.shared.clone().oneshot(req))
    }
}

impl<S: Clone + Send> Clone for PerThread<S> {
    fn clone(&self) -> Self {
        Self::new(self.shared.clone())
    }
}

impl<S: fmt::Debug + Send> fmt::Debug for PerThread<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PerThread").field(&self.shared).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    use std::sync::Arc;

    use super::*;

    /// Counts its clones; ready only when `ready` says so.
    #[derive(Debug)]
    struct Counted {
        clones: Arc<AtomicUsize>,
        ready: bool,
    }

    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.clones.fetch_add(1, Relaxed);
            Self {
                clones: self.clones.clone(),
                ready: self.ready,
            }
        }
    }

    impl Service<u32> for Counted {
        type Response = u32;
        type Error = Infallible;
        type Future = BoxFuture<'static, Result<u32, Infallible>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            if self.ready {
                Poll::Ready(Ok(()))
            } else {
                Poll::Pending
            }
        }

        fn call(&mut self, req: u32) -> Self::Future {
            Box::pin(async move { Ok(req + 1) })
        }
    }

    #[tokio::test]
    async fn a_thread_clones_a_ready_service_once() {
        let clones = Arc::new(AtomicUsize::new(0));
        let service = PerThread::new(Counted {
            clones: clones.clone(),
            ready: true,
        });
        for i in 0..10 {
            assert_eq!(service.call(i).await, Ok(i + 1));
        }
        assert_eq!(clones.load(Relaxed), 1);
    }

    #[test]
    fn a_service_that_is_not_ready_is_called_through_a_fresh_clone() {
        let clones = Arc::new(AtomicUsize::new(0));
        let service = PerThread::new(Counted {
            clones: clones.clone(),
            ready: false,
        });
        // The fresh clone waits for readiness as `oneshot` does: not ready, never answers.
        let mut pending = service.call(1);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(pending.as_mut().poll(&mut cx).is_pending());
        assert_eq!(
            clones.load(Relaxed),
            2,
            "the thread's clone and a fresh one"
        );
    }
}
