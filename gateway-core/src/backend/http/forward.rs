//! Header rules of the proxy: what the upstream learns about the client, and what the client
//! gets back.
//!
//! Upstream, the gateway is a reverse proxy: hop-by-hop headers stop here, `Host` names the
//! upstream (as if the client had called it), and the client's address, scheme and host travel
//! in `X-Forwarded-For`/`-Proto`/`-Host` and RFC 7239 `Forwarded`, appended to what earlier
//! proxies wrote so the chain stays readable. Downstream, only hop-by-hop headers are removed.

use std::net::{IpAddr, SocketAddr};

use bytes::{BufMut, BytesMut};
use http::header::{EXPECT, FORWARDED, HOST};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::headers::remove_hop_by_hop;

pub(crate) static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub(crate) static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub(crate) static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// What the gateway knows about the client side of the request.
#[derive(Debug, Clone)]
pub(crate) struct ClientSide {
    pub(crate) addr: Option<SocketAddr>,
    /// The client's address as far as the gateway can tell: the peer, or what a trusted
    /// proxy in front of the gateway says the client was.
    pub(crate) real_ip: Option<IpAddr>,
    /// `http` or `https`: how the client reached the gateway.
    pub(crate) proto: &'static str,
    /// The `Host` the client asked for.
    pub(crate) host: Option<HeaderValue>,
}

/// Rewrites the client's headers for the upstream.
pub(crate) fn request_headers(headers: &mut HeaderMap, client: &ClientSide, host: HeaderValue) {
    remove_hop_by_hop(headers);
    // The gateway has answered `Expect: 100-continue` itself; the body is sent regardless.
    headers.remove(EXPECT);
    headers.insert(HOST, host);

    // The client's own `X-Real-IP` is never believed: it is the address the gateway saw.
    match client.real_ip {
        Some(ip) => {
            if let Ok(v) = HeaderValue::from_str(&ip.to_string()) {
                headers.insert(X_REAL_IP.clone(), v);
            }
        }
        None => {
            headers.remove(&X_REAL_IP);
        }
    }
    if let Some(addr) = client.addr {
        append_list(headers, &X_FORWARDED_FOR, addr.ip().to_string().as_bytes());
    }
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(client.proto),
    );
    match &client.host {
        Some(h) => {
            headers.insert(X_FORWARDED_HOST.clone(), h.clone());
        }
        None => {
            headers.remove(&X_FORWARDED_HOST);
        }
    }
    append_list(headers, &FORWARDED, forwarded_element(client).as_bytes());
}

/// Cleans the upstream's headers for the client.
pub(crate) fn response_headers(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
}

/// Appends `item` to a comma-separated list header, folding repeated header lines into one.
fn append_list(headers: &mut HeaderMap, name: &HeaderName, item: &[u8]) {
    let mut value = BytesMut::new();
    for existing in headers.get_all(name) {
        value.put_slice(existing.as_bytes());
        value.put_slice(b", ");
    }
    value.put_slice(item);
    // Every part came from a valid header value or is ASCII built here.
    if let Ok(v) = HeaderValue::from_maybe_shared(value.freeze()) {
        headers.insert(name.clone(), v);
    }
}

/// One RFC 7239 element: `for=…;host=…;proto=…`.
fn forwarded_element(client: &ClientSide) -> String {
    let mut out = String::from("for=");
    match client.addr.map(|a| a.ip()) {
        Some(IpAddr::V4(ip)) => out.push_str(&ip.to_string()),
        Some(IpAddr::V6(ip)) => out.push_str(&format!("\"[{ip}]\"")),
        None => out.push_str("unknown"),
    }
    if let Some(host) = client.host.as_ref().and_then(|h| h.to_str().ok()) {
        out.push_str(";host=");
        push_token_or_quoted(&mut out, host);
    }
    out.push_str(";proto=");
    out.push_str(client.proto);
    out
}

/// RFC 7230 `token` characters; anything else (a `:port`, an IPv6 literal) is quoted.
fn push_token_or_quoted(out: &mut String, value: &str) {
    let token = !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if token {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(addr: &str, host: Option<&'static str>) -> ClientSide {
        ClientSide {
            addr: addr.parse().ok(),
            real_ip: addr.parse::<SocketAddr>().ok().map(|a| a.ip()),
            proto: "https",
            host: host.map(HeaderValue::from_static),
        }
    }

    #[test]
    fn forwarded_elements_quote_what_is_not_a_token() {
        assert_eq!(
            forwarded_element(&client("192.0.2.60:5000", Some("example.com"))),
            "for=192.0.2.60;host=example.com;proto=https"
        );
        assert_eq!(
            forwarded_element(&client("[2001:db8::1]:443", Some("example.com:8443"))),
            "for=\"[2001:db8::1]\";host=\"example.com:8443\";proto=https"
        );
        assert_eq!(
            forwarded_element(&client("", None)),
            "for=unknown;proto=https"
        );
    }

    #[test]
    fn request_headers_append_to_earlier_proxies_and_name_the_upstream() {
        let mut h = HeaderMap::new();
        h.append(&X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.1"));
        h.append(&X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.2"));
        h.append(FORWARDED, HeaderValue::from_static("for=203.0.113.2"));
        h.insert(HOST, HeaderValue::from_static("client.example"));
        h.insert(EXPECT, HeaderValue::from_static("100-continue"));
        h.insert(
            X_FORWARDED_PROTO.clone(),
            HeaderValue::from_static("gopher"),
        );
        h.insert("connection", HeaderValue::from_static("x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("x-real-ip", HeaderValue::from_static("10.9.9.9"));
        request_headers(
            &mut h,
            &client("198.51.100.7:1234", Some("client.example")),
            HeaderValue::from_static("upstream:8080"),
        );
        assert_eq!(h[HOST], "upstream:8080");
        assert_eq!(
            h[&X_FORWARDED_FOR],
            "203.0.113.1, 203.0.113.2, 198.51.100.7"
        );
        assert_eq!(h.get_all(&X_FORWARDED_FOR).iter().count(), 1);
        assert_eq!(h[&X_FORWARDED_PROTO], "https");
        assert_eq!(h[&X_FORWARDED_HOST], "client.example");
        assert_eq!(
            h[FORWARDED],
            "for=203.0.113.2, for=198.51.100.7;host=client.example;proto=https"
        );
        assert!(h.get(EXPECT).is_none());
        assert_eq!(h["x-real-ip"], "198.51.100.7");
        assert!(h.get("x-private").is_none());
        assert!(h.get("connection").is_none());
    }
}
