//! The access log: one entry per request, with the fields of OCI's API Gateway access log.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::header::{REFERER, USER_AGENT};
use http::{HeaderValue, Method, Uri, Version};

use crate::request_id::RequestId;

use super::Outcome;

/// Receives one entry per finished request. Called on the request's task when its response
/// has been sent: an implementation should hand the entry off (format and queue it) rather
/// than block on I/O.
pub trait AccessLog: Send + Sync + fmt::Debug + 'static {
    /// Records one finished request.
    fn log(&self, entry: &AccessEntry<'_>);

    /// Records a connection the server answered or closed before any request reached the
    /// gateway (a stalled request head, an oversized head, too many connections): there is no
    /// method or URI, only the client, the status and OCI's execution-log code.
    fn log_refused(&self, remote: SocketAddr, status: u16, code: &str) {
        let _ = (remote, status, code);
    }

    /// Whether requests starting now should be recorded at all. A log that is only sometimes
    /// read (a console nobody has open) says no, and requests then capture nothing for it.
    fn wants(&self) -> bool {
        true
    }
}

/// Who the gateway is, for OCI's `gatewayId` and `gatewayDisplayName` fields, and which
/// replica of it answered (`node`).
#[derive(Debug, Clone, Default)]
pub struct GatewayIdentity {
    /// The gateway's OCID: the same on every replica.
    pub id: Arc<str>,
    /// The gateway's name.
    pub display_name: Arc<str>,
    /// This replica (a host name unless configured).
    pub node: Arc<str>,
}

/// The route a request matched, as logs name it; made once per route when it is compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedRoute {
    /// The deployment's name.
    pub deployment: Arc<str>,
    /// The route's public path template: the deployment's prefix and the route's `path`.
    pub path: Box<str>,
    /// The backend `type`, e.g. `STOCK_RESPONSE_BACKEND`.
    pub backend: &'static str,
}

/// What is known of a request when it arrives, kept until its response is sent.
#[derive(Debug)]
pub(crate) struct AccessFields {
    uri: Uri,
    version: Version,
    user_agent: Option<HeaderValue>,
    referrer: Option<HeaderValue>,
    request_id: RequestId,
    remote_addr: Option<SocketAddr>,
    route: Option<Arc<MatchedRoute>>,
    identity: GatewayIdentity,
}

impl AccessFields {
    /// Captures the request as the client sent it (before the path is normalised).
    pub(crate) fn capture(
        parts: &http::request::Parts,
        request_id: &RequestId,
        remote_addr: Option<SocketAddr>,
        identity: &GatewayIdentity,
    ) -> Self {
        Self {
            uri: parts.uri.clone(),
            version: parts.version,
            user_agent: parts.headers.get(USER_AGENT).cloned(),
            referrer: parts.headers.get(REFERER).cloned(),
            request_id: request_id.clone(),
            remote_addr,
            route: None,
            identity: identity.clone(),
        }
    }

    pub(crate) fn set_route(&mut self, route: Arc<MatchedRoute>) {
        self.route = Some(route);
    }

    pub(crate) fn entry<'a>(&'a self, method: &'a Method, outcome: &Outcome) -> AccessEntry<'a> {
        let text = |v: &'a Option<HeaderValue>| v.as_ref().and_then(|v| v.to_str().ok());
        AccessEntry {
            method,
            request_uri: self
                .uri
                .path_and_query()
                .map_or_else(|| self.uri.path(), |pq| pq.as_str()),
            version: self.version,
            status: outcome.status,
            body_bytes_sent: outcome.bytes_sent,
            request_duration: outcome.latency,
            integration_duration: outcome.integration,
            opc_request_id: self.request_id.as_str(),
            remote_addr: self.remote_addr,
            deployment: self.route.as_ref().map_or("", |r| &r.deployment),
            route: self.route.as_deref(),
            user_agent: text(&self.user_agent),
            referrer: text(&self.referrer),
            gateway: &self.identity,
        }
    }
}

/// One request, as the access log records it.
#[derive(Debug)]
pub struct AccessEntry<'a> {
    /// The request method.
    pub method: &'a Method,
    /// The path and query the client sent.
    pub request_uri: &'a str,
    /// The HTTP version of the request.
    pub version: Version,
    /// The status sent, or 499 when the client went away before its response was ready.
    pub status: u16,
    /// Bytes of response body sent, headers not included.
    pub body_bytes_sent: u64,
    /// From the request's arrival to its response fully sent.
    pub request_duration: Duration,
    /// The part of `request_duration` spent waiting for backends, functions and authorizers.
    pub integration_duration: Duration,
    /// The request's `opc-request-id`; empty when it has none.
    pub opc_request_id: &'a str,
    /// The client's socket address (the peer, not `X-Forwarded-For`), when the server recorded it.
    pub remote_addr: Option<SocketAddr>,
    /// The deployment that served the request; empty when none matched.
    pub deployment: &'a str,
    /// The route that served the request, if one matched.
    pub route: Option<&'a MatchedRoute>,
    /// The `User-Agent` header, when present and readable as text.
    pub user_agent: Option<&'a str>,
    /// The `Referer` header, when present and readable as text.
    pub referrer: Option<&'a str>,
    /// The gateway and replica that served the request.
    pub gateway: &'a GatewayIdentity,
}

impl AccessEntry<'_> {
    /// The protocol as the request line spells it.
    pub fn server_protocol(&self) -> &'static str {
        match self.version {
            Version::HTTP_09 => "HTTP/0.9",
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_2 => "HTTP/2.0",
            Version::HTTP_3 => "HTTP/3.0",
            _ => "HTTP/1.1",
        }
    }

    /// The entry as one line of JSON with OCI's field names (`requestDuration` in seconds,
    /// millisecond precision), without the trailing newline.
    pub fn to_json(&self) -> String {
        let remote = self.remote_addr.map(|a| a.ip().to_string());
        serde_json::json!({
            "httpMethod": self.method.as_str(),
            "requestUri": self.request_uri,
            "serverProtocol": self.server_protocol(),
            "status": self.status,
            "bodyBytesSent": self.body_bytes_sent,
            "requestDuration": (self.request_duration.as_millis() as f64) / 1000.0,
            "opcRequestId": self.opc_request_id,
            "remoteAddr": remote.as_deref().unwrap_or(""),
            "deploymentId": self.deployment,
            "gatewayId": &*self.gateway.id,
            "gatewayDisplayName": &*self.gateway.display_name,
            "node": &*self.gateway.node,
            "httpUserAgent": self.user_agent.unwrap_or(""),
            "httpReferrer": self.referrer.unwrap_or(""),
            "message": format!("{} {} {}", self.method, self.request_uri, self.server_protocol()),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_renders_ocis_fields() {
        let identity = GatewayIdentity {
            id: "ocid1.apigateway.local".into(),
            display_name: "laptop".into(),
            node: "gw-1".into(),
        };
        let entry = AccessEntry {
            method: &Method::POST,
            request_uri: "/v1/hello?name=\"x\"",
            version: Version::HTTP_11,
            status: 201,
            body_bytes_sent: 42,
            request_duration: Duration::from_micros(12_345),
            integration_duration: Duration::from_micros(10_000),
            opc_request_id: "ABC",
            remote_addr: Some("127.0.0.1:5000".parse().expect("addr")),
            deployment: "hello",
            route: None,
            user_agent: Some("curl/8"),
            referrer: None,
            gateway: &identity,
        };
        let json: serde_json::Value = serde_json::from_str(&entry.to_json()).expect("json");
        assert_eq!(
            json,
            serde_json::json!({
                "httpMethod": "POST", "requestUri": "/v1/hello?name=\"x\"",
                "serverProtocol": "HTTP/1.1", "status": 201, "bodyBytesSent": 42,
                "requestDuration": 0.012, "opcRequestId": "ABC", "remoteAddr": "127.0.0.1",
                "deploymentId": "hello", "gatewayId": "ocid1.apigateway.local",
                "gatewayDisplayName": "laptop", "node": "gw-1", "httpUserAgent": "curl/8", "httpReferrer": "",
                "message": "POST /v1/hello?name=\"x\" HTTP/1.1"
            })
        );
    }
}
