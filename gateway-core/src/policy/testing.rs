//! Helpers for the policy tests: a routed request with its [`RequestContext`], and inner
//! services that echo what they received.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderMap, Method, Request, Response, Uri};
use http_body_util::BodyExt;

use crate::body::Body;
use crate::context::{AuthContext, RequestContext};
use crate::request_id::RequestId;
use crate::router::{Lookup, MethodSet, PathTemplate, RouterBuilder};
use crate::routes::RouteInfo;

/// The context the dispatcher would build for `uri` routed to `template` (prefix `/`), with
/// `claims` as the authenticated caller's when given.
pub(crate) fn context(template: &str, uri: &str, claims: &[(&str, &str)]) -> RequestContext {
    let template = PathTemplate::parse(template).expect("template");
    let uri: Uri = uri.parse().expect("uri");
    let mut routes = RouterBuilder::new();
    routes
        .insert(template.clone(), MethodSet::ANY, ())
        .expect("one route");
    let params = match routes.build().at(&Method::GET, uri.path()) {
        Lookup::Found(m) => m.params,
        other => panic!("{uri} does not match: {other:?}"),
    };
    let info = RouteInfo::new(
        Arc::from("test"),
        Arc::from("/"),
        0,
        template,
        MethodSet::ANY,
        "STOCK_RESPONSE_BACKEND",
    );
    let mut ctx = RequestContext::new(RequestId::generate(), None, Arc::new(info), uri, 0, params);
    if !claims.is_empty() {
        let claims: BTreeMap<String, String> = claims
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        ctx.set_auth(Arc::new(AuthContext {
            claims,
            ..AuthContext::default()
        }));
    }
    ctx
}

/// A request for `uri` with `headers`, carrying `ctx` in its extensions when given.
pub(crate) fn request(
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    ctx: Option<RequestContext>,
    body: Body,
) -> Request<Body> {
    let mut req = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let mut req = req.body(body).expect("request");
    if let Some(ctx) = ctx {
        req.extensions_mut().insert(ctx);
    }
    req
}

/// What an echo service saw: the request's URI, headers and body.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) uri: Uri,
    pub(crate) headers: HeaderMap,
    pub(crate) body: bytes::Bytes,
}

/// An inner service that answers 200 and stores what it received in the response's
/// extensions as a [`Seen`].
pub(crate) async fn echo(req: Request<Body>) -> Result<Response<Body>, Infallible> {
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
