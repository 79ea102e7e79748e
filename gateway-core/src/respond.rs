//! Where failures become responses: the one place that renders a [`GatewayError`] as OCI's
//! answer and logs its execution-log code.
//!
//! Every layer and backend returns its refusals as `Err(GatewayError)`. The route stack puts
//! [`ErrorResponseLayer`] at its edge, and under each policy that decorates every answer a
//! client gets (CORS, rate-limit headers, response header transformations, the cache status),
//! so that they see the gateway's own answers as they see any other; requests refused before
//! they reach a route are rendered by the same function.

use std::convert::Infallible;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use http::header::CONTENT_TYPE;
use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::{info, warn};

use crate::body::Body;
use crate::error::{json_body, ClientLeft, GatewayError};

/// Turns the `Err(GatewayError)` of the service inside it into OCI's answer: the status, the
/// JSON body, the headers the error carries (`Allow`, `Retry-After`, `WWW-Authenticate`), and
/// an execution-log line with OCI's code. The service outside it never sees an error.
///
/// Its own error type is `E`: [`Infallible`] at the edge of a stack, or whatever type the
/// service around it expects (the error is then never produced), so that it can sit under a
/// policy that is present on some routes and not others.
#[derive(Debug)]
pub struct ErrorResponseLayer<E = Infallible> {
    error: PhantomData<fn() -> E>,
}

impl ErrorResponseLayer {
    /// The layer for the edge of a stack: the service it makes never fails.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<E> Default for ErrorResponseLayer<E> {
    fn default() -> Self {
        Self { error: PhantomData }
    }
}

impl<E> Clone for ErrorResponseLayer<E> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<S, E> Layer<S> for ErrorResponseLayer<E> {
    type Service = ErrorResponse<S, E>;

    fn layer(&self, inner: S) -> ErrorResponse<S, E> {
        ErrorResponse {
            inner,
            not_ready: None,
            error: PhantomData,
        }
    }
}

/// The service of [`ErrorResponseLayer`].
#[derive(Debug)]
pub struct ErrorResponse<S, E = Infallible> {
    inner: S,
    /// Why the inner service could not become ready: the next call is answered with it.
    not_ready: Option<GatewayError>,
    error: PhantomData<fn() -> E>,
}

impl<S: Clone, E> Clone for ErrorResponse<S, E> {
    fn clone(&self) -> Self {
        ErrorResponseLayer::default().layer(self.inner.clone())
    }
}

impl<S, B, E> Service<Request<B>> for ErrorResponse<S, E>
where
    S: Service<Request<B>, Response = Response<Body>, Error = GatewayError>,
{
    type Response = Response<Body>;
    type Error = E;
    type Future = ErrorResponseFuture<S::Future, E>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        // A service that cannot become ready fails the request it was readied for, answered
        // like any other failure.
        if let Err(error) = ready!(self.inner.poll_ready(cx)) {
            self.not_ready = Some(error);
        }
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (inner, error) = match self.not_ready.take() {
            Some(error) => (None, Some(error)),
            None => (Some(self.inner.call(req)), None),
        };
        ErrorResponseFuture {
            inner,
            error,
            output: PhantomData,
        }
    }
}

pin_project! {
    /// Response future of [`ErrorResponse`].
    #[derive(Debug)]
    pub struct ErrorResponseFuture<F, E = Infallible> {
        #[pin]
        inner: Option<F>,
        error: Option<GatewayError>,
        output: PhantomData<fn() -> E>,
    }
}

impl<F, E> Future for ErrorResponseFuture<F, E>
where
    F: Future<Output = Result<Response<Body>, GatewayError>>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = match (this.inner.as_pin_mut(), this.error.take()) {
            (Some(inner), _) => ready!(inner.poll(cx)),
            (None, Some(error)) => Err(error),
            (None, None) => panic!("ErrorResponseFuture polled after completion"),
        };
        Poll::Ready(Ok(result.unwrap_or_else(error_response)))
    }
}

/// The answer to `error`, logged with OCI's code: what [`ErrorResponse`] does with every
/// error, for callers that hold an error outside a service (the dispatcher, before a route is
/// chosen).
pub fn error_response(error: GatewayError) -> Response<Body> {
    log(&error);
    let mut res = json_response(error.status(), error.json_body());
    error.headers(res.headers_mut());
    if error.client_left() {
        res.extensions_mut().insert(ClientLeft);
    }
    res
}

/// A response with OCI's error body for `status` and `message`, for answers that are not
/// failures but have the same shape (an authentication failure policy's own response).
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, json_body(status, message))
}

fn json_response(status: StatusCode, body: String) -> Response<Body> {
    let mut res = Response::new(Body::full(body));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

/// Server-side failures are warnings; what the client did wrong is information.
fn log(error: &GatewayError) {
    let status = error.status().as_u16();
    let code = error.log_code();
    if error.status().is_server_error() && !error.client_left() {
        warn!(code, status, "{error}");
    } else {
        info!(code, status, "{error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{ALLOW, WWW_AUTHENTICATE};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn answer(error: GatewayError) -> (Response<()>, serde_json::Value) {
        let mut error = Some(error);
        let service =
            ErrorResponseLayer::new().layer(tower::service_fn(move |_req: Request<()>| {
                std::future::ready(Err::<Response<Body>, _>(error.take().expect("called once")))
            }));
        let res = service
            .oneshot(Request::new(()))
            .await
            .unwrap_or_else(|never| match never {});
        let (parts, body) = res.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        let json = serde_json::from_slice(&bytes).expect("json body");
        (Response::from_parts(parts, ()), json)
    }

    #[tokio::test]
    async fn not_found_is_ocis_exact_body() {
        let (res, body) = answer(GatewayError::NotFound).await;
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            body,
            serde_json::json!({"code": 404, "message": "Not Found"})
        );
    }

    #[tokio::test]
    async fn the_errors_headers_come_with_it() {
        let (res, body) = answer(GatewayError::MethodNotAllowed {
            allow: HeaderValue::from_static("GET, POST"),
        })
        .await;
        assert_eq!(res.status(), 405);
        assert_eq!(res.headers()[ALLOW], "GET, POST");
        assert_eq!(body["message"], "Method Not Allowed");

        let (res, _) = answer(GatewayError::Unauthenticated {
            challenge: Some(HeaderValue::from_static("Bearer")),
            reason: "no token".to_owned(),
        })
        .await;
        assert_eq!(res.status(), 401);
        assert_eq!(res.headers()[WWW_AUTHENTICATE], "Bearer");
    }

    #[tokio::test]
    async fn answers_pass_through_untouched() {
        let service = ErrorResponseLayer::new().layer(tower::service_fn(|_req: Request<()>| {
            std::future::ready(Ok::<_, GatewayError>(Response::new(Body::full("hello"))))
        }));
        let res = service
            .oneshot(Request::new(()))
            .await
            .unwrap_or_else(|never| match never {});
        assert_eq!(res.status(), 200);
        let bytes = res.into_body().collect().await.expect("body").to_bytes();
        assert_eq!(&bytes[..], b"hello");
    }
}
