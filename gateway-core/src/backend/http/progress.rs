//! Watching a request being written upstream, for `sendTimeoutInSeconds`.
//!
//! The pooled client gives no event for "request written", so the request body tells: hyper
//! pulls the next chunk only once it can write it, so each chunk pulled is progress and the
//! end of the body is the end of the request. [`TrackedBody`] records both in a shared
//! [`Progress`] that the exchange reads to arm its timers.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as _, Frame, SizeHint};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::body::{Body, BoxError};

/// How far the request has got.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    state: Mutex<State>,
    /// Signalled once when the body ends, so the exchange can switch from the send timeout to
    /// the read timeout without waiting for the send timer to fire.
    written: Notify,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct State {
    /// When the last chunk was pulled.
    pub(crate) last: Option<Instant>,
    /// When the body ended (the whole request is written).
    pub(crate) done: Option<Instant>,
}

impl Progress {
    pub(crate) fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves after the body has ended (immediately if it already has).
    pub(crate) async fn written(&self) {
        self.written.notified().await;
    }

    fn pulled(&self, end: bool) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.last = Some(now);
        if end && state.done.is_none() {
            state.done = Some(now);
            drop(state);
            self.written.notify_one();
        }
    }
}

/// The request body on its way upstream, reporting progress.
#[derive(Debug)]
pub(crate) struct TrackedBody {
    inner: Body,
    progress: Arc<Progress>,
}

impl TrackedBody {
    pub(crate) fn new(inner: Body, progress: Arc<Progress>) -> Self {
        // A body with nothing in it is never polled: the request is written with its head.
        if inner.is_end_stream() {
            progress.pulled(true);
        }
        Self { inner, progress }
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) => {
                let end = self.inner.is_end_stream();
                self.progress.pulled(end);
            }
            Poll::Ready(None) => self.progress.pulled(true),
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
