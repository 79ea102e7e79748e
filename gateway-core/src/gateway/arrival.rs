//! What the gateway reads of a request's header section on arrival, in one pass over it.
//!
//! Every request is checked for hop-by-hop headers, its client's request id, how many `Host`
//! headers it has, the length it declares and the size and number of its header lines. Looked
//! up one by one, each name costs a hash and a probe of the map; one walk over the few headers
//! a request has costs less than the lookups together.

use http::header::{CONTENT_LENGTH, HOST};
use http::HeaderMap;

use crate::headers::{is_hop_by_hop_name, remove_hop_by_hop};
use crate::request_id::{RequestId, OPC_REQUEST_ID};
use crate::request_limits::length_value;

/// A request's header section as the gateway's arrival checks need it.
#[derive(Debug, Default)]
pub(super) struct Arrival {
    /// The client's `opc-request-id` (the first), when it is safe to echo.
    pub(super) client_id: Option<RequestId>,
    /// How many `Host` header lines there are.
    pub(super) hosts: usize,
    /// The body length the client declared (the first `Content-Length`), if it parses.
    pub(super) declared_length: Option<u64>,
    /// The header lines' size as HTTP/1.1 spells them (`name: value\r\n` each).
    pub(super) header_bytes: usize,
    /// How many header lines there are.
    pub(super) header_count: usize,
}

impl Arrival {
    /// Strips the hop-by-hop headers from `headers` (what the client's `Connection` names
    /// describes its connection to the gateway and ends here) and reads what remains.
    pub(super) fn read(headers: &mut HeaderMap) -> Self {
        match Self::scan(headers) {
            Some(arrival) => arrival,
            // Rare: the request named headers for its connection. The ones that remain are
            // read again.
            None => {
                remove_hop_by_hop(headers);
                Self::scan(headers).unwrap_or_default()
            }
        }
    }

    /// The facts of `headers`, or `None` if a hop-by-hop header is among them.
    fn scan(headers: &HeaderMap) -> Option<Self> {
        let mut arrival = Self::default();
        let mut client_id = None;
        for (name, value) in headers {
            if is_hop_by_hop_name(name) {
                return None;
            }
            arrival.header_count += 1;
            arrival.header_bytes += name.as_str().len() + value.len() + ": \r\n".len();
            if name == HOST {
                arrival.hosts += 1;
            } else if name == CONTENT_LENGTH {
                if arrival.declared_length.is_none() {
                    arrival.declared_length = length_value(value);
                }
            } else if name == OPC_REQUEST_ID && client_id.is_none() {
                client_id = Some(value);
            }
        }
        arrival.client_id = client_id.and_then(RequestId::from_client);
        Some(arrival)
    }

    /// The request's id: the client's when it is safe to echo, else a fresh one.
    pub(super) fn request_id(&mut self) -> RequestId {
        self.client_id.take().unwrap_or_else(RequestId::generate)
    }

    /// The size of the request head as HTTP/1.1 would spell it: the request line and the
    /// header lines.
    pub(super) fn head_size(&self, parts: &http::request::Parts) -> usize {
        parts.method.as_str().len()
            + parts.uri.path_and_query().map_or(1, |pq| pq.as_str().len())
            + "  HTTP/1.1\r\n".len()
            + self.header_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(lines: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    #[test]
    fn reads_what_the_lookups_by_name_would() {
        let mut map = headers(&[
            ("host", "a.example"),
            ("host", "b.example"),
            ("content-length", "12"),
            ("content-length", "13"),
            ("opc-request-id", "client-1"),
            ("opc-request-id", "client-2"),
            ("x-other", "v"),
        ]);
        let mut arrival = Arrival::read(&mut map);
        assert_eq!(arrival.hosts, 2);
        assert_eq!(arrival.declared_length, Some(12));
        assert_eq!(arrival.header_count, 7);
        let lines: usize = map
            .iter()
            .map(|(n, v)| format!("{}: {}\r\n", n, v.to_str().expect("ascii")).len())
            .sum();
        assert_eq!(arrival.header_bytes, lines);
        assert_eq!(arrival.request_id().as_str(), "client-1");
    }

    #[test]
    fn hop_by_hop_headers_and_what_connection_names_are_gone_before_the_rest_is_read() {
        let mut map = headers(&[
            ("connection", "opc-request-id, content-length"),
            ("te", "trailers"),
            ("opc-request-id", "client-1"),
            ("content-length", "5"),
            ("host", "a.example"),
        ]);
        let mut arrival = Arrival::read(&mut map);
        assert_eq!(map.len(), 1, "{map:?}");
        assert_eq!(arrival.header_count, 1);
        assert_eq!(arrival.declared_length, None);
        assert_eq!(arrival.hosts, 1);
        assert_ne!(arrival.request_id().as_str(), "client-1");
    }

    #[test]
    fn an_unsafe_or_unparsable_value_counts_as_absent() {
        let mut map = headers(&[("opc-request-id", "has space"), ("content-length", "x")]);
        let mut arrival = Arrival::read(&mut map);
        assert_eq!(arrival.declared_length, None);
        let id = arrival.request_id();
        assert_eq!(id.as_str().len(), 32);
        assert_eq!(map.len(), 2, "only hop-by-hop headers are removed");
    }
}
