//! Limits on what a client may send: the size of the request head, the size of the body, and
//! how long it may pause while sending the body.
//!
//! OCI's limits are the defaults: an 8 KB request head, 6 MB of body for a function and 20 MB
//! for anything else, 15 seconds between reads. A declared `Content-Length` over the limit is
//! refused with 413 before a byte of the body is read; a streamed body is cut off with the same
//! 413 as soon as it crosses the limit; a client that stops sending mid-body gets 408.
//!
//! Bodies that must be held whole are also bounded together, by the [`BodyBudget`].

mod budget;

pub(crate) use budget::{buffer, held_body};
pub use budget::{BodyBudget, Reservation, DEFAULT_MAX_BUFFERED_BODY_BYTES};

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body::{Frame, SizeHint};
use pin_project_lite::pin_project;
use tokio::time::Sleep;

use crate::body::BoxError;
use crate::error::Refusal;
use crate::observe::Exchange;

/// OCI's limit on a request body sent to a function: 6 MB.
pub const MAX_FUNCTION_BODY: usize = 6 * 1024 * 1024;

/// The most header lines a request may have, whatever its protocol. HTTP/1 servers refuse
/// more (hyper's default, which the listener sets explicitly from this); HTTP/2 only bounds the
/// header list's size, so the gateway counts there too, and both protocols refuse the same
/// requests with 431.
pub const MAX_HEADER_COUNT: usize = 100;

/// What a client may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLimits {
    /// Largest request body for HTTP, stock and dynamic-routing routes (OCI: 20 MB).
    pub max_body_bytes: u64,
    /// Largest request body for function routes (OCI: 6 MB).
    pub max_function_body_bytes: u64,
    /// Largest request head: the request line plus every header line (OCI: 8 KB).
    pub max_header_bytes: usize,
    /// Longest pause between two reads of the request body (OCI: 15 s).
    pub body_read_timeout: Duration,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 20 * 1024 * 1024,
            max_function_body_bytes: MAX_FUNCTION_BODY as u64,
            max_header_bytes: 8 * 1024,
            body_read_timeout: Duration::from_secs(15),
        }
    }
}

/// Why a request body could not be read whole, or forwarded. Every variant but `OverBudget`
/// is the client's doing, so a backend that fails because of one answers for the client (4xx),
/// never as a backend failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestBodyError {
    /// The body is longer than the route accepts: 413.
    TooLarge {
        /// The limit the body passed, in bytes.
        limit: u64,
    },
    /// The client paused longer than the read timeout: 408.
    Timeout(Duration),
    /// Holding the body would pass the [`BodyBudget`]: 503.
    OverBudget {
        /// The budget's capacity, in bytes.
        budget: u64,
    },
    /// The body's framing is invalid (a malformed chunk size, say): 400.
    Malformed,
    /// The client closed the connection before the body was complete: 400, logged as 499
    /// since nobody is left to read the answer.
    ClientGone,
}

impl fmt::Display for RequestBodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { limit } => write!(f, "the request body is larger than {limit} bytes"),
            Self::Timeout(after) => write!(f, "the client sent no body data for {after:?}"),
            Self::OverBudget { budget } => write!(
                f,
                "the request body does not fit in the {budget} bytes of max_buffered_body_bytes"
            ),
            Self::Malformed => f.write_str("the request body is not valid HTTP framing"),
            Self::ClientGone => f.write_str("the client closed the connection mid-body"),
        }
    }
}

impl StdError for RequestBodyError {}

impl Refusal for RequestBodyError {
    fn status(&self) -> StatusCode {
        match self {
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::OverBudget { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Malformed | Self::ClientGone => StatusCode::BAD_REQUEST,
        }
    }

    fn log_code(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "request.bodyTooLarge",
            Self::Timeout(_) => "request.clientTimeout",
            Self::OverBudget { .. } => "request.serviceUnavailable",
            Self::Malformed => "request.badRequest",
            Self::ClientGone => "request.clientEof",
        }
    }

    fn client_detail(&self) -> Option<String> {
        matches!(self, Self::TooLarge { .. }).then(|| self.to_string())
    }

    fn client_left(&self) -> bool {
        matches!(self, Self::ClientGone)
    }
}

impl RequestBodyError {
    /// The request-body error somewhere in `error`'s chain of causes, if any: a backend that
    /// failed because the client's body did should answer for the client's fault.
    pub fn find(error: &(dyn StdError + 'static)) -> Option<Self> {
        let mut source = Some(error);
        while let Some(e) = source {
            if let Some(found) = e.downcast_ref::<RequestBodyError>() {
                return Some(*found);
            }
            source = e.source();
        }
        None
    }

    /// What the failure of a read of the client's own body means: the limit that stopped it,
    /// broken framing, or a client that went away.
    pub(crate) fn classify(error: &(dyn StdError + 'static)) -> Self {
        if let Some(found) = Self::find(error) {
            return found;
        }
        // hyper reports a body cut short as an I/O error (an early EOF, a reset) behind its
        // own; anything else (an invalid chunk size) is a framing error.
        let mut source = Some(error);
        while let Some(e) = source {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind::*;
                if matches!(
                    io.kind(),
                    UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
                ) {
                    return Self::ClientGone;
                }
            }
            if let Some(e) = e.downcast_ref::<hyper::Error>() {
                if e.is_incomplete_message() || e.is_canceled() {
                    return Self::ClientGone;
                }
            }
            source = e.source();
        }
        Self::Malformed
    }
}

/// The length the client declared, if it declared one that parses.
pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH).and_then(length_value)
}

/// A `Content-Length` value as a number, if it is one.
pub(crate) fn length_value(value: &HeaderValue) -> Option<u64> {
    value.to_str().ok()?.parse().ok()
}

pin_project! {
    /// A request body that counts its bytes into the request's [`Exchange`], fails with
    /// [`RequestBodyError::TooLarge`] once it passes `limit`, and with
    /// [`RequestBodyError::Timeout`] when no data arrives for `timeout`.
    pub(crate) struct LimitedBody<B> {
        #[pin]
        inner: B,
        exchange: Arc<Exchange>,
        read: u64,
        limit: u64,
        timeout: Duration,
        // Created on the first wait only: most bodies arrive whole in their first poll.
        timer: Option<Pin<Box<Sleep>>>,
    }
}

impl<B> LimitedBody<B> {
    pub(crate) fn new(inner: B, exchange: Arc<Exchange>, limit: u64, timeout: Duration) -> Self {
        Self {
            inner,
            exchange,
            read: 0,
            limit,
            timeout,
            timer: None,
        }
    }
}

impl<B> http_body::Body for LimitedBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(timer) = this.timer.as_mut() {
                    timer
                        .as_mut()
                        .reset(tokio::time::Instant::now() + *this.timeout);
                }
                if let Some(data) = frame.data_ref() {
                    *this.read += data.len() as u64;
                    this.exchange.add_bytes_received(data.len());
                    if *this.read > *this.limit {
                        let limit = *this.limit;
                        return Poll::Ready(Some(Err(RequestBodyError::TooLarge { limit }.into())));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            // The inner body is the client's: whatever fails there is the client's fault.
            Poll::Ready(Some(Err(e))) => {
                let e: BoxError = e.into();
                Poll::Ready(Some(Err(RequestBodyError::classify(&*e).into())))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let timeout = *this.timeout;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(RequestBodyError::Timeout(timeout).into())))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{chunked_body, ChannelBody};
    use http_body_util::BodyExt;

    fn exchange() -> Arc<Exchange> {
        Arc::new(Exchange::new(std::time::Instant::now()))
    }

    #[tokio::test]
    async fn a_body_within_the_limit_passes_and_is_counted() {
        let exchange = exchange();
        let body = LimitedBody::new(
            http_body_util::Full::new(Bytes::from_static(b"hello")),
            exchange.clone(),
            5,
            Duration::from_secs(1),
        );
        let bytes = body.collect().await.expect("body").to_bytes();
        assert_eq!(&bytes[..], b"hello");
    }

    #[tokio::test]
    async fn a_body_past_the_limit_fails_with_too_large() {
        let chunks = chunked_body(&[b"abc", b"def"]);
        let body = LimitedBody::new(chunks, exchange(), 4, Duration::from_secs(1));
        let error = body.collect().await.expect_err("too large");
        assert_eq!(
            RequestBodyError::find(&*error),
            Some(RequestBodyError::TooLarge { limit: 4 })
        );
    }

    #[tokio::test]
    async fn a_stalled_body_times_out() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(1);
        tx.send(Ok(Frame::data(Bytes::from_static(b"a"))))
            .await
            .expect("send");
        let body = LimitedBody::new(ChannelBody(rx), exchange(), 100, Duration::from_millis(50));
        let error = body.collect().await.expect_err("timeout");
        assert_eq!(
            RequestBodyError::find(&*error),
            Some(RequestBodyError::Timeout(Duration::from_millis(50)))
        );
        drop(tx);
    }
}
