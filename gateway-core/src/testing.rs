//! Test helpers shared across the crate: the request context the dispatcher would build, and
//! requests that carry it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use http::{Method, Request, Uri};

use crate::body::Body;
use crate::context::{AuthContext, RequestContext};
use crate::error::GatewayError;
use crate::request_id::RequestId;
use crate::respond::error_response;
use crate::router::{Lookup, MethodSet, PathTemplate, RouterBuilder};
use crate::routes::RouteInfo;

/// The context the dispatcher would build for `uri` routed to `template` (prefix `/`), from
/// client `client`, with `claims` as `request.auth` when given.
pub(crate) fn context(
    template: &str,
    uri: &str,
    client: Option<&str>,
    claims: &[(&str, &str)],
) -> RequestContext {
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
    let client = client.map(|c| c.parse::<SocketAddr>().expect("socket address"));
    let mut ctx = RequestContext::new(
        RequestId::generate(),
        client,
        Arc::new(info),
        uri,
        0,
        params,
    );
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

/// A request for `uri` with `headers` and `body`, carrying `ctx` in its extensions when given.
/// Calls `svc` once it is ready and answers as the gateway would: an error is rendered as the
/// client would see it.
pub(crate) async fn answer<S, B>(svc: &mut S, req: Request<B>) -> http::Response<Body>
where
    S: tower::Service<Request<B>, Response = http::Response<Body>, Error = GatewayError>,
{
    use tower::ServiceExt;
    let result = match svc.ready().await {
        Ok(svc) => svc.call(req).await,
        Err(error) => Err(error),
    };
    result.unwrap_or_else(error_response)
}

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

/// A body of these chunks, one frame each, of unknown length (as a chunked upload arrives).
pub(crate) fn chunked_body(chunks: &'static [&'static [u8]]) -> ChannelBody {
    let (tx, rx) = tokio::sync::mpsc::channel(chunks.len().max(1));
    for chunk in chunks {
        let _ = tx.try_send(Ok(http_body::Frame::data(bytes::Bytes::from_static(chunk))));
    }
    ChannelBody(rx)
}

/// A body fed by a channel: each message is one frame; it ends when the sender is dropped.
pub(crate) struct ChannelBody(
    pub(crate) tokio::sync::mpsc::Receiver<Result<http_body::Frame<bytes::Bytes>, crate::BoxError>>,
);

impl http_body::Body for ChannelBody {
    type Data = bytes::Bytes;
    type Error = crate::BoxError;
    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, crate::BoxError>>> {
        self.0.poll_recv(cx)
    }
}
