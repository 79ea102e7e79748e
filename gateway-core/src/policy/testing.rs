//! Helpers for the policy tests: a routed request with its [`RequestContext`], and inner
//! services that echo what they received.

use http::{HeaderMap, Request, Response, Uri};
use http_body_util::BodyExt;

use crate::body::Body;
use crate::context::RequestContext;
use crate::error::GatewayError;

/// The context the dispatcher would build for `uri` routed to `template` (prefix `/`), with
/// `claims` as the authenticated caller's when given.
pub(crate) fn context(template: &str, uri: &str, claims: &[(&str, &str)]) -> RequestContext {
    crate::testing::context(template, uri, None, claims)
}

pub(crate) use crate::testing::request;

/// What an echo service saw: the request's URI, headers and body.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: bytes::Bytes,
}

/// An inner service that answers 200 and stores what it received in the response's
/// extensions as a [`Seen`].
pub(crate) async fn echo(req: Request<Body>) -> Result<Response<Body>, GatewayError> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let mut res = Response::new(Body::empty());
    res.extensions_mut().insert(Seen {
        uri: parts.uri,
        headers: parts.headers,
        body,
    });
    Ok(res)
}

/// The [`Seen`] of a response from [`echo`]; panics when the request never reached it.
pub(crate) fn seen(res: &Response<Body>) -> &Seen {
    res.extensions()
        .get::<Seen>()
        .expect("the request reached the inner service")
}

/// All values of `name` in `headers`, as strings.
pub(crate) fn values<'h>(headers: &'h HeaderMap, name: &str) -> Vec<&'h str> {
    headers
        .get_all(name)
        .iter()
        .map(|v| v.to_str().expect("ascii"))
        .collect()
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
