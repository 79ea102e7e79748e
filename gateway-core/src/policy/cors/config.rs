//! A compiled CORS policy: what it allows and the header values it answers with.

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE,
    ACCESS_CONTROL_REQUEST_HEADERS, ACCESS_CONTROL_REQUEST_METHOD, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::origin::Origin;
use crate::diagnostics::{Diagnostics, Kind};
use crate::spec::CorsPolicy;

/// Who may call and what the answers say; built once per policy.
#[derive(Debug)]
pub(super) struct CorsConfig {
    exact: Vec<Origin>,
    any_origin: bool,
    null_origin: bool,
    credentials: bool,
    methods: Allowed<Method>,
    headers: Allowed<HeaderName>,
    expose: Expose,
    max_age: Option<HeaderValue>,
    /// Whether the answer depends on the request's `Origin`, so caches must key on it.
    vary_origin: bool,
}

/// An `allowedMethods` / `allowedHeaders` list.
#[derive(Debug)]
enum Allowed<T> {
    /// `*`: whatever is asked for is allowed, and echoed back (a literal `*` means nothing to
    /// browsers on credentialed requests).
    Any,
    /// The listed items, with the header value that lists them (`None` when empty).
    List(Vec<T>, Option<HeaderValue>),
}

#[derive(Debug)]
enum Expose {
    None,
    /// `*`: a literal `*` without credentials; with them, the names of the response's headers.
    Any,
    List(HeaderValue),
}

static TRUE: HeaderValue = HeaderValue::from_static("true");
static NULL: HeaderValue = HeaderValue::from_static("null");
static STAR: HeaderValue = HeaderValue::from_static("*");

impl CorsConfig {
    /// Compiles `policy`, found at JSON path `path`. Entries the loader would reject are
    /// reported and left out.
    pub(super) fn compile(policy: &CorsPolicy, path: &str, diags: &mut Diagnostics) -> CorsConfig {
        let mut exact = Vec::new();
        let (mut any_origin, mut null_origin) = (false, false);
        for (i, text) in policy.allowed_origins.iter().enumerate() {
            match text.as_str() {
                "*" => any_origin = true,
                "null" => null_origin = true,
                _ => match Origin::parse(text) {
                    Some(origin) => exact.push(origin),
                    None => {
                        diags.error(
                            format!("{path}.allowedOrigins[{i}]"),
                            format!("invalid CORS origin \"{text}\""),
                        );
                    }
                },
            }
        }
        let credentials = policy.is_allow_credentials_enabled == Some(true);
        if credentials && any_origin {
            diags
                .warning(
                    Kind::Invalid,
                    format!("{path}.allowedOrigins"),
                    "\"*\" with credentials: every site may send credentialed requests (the request's Origin is echoed back)",
                )
                .hint("list the origins that may send credentials");
        }
        let methods = allowed(
            &policy.allowed_methods,
            &format!("{path}.allowedMethods"),
            diags,
            |m| Method::from_bytes(m.as_bytes()).ok(),
        );
        let headers = allowed(
            &policy.allowed_headers,
            &format!("{path}.allowedHeaders"),
            diags,
            |h| HeaderName::from_bytes(h.as_bytes()).ok(),
        );
        let expose = match allowed(
            &policy.exposed_headers,
            &format!("{path}.exposedHeaders"),
            diags,
            |h| HeaderName::from_bytes(h.as_bytes()).ok(),
        ) {
            Allowed::Any => Expose::Any,
            Allowed::List(_, Some(value)) => Expose::List(value),
            Allowed::List(_, None) => Expose::None,
        };
        let max_age = policy
            .max_age_in_seconds
            .filter(|&s| s > 0)
            .map(HeaderValue::from);
        // Only "*" alone, without credentials, answers every origin the same way.
        let same_for_all = any_origin && exact.is_empty() && !null_origin && !credentials;
        let vary_origin = !same_for_all;
        CorsConfig {
            exact,
            any_origin,
            null_origin,
            credentials,
            methods,
            headers,
            expose,
            max_age,
            vary_origin,
        }
    }

    /// The `Access-Control-Allow-Origin` to answer `origin` with, or `None` when it is not
    /// allowed. The best match wins: an exact origin (echoed as sent), then `null`, then `*`.
    pub(super) fn allow_origin(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        let text = origin.to_str().ok();
        if let Some(parsed) = text.and_then(Origin::parse) {
            if self.exact.iter().any(|o| o.same_as(&parsed)) {
                return Some(origin.clone());
            }
        }
        if self.null_origin && text == Some("null") {
            return Some(NULL.clone());
        }
        if self.any_origin {
            // Browsers refuse a literal `*` on credentialed requests.
            return Some(if self.credentials {
                origin.clone()
            } else {
                STAR.clone()
            });
        }
        None
    }

    /// The headers of the answer to a pre-flight from `origin`: the allow headers when the
    /// origin, the requested method and every requested header are allowed; otherwise none,
    /// so the browser blocks the actual request.
    pub(super) fn preflight(&self, origin: &HeaderValue, request: &HeaderMap) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let vary = if self.vary_origin {
            "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
        } else {
            "Access-Control-Request-Method, Access-Control-Request-Headers"
        };
        headers.insert(VARY, HeaderValue::from_static(vary));
        let Some(allow_origin) = self.allow_origin(origin) else {
            return headers;
        };
        let Some(allow_methods) = self.allow_method(request.get(ACCESS_CONTROL_REQUEST_METHOD))
        else {
            return headers;
        };
        let Some(allow_headers) = self.allow_headers(request.get(ACCESS_CONTROL_REQUEST_HEADERS))
        else {
            return headers;
        };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE.clone());
        }
        if let Some(value) = allow_methods {
            headers.insert(ACCESS_CONTROL_ALLOW_METHODS, value);
        }
        if let Some(value) = allow_headers {
            headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, value);
        }
        if let Some(value) = &self.max_age {
            headers.insert(ACCESS_CONTROL_MAX_AGE, value.clone());
        }
        headers
    }

    /// `Some(header to send)` when the requested method is allowed. CORS-safelisted methods
    /// (GET, HEAD, POST) always are, as browsers never need them listed; this is what lets an
    /// empty `allowedMethods` still pass them.
    fn allow_method(&self, requested: Option<&HeaderValue>) -> Option<Option<HeaderValue>> {
        let method = Method::from_bytes(requested?.as_bytes()).ok()?;
        let safelisted = matches!(method, Method::GET | Method::HEAD | Method::POST);
        match &self.methods {
            Allowed::Any => Some(HeaderValue::from_str(method.as_str()).ok()),
            Allowed::List(list, value) => {
                (safelisted || list.contains(&method)).then(|| value.clone())
            }
        }
    }

    /// `Some(header to send)` when every requested header is allowed (names compare
    /// case-insensitively).
    fn allow_headers(&self, requested: Option<&HeaderValue>) -> Option<Option<HeaderValue>> {
        let Some(requested) = requested else {
            return Some(match &self.headers {
                Allowed::Any => None,
                Allowed::List(_, value) => value.clone(),
            });
        };
        let list = requested.to_str().ok()?;
        let mut names = list.split(',').map(str::trim).filter(|n| !n.is_empty());
        match &self.headers {
            Allowed::Any => {
                // Echoed, after checking it is a list of names.
                let valid = names.all(|n| HeaderName::from_bytes(n.as_bytes()).is_ok());
                valid.then(|| Some(requested.clone()))
            }
            Allowed::List(allowed, value) => {
                let all = names.all(|n| {
                    HeaderName::from_bytes(n.as_bytes()).is_ok_and(|name| allowed.contains(&name))
                });
                all.then(|| value.clone())
            }
        }
    }

    /// Adds the CORS headers of an actual (not pre-flight) response: `Vary: Origin` when the
    /// answer depends on it, and, for an allowed origin, the allow-origin, credentials and
    /// expose headers, replacing any the backend set.
    pub(super) fn decorate(&self, allow_origin: Option<HeaderValue>, headers: &mut HeaderMap) {
        if self.vary_origin {
            add_vary_origin(headers);
        }
        let Some(allow_origin) = allow_origin else {
            return;
        };
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin);
        if self.credentials {
            headers.insert(ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE.clone());
        }
        let expose = match &self.expose {
            Expose::None => return,
            Expose::List(value) => value.clone(),
            Expose::Any if !self.credentials => STAR.clone(),
            Expose::Any => match response_header_names(headers) {
                Some(value) => value,
                None => return,
            },
        };
        headers.insert(ACCESS_CONTROL_EXPOSE_HEADERS, expose);
    }

    /// Whether requests from any origin get the same answer (no `Vary: Origin` needed).
    pub(super) fn varies_by_origin(&self) -> bool {
        self.vary_origin
    }
}

/// Compiles a list where `*` means everything; invalid entries are reported and left out.
fn allowed<T: AsRef<str>>(
    items: &[String],
    path: &str,
    diags: &mut Diagnostics,
    parse: impl Fn(&str) -> Option<T>,
) -> Allowed<T> {
    if items.iter().any(|i| i == "*") {
        return Allowed::Any;
    }
    let mut list = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match parse(item) {
            Some(parsed) => list.push(parsed),
            None => {
                diags.error(format!("{path}[{i}]"), format!("invalid entry \"{item}\""));
            }
        }
    }
    let joined = list
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ");
    let value = (!list.is_empty())
        .then(|| HeaderValue::from_str(&joined).ok())
        .flatten();
    Allowed::List(list, value)
}

/// Appends `Origin` to `Vary` unless it (or `*`) is already there.
fn add_vary_origin(headers: &mut HeaderMap) {
    let present = headers.get_all(VARY).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.eq_ignore_ascii_case("origin"))
        })
    });
    if !present {
        headers.append(VARY, HeaderValue::from_static("Origin"));
    }
}

/// The names of a response's headers, for `exposedHeaders: ["*"]` with credentials, where
/// browsers read `*` literally.
fn response_header_names(headers: &HeaderMap) -> Option<HeaderValue> {
    let names: Vec<&str> = headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|n| !n.starts_with("access-control-"))
        .collect();
    if names.is_empty() {
        return None;
    }
    HeaderValue::from_str(&names.join(", ")).ok()
}
