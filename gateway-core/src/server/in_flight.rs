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
use std::task::{ready, Context, Poll, Waker};

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

/// The served service as hyper calls it, for one connection: counts its requests in flight
/// and gives each the connection's facts as extensions: the client's address, the client
/// certificate if there is one, and `Scheme::HTTPS` when the connection is TLS (a request
/// without a `Scheme` extension came over plain HTTP).
///
/// hyper calls with `&self` and a tower service needs `&mut self`, so each request gets a
/// clone of the service. Its readiness is asked once at once: a service that is ready (the
/// gateway always is) is called before `call` returns, and only one that is not has its
/// request kept in the future until it is.
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

impl<S, ReqBody, ResBody> hyper::service::Service<Request<ReqBody>> for Tracked<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: HttpBody,
{
    type Response = Response<TrackedBody<ResBody>>;
    type Error = S::Error;
    type Future = TrackedFuture<S, Request<ReqBody>>;

    fn call(&self, mut req: Request<ReqBody>) -> Self::Future {
        let guard = InFlight::start(&self.state);
        let extensions = req.extensions_mut();
        extensions.insert(ClientAddr(self.peer));
        if self.scheme == Scheme::HTTPS {
            extensions.insert(Scheme::HTTPS);
        }
        if let Some(cert) = &self.cert {
            extensions.insert(cert.clone());
        }
        let mut service = self.inner.clone();
        let call = match service.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => Call::Called {
                future: service.call(req),
            },
            Poll::Ready(Err(error)) => Call::Failed { error: Some(error) },
            Poll::Pending => Call::NotReady {
                service,
                req: Some(req),
            },
        };
        TrackedFuture {
            call,
            guard: Some(guard),
        }
    }
}

pin_project! {
    /// The response future of [`Tracked`].
    pub(super) struct TrackedFuture<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        call: Call<S, R>,
        guard: Option<InFlight>,
    }
}

pin_project! {
    /// Where a request of [`Tracked`] is: waiting for its service to be ready, or called.
    #[project = CallProj]
    enum Call<S, R>
    where
        S: Service<R>,
    {
        NotReady { service: S, req: Option<R> },
        Failed { error: Option<S::Error> },
        Called { #[pin] future: S::Future },
    }
}

impl<S, R, B> Future for TrackedFuture<S, R>
where
    S: Service<R, Response = Response<B>>,
    B: HttpBody,
{
    type Output = Result<Response<TrackedBody<B>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let result = loop {
            match this.call.as_mut().project() {
                CallProj::Called { future } => break ready!(future.poll(cx)),
                CallProj::Failed { error } => match error.take() {
                    Some(error) => break Err(error),
                    None => panic!("TrackedFuture polled after completion"),
                },
                CallProj::NotReady { service, req } => {
                    if let Err(error) = ready!(service.poll_ready(cx)) {
                        break Err(error);
                    }
                    let Some(req) = req.take() else {
                        panic!("TrackedFuture polled after completion");
                    };
                    let future = service.call(req);
                    this.call.set(Call::Called { future });
                }
            }
        };
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
