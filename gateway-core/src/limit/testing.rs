//! Test helpers shared by the limit and cache tests: a routed request's context and inner
//! services. (A real `redis-server` comes from `gateway-test-support`.)

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http::{Method, Request, Response};
use http_body_util::BodyExt;

use crate::body::Body;
use crate::context::RequestContext;
use crate::error::GatewayError;

pub(crate) use crate::testing::context;

/// A request for `uri` with `headers` and no body, carrying `ctx` when given.
pub(crate) fn request(
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    ctx: Option<RequestContext>,
) -> Request<Body> {
    crate::testing::request(method, uri, headers, ctx, Body::empty())
}

/// An inner service answering 200 "ok" and counting its calls.
pub(crate) fn counting_ok(
    calls: Arc<AtomicUsize>,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Body>,
    Error = GatewayError,
    Future = std::future::Ready<Result<Response<Body>, GatewayError>>,
> + Clone {
    tower::service_fn(move |_req: Request<Body>| {
        calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok::<_, GatewayError>(Response::new(Body::full("ok"))))
    })
}

/// The response body as a string.
pub(crate) async fn body_text(res: Response<Body>) -> String {
    let bytes = res
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}
