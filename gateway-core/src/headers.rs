//! Header rules shared by the backends.

use http::header::{
    CONNECTION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};
use http::{HeaderMap, HeaderName};

/// Hop-by-hop headers (RFC 9110 §7.6.1, plus the legacy ones proxies still see, as Fn's
/// `common/io_utils.go` lists them): they describe one connection and never travel to the next
/// hop, in either direction.
static HOP_BY_HOP: [HeaderName; 9] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// Whether `name` is one of the hop-by-hop headers every message has (RFC 9110 §7.6.1 and
/// the legacy ones), whatever its `Connection` names besides.
pub fn is_hop_by_hop_name(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
}

/// Whether `name` is hop-by-hop in a message with `headers`: in the fixed list, or named by
/// the message's `Connection`.
pub fn is_hop_by_hop(name: &HeaderName, headers: &HeaderMap) -> bool {
    is_hop_by_hop_name(name)
        || connection_names(headers).any(|named| named.eq_ignore_ascii_case(name.as_str()))
}

/// The header names a message's `Connection` lists, as written.
fn connection_names(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
}

/// Removes hop-by-hop headers, including every header the `Connection` header names. The
/// gateway strips a client's request on arrival, before it adds headers of its own (which a
/// client's `Connection` must not be able to name), and again before a backend sees it.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // Most messages carry none of them: one look at each name costs less than nine lookups
    // by name.
    if !headers.keys().any(is_hop_by_hop_name) {
        return;
    }
    let named: Vec<HeaderName> = connection_names(headers)
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_standard_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        for (n, v) in [
            ("connection", "keep-alive, X-Secret"),
            ("keep-alive", "75"),
            ("x-secret", "1"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("te", "trailers"),
            ("proxy-authorization", "Basic x"),
            ("x-kept", "yes"),
            ("authorization", "Bearer t"),
        ] {
            h.append(HeaderName::from_static(n), v.parse().expect("value"));
        }
        remove_hop_by_hop(&mut h);
        let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-kept", "authorization"]);
    }

    #[test]
    fn connection_named_headers_are_hop_by_hop_in_any_case() {
        let mut h = HeaderMap::new();
        h.append(CONNECTION, "close, X-Trace".parse().expect("value"));
        assert!(is_hop_by_hop(&HeaderName::from_static("x-trace"), &h));
        assert!(is_hop_by_hop(&UPGRADE, &h));
        assert!(!is_hop_by_hop(&HeaderName::from_static("x-other"), &h));
    }
}
