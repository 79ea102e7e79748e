//! API descriptions (OpenAPI 3.0 and 3.1, Swagger 2.0) turned into an OCI deployment
//! specification, as OCI's "create a deployment from an API description" does: every path and
//! method becomes a route, `{param}` templates are kept, the backend is the description's first
//! server (or one given backend, or one function for every route), required header and query
//! parameters become validation policies, and what cannot be carried over (authentication
//! schemes, `TRACE`, parameters inside a segment) is reported against its place in the document.
//!
//! The input is a JSON value, however it was parsed (YAML documents convert to one); only local
//! references (`#/components/...`, `#/parameters/...`) are followed.

mod operation;

use serde::Serialize;
use serde_json::Value;

use crate::diagnostics::{Diagnostics, Kind};
use crate::spec::decode::key_path;

pub use operation::Route;
use operation::{Operation, METHODS};

/// Where every imported route sends its requests.
#[derive(Debug, Clone, Default)]
pub enum ImportBackend {
    /// The description's first server (`servers[0]`, or Swagger's `schemes`, `host` and
    /// `basePath`), with each route's path appended.
    #[default]
    Described,
    /// This base URL instead of the described server, with each route's path appended.
    Url(String),
    /// One function (its OCID) for every route.
    Function(String),
}

/// A deployment specification made from an API description, and what the import noticed.
#[derive(Debug)]
pub struct Imported {
    /// The specification; `None` when an error left nothing to serve.
    pub specification: Option<Specification>,
    /// Problems and things left to configure, each at its path in the description.
    pub diagnostics: Diagnostics,
}

/// An imported deployment specification: serialize it (serde) to get its JSON.
#[derive(Debug, Serialize)]
pub struct Specification {
    /// One route per operation.
    pub routes: Vec<Route>,
}

/// Which description language a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Swagger2,
    OpenApi3,
}

/// Converts the API description `document` into a deployment specification.
pub fn import_api_description(document: &Value, backend: &ImportBackend) -> Imported {
    let mut diags = Diagnostics::new();
    let Some(dialect) = dialect(document, &mut diags) else {
        return Imported {
            specification: None,
            diagnostics: diags,
        };
    };
    let base = match backend {
        ImportBackend::Described => described_server(document, dialect, &mut diags),
        ImportBackend::Url(url) => Some(url.trim_end_matches('/').to_owned()),
        ImportBackend::Function(_) => None,
    };
    let target = match (backend, base) {
        (ImportBackend::Function(id), _) => operation::Target::Function(id),
        (_, Some(base)) => operation::Target::Http(base),
        (_, None) => {
            return Imported {
                specification: None,
                diagnostics: diags,
            }
        }
    };
    report_security(document, dialect, &mut diags);

    let mut routes = Vec::new();
    match document.get("paths") {
        Some(Value::Object(paths)) => {
            for (path, item) in paths {
                let at = key_path("paths", path);
                let Some(item) = resolve(document, item, &at, &mut diags) else {
                    continue;
                };
                let Some(template) = operation::convert_path(path, &at, &mut diags) else {
                    continue;
                };
                let shared = item.get("parameters");
                for method in &METHODS {
                    let Some(op) = item.get(method.key) else {
                        continue;
                    };
                    let operation = Operation {
                        document,
                        dialect,
                        path,
                        method,
                        template: &template,
                        shared,
                        operation: op,
                        at: key_path(&at, method.key),
                    };
                    if let Some(route) = operation.route(&target, &mut diags) {
                        routes.push(route);
                    }
                }
            }
        }
        Some(_) => {
            diags.error("paths", "expected an object of paths");
        }
        None => {
            diags.error("", "the description has no paths");
        }
    }
    if routes.is_empty() && !diags.has_errors() {
        diags.error("paths", "no operation could be turned into a route");
    }
    let specification = (!diags.has_errors()).then_some(Specification { routes });
    Imported {
        specification,
        diagnostics: diags,
    }
}

/// Swagger 2.0 (`swagger: "2.0"`) or OpenAPI 3.x (`openapi: "3.0.3"`, `"3.1.0"`).
fn dialect(document: &Value, diags: &mut Diagnostics) -> Option<Dialect> {
    if !document.is_object() {
        diags.error("", "an API description is a JSON or YAML object");
        return None;
    }
    if let Some(version) = document.get("openapi") {
        return match version.as_str() {
            Some(v) if v.starts_with("3.0") || v.starts_with("3.1") => Some(Dialect::OpenApi3),
            _ => {
                diags
                    .error("openapi", format!("unsupported OpenAPI version {version}"))
                    .hint("OpenAPI 3.0 and 3.1, and Swagger 2.0, can be imported");
                None
            }
        };
    }
    match document.get("swagger").and_then(Value::as_str) {
        Some("2.0") => Some(Dialect::Swagger2),
        Some(other) => {
            diags
                .error("swagger", format!("unsupported Swagger version {other:?}"))
                .hint("OpenAPI 3.0 and 3.1, and Swagger 2.0, can be imported");
            None
        }
        None => {
            diags
                .error("", "neither an `openapi` nor a `swagger` version field")
                .hint("is this an OpenAPI 3 or Swagger 2.0 document?");
            None
        }
    }
}

/// The base URL of the described server, without a trailing `/`.
fn described_server(document: &Value, dialect: Dialect, diags: &mut Diagnostics) -> Option<String> {
    const HINT: &str = "give the backend with --backend URL, or --function ID";
    match dialect {
        Dialect::OpenApi3 => {
            let Some(server) = document.get("servers").and_then(|s| s.get(0)) else {
                diags
                    .error("servers", "the description names no server")
                    .hint(HINT);
                return None;
            };
            let Some(url) = server.get("url").and_then(Value::as_str) else {
                diags.error("servers[0].url", "expected a URL").hint(HINT);
                return None;
            };
            let url = fill_server_variables(url, server.get("variables"));
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                diags
                    .error(
                        "servers[0].url",
                        format!("{url:?} is not an absolute http(s) URL"),
                    )
                    .hint(HINT);
                return None;
            }
            Some(url.trim_end_matches('/').to_owned())
        }
        Dialect::Swagger2 => {
            let Some(host) = document.get("host").and_then(Value::as_str) else {
                diags
                    .error("host", "the description names no host")
                    .hint(HINT);
                return None;
            };
            let schemes = document.get("schemes").and_then(Value::as_array);
            let scheme = schemes
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .find(|s| *s == "https")
                .or_else(|| schemes?.first()?.as_str())
                .unwrap_or("https");
            let base_path = document
                .get("basePath")
                .and_then(Value::as_str)
                .unwrap_or("");
            Some(
                format!("{scheme}://{host}{base_path}")
                    .trim_end_matches('/')
                    .to_owned(),
            )
        }
    }
}

/// `https://{region}.example.com/{version}` with each variable's `default`.
fn fill_server_variables(url: &str, variables: Option<&Value>) -> String {
    let Some(Value::Object(variables)) = variables else {
        return url.to_owned();
    };
    variables.iter().fold(url.to_owned(), |url, (name, v)| {
        match v.get("default").and_then(Value::as_str) {
            Some(default) => url.replace(&format!("{{{name}}}"), default),
            None => url,
        }
    })
}

/// Follows a local `$ref` (`#/components/parameters/id`); anything else is reported and
/// skipped. Values without `$ref` are returned as they are.
fn resolve<'a>(
    document: &'a Value,
    value: &'a Value,
    at: &str,
    diags: &mut Diagnostics,
) -> Option<&'a Value> {
    let mut value = value;
    // References may chain; a loop of them is reported rather than followed forever.
    for _ in 0..16 {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Some(value);
        };
        let target = reference
            .strip_prefix('#')
            .and_then(|pointer| document.pointer(&unescape_pointer(pointer)));
        match target {
            Some(target) => value = target,
            None => {
                diags.warning(
                    Kind::Unsupported,
                    key_path(at, "$ref"),
                    format!("cannot follow {reference:?}: only references inside the document are read; skipped"),
                );
                return None;
            }
        }
    }
    diags.warning(
        Kind::Invalid,
        key_path(at, "$ref"),
        "references nested more than 16 deep (a loop?); skipped",
    );
    None
}

/// JSON pointers in `$ref` are URI fragments: percent-decode them (`%7B` in a path key).
fn unescape_pointer(pointer: &str) -> String {
    percent_encoding::percent_decode_str(pointer)
        .decode_utf8_lossy()
        .into_owned()
}

/// Every authentication scheme the description declares, as a warning to configure: the
/// specification enforces none until an authentication policy is added.
fn report_security(document: &Value, dialect: Dialect, diags: &mut Diagnostics) {
    let (at, schemes) = match dialect {
        Dialect::OpenApi3 => (
            "components.securitySchemes",
            document.pointer("/components/securitySchemes"),
        ),
        Dialect::Swagger2 => ("securityDefinitions", document.get("securityDefinitions")),
    };
    let Some(Value::Object(schemes)) = schemes else {
        return;
    };
    for (name, scheme) in schemes {
        let Some(scheme) = resolve(document, scheme, &key_path(at, name), diags) else {
            continue;
        };
        let field = |key: &str| scheme.get(key).and_then(Value::as_str).unwrap_or("?");
        let (what, policy) = match field("type") {
            "apiKey" => (
                format!("an API key in {} {:?}", field("in"), field("name")),
                "a CUSTOM_AUTHENTICATION policy whose authorizer function checks it",
            ),
            "http" if field("scheme").eq_ignore_ascii_case("bearer") => (
                "bearer tokens".to_owned(),
                "a JWT_AUTHENTICATION policy with the issuer's keys",
            ),
            "http" | "basic" => (
                format!("HTTP {} authentication", field("scheme")),
                "a CUSTOM_AUTHENTICATION policy whose authorizer function checks it",
            ),
            "oauth2" | "openIdConnect" => (
                format!("{} tokens", field("type")),
                "a JWT_AUTHENTICATION policy with the provider's JWKS",
            ),
            other => (format!("the {other:?} scheme"), "an authentication policy"),
        };
        diags
            .warning(
                Kind::Configure,
                key_path(at, name),
                format!("the API expects {what}; nothing enforces it yet"),
            )
            .hint(format!("add {policy} to the deployment's requestPolicies"));
    }
}

#[cfg(test)]
mod tests;
