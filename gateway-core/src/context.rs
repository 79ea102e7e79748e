//! The per-request context that travels in the request's extensions.
//!
//! The dispatcher fills it once (route match, path parameters, client address, request id)
//! and every layer after it reads from it: context variables (`${request.path[x]}`, …) are
//! resolved against it, logs and metrics name the route from it. It holds no borrowed data:
//! the path lives in a cheap clone of the request's `Uri`, and path parameters are byte ranges
//! into it, so building one allocates only the `Arc` bumps.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;

use http::{HeaderMap, Uri};
use rustls::pki_types::CertificateDer;

use crate::observe::Exchange;
use crate::request_id::RequestId;
use crate::router::Params;
use crate::routes::RouteInfo;
use crate::vars::VarSource;

/// The client's socket address; the server inserts it into each request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub SocketAddr);

/// The certificate chain a client presented in the TLS handshake, leaf first; the server
/// inserts it into each request of the connection.
///
/// The TLS layer only checks that the client holds the leaf's key: whether the chain is
/// trusted is decided per deployment by the `mutualTls` policy, so that an untrusted
/// certificate gets OCI's 401 rather than a TLS alert, and deployments without the policy
/// ignore it. Shared, so that every request of a connection clones an `Arc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(Arc<[CertificateDer<'static>]>);

impl ClientCertificate {
    /// The chain as presented; `None` when it is empty, since a chain without a leaf is no
    /// certificate at all.
    pub fn new(chain: Vec<CertificateDer<'static>>) -> Option<Self> {
        (!chain.is_empty()).then(|| Self(chain.into()))
    }

    /// The client's own certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `new` refuses an empty chain.
        &self.0[0]
    }

    /// The certificates after the leaf, as the client sent them.
    pub fn intermediates(&self) -> &[CertificateDer<'static>] {
        &self.0[1..]
    }
}

/// Who the caller is, once an authentication policy has accepted it.
///
/// `claims` are what `request.auth[name]` reads: a JWT's claims or an authorizer function's
/// `context`, each rendered as a string (JSON for non-string values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthContext {
    /// Who the caller is: a JWT's `sub` claim, or an authorizer function's `principal`.
    pub principal: Option<String>,
    /// The application calling on the caller's behalf: a JWT's `client_id` (else `azp`) claim,
    /// or an authorizer function's `clientId`.
    pub client_id: Option<String>,
    /// The caller's scopes, which a route's `ANY_OF` authorization checks.
    pub scopes: Vec<String>,
    /// The `request.auth` values, by name.
    pub claims: BTreeMap<String, String>,
}

/// What the gateway knows about a request once it has been routed.
#[derive(Debug, Clone)]
pub struct RequestContext {
    request_id: RequestId,
    client_addr: Option<SocketAddr>,
    route: Arc<RouteInfo>,
    /// The normalised request URI (path and query as the backend will see them).
    uri: Uri,
    /// Where the route-relative path starts in `uri.path()` (the deployment prefix's length).
    route_path_offset: usize,
    params: Params,
    auth: Option<Arc<AuthContext>>,
    usage_plan: Option<Arc<str>>,
    /// `request.cert[client_base64]`, once the `mutualTls` policy has verified the certificate.
    client_cert_base64: Option<Arc<str>>,
    /// What the request's metrics and access-log line are made of, when the gateway reports
    /// the request.
    exchange: Option<Arc<Exchange>>,
}

impl RequestContext {
    pub(crate) fn new(
        request_id: RequestId,
        client_addr: Option<SocketAddr>,
        route: Arc<RouteInfo>,
        uri: Uri,
        route_path_offset: usize,
        params: Params,
    ) -> Self {
        Self {
            request_id,
            client_addr,
            route,
            uri,
            route_path_offset,
            params,
            auth: None,
            usage_plan: None,
            client_cert_base64: None,
            exchange: None,
        }
    }

    /// Reports the request to `exchange`: the layers and backends below record in it the
    /// time spent outside the gateway, the backend's status and what the cache did.
    pub(crate) fn with_exchange(mut self, exchange: Arc<Exchange>) -> Self {
        self.exchange = Some(exchange);
        self
    }

    /// Where the request is reported, if it is.
    pub(crate) fn exchange(&self) -> Option<&Arc<Exchange>> {
        self.exchange.as_ref()
    }

    /// The authenticated caller, if an authentication policy accepted one.
    pub fn auth(&self) -> Option<&AuthContext> {
        self.auth.as_deref()
    }

    /// The OCID of the caller's usage plan (`request.usage_plan[id]`), once a usage-plans
    /// policy has admitted the request.
    pub fn usage_plan(&self) -> Option<&str> {
        self.usage_plan.as_deref()
    }

    /// Records the caller's usage plan; set by the usage-plans layer.
    pub fn set_usage_plan(&mut self, plan: Arc<str>) {
        self.usage_plan = Some(plan);
    }

    /// The verified client certificate as standard Base64 of its DER
    /// (`request.cert[client_base64]`).
    pub fn client_cert_base64(&self) -> Option<&str> {
        self.client_cert_base64.as_deref()
    }

    /// Records the verified client certificate; set by the `mutualTls` layer.
    pub fn set_client_cert_base64(&mut self, base64: Arc<str>) {
        self.client_cert_base64 = Some(base64);
    }

    /// Records the authenticated caller; set by the authentication layer.
    pub fn set_auth(&mut self, auth: Arc<AuthContext>) {
        self.auth = Some(auth);
    }

    /// The request's `opc-request-id`, which logs and function calls carry too.
    pub fn request_id(&self) -> &RequestId {
        &self.request_id
    }

    /// The client's socket address; `None` when the server did not provide a [`ClientAddr`].
    pub fn client_addr(&self) -> Option<SocketAddr> {
        self.client_addr
    }

    /// The route that matched.
    pub fn route(&self) -> &RouteInfo {
        &self.route
    }

    /// The normalised request path, deployment prefix included.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    /// The raw query string, if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }

    /// The value of a path parameter, still percent-encoded as received; a wildcard's value is
    /// the remaining segments joined by `/`.
    pub fn path_param(&self, name: &str) -> Option<&str> {
        let index = self.route.param_index(name)?;
        let range = self.params.get(index)?;
        Some(self.slice_route_path(range))
    }

    /// Every path parameter with its value, in template order.
    pub fn path_params(&self) -> impl Iterator<Item = (&str, &str)> {
        self.route
            .param_names()
            .zip(self.params.iter())
            .map(|(name, range)| (name, self.slice_route_path(range)))
    }

    /// The first value of a query parameter, still encoded (`San+Jos%C3%A9`). Names are
    /// case-sensitive, as OCI's query transformations treat them.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        first_query_value(self.query()?, name)
    }

    /// A view that resolves context variables against this context and the request headers.
    pub fn vars<'a>(&'a self, headers: &'a HeaderMap) -> RequestVars<'a> {
        RequestVars { ctx: self, headers }
    }

    fn slice_route_path(&self, range: Range<usize>) -> &str {
        let path = self.uri.path();
        // The route path of a request for exactly the prefix is "/", which is not a slice of
        // the URI; its only possible capture is an empty wildcard.
        path.get(self.route_path_offset + range.start..self.route_path_offset + range.end)
            .unwrap_or("")
    }
}

/// The first value of query parameter `name` in a raw query string, percent-decoded (`+` is
/// a space; invalid UTF-8 is replaced).
pub fn decoded_query_value(query: &str, name: &str) -> Option<String> {
    let raw = first_query_value(query, name)?;
    Some(
        percent_encoding::percent_decode_str(&raw.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned(),
    )
}

/// The first value of query parameter `name` in a raw query string, still encoded; a key
/// without `=` has the empty value.
pub(crate) fn first_query_value<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (key == name).then_some(value)
    })
}

/// Context variables of one request: [`RequestContext`] plus its headers.
#[derive(Debug, Clone, Copy)]
pub struct RequestVars<'a> {
    ctx: &'a RequestContext,
    headers: &'a HeaderMap,
}

impl VarSource for RequestVars<'_> {
    fn path_param(&self, name: &str) -> Option<&str> {
        self.ctx.path_param(name)
    }

    fn query_param(&self, name: &str) -> Option<&str> {
        self.ctx.query_param(name)
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    fn auth(&self, key: &str) -> Option<&str> {
        self.ctx.auth()?.claims.get(key).map(String::as_str)
    }

    fn host(&self) -> Option<&str> {
        self.header("host").or_else(|| self.ctx.uri.host())
    }

    fn cert(&self, key: &str) -> Option<&str> {
        (key == "client_base64")
            .then(|| self.ctx.client_cert_base64())
            .flatten()
    }

    fn usage_plan(&self, key: &str) -> Option<&str> {
        (key == "id").then(|| self.ctx.usage_plan()).flatten()
    }
}

/// Headers and query of a request that reached a layer without a [`RequestContext`] (a layer
/// used on its own): what its context variables can still read.
pub(crate) struct RawVars<'a> {
    pub(crate) headers: &'a http::HeaderMap,
    pub(crate) query: Option<&'a str>,
}

impl VarSource for RawVars<'_> {
    fn path_param(&self, _: &str) -> Option<&str> {
        None
    }
    fn query_param(&self, name: &str) -> Option<&str> {
        first_query_value(self.query?, name)
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }
    fn auth(&self, _: &str) -> Option<&str> {
        None
    }
    fn host(&self) -> Option<&str> {
        self.header("host")
    }
    fn cert(&self, _: &str) -> Option<&str> {
        None
    }
    fn usage_plan(&self, _: &str) -> Option<&str> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_keep_encoding_and_take_the_first() {
        let q = "state=San+Jos%C3%A9&city=a&city=b&flag&empty=";
        assert_eq!(first_query_value(q, "state"), Some("San+Jos%C3%A9"));
        assert_eq!(first_query_value(q, "city"), Some("a"));
        assert_eq!(first_query_value(q, "flag"), Some(""));
        assert_eq!(first_query_value(q, "empty"), Some(""));
        assert_eq!(first_query_value(q, "City"), None);
        assert_eq!(decoded_query_value(q, "state").as_deref(), Some("San José"));
        let url = "postLogoutUrl=https%3A%2F%2Fapp.example%2Fbye%3Fx%3D1";
        assert_eq!(
            decoded_query_value(url, "postLogoutUrl").as_deref(),
            Some("https://app.example/bye?x=1")
        );
    }
}
