//! Header rules of the proxy: what the upstream learns about the client, and what the client
//! gets back.
//!
//! Upstream, the gateway is a reverse proxy: hop-by-hop headers stop here, `Host` names the
//! upstream (as if the client had called it), and the client's address, scheme and host travel
//! in `X-Forwarded-For`/`-Proto`/`-Host` and RFC 7239 `Forwarded`, appended to what earlier
//! proxies wrote so the chain stays readable. Downstream, only hop-by-hop headers are removed.

use std::io::Write as _;
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

    // The peer's address is written into three headers: as text once.
    let peer_ip = client.addr.map(|a| a.ip());
    let peer_text = peer_ip.map(IpText::new);
    // The client's own `X-Real-IP` is never believed: it is the address the gateway saw.
    match client.real_ip {
        Some(ip) => {
            let text = match &peer_text {
                Some(text) if peer_ip == Some(ip) => text.clone(),
                _ => IpText::new(ip),
            };
            if let Ok(v) = HeaderValue::from_bytes(text.as_bytes()) {
                headers.insert(X_REAL_IP.clone(), v);
            }
        }
        None => {
            headers.remove(&X_REAL_IP);
        }
    }
    if let Some(text) = &peer_text {
        append_list(headers, &X_FORWARDED_FOR, text.as_bytes());
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
    let element = forwarded_element(client, peer_text.as_ref());
    append_list(headers, &FORWARDED, element.as_bytes());
}

/// Cleans the upstream's headers for the client.
pub(crate) fn response_headers(headers: &mut HeaderMap) {
    remove_hop_by_hop(headers);
}

/// Appends `item` to a comma-separated list header, folding repeated header lines into one.
fn append_list(headers: &mut HeaderMap, name: &HeaderName, item: &[u8]) {
    let existing = headers.get_all(name);
    let len = existing.iter().map(|v| v.len() + 2).sum::<usize>() + item.len();
    let mut value = BytesMut::with_capacity(len);
    for v in existing {
        value.put_slice(v.as_bytes());
        value.put_slice(b", ");
    }
    value.put_slice(item);
    // Every part came from a valid header value or is ASCII built here.
    if let Ok(v) = HeaderValue::from_maybe_shared(value.freeze()) {
        headers.insert(name.clone(), v);
    }
}

/// One RFC 7239 element: `for=…;host=…;proto=…`; `peer` is the client's address as text.
fn forwarded_element(client: &ClientSide, peer: Option<&IpText>) -> String {
    let host = client.host.as_ref().and_then(|h| h.to_str().ok());
    let mut out = String::with_capacity(32 + host.map_or(0, str::len));
    out.push_str("for=");
    match (client.addr, peer) {
        (Some(SocketAddr::V4(_)), Some(ip)) => out.push_str(ip.as_str()),
        (Some(SocketAddr::V6(_)), Some(ip)) => {
            out.push_str("\"[");
            out.push_str(ip.as_str());
            out.push_str("]\"");
        }
        _ => out.push_str("unknown"),
    }
    if let Some(host) = host {
        out.push_str(";host=");
        push_token_or_quoted(&mut out, host);
    }
    out.push_str(";proto=");
    out.push_str(client.proto);
    out
}

/// An IP address as text, on the stack. IPv4 (nearly every peer) is written octet by octet:
/// through `Display`, the three addresses of a proxied request cost more instructions than
/// routing it.
#[derive(Clone)]
struct IpText {
    /// Long enough for the longest IPv6 text, `ffff:…:ffff:255.255.255.255`.
    buf: [u8; 45],
    len: usize,
}

impl IpText {
    fn new(ip: IpAddr) -> Self {
        let mut text = Self {
            buf: [0; 45],
            len: 0,
        };
        match ip {
            IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().into_iter().enumerate() {
                    if i > 0 {
                        text.push(b".");
                    }
                    text.push(itoa::Buffer::new().format(octet).as_bytes());
                }
            }
            IpAddr::V6(v6) => {
                let mut rest = &mut text.buf[..];
                // The buffer holds any IPv6 text, so the write cannot fail.
                let _ = write!(rest, "{v6}");
                text.len = 45 - rest.len();
            }
        }
        text
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits, dots, colons and hex letters are ever written.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }
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

    fn element(client: &ClientSide) -> String {
        forwarded_element(client, client.addr.map(|a| IpText::new(a.ip())).as_ref())
    }

    #[test]
    fn ip_text_is_what_display_writes() {
        for ip in [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.100.9",
            "192.0.2.60",
            "::",
            "::1",
            "2001:db8::1",
            "::ffff:192.0.2.1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "1:2:3:4:5:6:7:8",
        ] {
            let ip: IpAddr = ip.parse().expect("a valid address");
            assert_eq!(IpText::new(ip).as_str(), ip.to_string());
        }
        for a in 0..=255u8 {
            let ip = IpAddr::from([a, 255 - a, a / 3, a % 10]);
            assert_eq!(IpText::new(ip).as_str(), ip.to_string());
        }
    }

    #[test]
    fn x_real_ip_names_the_client_a_trusted_proxy_reported() {
        let mut h = HeaderMap::new();
        let mut side = client("10.0.0.2:1234", None);
        side.real_ip = "203.0.113.9".parse().ok();
        request_headers(&mut h, &side, HeaderValue::from_static("upstream"));
        assert_eq!(h["x-real-ip"], "203.0.113.9");
        assert_eq!(h[&X_FORWARDED_FOR], "10.0.0.2");
        assert_eq!(h[FORWARDED], "for=10.0.0.2;proto=https");
    }

    proptest::proptest! {
        #[test]
        fn ip_text_agrees_with_display(v4: [u8; 4], v6: u128) {
            for ip in [IpAddr::from(v4), IpAddr::from(v6.to_be_bytes())] {
                let text = IpText::new(ip);
                proptest::prop_assert_eq!(text.as_str(), ip.to_string());
            }
        }
    }

    #[test]
    fn forwarded_elements_quote_what_is_not_a_token() {
        assert_eq!(
            element(&client("192.0.2.60:5000", Some("example.com"))),
            "for=192.0.2.60;host=example.com;proto=https"
        );
        assert_eq!(
            element(&client("[2001:db8::1]:443", Some("example.com:8443"))),
            "for=\"[2001:db8::1]\";host=\"example.com:8443\";proto=https"
        );
        assert_eq!(element(&client("", None)), "for=unknown;proto=https");
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
