//! `DYNAMIC_ROUTING_BACKEND`: one of several backends, chosen per request by a context
//! variable (reference 3.4).
//!
//! Selection, as OCI documents it:
//! 1. an `ANY_OF` branch listing the value, compared case-insensitively;
//! 2. else the first `WILDCARD` branch, in spec order, whose expression matches, compared
//!    case-sensitively (`*` zero or more characters, `+` one or more, at the start or the end);
//! 3. else the `isDefault` branch;
//! 4. else 404 with OCI's body, logged as `dynamicRouting.backendRejected`.
//!
//! A request without the variable at all matches no key and goes to the default; an empty value
//! (`?type=`) is a value, which `*` matches.
//!
//! The branches' backends are built by the caller ([`DynamicRouting::compile`] takes a
//! builder), so this module knows nothing of function registries or HTTP clients: it only
//! chooses. Everything is decided at compile time except one lookup per request.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::util::{BoxCloneSyncService, Oneshot};
use tower::{Service, ServiceExt};
use tracing::debug;

use crate::backend::http::with_vars;
use crate::body::Body;
use crate::context::RequestContext;
use crate::diagnostics::Diagnostics;
use crate::error::GatewayError;
use crate::future::PolicyFuture;
use crate::spec::{self, SelectionKey};
use crate::vars::{Selector, TableSet};

/// A branch's backend, as the route stack boxes every service.
pub type BackendService = BoxCloneSyncService<Request<Body>, Response<Body>, GatewayError>;

/// What the branch builder is told about the branch it builds.
#[derive(Debug, Clone, Copy)]
pub struct Branch<'a> {
    /// JSON path of the branch's backend, for diagnostics
    /// (`routes[2].backend.routingBackends[1].backend`).
    pub path: &'a str,
    /// The branch's `key.name`.
    pub name: &'a str,
    /// The compiled selector; an HTTP backend's URL may put its variable in the host
    /// (`HostRule::Selector`). `None` when the selector failed to compile (reported).
    pub selector: Option<&'a Selector>,
}

/// A compiled dynamic routing backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamicRouting {
    table: Arc<RoutingTable>,
}

#[derive(Debug)]
struct RoutingTable {
    selector: Option<Selector>,
    /// Lower-cased `ANY_OF` values → branch index.
    any_of: HashMap<Box<str>, usize>,
    /// `WILDCARD` expressions in spec order.
    wildcards: Vec<(Wildcard, usize)>,
    default: Option<usize>,
    branches: Vec<Target>,
}

struct Target {
    name: Arc<str>,
    service: BackendService,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl DynamicRouting {
    /// Compiles `spec`, located at `path` (`routes[2].backend`). `build` makes each branch's
    /// backend service; it receives the branch's backend, where it is, and the diagnostics.
    pub fn compile<F>(
        spec: &spec::DynamicRoutingBackend,
        path: &str,
        mut build: F,
        diags: &mut Diagnostics,
    ) -> Self
    where
        F: FnMut(&spec::Backend, Branch<'_>, &mut Diagnostics) -> BackendService,
    {
        let selector_text = spec.selection_source.selector();
        let selector = match Selector::parse(selector_text, TableSet::SELECTOR) {
            Ok(s) => Some(s),
            Err(e) => {
                let d = diags.error(format!("{path}.selectionSource.selector"), e.to_string());
                if let Some(hint) = e.hint {
                    d.hint(hint);
                }
                None
            }
        };
        let mut table = RoutingTable {
            selector: None,
            any_of: HashMap::new(),
            wildcards: Vec::new(),
            default: None,
            branches: Vec::with_capacity(spec.routing_backends.len()),
        };
        for (i, branch) in spec.routing_backends.iter().enumerate() {
            let at = format!("{path}.routingBackends[{i}]");
            let index = table.branches.len();
            let key = &branch.key;
            match key {
                SelectionKey::AnyOf(k) => {
                    for value in &k.values {
                        // The loader refuses duplicates; were one to get here, the first wins.
                        table
                            .any_of
                            .entry(value.to_lowercase().into())
                            .or_insert(index);
                    }
                }
                SelectionKey::Wildcard(k) => match Wildcard::parse(&k.expression) {
                    Some(w) => table.wildcards.push((w, index)),
                    None => {
                        diags
                            .error(
                                format!("{at}.key.expression"),
                                format!(
                                    "\"{}\" is not one * or + at the start or the end",
                                    k.expression
                                ),
                            )
                            .hint("e.g. truck* or +.example.com");
                    }
                },
            }
            if key.is_default() && table.default.is_none() {
                table.default = Some(index);
            }
            let backend_path = format!("{at}.backend");
            let service = build(
                &branch.backend,
                Branch {
                    path: &backend_path,
                    name: key.name(),
                    selector: selector.as_ref(),
                },
                diags,
            );
            table.branches.push(Target {
                name: Arc::from(key.name()),
                service,
            });
        }
        table.selector = selector;
        Self {
            table: Arc::new(table),
        }
    }

    /// The branch name chosen for `value` (the selector's value, `None` when absent), if any.
    pub fn select(&self, value: Option<&str>) -> Option<&str> {
        self.table
            .select(value)
            .and_then(|i| self.table.branches.get(i))
            .map(|t| &*t.name)
    }
}

impl RoutingTable {
    fn select(&self, value: Option<&str>) -> Option<usize> {
        if let Some(value) = value {
            if !self.any_of.is_empty() {
                if let Some(&i) = self.any_of.get(value.to_lowercase().as_str()) {
                    return Some(i);
                }
            }
            if let Some((_, i)) = self.wildcards.iter().find(|(w, _)| w.matches(value)) {
                return Some(*i);
            }
        }
        self.default
    }
}

/// A `WILDCARD` expression: a literal with one `*` or `+` before or after it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Wildcard {
    literal: Box<str>,
    /// The wildcard is at the start, so the value must end with the literal.
    leading: bool,
    /// `+`: at least one character in the wildcard's place.
    one_or_more: bool,
}

impl Wildcard {
    fn parse(expression: &str) -> Option<Wildcard> {
        let is_wild = |c: char| c == '*' || c == '+';
        if expression.chars().filter(|&c| is_wild(c)).count() != 1 {
            return None;
        }
        let (leading, wild, literal) = if let Some(rest) = expression.strip_prefix(is_wild) {
            (true, expression.chars().next()?, rest)
        } else {
            let rest = expression.strip_suffix(is_wild)?;
            (false, expression.chars().last()?, rest)
        };
        Some(Wildcard {
            literal: literal.into(),
            leading,
            one_or_more: wild == '+',
        })
    }

    /// Case-sensitive, as OCI documents for wildcards. `+` needs a whole character more than
    /// the literal: comparing byte lengths is enough, as any extra byte belongs to one.
    fn matches(&self, value: &str) -> bool {
        let fits = if self.leading {
            value.ends_with(&*self.literal)
        } else {
            value.starts_with(&*self.literal)
        };
        fits && (!self.one_or_more || value.len() > self.literal.len())
    }
}

impl Service<Request<Body>> for DynamicRouting {
    type Response = Response<Body>;
    type Error = GatewayError;
    type Future = PolicyFuture<Oneshot<BackendService, Request<Body>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), GatewayError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let table = &*self.table;
        let (parts, body) = req.into_parts();
        let chosen = with_vars(&parts, |vars| {
            let value = table.selector.as_ref().and_then(|s| s.value(vars));
            table.select(value)
        });
        let request_id = || {
            parts
                .extensions
                .get::<RequestContext>()
                .map_or("", |c| c.request_id().as_str())
                .to_owned()
        };
        match chosen.and_then(|i| table.branches.get(i)) {
            Some(target) => {
                debug!(backend_name = %target.name, opc_request_id = %request_id(), "routing backend selected");
                let req = Request::from_parts(parts, body);
                PolicyFuture::inner(target.service.clone().oneshot(req))
            }
            None => {
                debug!(
                    opc_request_id = %request_id(),
                    selector = %table.selector.as_ref().map_or(String::new(), ToString::to_string),
                    "no routing backend matches the request"
                );
                PolicyFuture::refused(GatewayError::NoRoutingBackend)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::http::tests::routed;
    use crate::backend::StockResponse;
    use crate::spec::{
        AnyOfSelectionKey, Backend, DynamicRoutingBackend, RoutingBackend, SelectionSource,
        SingleSelectionSource, StockResponseBackend, WildcardSelectionKey,
    };
    use crate::testing::answer;
    use http_body_util::BodyExt;

    fn branch(key: SelectionKey, body: &str) -> RoutingBackend {
        RoutingBackend {
            key,
            backend: Backend::StockResponse(StockResponseBackend {
                status: 200,
                body: Some(body.to_owned()),
                headers: None,
            }),
        }
    }

    fn compile(selector: &str, branches: Vec<RoutingBackend>) -> (DynamicRouting, Diagnostics) {
        let spec = DynamicRoutingBackend {
            selection_source: SelectionSource::Single(SingleSelectionSource {
                selector: selector.to_owned(),
            }),
            routing_backends: branches,
        };
        let mut diags = Diagnostics::new();
        let mut paths = Vec::new();
        let routing = DynamicRouting::compile(
            &spec,
            "routes[0].backend",
            |backend, branch, diags| {
                paths.push(branch.path.to_owned());
                let Backend::StockResponse(stock) = backend else {
                    panic!("stock branches only");
                };
                BoxCloneSyncService::new(StockResponse::compile(stock, branch.path, diags))
            },
            &mut diags,
        );
        assert_eq!(
            paths.first().map(String::as_str),
            Some("routes[0].backend.routingBackends[0].backend")
        );
        (routing, diags)
    }

    #[tokio::test]
    async fn path_parameters_select_behind_the_router() {
        let (routing, diags) = compile(
            "request.path[kind]",
            vec![
                branch(
                    SelectionKey::AnyOf(AnyOfSelectionKey {
                        name: "cars".into(),
                        values: vec!["car".into()],
                        is_default: None,
                    }),
                    "cars",
                ),
                branch(
                    SelectionKey::Wildcard(WildcardSelectionKey {
                        name: "trucks".into(),
                        expression: "truck+".into(),
                        is_default: None,
                    }),
                    "trucks",
                ),
            ],
        );
        assert!(diags.is_empty(), "{diags:?}");
        for (uri, expected) in [
            ("/api/v/Car/1", "cars"),
            ("/api/v/trucks/1", "trucks"),
            ("/api/v/truck/1", "{\"code\":404,\"message\":\"Not Found\"}"),
        ] {
            let mut req = Request::builder()
                .uri(uri)
                .body(Body::empty())
                .expect("request");
            req.extensions_mut()
                .insert(routed("/api", "/v/{kind}/{id}", uri, None));
            let res = answer(&mut routing.clone(), req).await;
            let body = res.into_body().collect().await.expect("body").to_bytes();
            assert_eq!(String::from_utf8_lossy(&body), expected, "{uri}");
        }
    }

    #[test]
    fn bad_selectors_and_expressions_are_reported() {
        let (routing, diags) = compile(
            "request.body",
            vec![branch(
                SelectionKey::Wildcard(WildcardSelectionKey {
                    name: "w".into(),
                    expression: "a*b".into(),
                    is_default: Some(true),
                }),
                "w",
            )],
        );
        let paths: Vec<&str> = diags.errors().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "routes[0].backend.selectionSource.selector",
                "routes[0].backend.routingBackends[0].key.expression"
            ]
        );
        // Still safe to serve: everything goes to the default.
        assert_eq!(routing.select(Some("anything")), Some("w"));
    }

    #[test]
    fn wildcards_follow_ocis_rules() {
        let w = |e: &str| Wildcard::parse(e).expect("valid expression");
        assert!(w("truck*").matches("truck"));
        assert!(w("truck*").matches("trucks"));
        assert!(!w("truck*").matches("Truck"), "case-sensitive");
        assert!(!w("truck+").matches("truck"), "+ needs one character");
        assert!(w("truck+").matches("truckX"));
        assert!(w("*.example.com").matches(".example.com"));
        assert!(w("+.example.com").matches("a.example.com"));
        assert!(!w("+.example.com").matches(".example.com"));
        assert!(w("*").matches(""));
        assert!(!w("+").matches(""));
        assert!(w("+").matches("é"));
        for bad in ["truck", "tr*ck", "*truck*", "+a+", ""] {
            assert_eq!(Wildcard::parse(bad), None, "{bad}");
        }
    }
}
