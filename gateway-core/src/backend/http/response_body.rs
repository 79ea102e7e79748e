//! The upstream's response body on its way to the client, under `readTimeoutInSeconds`.
//!
//! Chunks pass through as they arrive; nothing is buffered. The timer runs only while the
//! gateway is actually waiting for the upstream, so a client that reads slowly (back-pressure)
//! never makes the upstream look slow. A timeout, or an upstream that vanishes mid-body, ends
//! the body with an error, which makes the server abort the client's response (the connection
//! closes, or the HTTP/2 stream is reset) rather than leave the client hanging or let a
//! truncated body pass for a whole one.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::{Instant, Sleep};
use tracing::warn;

use super::error::HttpBackendError;
use super::pool::UpstreamBody;
use crate::body::BoxError;
use crate::causes::chain;
use crate::error::Refusal;

pin_project! {
    /// An upstream response body with a read timeout between chunks.
    #[derive(Debug)]
    pub(crate) struct ReadTimeoutBody {
        #[pin]
        inner: UpstreamBody,
        timeout: Duration,
        #[pin]
        sleep: Sleep,
        // Whether the timer is armed for the current wait.
        waiting: bool,
        // Set once an error was returned: the body yields nothing after it.
        failed: bool,
    }
}

impl ReadTimeoutBody {
    pub(crate) fn new(inner: UpstreamBody, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            sleep: tokio::time::sleep(timeout),
            waiting: false,
            failed: false,
        }
    }
}

impl http_body::Body for ReadTimeoutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        if *this.failed {
            return Poll::Ready(None);
        }
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                *this.waiting = false;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                *this.failed = true;
                warn!(
                    code = "httpBackend.requestError",
                    reason = "response_body_failed",
                    error = %chain(&e),
                    "the backend broke off its response body"
                );
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                if !*this.waiting {
                    *this.waiting = true;
                    this.sleep.as_mut().reset(Instant::now() + *this.timeout);
                }
                match this.sleep.poll(cx) {
                    Poll::Ready(()) => {
                        *this.failed = true;
                        let error = HttpBackendError::ReadTimeout(*this.timeout);
                        warn!(
                            code = error.log_code(),
                            "the backend stopped sending its response body"
                        );
                        Poll::Ready(Some(Err(error.into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
