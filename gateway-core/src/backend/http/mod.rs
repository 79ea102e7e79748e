//! `HTTP_BACKEND`: the gateway as a streaming reverse proxy (reference 3.1).
//!
//! The configured URL is called with its context variables substituted; the client's path is
//! not appended, its query string is (after query transformations). Headers go through the
//! proxy rules of `forward`. Bodies stream both ways, never buffered whole.
//!
//! Three timeouts, as OCI defines them:
//! * `connectTimeoutInSeconds` — until a connection (TCP and TLS) is ready, or one is taken
//!   from the pool;
//! * `sendTimeoutInSeconds` — until the request is written, restarted by every chunk of the
//!   body written, so a large upload that keeps moving is never cut;
//! * `readTimeoutInSeconds` — from the request written to the response head, then between
//!   chunks of the response body.
//!
//! A connection that cannot be made is 502, a timeout 504, both with OCI's generic body and
//! the `httpBackend.*` execution-log code. A client that goes away drops the exchange, which
//! closes the upstream request; an upstream that vanishes mid-body ends the client's response
//! with an error, never a hang.

mod client;
mod error;
mod forward;
mod pool;
mod progress;
mod response_body;
mod source;
mod url;

#[cfg(test)]
pub(crate) mod tests;

use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::HOST;
use http::request::Parts;
use http::uri::Scheme;
use http::{HeaderValue, Request, Response};
use tokio::time::{sleep_until, timeout, Instant};
use tower::Service;
use tracing::{debug, info};

use crate::body::Body;
use crate::context::{ClientAddr, RequestContext};
use crate::diagnostics::{Diagnostics, Kind};
use crate::error::GatewayError;
use crate::future::BoxFuture;
use crate::limit::TrustedProxies;
use crate::request_id::RequestId;
use crate::router::PathTemplate;
use crate::spec;
use crate::vars::Table;

/// Root certificates for [`HttpClientBuilder::add_root_certificate`].
pub use self::client::{HttpClient, HttpClientBuilder, HttpClientError};
pub use self::error::HttpBackendError;
use self::forward::ClientSide;
use self::pool::{Pool, SendFailed, Upstream, UpstreamBody};
use self::progress::{Progress, State, TrackedBody};
use self::response_body::ReadTimeoutBody;
pub(crate) use self::source::with_vars;
pub use self::url::HostRule;
use self::url::UrlTemplate;

/// The three timeouts of an HTTP backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Until a connection (TCP and TLS) is ready or one is taken from the pool
    /// (`connectTimeoutInSeconds`, 60 s by default).
    pub connect: Duration,
    /// Until the request is written, restarted by every body chunk written
    /// (`sendTimeoutInSeconds`, 10 s by default).
    pub send: Duration,
    /// From the request written to the response head, then between response body chunks
    /// (`readTimeoutInSeconds`, 10 s by default).
    pub read: Duration,
}

/// A compiled `HTTP_BACKEND`: a `tower::Service` that proxies to its upstream. Cheap to clone.
#[derive(Clone)]
pub struct HttpBackendService {
    pool: Pool,
    /// The upstream, when the URL's host is literal: found once, here.
    upstream: Option<Arc<Upstream>>,
    /// `None` when the configured URL could not be compiled (reported at compile time); every
    /// request then fails with `httpBackend.urlInvalid`.
    url: Option<Arc<UrlTemplate>>,
    timeouts: Timeouts,
    /// Peers whose `X-Forwarded-For` names the client, for `X-Real-IP`.
    trusted_proxies: Arc<TrustedProxies>,
}

impl std::fmt::Debug for HttpBackendService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBackendService")
            .field("url", &self.url)
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl HttpBackendService {
    /// Compiles a route's own HTTP backend; `path` locates it for diagnostics
    /// (`routes[3].backend`), `route_template` is the route's path, against which
    /// `${request.path[…]}` variables are checked.
    pub fn compile(
        client: &HttpClient,
        spec: &spec::HttpBackend,
        path: &str,
        route_template: &PathTemplate,
        diags: &mut Diagnostics,
    ) -> Self {
        Self::compile_with(client, spec, path, route_template, HostRule::Literal, diags)
    }

    /// Compiles an HTTP backend; with [`HostRule::Selector`] (a branch of a dynamic routing
    /// backend) its URL's host may hold the selector's variable.
    pub fn compile_with(
        client: &HttpClient,
        spec: &spec::HttpBackend,
        path: &str,
        route_template: &PathTemplate,
        host_rule: HostRule<'_>,
        diags: &mut Diagnostics,
    ) -> Self {
        let url_path = format!("{path}.url");
        let url = match UrlTemplate::parse(&spec.url, host_rule) {
            Ok(url) => {
                check_path_vars(&url, route_template, &url_path, diags);
                Some(Arc::new(url))
            }
            Err(e) => {
                let d = diags.error(url_path, e.message);
                if let Some(hint) = e.hint {
                    d.hint(hint);
                }
                None
            }
        };
        let timeouts = Timeouts {
            connect: seconds(spec.connect_timeout(), 60.0, path, "connect", diags),
            send: seconds(spec.send_timeout(), 10.0, path, "send", diags),
            read: seconds(spec.read_timeout(), 10.0, path, "read", diags),
        };
        let verify = !spec.is_ssl_verify_disabled.unwrap_or(false);
        let pool = client.pool(verify).clone();
        let upstream = url
            .as_deref()
            .and_then(UrlTemplate::literal_origin)
            .map(|(scheme, authority)| pool.upstream(scheme, authority));
        Self {
            pool,
            upstream,
            url,
            timeouts,
            trusted_proxies: Arc::default(),
        }
    }

    /// Believes `X-Forwarded-For` from these peers when telling the upstream the client's
    /// address in `X-Real-IP` (by default, the socket peer is the client).
    pub fn trusted_proxies(mut self, proxies: Arc<TrustedProxies>) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// The backend's timeouts, as compiled.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// Builds the upstream request: URL, headers, the body wrapped to report progress.
    fn prepare(&self, req: Request<Body>) -> Result<Exchange, HttpBackendError> {
        let (mut parts, body) = req.into_parts();
        let url = self.url.as_deref().ok_or_else(|| {
            HttpBackendError::UrlInvalid("the configured URL could not be compiled".into())
        })?;
        let target = with_vars(&parts, |vars| url.render(vars, parts.uri.query()))?;
        let upstream = match &self.upstream {
            Some(upstream) => upstream.clone(),
            None => {
                let (Some(scheme), Some(authority)) = (target.uri.scheme(), target.uri.authority())
                else {
                    return Err(HttpBackendError::UrlInvalid(format!(
                        "{} is not an absolute URL",
                        target.uri
                    )));
                };
                self.pool.upstream(scheme, authority)
            }
        };
        let context = parts.extensions.get::<RequestContext>();
        let request_id = context.map(|c| c.request_id().clone());
        let client = client_side(&parts, context, &self.trusted_proxies);
        let mut headers = std::mem::take(&mut parts.headers);
        forward::request_headers(&mut headers, &client, target.host);

        let progress = Arc::new(Progress::default());
        let mut request = Request::new(TrackedBody::new(body, progress.clone()));
        *request.method_mut() = parts.method;
        *request.uri_mut() = target.uri;
        *request.headers_mut() = headers;
        Ok(Exchange {
            upstream,
            request,
            progress,
            request_id,
        })
    }
}

/// One prepared upstream request.
struct Exchange {
    upstream: Arc<Upstream>,
    request: Request<TrackedBody>,
    progress: Arc<Progress>,
    request_id: Option<RequestId>,
}

/// The response future of [`HttpBackendService`]. Boxed: the exchange awaits the network at
/// several points, and one allocation is nothing next to a round trip upstream.
pub(crate) type ResponseFuture = BoxFuture<'static, Result<Response<Body>, GatewayError>>;

impl Service<Request<Body>> for HttpBackendService {
    type Response = Response<Body>;
    type Error = GatewayError;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> ResponseFuture {
        let context = req.extensions().get::<RequestContext>();
        let request_id = context.map(|c| c.request_id().clone());
        let exchange_record = context.and_then(RequestContext::exchange).cloned();
        let prepared = self.prepare(req);
        let timeouts = self.timeouts;
        Box::pin(async move {
            let started = Instant::now();
            let result = match prepared {
                Ok(exchange) => run(timeouts, exchange).await,
                Err(e) => Err(e),
            };
            let opc_request_id = request_id.as_ref().map_or("", RequestId::as_str);
            if let Some(exchange) = &exchange_record {
                exchange.add_integration(started.elapsed());
                if let Ok(res) = &result {
                    exchange.set_backend_status(res.status());
                }
            }
            let res = result?;
            info!(
                code = "httpBackend.responseReceived",
                opc_request_id,
                status = res.status().as_u16(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "backend answered"
            );
            Ok(res)
        })
    }
}

/// Sends the request and waits for the response head under the three timeouts.
async fn run(timeouts: Timeouts, exchange: Exchange) -> Result<Response<Body>, HttpBackendError> {
    let Exchange {
        upstream,
        mut request,
        progress,
        request_id,
    } = exchange;
    debug!(
        code = "httpBackend.formedBackendUrl",
        opc_request_id = request_id.as_ref().map_or("", RequestId::as_str),
        url = %request.uri(),
        "calling the backend"
    );
    loop {
        let conn = timeout(timeouts.connect, upstream.connection())
            .await
            .map_err(|_| HttpBackendError::ConnectTimeout(timeouts.connect))??;
        let response = conn.send(upstream.clone(), request, progress.clone());
        match exchange_on(response, &progress, timeouts).await {
            Ok(res) => return Ok(answer(res, timeouts.read)),
            // The upstream had closed the idle connection: another one gets the request.
            Err(SendFailed {
                retry: Some(unsent),
                error,
            }) => {
                debug!(error = %error, "an idle upstream connection was closed; sending on another");
                request = unsent;
            }
            Err(failed) => return Err(failed.error),
        }
    }
}

/// Waits for the response head on a connection ready from now, under the send timeout while
/// the request is being written and the read timeout after.
async fn exchange_on(
    response: impl Future<Output = Result<Response<UpstreamBody>, SendFailed>>,
    progress: &Progress,
    timeouts: Timeouts,
) -> Result<Response<UpstreamBody>, SendFailed> {
    let mut response = std::pin::pin!(response);
    let connected = Instant::now();
    let failed = |error| SendFailed { error, retry: None };
    loop {
        let (deadline, _) = phase_deadline(progress.state(), connected, timeouts);
        tokio::select! {
            biased;
            res = &mut response => return res,
            () = progress.written() => {}
            () = sleep_until(deadline) => {
                let (deadline, timeout) = phase_deadline(progress.state(), connected, timeouts);
                if deadline <= Instant::now() {
                    return Err(failed(timeout));
                }
            }
        }
    }
}

/// When the current phase times out, and with which error: the send timeout until the body
/// has ended (counted from the last chunk written), then the read timeout for the head.
fn phase_deadline(state: State, connected: Instant, t: Timeouts) -> (Instant, HttpBackendError) {
    match state.done {
        Some(done) => (
            done.max(connected) + t.read,
            HttpBackendError::ReadTimeout(t.read),
        ),
        None => (
            state.last.map_or(connected, |last| last.max(connected)) + t.send,
            HttpBackendError::SendTimeout(t.send),
        ),
    }
}

/// The client's response from the upstream's: hop-by-hop headers removed, the body streamed
/// under the read timeout.
fn answer(res: Response<UpstreamBody>, read_timeout: Duration) -> Response<Body> {
    let (mut parts, body) = res.into_parts();
    forward::response_headers(&mut parts.headers);
    let mut out = Response::new(Body::new(ReadTimeoutBody::new(body, read_timeout)));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    out
}

/// Who the client is, for the forwarding headers.
fn client_side(
    parts: &Parts,
    context: Option<&RequestContext>,
    trusted: &TrustedProxies,
) -> ClientSide {
    let addr = context
        .and_then(RequestContext::client_addr)
        .or_else(|| parts.extensions.get::<ClientAddr>().map(|a| a.0));
    let real_ip = trusted.client_ip(addr.map(|a| a.ip()), &parts.headers);
    // A TLS listener says so with a `Scheme` extension; HTTP/2 requests carry `:scheme`.
    let https = parts
        .extensions
        .get::<Scheme>()
        .or(parts.uri.scheme())
        .is_some_and(|s| *s == Scheme::HTTPS);
    let host = parts.headers.get(HOST).cloned().or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    ClientSide {
        addr,
        real_ip,
        proto: if https { "https" } else { "http" },
        host,
    }
}

/// A timeout in seconds as a `Duration`; a value the loader would have refused (not positive,
/// not finite) is reported and replaced by OCI's default.
fn seconds(value: f64, default: f64, path: &str, which: &str, diags: &mut Diagnostics) -> Duration {
    match Duration::try_from_secs_f64(value) {
        Ok(d) if !d.is_zero() => d,
        _ => {
            diags.error(
                format!("{path}.{which}TimeoutInSeconds"),
                format!("must be a positive number of seconds, found {value}"),
            );
            Duration::from_secs_f64(default)
        }
    }
}

/// Warns about `${request.path[x]}` where the route has no parameter `x`: it is always empty.
fn check_path_vars(url: &UrlTemplate, template: &PathTemplate, at: &str, diags: &mut Diagnostics) {
    for var in url.vars().filter(|v| v.table == Table::Path) {
        let Some(name) = var.key() else { continue };
        if template.param_names().any(|p| p == name) {
            continue;
        }
        let params: Vec<&str> = template.param_names().collect();
        let hint = if params.is_empty() {
            format!("the route path {} has no parameters", template.as_str())
        } else {
            format!("the route's parameters: {}", params.join(", "))
        };
        diags
            .warning(
                Kind::Invalid,
                at,
                format!(
                    "${{{var}}}: the route path has no parameter {name:?}, so it is always empty"
                ),
            )
            .hint(hint);
    }
}
