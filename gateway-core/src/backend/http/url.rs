//! The upstream URL of an HTTP backend: parsed once, rendered per request.
//!
//! OCI calls the configured URL with its `${…}` context variables substituted, and does not
//! append the client's path (reference 3.1). Variables may only be path segments; inside a
//! dynamic routing back end, the host may also hold the selector's variable. The client's
//! query string (after query transformations) is appended to the configured one.
//!
//! Values are substituted as received, keeping their percent-encoding (OCI never decodes
//! them). Bytes that cannot appear in a URL path at all — spaces, non-ASCII, `?`, `#` and the
//! like, which a header value may hold — are percent-encoded, so a value can never end the
//! path early or inject a query. A value stays inside the segment it stands for: `/` and `\`
//! are encoded (except in `request.path` values: a `{p*}` parameter spans segments, and the
//! router has refused unsafe ones), and a value that is, or decodes to, a `.` or `..` segment
//! (also servlet-style `..;x`) is refused with 400, since an upstream would resolve it and
//! climb out of the configured path. A value in the host must be a plain host label, or the
//! request fails with `httpBackend.urlInvalid`: a host is where a request goes, and a value
//! such as `evil.example/` must not be able to send it somewhere else.

use std::borrow::Cow;

use bytes::Bytes;
use http::uri::{self, Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Uri};
use percent_encoding::{percent_decode_str, utf8_percent_encode};

use super::error::HttpBackendError;
use crate::percent::{PATH, PATH_SEGMENT};
use crate::vars::{Part, Selector, Table, TableSet, Template, VarRef, VarSource};

/// Where an HTTP backend sits, which decides whether its host may hold a variable.
#[derive(Debug, Clone, Copy)]
pub enum HostRule<'a> {
    /// A route's own backend: the host is literal.
    Literal,
    /// A branch of a dynamic routing backend: the host may hold this selector's variable.
    Selector(&'a Selector),
}

/// A URL that cannot be compiled, with an optional hint for the diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UrlError {
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
}

impl UrlError {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: &str) -> Self {
        self.hint = Some(hint.to_owned());
        self
    }
}

/// The compiled URL.
#[derive(Debug, Clone)]
pub(crate) struct UrlTemplate {
    scheme: Scheme,
    /// `host[:port]`, possibly with the selector's variable; userinfo is dropped.
    authority: Vec<Part>,
    /// From the first `/` on; empty means `/`.
    path: Vec<Part>,
    /// The configured query, without `?`; literal.
    query: Option<Box<str>>,
    /// The authority and `Host` parsed once when the host is literal and valid (every route's
    /// own backend that can be called at all).
    literal_host: Option<(Authority, HeaderValue)>,
    /// The whole URL, with the configured query, when neither host nor path holds a variable:
    /// what is called when the client sends no query.
    fixed_uri: Option<Uri>,
}

/// One rendered URL and the `Host` header that goes with it.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) uri: Uri,
    pub(crate) host: HeaderValue,
}

impl UrlTemplate {
    /// Parses `url`. Errors are structural (not `http`/`https`, a variable in the query or,
    /// for [`HostRule::Literal`], in the host); a URL that merely cannot be called as written
    /// (a placeholder host such as `<backend-ip>`) compiles and fails per request, as the spec
    /// loader accepts such placeholders.
    pub(crate) fn parse(url: &str, host_rule: HostRule<'_>) -> Result<Self, UrlError> {
        let template = Template::parse(url, TableSet::REQUEST).map_err(|e| UrlError {
            message: e.to_string(),
            hint: e.hint,
        })?;
        let mut parts = template.parts().iter();
        let (scheme, rest) = match parts.next() {
            Some(Part::Literal(text)) => split_scheme(text)?,
            _ => return Err(not_absolute(url)),
        };
        let mut section = Section::Authority;
        let mut url = UrlTemplate {
            scheme,
            authority: Vec::new(),
            path: Vec::new(),
            query: None,
            literal_host: None,
            fixed_uri: None,
        };
        let mut query = String::new();
        url.literal(&mut section, rest, &mut query);
        for part in parts {
            match part {
                Part::Literal(text) => url.literal(&mut section, text, &mut query),
                Part::Var(var) => match section {
                    Section::Authority => {
                        check_host_var(var, host_rule)?;
                        url.authority.push(Part::Var(var.clone()));
                    }
                    Section::Path => url.path.push(Part::Var(var.clone())),
                    Section::Query | Section::Fragment => {
                        return Err(UrlError::new(format!(
                            "the context variable ${{{var}}} is in the URL's query; variables may only be path segments"
                        ))
                        .hint("send the value as a query parameter with queryParameterTransformations"))
                    }
                },
            }
        }
        if literal_only(&url.authority) == Some("") {
            return Err(UrlError::new("the URL has no host").hint("write it as https://host/path"));
        }
        url.query = (!query.is_empty()).then(|| query.into());
        url.literal_host = literal_only(&url.authority).and_then(|authority| {
            Some((
                Authority::try_from(authority).ok()?,
                host_header(authority)?,
            ))
        });
        url.fixed_uri = url.precompute();
        Ok(url)
    }

    /// The scheme and authority every request goes to, when the host is literal and valid.
    pub(crate) fn literal_origin(&self) -> Option<(&Scheme, &Authority)> {
        let (authority, _) = self.literal_host.as_ref()?;
        Some((&self.scheme, authority))
    }

    /// The URL's variables, for compile-time checks.
    pub(crate) fn vars(&self) -> impl Iterator<Item = &VarRef> {
        self.authority
            .iter()
            .chain(&self.path)
            .filter_map(|part| match part {
                Part::Var(v) => Some(v),
                Part::Literal(_) => None,
            })
    }

    /// Appends literal text to the section it belongs to, moving on at `/`, `?` and `#`.
    fn literal(&mut self, section: &mut Section, text: &str, query: &mut String) {
        let mut rest = text;
        loop {
            let stops: &[char] = match section {
                Section::Authority => &['/', '?', '#'],
                Section::Path => &['?', '#'],
                Section::Query => &['#'],
                Section::Fragment => return,
            };
            let (here, after) = rest.split_at(rest.find(stops).unwrap_or(rest.len()));
            match section {
                Section::Authority => push_literal(&mut self.authority, here),
                Section::Path => push_literal(&mut self.path, here),
                Section::Query => query.push_str(here),
                Section::Fragment => {}
            }
            match after.chars().next() {
                // The `/` is the path's first character.
                Some('/') => {
                    *section = Section::Path;
                    rest = after;
                }
                Some('?') => {
                    *section = Section::Query;
                    rest = &after[1..];
                }
                // A fragment is never sent.
                Some(_) => *section = Section::Fragment,
                None => return,
            }
        }
    }

    fn precompute(&self) -> Option<Uri> {
        let (authority, _) = self.literal_host.as_ref()?;
        let path = literal_only(&self.path)?;
        let mut url = format!("{}://{}{}", self.scheme, authority, or_root(path));
        push_query(&mut url, self.query.as_deref(), None);
        url.parse().ok()
    }

    /// The URL for one request: variables from `vars`, the client's query `client_query`
    /// appended to the configured one.
    pub(crate) fn render(
        &self,
        vars: &(impl VarSource + ?Sized),
        client_query: Option<&str>,
    ) -> Result<Target, HttpBackendError> {
        let client_query = client_query.filter(|q| !q.is_empty());
        if let (Some(uri), Some((_, host)), None) =
            (&self.fixed_uri, &self.literal_host, client_query)
        {
            return Ok(Target {
                uri: uri.clone(),
                host: host.clone(),
            });
        }
        let (authority, host) = match &self.literal_host {
            Some((authority, host)) => (authority.clone(), host.clone()),
            None => self.render_authority(vars)?,
        };
        let extra = self.query.as_deref().map_or(0, str::len) + client_query.map_or(0, str::len);
        let mut path = String::with_capacity(64 + extra);
        for part in &self.path {
            match part {
                Part::Literal(text) => path.push_str(text),
                Part::Var(var) => {
                    push_path_value(&mut path, var, var.value(vars).unwrap_or_default())?;
                }
            }
        }
        if path.is_empty() {
            path.push('/');
        }
        push_query(&mut path, self.query.as_deref(), client_query);
        // A clone of the text shares it; the error names the whole URL.
        let path = Bytes::from(path);
        let invalid = |e: &dyn std::fmt::Display| {
            let path = String::from_utf8_lossy(&path);
            HttpBackendError::UrlInvalid(format!("\"{}://{authority}{path}\": {e}", self.scheme))
        };
        let mut parts = uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.path_and_query =
            Some(PathAndQuery::from_maybe_shared(path.clone()).map_err(|e| invalid(&e))?);
        parts.authority = Some(authority.clone());
        let uri = Uri::from_parts(parts).map_err(|e| invalid(&e))?;
        Ok(Target { uri, host })
    }

    /// The host part with the selector's variable substituted.
    fn render_authority(
        &self,
        vars: &(impl VarSource + ?Sized),
    ) -> Result<(Authority, HeaderValue), HttpBackendError> {
        let mut authority = String::new();
        for part in &self.authority {
            match part {
                Part::Literal(text) => authority.push_str(text),
                Part::Var(var) => {
                    let value = var.value(vars).unwrap_or_default();
                    if value.is_empty() || !value.bytes().all(is_host_byte) {
                        return Err(HttpBackendError::UrlInvalid(format!(
                            "${{{var}}} = {value:?} cannot be part of a host name"
                        )));
                    }
                    authority.push_str(value);
                }
            }
        }
        let invalid = || HttpBackendError::UrlInvalid(format!("{authority:?} is not a valid host"));
        let host = host_header(&authority).ok_or_else(invalid)?;
        let parsed = Authority::try_from(authority.as_str()).map_err(|_| invalid())?;
        Ok((parsed, host))
    }
}

/// The parts of a URL, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Authority,
    Path,
    Query,
    Fragment,
}

fn not_absolute(url: &str) -> UrlError {
    UrlError::new(format!("\"{url}\" is not an absolute http or https URL"))
        .hint("write it as http://host/path or https://host/path")
}

/// `http://rest` → (`http`, `rest`), the scheme case-insensitively.
fn split_scheme(text: &str) -> Result<(Scheme, &str), UrlError> {
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(not_absolute(text));
    };
    let scheme = if scheme.eq_ignore_ascii_case("http") {
        Scheme::HTTP
    } else if scheme.eq_ignore_ascii_case("https") {
        Scheme::HTTPS
    } else {
        return Err(
            UrlError::new(format!("unsupported URL scheme \"{scheme}\""))
                .hint("an HTTP back end URL starts with http:// or https://"),
        );
    };
    Ok((scheme, rest))
}

fn check_host_var(var: &VarRef, rule: HostRule<'_>) -> Result<(), UrlError> {
    match rule {
        HostRule::Selector(selector) if selector.var() == var => Ok(()),
        HostRule::Selector(selector) => Err(UrlError::new(format!(
            "only the selector's variable ${{{selector}}} may appear in the host, found ${{{var}}}"
        ))),
        HostRule::Literal => Err(UrlError::new(format!(
            "the context variable ${{{var}}} may not be part of the URL's host"
        ))
        .hint("only an HTTP back end inside a DYNAMIC_ROUTING_BACKEND may put its selector's variable in the host")),
    }
}

fn push_literal(parts: &mut Vec<Part>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Part::Literal(last)) = parts.last_mut() {
        *last = format!("{last}{text}").into();
    } else {
        parts.push(Part::Literal(text.into()));
    }
}

fn literal_only(parts: &[Part]) -> Option<&str> {
    match parts {
        [] => Some(""),
        [Part::Literal(text)] => Some(text),
        _ => None,
    }
}

fn or_root(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// The `Host` header for an authority: as written, without userinfo.
fn host_header(authority: &str) -> Option<HeaderValue> {
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        return None;
    }
    HeaderValue::from_str(host).ok()
}

/// Appends the configured query and the client's, joined by `&`.
fn push_query(out: &mut String, configured: Option<&str>, client: Option<&str>) {
    let mut separator = '?';
    for query in [configured, client].into_iter().flatten() {
        out.push(separator);
        out.push_str(query);
        separator = '&';
    }
}

/// Characters of a host name (and IPv4 literal) a substituted value may contribute.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'
}

/// Appends a substituted value to a path, percent-encoding what a path cannot hold and what
/// would take the value out of its segment; a value that would climb the path is an error.
fn push_path_value(out: &mut String, var: &VarRef, value: &str) -> Result<(), HttpBackendError> {
    if has_dot_segment(value) {
        return Err(HttpBackendError::UnsafePathValue(format!(
            "${{{var}}} = {value:?} holds a `.` or `..` path segment"
        )));
    }
    // A path parameter may span segments (`{rest*}`); any other value stays in its own.
    let set = if var.table == Table::Path {
        PATH
    } else {
        PATH_SEGMENT
    };
    out.extend(utf8_percent_encode(value, set));
    Ok(())
}

/// Whether `value`, as written or percent-decoded, has a segment an upstream reads as `.` or
/// `..`: split at `/` and `\`, and with servlet path parameters (`..;jsessionid=x`) ignored.
fn has_dot_segment(value: &str) -> bool {
    let decoded: Cow<'_, [u8]> = percent_decode_str(value).into();
    decoded
        .split(|b| *b == b'/' || *b == b'\\')
        .map(|segment| segment.split(|b| *b == b';').next().unwrap_or_default())
        .any(|name| name == b"." || name == b"..")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Refusal;

    struct Vars(Vec<(&'static str, &'static str)>);

    impl VarSource for Vars {
        fn path_param(&self, name: &str) -> Option<&str> {
            self.get(&format!("path:{name}"))
        }
        fn query_param(&self, name: &str) -> Option<&str> {
            self.get(&format!("query:{name}"))
        }
        fn header(&self, name: &str) -> Option<&str> {
            self.get(&format!("header:{}", name.to_ascii_lowercase()))
        }
        fn auth(&self, _key: &str) -> Option<&str> {
            None
        }
        fn host(&self) -> Option<&str> {
            self.get("host")
        }
        fn cert(&self, _key: &str) -> Option<&str> {
            None
        }
        fn usage_plan(&self, _key: &str) -> Option<&str> {
            None
        }
    }

    impl Vars {
        fn get(&self, key: &str) -> Option<&'static str> {
            self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
        }
    }

    fn render(url: &str, vars: Vars, query: Option<&str>) -> Result<(String, String), String> {
        let t = UrlTemplate::parse(url, HostRule::Literal).map_err(|e| e.message)?;
        let target = t.render(&vars, query).map_err(|e| e.to_string())?;
        Ok((
            target.uri.to_string(),
            target.host.to_str().unwrap_or("?").to_owned(),
        ))
    }

    #[test]
    fn literal_urls_are_called_as_written_with_the_client_query_appended() {
        let none = || Vars(vec![]);
        assert_eq!(
            render("https://api.example.com", none(), None),
            Ok(("https://api.example.com/".into(), "api.example.com".into()))
        );
        assert_eq!(
            render("http://h:8080/base/x?fixed=1#frag", none(), Some("a=1&b=2")),
            Ok((
                "http://h:8080/base/x?fixed=1&a=1&b=2".into(),
                "h:8080".into()
            ))
        );
        assert_eq!(
            render("http://h/p", none(), Some("")).map(|r| r.0),
            Ok("http://h/p".into())
        );
        assert_eq!(
            render("HTTP://user:pw@h/p", none(), None).map(|r| r.1),
            Ok("h".into())
        );
    }

    #[test]
    fn variables_fill_path_segments_keeping_their_encoding() {
        let vars = Vars(vec![
            ("path:region", "west%20coast"),
            ("query:state", "San+Jos%C3%A9"),
            ("header:x-seg", "a b?c#d/é"),
        ]);
        assert_eq!(
            render(
                "https://api.example.gov/${request.path[region]}/${request.query[state]}/${request.headers[X-Seg]}/${request.path[missing]}",
                vars,
                Some("q=1")
            )
            .map(|r| r.0),
            Ok("https://api.example.gov/west%20coast/San+Jos%C3%A9/a%20b%3Fc%23d%2F%C3%A9/?q=1".into())
        );
    }

    #[test]
    fn an_encoded_value_decodes_to_what_was_substituted() {
        let url = "http://up/v/${request.headers[x-v]}/end";
        for value in ["a b\"<>{|}^`[]\\/?#x", "ü€ tab\t;=:@!$&'()*+,", "plain-._~"] {
            let (uri, _) = render(url, Vars(vec![("header:x-v", value)]), None).expect(value);
            let segment = uri
                .strip_prefix("http://up/v/")
                .and_then(|rest| rest.strip_suffix("/end"))
                .expect(&uri);
            assert!(!segment.contains(['/', '?', '#', ' ']), "{segment}");
            assert_eq!(percent_decode_str(segment).decode_utf8_lossy(), value);
        }
    }

    #[test]
    fn values_stay_inside_their_segment() {
        let url = "http://up/public/${request.query[q]}/end";
        let with = |q: &'static str| render(url, Vars(vec![("query:q", q)]), None).map(|r| r.0);
        assert_eq!(with("a/b\\c"), Ok("http://up/public/a%2Fb%5Cc/end".into()));
        assert_eq!(with("x?y#z"), Ok("http://up/public/x%3Fy%23z/end".into()));
        assert_eq!(with("...").as_deref(), Ok("http://up/public/.../end"));
        assert_eq!(with("a..b").as_deref(), Ok("http://up/public/a..b/end"));
        for attack in [
            "..",
            ".",
            "../admin/secret",
            "%2e%2e",
            "%2E%2e/admin",
            "..%2Fadmin",
            "a/../../admin",
            "..\\admin",
            "..;/admin",
            "%2e%2e;x",
            ".;",
        ] {
            let err = with(attack).expect_err(attack);
            assert!(err.contains("path segment"), "{attack}: {err}");
        }
        let t = UrlTemplate::parse(url, HostRule::Literal).expect("url");
        let err = t
            .render(&Vars(vec![("query:q", "..")]), None)
            .expect_err("refused");
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn path_parameters_may_span_segments_but_not_climb() {
        let url = "http://up/files/${request.path[rest]}";
        let with = |v: &'static str| render(url, Vars(vec![("path:rest", v)]), None).map(|r| r.0);
        assert_eq!(with("a/b/c").as_deref(), Ok("http://up/files/a/b/c"));
        assert!(with("a/../b").is_err());
        assert!(with("a/..;x/b").is_err());
    }

    #[test]
    fn structural_errors_are_refused_at_compile() {
        let err = |url: &str| {
            UrlTemplate::parse(url, HostRule::Literal)
                .err()
                .map(|e| e.message)
        };
        assert!(err("ftp://h/x").is_some_and(|m| m.contains("unsupported URL scheme")));
        assert!(err("/relative").is_some_and(|m| m.contains("not an absolute")));
        assert!(err("${request.host}/x").is_some_and(|m| m.contains("not an absolute")));
        assert!(err("https://h/a?x=${request.query[x]}").is_some_and(|m| m.contains("query")));
        assert!(err("https://${request.host}/a").is_some_and(|m| m.contains("host")));
        assert!(err("https:///a").is_some_and(|m| m.contains("no host")));
        assert!(err("https://h/${request.nope[x]}").is_some());
    }

    #[test]
    fn a_placeholder_host_compiles_and_fails_per_request() {
        let t = UrlTemplate::parse("http://<backend-ip>/index.html", HostRule::Literal);
        let t = t.expect("compiles");
        let e = t.render(&Vars(vec![]), None).err();
        assert!(matches!(e, Some(HttpBackendError::UrlInvalid(_))));
    }

    #[test]
    fn the_selector_variable_may_form_the_host_of_a_routing_branch() {
        let sel = Selector::parse("request.subdomain[example.com]", TableSet::SELECTOR)
            .expect("selector");
        let t = UrlTemplate::parse(
            "http://${request.subdomain[example.com]}-api.internal:81/v1",
            HostRule::Selector(&sel),
        )
        .expect("compiles");
        let render = |host: &'static str| {
            let vars = if host.is_empty() {
                vec![]
            } else {
                vec![("host", host)]
            };
            t.render(&Vars(vars), None)
                .map(|t| (t.uri.to_string(), t.host.to_str().unwrap_or("?").to_owned()))
        };
        let cars = render("cars.example.com").map_err(|e| e.to_string());
        assert_eq!(
            cars,
            Ok((
                "http://cars-api.internal:81/v1".into(),
                "cars-api.internal:81".into()
            ))
        );
        assert!(render("").is_err(), "no subdomain, no host");
        let other = Selector::parse("request.host", TableSet::SELECTOR).expect("selector");
        assert!(UrlTemplate::parse(
            "http://${request.subdomain[example.com]}.x/",
            HostRule::Selector(&other)
        )
        .is_err());
    }

    #[test]
    fn host_values_cannot_redirect_the_request() {
        let sel = Selector::parse("request.headers[x-tenant]", TableSet::SELECTOR).expect("sel");
        let t = UrlTemplate::parse(
            "http://${request.headers[x-tenant]}.svc/",
            HostRule::Selector(&sel),
        )
        .expect("compiles");
        for evil in ["evil.example/", "evil.example?", "a@b", "h:1", "a b"] {
            let vars = Vars(vec![("header:x-tenant", evil)]);
            assert!(
                matches!(t.render(&vars, None), Err(HttpBackendError::UrlInvalid(_))),
                "{evil}"
            );
        }
        let ok = t.render(&Vars(vec![("header:x-tenant", "acme")]), None);
        assert_eq!(
            ok.map(|t| t.uri.to_string()).ok().as_deref(),
            Some("http://acme.svc/")
        );
    }
}
