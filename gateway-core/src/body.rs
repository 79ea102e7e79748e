//! The body type every gateway service speaks.
//!
//! Requests arrive with whatever body the server gives (`hyper::body::Incoming`, an axum body,
//! a test's `Full`); the gateway boxes it once at the edge so that every route stack has one
//! concrete type. Responses use the same type, so a stock response, a function's answer and a
//! proxied stream are interchangeable.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};

/// The error type carried by boxed bodies and boxed services.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A type-erased HTTP body of [`Bytes`] chunks.
#[derive(Debug)]
pub struct Body(Kind);

/// Bytes known at once (a stock answer, an error, a cached response) are kept as they are;
/// anything else is boxed. Most of the gateway's own answers then cost no allocation and no
/// dynamic call.
#[derive(Debug)]
enum Kind {
    Full(Full<Bytes>),
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body {
    /// Boxes any body whose chunks are [`Bytes`].
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self(Kind::Boxed(body.map_err(Into::into).boxed_unsync()))
    }

    /// A body with no bytes.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// A body of exactly these bytes.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        Self(Kind::Full(Full::new(bytes.into())))
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.0 {
            Kind::Full(full) => Pin::new(full)
                .poll_frame(cx)
                .map_err(|never| match never {}),
            Kind::Boxed(boxed) => Pin::new(boxed).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Full(full) => full.is_end_stream(),
            Kind::Boxed(boxed) => boxed.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Full(full) => full.size_hint(),
            Kind::Boxed(boxed) => boxed.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    #[tokio::test]
    async fn full_and_empty_bodies_report_their_size_and_content() {
        let body = Body::full("hello");
        assert_eq!(body.size_hint().exact(), Some(5));
        let bytes = body.collect().await.map(|c| c.to_bytes()).ok();
        assert_eq!(bytes.as_deref(), Some(&b"hello"[..]));

        let empty = Body::empty();
        assert!(empty.is_end_stream());
        assert_eq!(empty.size_hint().exact(), Some(0));
    }

    #[tokio::test]
    async fn a_boxed_body_streams_what_it_wraps() {
        let body = Body::new(Full::new(Bytes::from_static(b"streamed")));
        assert_eq!(body.size_hint().exact(), Some(8));
        let bytes = body.collect().await.map(|c| c.to_bytes()).ok();
        assert_eq!(bytes.as_deref(), Some(&b"streamed"[..]));
    }
}
