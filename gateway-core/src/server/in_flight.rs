//! Which requests of a connection are in flight: what the connection's deadlines need to
//! know (none applies while a response is being produced or sent).
//!
//! The server wraps the service it serves: each request counts from the moment it reaches the
//! service until its response body has ended, or has been dropped (the client went away), so
//! any service gets the same deadlines as the gateway's own.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::uri::Scheme;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::Service;

use super::conn::ConnState;
use crate::context::{ClientAddr, ClientCertificate};

/// One request in flight; the count drops when this does.
#[derive(Debug)]
struct InFlight(Arc<ConnState>);

impl InFlight {
    fn start(state: &Arc<ConnState>) -> Self {
        state.request_started();
        Self(state.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.response_done();
    }
}

/// The served service, for one connection: counts its requests in flight and gives each the
/// connection's facts as extensions.
#[derive(Debug, Clone)]
pub(super) struct Tracked<S> {
    inner: S,
    state: Arc<ConnState>,
    peer: SocketAddr,
    scheme: Scheme,
    cert: Option<ClientCertificate>,
}

impl<S> Tracked<S> {
    pub(super) fn new(
        inner: S,
        state: Arc<ConnState>,
        peer: SocketAddr,
        scheme: Scheme,
        cert: Option<ClientCertificate>,
    ) -> Self {
        Self {
            inner,
            state,
            peer,
            scheme,
            cert,
        }
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Tracked<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: HttpBody,
{
    type Response = Response<TrackedBody<ResBody>>;
    type Error = S::Error;
    type Future = TrackedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let guard = InFlight::start(&self.state);
        let extensions = req.extensions_mut();
        extensions.insert(ClientAddr(self.peer));
        extensions.insert(self.scheme.clone());
        if let Some(cert) = &self.cert {
            extensions.insert(cert.clone());
        }
        TrackedFuture {
            inner: self.inner.call(req),
            guard: Some(guard),
        }
    }
}

pin_project! {
    /// The response future of [`Tracked`].
    pub(super) struct TrackedFuture<F> {
        #[pin]
        inner: F,
        guard: Option<InFlight>,
    }
}

impl<F, B, E> Future for TrackedFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: HttpBody,
{
    type Output = Result<Response<TrackedBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let guard = this.guard.take();
        Poll::Ready(result.map(|res| {
            res.map(|inner| TrackedBody {
                // hyper never polls a body that is already at its end.
                guard: guard.filter(|_| !inner.is_end_stream()),
                inner,
            })
        }))
    }
}

pin_project! {
    /// A response body that ends its request's time in flight when it ends.
    pub(super) struct TrackedBody<B> {
        #[pin]
        inner: B,
        guard: Option<InFlight>,
    }
}

impl<B> HttpBody for TrackedBody<B>
where
    B: HttpBody<Data = Bytes>,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        // hyper stops polling a body that says it has ended.
        if frame.is_none() || this.inner.is_end_stream() {
            this.guard.take();
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
