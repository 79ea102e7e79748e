//! Route back ends (reference 3): HTTP, OCI Functions, stock responses, dynamic routing and
//! OAuth2 logout.

use serde::Serialize;
use serde_json::Value;

use super::selection::{check_branches, decode_selection_source, SelectionKey, SelectionSource};
use crate::diagnostics::Diagnostics;
use crate::spec::checks::{check_header_name, check_header_value, check_http_url, HostVar};
use crate::spec::decode::{
    check_range, decode_items, index_path, limit_count, limit_size, FromJson, Obj,
};
use crate::spec::vars_check::{self, VarField};

/// What answers a route. Polymorphic on `type` (reference 0.1).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum Backend {
    /// Proxy to an HTTP(S) server.
    #[serde(rename = "HTTP_BACKEND")]
    Http(HttpBackend),
    /// Invoke an OCI function (the Fn http-stream contract, reference 7).
    #[serde(rename = "ORACLE_FUNCTIONS_BACKEND")]
    OracleFunctions(OracleFunctionsBackend),
    /// Answer with a fixed status, headers and body.
    #[serde(rename = "STOCK_RESPONSE_BACKEND")]
    StockResponse(StockResponseBackend),
    /// Pick one of several back ends by a context variable.
    #[serde(rename = "DYNAMIC_ROUTING_BACKEND")]
    DynamicRouting(DynamicRoutingBackend),
    /// End an OpenID Connect session and redirect.
    #[serde(rename = "OAUTH2_LOGOUT_BACKEND")]
    OAuth2Logout(OAuth2LogoutBackend),
}

/// The back-end `type` values, in SDK order.
pub const BACKEND_TYPES: &[&str] = &[
    "HTTP_BACKEND",
    "ORACLE_FUNCTIONS_BACKEND",
    "STOCK_RESPONSE_BACKEND",
    "DYNAMIC_ROUTING_BACKEND",
    "OAUTH2_LOGOUT_BACKEND",
];

impl Backend {
    /// The SDK `type` discriminator.
    pub fn type_name(&self) -> &'static str {
        match self {
            Backend::Http(_) => "HTTP_BACKEND",
            Backend::OracleFunctions(_) => "ORACLE_FUNCTIONS_BACKEND",
            Backend::StockResponse(_) => "STOCK_RESPONSE_BACKEND",
            Backend::DynamicRouting(_) => "DYNAMIC_ROUTING_BACKEND",
            Backend::OAuth2Logout(_) => "OAUTH2_LOGOUT_BACKEND",
        }
    }
}

/// `HTTP_BACKEND` (reference 3.1).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpBackend {
    /// `http` or `https` URL; `${…}` variables allowed as path segments. The configured URL
    /// (after substitution) is what is called: the client's path is not appended.
    pub url: String,
    /// Seconds; default 60, at most 75.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_timeout_in_seconds: Option<f64>,
    /// Seconds; default 10, at most 300.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub read_timeout_in_seconds: Option<f64>,
    /// Seconds; default 10, at most 300.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_timeout_in_seconds: Option<f64>,
    /// Skip verifying the server certificate (doc spelling `isSSLVerifyDisabled`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_ssl_verify_disabled: Option<bool>,
}

impl HttpBackend {
    /// `connectTimeoutInSeconds` or its default, 60.
    pub fn connect_timeout(&self) -> f64 {
        self.connect_timeout_in_seconds.unwrap_or(60.0)
    }

    /// `readTimeoutInSeconds` or its default, 10.
    pub fn read_timeout(&self) -> f64 {
        self.read_timeout_in_seconds.unwrap_or(10.0)
    }

    /// `sendTimeoutInSeconds` or its default, 10.
    pub fn send_timeout(&self) -> f64 {
        self.send_timeout_in_seconds.unwrap_or(10.0)
    }
}

/// `ORACLE_FUNCTIONS_BACKEND` (reference 3.2).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OracleFunctionsBackend {
    /// The function's OCID.
    pub function_id: String,
}

/// `STOCK_RESPONSE_BACKEND` (reference 3.3).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StockResponseBackend {
    /// Any HTTP status, 100–599.
    pub status: u16,
    /// A plain string (JSON bodies are escaped inside it); at most 4,096 UTF-8 bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Response headers; at most 50.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<HeaderFieldSpecification>>,
}

/// One stock response header.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeaderFieldSpecification {
    /// At most 1,024 bytes.
    pub name: String,
    /// At most 4,096 bytes.
    pub value: String,
}

/// `DYNAMIC_ROUTING_BACKEND` (reference 3.4).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DynamicRoutingBackend {
    /// The context variable that selects a branch.
    pub selection_source: SelectionSource,
    /// The branches; at most 100.
    pub routing_backends: Vec<RoutingBackend>,
}

/// One branch of a dynamic routing back end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutingBackend {
    /// When this branch is taken.
    pub key: SelectionKey,
    /// An HTTP, functions or stock back end.
    pub backend: Backend,
}

/// `OAUTH2_LOGOUT_BACKEND` (reference 3.5; doc spelling `OAUTH2_LOGOUT`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2LogoutBackend {
    /// Where the client may ask to be sent after logout (`postLogoutUrl`); absolute or
    /// relative, may hold `${…}`; at most 10; empty means any URL.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_post_logout_uris: Vec<String>,
    /// State passed along to the post-logout URL, built from context variables.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub post_logout_state: Option<String>,
}

/// Where a back end sits: a route's own, or a branch of a dynamic routing back end (whose
/// HTTP `url` may put the selector's variable in its host).
#[derive(Debug, Clone, Copy)]
enum Place<'a> {
    Route,
    Branch { selector: Option<&'a str> },
}

impl FromJson for Backend {
    fn from_json(value: &Value, path: &str, d: &mut Diagnostics) -> Option<Self> {
        decode_backend(value, path, d, Place::Route)
    }
}

fn decode_backend(
    value: &Value,
    path: &str,
    d: &mut Diagnostics,
    place: Place<'_>,
) -> Option<Backend> {
    let mut o = Obj::new(value, path, d)?;
    let tag = o.tag(
        "type",
        "backend type",
        "backend types",
        BACKEND_TYPES,
        &[("OAUTH2_LOGOUT", "OAUTH2_LOGOUT_BACKEND")],
    )?;
    if matches!(place, Place::Branch { .. })
        && matches!(tag, "DYNAMIC_ROUTING_BACKEND" | "OAUTH2_LOGOUT_BACKEND")
    {
        let type_path = o.at("type");
        o.d()
            .error(type_path, format!("{tag} cannot be a routing back end"))
            .hint("a routing back end is an HTTP_BACKEND, ORACLE_FUNCTIONS_BACKEND or STOCK_RESPONSE_BACKEND");
    }
    let backend = match tag {
        "HTTP_BACKEND" => decode_http(&mut o, place).map(Backend::Http),
        "ORACLE_FUNCTIONS_BACKEND" => {
            let function_id = o.required::<String>("functionId");
            let id_path = o.at("functionId");
            if function_id.as_deref() == Some("") {
                o.d().error(id_path, "must not be empty");
            }
            function_id
                .map(|function_id| Backend::OracleFunctions(OracleFunctionsBackend { function_id }))
        }
        "STOCK_RESPONSE_BACKEND" => decode_stock(&mut o).map(Backend::StockResponse),
        "DYNAMIC_ROUTING_BACKEND" => decode_dynamic(&mut o).map(Backend::DynamicRouting),
        _ => decode_logout(&mut o).map(Backend::OAuth2Logout),
    };
    o.finish();
    backend
}

fn decode_http(o: &mut Obj<'_, '_>, place: Place<'_>) -> Option<HttpBackend> {
    let url = o.required::<String>("url");
    if let Some(url) = &url {
        let host_var = match place {
            Place::Route => HostVar::Forbidden,
            Place::Branch { selector: Some(s) } => HostVar::Selector(s),
            Place::Branch { selector: None } => HostVar::Unknown,
        };
        let path = o.at("url");
        check_http_url(o.d(), &path, url, host_var);
        vars_check::check(o.d(), &path, VarField::Url, url);
    }
    let mut timeout = |key: &'static str, max: f64| {
        let value = o.optional::<f64>(key);
        if let Some(v) = value {
            let path = o.at(key);
            if v <= 0.0 {
                o.d()
                    .error(path, format!("must be greater than 0, found {v}"));
            } else if v > max {
                o.d()
                    .error(path, format!("must be at most {max} seconds, found {v}"));
            }
        }
        value
    };
    let connect = timeout("connectTimeoutInSeconds", 75.0);
    let read = timeout("readTimeoutInSeconds", 300.0);
    let send = timeout("sendTimeoutInSeconds", 300.0);
    let is_ssl_verify_disabled = o.optional_alias("isSslVerifyDisabled", &["isSSLVerifyDisabled"]);
    Some(HttpBackend {
        url: url?,
        connect_timeout_in_seconds: connect,
        read_timeout_in_seconds: read,
        send_timeout_in_seconds: send,
        is_ssl_verify_disabled,
    })
}

fn decode_stock(o: &mut Obj<'_, '_>) -> Option<StockResponseBackend> {
    let status = o.required::<u16>("status");
    if let Some(status) = status {
        let path = o.at("status");
        check_range(o.d(), &path, status, 100, 599);
    }
    let body = o.optional::<String>("body");
    if let Some(body) = &body {
        let path = o.at("body");
        limit_size(o.d(), &path, "the body", body.len(), 4096, "bytes");
    }
    let headers_json = o.raw("headers").map(|v| v.to_string().len());
    let headers = o.optional_with("headers", |v, p, d| {
        let items = decode_items(v, p, d, |v, p, d| {
            let mut h = Obj::new(v, p, d)?;
            let name = h.required::<String>("name");
            let value = h.required::<String>("value");
            let (name_path, value_path) = (h.at("name"), h.at("value"));
            h.finish();
            if let Some(name) = &name {
                if check_header_name(d, &name_path, name) {
                    limit_size(d, &name_path, "the header name", name.len(), 1024, "bytes");
                }
            }
            if let Some(value) = &value {
                check_header_value(d, &value_path, value);
                limit_size(
                    d,
                    &value_path,
                    "the header value",
                    value.len(),
                    4096,
                    "bytes",
                );
            }
            Some(HeaderFieldSpecification {
                name: name?,
                value: value?,
            })
        })?;
        limit_count(d, p, items.len(), 50, "headers");
        if let Some(size) = headers_json {
            limit_size(d, p, "the headers JSON", size, 4096, "bytes");
        }
        items.into_iter().collect::<Option<Vec<_>>>()
    });
    Some(StockResponseBackend {
        status: status?,
        body,
        headers,
    })
}

fn decode_dynamic(o: &mut Obj<'_, '_>) -> Option<DynamicRoutingBackend> {
    let source = o.required_with("selectionSource", |v, p, d| {
        decode_selection_source(v, p, d, VarField::RoutingSelector)
    });
    let selector = source.as_ref().map(SelectionSource::selector);
    let parent = o.path().to_owned();
    let branches = o.required_with("routingBackends", |v, p, d| {
        let items = decode_items(v, p, d, |v, p, d| {
            let mut b = Obj::new(v, p, d)?;
            let key = b.required::<SelectionKey>("key");
            let backend = b.required_with("backend", |v, p, d| {
                decode_backend(v, p, d, Place::Branch { selector })
            });
            b.finish();
            Some(RoutingBackend {
                key: key?,
                backend: backend?,
            })
        })?;
        if items.is_empty() {
            d.error(p, "must not be empty: list at least one routing back end");
        }
        limit_count(d, p, items.len(), 100, "routing back ends");
        let keys: Vec<_> = items
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.as_ref().map(|b| (i, &b.key)))
            .collect();
        check_branches(d, &parent, "routingBackends", &keys);
        items.into_iter().collect::<Option<Vec<_>>>()
    });
    Some(DynamicRoutingBackend {
        selection_source: source?,
        routing_backends: branches?,
    })
}

fn decode_logout(o: &mut Obj<'_, '_>) -> Option<OAuth2LogoutBackend> {
    let uris = o
        .optional::<Vec<String>>("allowedPostLogoutUris")
        .unwrap_or_default();
    let uris_path = o.at("allowedPostLogoutUris");
    limit_count(o.d(), &uris_path, uris.len(), 10, "post-logout URIs");
    for (i, uri) in uris.iter().enumerate() {
        vars_check::check(o.d(), &index_path(&uris_path, i), VarField::LogoutUri, uri);
    }
    let state = o.optional::<String>("postLogoutState");
    if let Some(state) = &state {
        let path = o.at("postLogoutState");
        vars_check::check(o.d(), &path, VarField::LogoutState, state);
    }
    Some(OAuth2LogoutBackend {
        allowed_post_logout_uris: uris,
        post_logout_state: state,
    })
}
