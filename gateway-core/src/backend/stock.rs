//! `STOCK_RESPONSE_BACKEND`: a fixed status, body and headers.
//!
//! Everything is built once when the specification is compiled; answering a request clones a
//! reference-counted body and a small header map, and never reads the request.

use std::future::{ready, Ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use tower::Service;

use crate::body::Body;
use crate::diagnostics::{Diagnostics, Kind};
use crate::error::GatewayError;
use crate::headers::is_hop_by_hop_name;
use crate::spec::StockResponseBackend;

/// Headers that describe the connection or the framing (`Content-Length` and the hop-by-hop
/// ones), which the server computes itself; a stock response that set them could
/// desynchronise the client's view of the stream.
fn is_framing(name: &HeaderName) -> bool {
    name == CONTENT_LENGTH || is_hop_by_hop_name(name)
}

/// Headers the gateway may add to a stock answer on its way out: the request id, the rate
/// limit's three, a cache status.
const ROOM_FOR_ADDED_HEADERS: usize = 5;

/// The compiled stock response.
#[derive(Debug, Clone)]
pub struct StockResponse {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl StockResponse {
    /// Compiles the spec's stock backend. `path` locates it for diagnostics; headers that
    /// cannot be sent are reported there and left out.
    pub fn compile(spec: &StockResponseBackend, path: &str, diags: &mut Diagnostics) -> Self {
        let status = StatusCode::from_u16(spec.status).unwrap_or_else(|_| {
            diags.error(
                format!("{path}.status"),
                format!("{} is not an HTTP status", spec.status),
            );
            StatusCode::INTERNAL_SERVER_ERROR
        });
        let specified = spec.headers.as_deref().unwrap_or_default();
        let mut headers = HeaderMap::new();
        for (i, h) in specified.iter().enumerate() {
            let at = format!("{path}.headers[{i}]");
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(h.name.as_bytes()),
                HeaderValue::from_str(&h.value),
            ) else {
                diags.error(at, format!("header {:?} cannot be sent in HTTP", h.name));
                continue;
            };
            if is_framing(&name) {
                diags
                    .warning(
                        Kind::Invalid,
                        at,
                        format!("header {name} is set by the server and is ignored here"),
                    )
                    .hint("remove it from the stock response");
                continue;
            }
            if headers.try_append(name, value).is_err() {
                diags
                    .error(
                        format!("{path}.headers"),
                        format!(
                            "{} headers: more than one HTTP response can carry",
                            specified.len()
                        ),
                    )
                    .hint("OCI allows 50 headers in a stock response");
                break;
            }
        }
        Self {
            status,
            headers,
            body: Bytes::from(spec.body.clone().unwrap_or_default()),
        }
    }

    /// The configured response: status, headers and body.
    pub fn response(&self) -> Response<Body> {
        let mut res = Response::new(Body::full(self.body.clone()));
        *res.status_mut() = self.status;
        // A clone of the map has no room to spare, and the gateway adds headers to every
        // answer (the request id at least): growing it then cost more than these copies.
        let headers = res.headers_mut();
        headers.reserve(self.headers.len() + ROOM_FOR_ADDED_HEADERS);
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        res
    }
}

/// A stock response never fails; its error type is the one every backend shares, so that it
/// composes with them (a dynamic-routing branch, a boxed route backend).
impl<B> Service<Request<B>> for StockResponse {
    type Response = Response<Body>;
    type Error = GatewayError;
    type Future = Ready<Result<Response<Body>, GatewayError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _req: Request<B>) -> Self::Future {
        ready(Ok(self.response()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::HeaderFieldSpecification;

    #[test]
    fn framing_and_hop_by_hop_headers_are_left_out_with_a_warning() {
        let header = |name: &str| HeaderFieldSpecification {
            name: name.to_owned(),
            value: "x".to_owned(),
        };
        let spec = StockResponseBackend {
            status: 200,
            body: None,
            headers: Some(
                [
                    "Content-Length",
                    "Connection",
                    "Keep-Alive",
                    "Upgrade",
                    "X-Kept",
                ]
                .map(header)
                .to_vec(),
            ),
        };
        let mut diags = Diagnostics::new();
        let stock = StockResponse::compile(&spec, "backend", &mut diags);
        let res = stock.response();
        let names: Vec<&str> = res.headers().keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-kept"]);
        assert_eq!(diags.warnings().count(), 4, "{diags:?}");
    }
}
