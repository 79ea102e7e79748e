//! Checks of single string fields whose syntax OCI documents: back-end URLs, header names and
//! values, CORS origins, dynamic-routing wildcard expressions, mTLS SAN patterns, media ranges.
//!
//! Each check pushes its own diagnostics at the field's path, so decoders call them in one line.

use crate::diagnostics::{Diagnostics, Kind};

/// Which context variable an HTTP back end's URL may put in its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostVar<'a> {
    /// None: a route's own back end.
    Forbidden,
    /// Only the selector's variable: a branch of a dynamic routing back end.
    Selector(&'a str),
    /// Not checked: the branch's selector itself failed to load.
    Unknown,
}

/// Byte ranges of the `${…}` spans in `text` (an unterminated one runs to the end). Used to see
/// *where* in a URL a variable sits; the variable syntax itself is checked by `crate::vars`.
pub(crate) fn var_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(start) = text[from..].find("${").map(|i| i + from) {
        let end = text[start..]
            .find('}')
            .map_or(text.len(), |i| start + i + 1);
        spans.push((start, end));
        from = end;
    }
    spans
}

/// An HTTP back end `url` (reference 3.1): `http` or `https`, a host, an optional numeric port;
/// context variables only in the path — or, inside a dynamic routing back end, the selector's
/// own variable in the host.
///
/// Host characters are not checked further: real specs carry placeholders such as
/// `http://<backend-ip>/index.html` that are filled in before deployment.
pub(crate) fn check_http_url(d: &mut Diagnostics, path: &str, url: &str, host_var: HostVar<'_>) {
    if url.chars().any(char::is_whitespace) {
        d.error(path, "the URL contains whitespace")
            .hint("percent-encode spaces as %20");
        return;
    }
    let Some((scheme, _)) = url.split_once("://") else {
        d.error(path, format!("\"{url}\" is not an absolute URL"))
            .hint("write it as http://host/path or https://host/path");
        return;
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        d.error(path, format!("unsupported URL scheme \"{scheme}\""))
            .hint("an HTTP back end URL starts with http:// or https://");
        return;
    }
    let offset = scheme.len() + 3;
    // Mask variables so a `/`, `?` or `:` inside `${…}` does not split the URL.
    let spans = var_spans(url);
    let mut masked = String::with_capacity(url.len());
    for (i, c) in url.char_indices() {
        if spans.iter().any(|&(s, e)| i >= s && i < e) {
            // Same byte length, so offsets in `masked` are offsets in `url`.
            masked.extend(std::iter::repeat_n('x', c.len_utf8()));
        } else {
            masked.push(c);
        }
    }
    let authority_end = masked[offset..]
        .find(['/', '?', '#'])
        .map_or(masked.len(), |i| i + offset);
    let query_start = masked.find(['?', '#']).unwrap_or(masked.len());
    let authority = &masked[offset..authority_end];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = split_port(host_port);
    if host.is_empty() {
        d.error(path, "the URL has no host")
            .hint("write it as https://host/path");
    }
    if let Some(port) = port {
        if port.parse::<u16>().is_err() {
            d.error(path, format!("invalid port \"{port}\" in the URL"));
        }
    }
    for &(start, end) in &spans {
        let var = &url[start..end];
        if start < authority_end {
            let inner = var.trim_start_matches("${").trim_end_matches('}').trim();
            match host_var {
                HostVar::Forbidden => {
                    d.error(
                        path,
                        format!("the context variable {var} may not be part of the URL's host"),
                    )
                    .hint("only an HTTP back end inside a DYNAMIC_ROUTING_BACKEND may put its selector's variable in the host");
                }
                HostVar::Selector(sel) if inner != sel => {
                    d.error(
                        path,
                        format!("only the selector's variable ${{{sel}}} may appear in the host, found {var}"),
                    );
                }
                HostVar::Selector(_) | HostVar::Unknown => {}
            }
        } else if start >= query_start {
            d.error(
                path,
                format!("the context variable {var} is in the URL's query; variables may only be path segments"),
            )
            .hint("send the value as a query parameter with queryParameterTransformations");
        }
    }
    let path_part = &masked[authority_end..query_start];
    if let Some(param) = path_part
        .split('/')
        .find(|seg| seg.starts_with('{') && seg.ends_with('}'))
    {
        let name = param.trim_matches(['{', '}', '*']);
        d.error(
            path,
            format!("{param} is route-path syntax; a back-end URL does not substitute it"),
        )
        .hint(format!("use ${{request.path[{name}]}}"));
    }
}

/// Splits `host:port`, keeping IPv6 literals (`[::1]:8080`) intact.
fn split_port(host_port: &str) -> (&str, Option<&str>) {
    if host_port.starts_with('[') {
        return match host_port.find(']') {
            Some(i) => {
                let (host, rest) = host_port.split_at(i + 1);
                (host, rest.strip_prefix(':'))
            }
            None => (host_port, None),
        };
    }
    match host_port.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    }
}

/// A header name usable on the wire (RFC 9110 token).
pub(crate) fn check_header_name(d: &mut Diagnostics, path: &str, name: &str) -> bool {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        d.error(path, format!("invalid header name \"{name}\""))
            .hint("a header name is a non-empty token: letters, digits and !#$%&'*+-.^_`|~");
        return false;
    }
    true
}

/// A header value usable on the wire: no control characters (CR, LF, NUL …).
pub(crate) fn check_header_value(d: &mut Diagnostics, path: &str, value: &str) {
    if http::HeaderValue::from_bytes(value.as_bytes()).is_err() {
        d.error(path, "invalid header value")
            .hint("header values may not contain control characters such as CR or LF");
    }
}

/// A CORS `allowedOrigins` entry (reference 4.3): `*`, `null`, or `scheme://host[:port]`.
pub(crate) fn check_cors_origin(d: &mut Diagnostics, path: &str, origin: &str) {
    if origin == "*" || origin == "null" {
        return;
    }
    let ok = origin.split_once("://").is_some_and(|(scheme, rest)| {
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        let (host, port) = split_port(rest);
        scheme_ok
            && !host.is_empty()
            && !host.contains(['/', '?', '#', '*', '@'])
            && !host.chars().any(char::is_whitespace)
            && port.is_none_or(|p| p.parse::<u16>().is_ok())
    });
    if !ok {
        let hint = if origin.ends_with('/') && origin.contains("://") {
            format!(
                "an origin has no path or trailing slash: {}",
                origin.trim_end_matches('/')
            )
        } else {
            "an origin is *, null, or scheme://host[:port], e.g. https://app.example.com".to_owned()
        };
        d.error(path, format!("invalid CORS origin \"{origin}\""))
            .hint(hint);
    }
}

/// A CORS `allowedMethods` entry: `*` or a method token; a lower-case standard method is
/// reported because methods are case-sensitive and it would never match a browser's request.
pub(crate) fn check_cors_method(d: &mut Diagnostics, path: &str, method: &str) {
    if method == "*" {
        return;
    }
    if http::Method::from_bytes(method.as_bytes()).is_err() {
        d.error(path, format!("invalid HTTP method \"{method}\""));
        return;
    }
    let upper = method.to_ascii_uppercase();
    let standard = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
    ];
    if upper != method && standard.contains(&upper.as_str()) {
        d.warning(
            Kind::Invalid,
            path,
            format!("\"{method}\" does not match {upper}: HTTP methods are case-sensitive"),
        )
        .hint(format!("write {upper}"));
    }
}

/// A CORS header list entry: `*` or a header name.
pub(crate) fn check_cors_header(d: &mut Diagnostics, path: &str, name: &str) {
    if name != "*" {
        check_header_name(d, path, name);
    }
}

/// A `WILDCARD` selection key expression (reference 3.4): exactly one `*` (zero or more
/// characters) or `+` (one or more), at the start or the end.
pub(crate) fn check_wildcard_expression(d: &mut Diagnostics, path: &str, expression: &str) {
    let wildcards: Vec<usize> = expression
        .char_indices()
        .filter(|(_, c)| matches!(c, '*' | '+'))
        .map(|(i, _)| i)
        .collect();
    let hint = "write one * or + at the start or the end, e.g. truck* or +.example.com";
    match wildcards.as_slice() {
        [] => {
            d.error(path, format!("\"{expression}\" has no wildcard"))
                .hint(
                    "use an ANY_OF key for exact values, or add one * or + at the start or the end",
                );
        }
        [i] if *i == 0 || *i == expression.len() - 1 => {}
        [_] => {
            d.error(
                path,
                format!("the wildcard in \"{expression}\" must be at the start or the end"),
            )
            .hint(hint);
        }
        _ => {
            d.error(
                path,
                format!("\"{expression}\" has more than one wildcard; exactly one is allowed"),
            )
            .hint(hint);
        }
    }
}

/// An mTLS `allowedSans` entry (reference 4.6): `*` only at the start and/or the end.
pub(crate) fn check_san(d: &mut Diagnostics, path: &str, san: &str) {
    if san.is_empty() {
        d.error(path, "must not be empty");
        return;
    }
    let inner = san.strip_prefix('*').unwrap_or(san);
    let inner = inner.strip_suffix('*').unwrap_or(inner);
    if inner.contains('*') {
        d.error(
            path,
            format!("\"{san}\": * is allowed only at the start or the end"),
        )
        .hint("e.g. *.example.com or server.example.*");
    }
}

/// A body-validation `content` key (reference 4.8): `*/*`, `type/*` or `type/subtype`.
pub(crate) fn check_media_range(d: &mut Diagnostics, path: &str, range: &str) {
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    let ok = match range.split_once('/') {
        Some(("*", "*")) => true,
        Some(("*", _)) => false,
        Some((t, "*")) => token(t) && !t.contains('*'),
        Some((t, s)) => token(t) && token(s) && !t.contains('*') && !s.contains('*'),
        None => false,
    };
    if !ok {
        d.error(path, format!("invalid media range \"{range}\""))
            .hint("write */*, type/* or type/subtype, e.g. application/json");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(f: impl FnOnce(&mut Diagnostics)) -> Vec<String> {
        let mut d = Diagnostics::new();
        f(&mut d);
        d.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn urls() {
        let ok = |u: &str| run(|d| check_http_url(d, "u", u, HostVar::Forbidden));
        assert!(ok("https://api.example.gov/${request.path[region]}/x").is_empty());
        assert!(ok("http://<backend-ip>/index.html").is_empty());
        assert!(ok("http://[::1]:8080/a").is_empty());
        assert!(ok("https://api.weather.gov").is_empty());
        assert_eq!(
            ok("ftp://x/y"),
            ["error: u: unsupported URL scheme \"ftp\" (hint: an HTTP back end URL starts with http:// or https://)"]
        );
        assert_eq!(
            ok("https:///path"),
            ["error: u: the URL has no host (hint: write it as https://host/path)"]
        );
        assert_eq!(
            ok("https://h/a?x=${request.query[x]}"),
            ["error: u: the context variable ${request.query[x]} is in the URL's query; variables may only be path segments (hint: send the value as a query parameter with queryParameterTransformations)"]
        );
        assert_eq!(
            ok("https://h/{id}"),
            ["error: u: {id} is route-path syntax; a back-end URL does not substitute it (hint: use ${request.path[id]})"]
        );
        assert_eq!(ok("https://h:99999/").len(), 1);
        assert_eq!(ok("https://${request.subdomain[a.com]}.x.com/").len(), 1);
        let sel = "request.subdomain[a.com]";
        assert!(run(|d| check_http_url(
            d,
            "u",
            "https://${request.subdomain[a.com]}-api.x.com/",
            HostVar::Selector(sel)
        ))
        .is_empty());
        assert_eq!(
            run(|d| check_http_url(d, "u", "https://${request.host}/", HostVar::Selector(sel))),
            ["error: u: only the selector's variable ${request.subdomain[a.com]} may appear in the host, found ${request.host}"]
        );
    }

    #[test]
    fn origins_and_wildcards() {
        let origin = |o: &str| run(|d| check_cors_origin(d, "o", o)).len();
        assert_eq!(origin("*"), 0);
        assert_eq!(origin("null"), 0);
        assert_eq!(origin("https://app.example.com"), 0);
        assert_eq!(origin("http://localhost:3000"), 0);
        assert_eq!(origin("https://app.example.com/"), 1);
        assert_eq!(origin("app.example.com"), 1);
        assert_eq!(origin("https://a.com/path"), 1);
        let wild = |e: &str| run(|d| check_wildcard_expression(d, "w", e)).len();
        assert_eq!(wild("truck*"), 0);
        assert_eq!(wild("+.example.com"), 0);
        assert_eq!(wild("*"), 0);
        assert_eq!(wild("tr*ck"), 1);
        assert_eq!(wild("*truck*"), 1);
        assert_eq!(wild("truck"), 1);
        let san = |s: &str| run(|d| check_san(d, "s", s)).len();
        assert_eq!(san("*.example.com"), 0);
        assert_eq!(san("server.example.*"), 0);
        assert_eq!(san("a.*.com"), 1);
        let media = |m: &str| run(|d| check_media_range(d, "m", m)).len();
        assert_eq!(media("*/*"), 0);
        assert_eq!(media("text/*"), 0);
        assert_eq!(media("application/json"), 0);
        assert_eq!(media("*/json"), 1);
        assert_eq!(media("json"), 1);
    }

    #[test]
    fn headers_and_methods() {
        assert_eq!(
            run(|d| {
                check_header_name(d, "h", "X-Ok");
            })
            .len(),
            0
        );
        assert_eq!(
            run(|d| {
                check_header_name(d, "h", "X Bad");
            })
            .len(),
            1
        );
        assert_eq!(run(|d| check_header_value(d, "h", "a\r\nb")).len(), 1);
        assert_eq!(run(|d| check_header_value(d, "h", "San José")).len(), 0);
        assert_eq!(run(|d| check_cors_method(d, "m", "GET")).len(), 0);
        assert_eq!(
            run(|d| check_cors_method(d, "m", "get")),
            ["warning: m: \"get\" does not match GET: HTTP methods are case-sensitive (hint: write GET)"]
        );
        assert_eq!(run(|d| check_cors_method(d, "m", "G T")).len(), 1);
    }
}
