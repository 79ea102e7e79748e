//! Header rules shared by the backends.

use http::header::CONNECTION;
use http::{HeaderMap, HeaderName};

/// Whether `name` is one of the hop-by-hop headers every message has, whatever its
/// `Connection` names besides: RFC 9110 §7.6.1's, plus the legacy ones proxies still see, as
/// Fn's `common/io_utils.go` lists them. They describe one connection and never travel to the
/// next hop, in either direction.
pub fn is_hop_by_hop_name(name: &HeaderName) -> bool {
    // Asked of every header of every request: one match on the name, decided mostly by its
    // length, rather than a comparison with each of the nine.
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    )
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
        .chain(headers.keys().filter(|n| is_hop_by_hop_name(n)).cloned())
        .collect();
    for name in &named {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::UPGRADE;

    #[test]
    fn the_nine_hop_by_hop_names_and_no_other() {
        for name in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "proxy-authenticate",
            "proxy-authorization",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
        ] {
            assert!(is_hop_by_hop_name(&HeaderName::from_static(name)), "{name}");
        }
        for name in [
            "host",
            "content-length",
            "tk",
            "trailers",
            "upgrade-insecure-requests",
        ] {
            assert!(
                !is_hop_by_hop_name(&HeaderName::from_static(name)),
                "{name}"
            );
        }
    }

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
