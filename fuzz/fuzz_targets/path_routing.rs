//! A request path normalised and routed as the gateway does it: deployment by `pathPrefix`,
//! then route by template and method, against a small fixed set of deployments built from a
//! specification.
//!
//! Input: the first byte picks the method, the rest is the path (without a query).
//!
//! Checked besides "no panic": normalisation is idempotent and its output is canonical; the
//! router agrees with a plain oracle (a found route matches the path, accepts the method, has
//! the documented precedence over every other such route, and captures the right text; no
//! route is missed; a 405's `Allow` set is the union of the matching routes' methods).

#![no_main]

use std::borrow::Cow;
use std::sync::LazyLock;

use gateway_core::router::{
    normalize_path, Lookup, MethodSet, PathTemplate, PrefixRouter, Router, RouterBuilder, Segment,
};
use gateway_core::spec::{load_spec, HttpMethod};
use gateway_fuzz::captures;
use http::Method;
use libfuzzer_sys::fuzz_target;

/// Literals, parameters, wildcards, trailing slashes, escapes and method splits, with
/// overlaps that exercise precedence and backtracking.
const SPEC: &str = r#"{
  "routes": [
    {"path": "/", "methods": ["GET"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/hello", "methods": ["GET", "POST"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/hello/", "methods": ["GET"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/hello/{name}", "methods": ["GET"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/hello/{name}", "methods": ["PUT", "DELETE"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/hello/{rest*}", "methods": ["ANY"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/a/b/c", "methods": ["GET"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/a/{x}/d", "methods": ["GET"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/a/{y*}", "methods": ["POST"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/users/{id}/files/{path*}", "methods": ["GET", "HEAD"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/users/{id}/profile", "methods": ["GET", "PATCH"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/caf%C3%A9/{x}/", "methods": ["OPTIONS"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/semi;colon/{p}", "methods": ["GET"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
    {"path": "/{any*}", "methods": ["DELETE"], "backend": {"type": "STOCK_RESPONSE_BACKEND", "status": 200}}
  ]
}"#;

/// The deployments' prefixes (`/` would have to be the only one), nested to exercise the
/// longest-prefix choice.
const PREFIXES: [&str; 3] = ["/api", "/v1", "/v1/admin"];

const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "PURGE",
];

/// The routes of [`SPEC`] with their index, as the router stores them.
type Routes = Router<usize>;

static DEPLOYMENTS: LazyLock<PrefixRouter<Routes>> = LazyLock::new(|| {
    let spec = load_spec(SPEC).spec.expect("the fixed specification loads");
    let mut deployments = PrefixRouter::new();
    for prefix in PREFIXES {
        let mut routes = RouterBuilder::new();
        for (index, route) in spec.routes.iter().enumerate() {
            let template = PathTemplate::parse(&route.path).expect("a valid template");
            routes
                .insert(template, methods(route.methods.as_deref()), index)
                .expect("no conflict");
        }
        deployments
            .insert(prefix, routes.build())
            .expect("distinct prefixes");
    }
    deployments
});

fn methods(list: Option<&[HttpMethod]>) -> MethodSet {
    match list {
        None => MethodSet::ANY,
        Some(list) => MethodSet::from_names(list.iter().map(|m| m.as_str())).expect("OCI names"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, path)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(path) else {
        return;
    };
    let method = Method::from_bytes(METHODS[usize::from(pick) % METHODS.len()].as_bytes())
        .expect("a valid method");

    let Ok(normal) = normalize_path(path) else {
        return;
    };
    check_canonical(path, &normal);

    // The longest prefix that ends at a segment boundary owns the path.
    let owner = PREFIXES
        .iter()
        .filter(|&&p| normal == p || normal.strip_prefix(p).is_some_and(|r| r.starts_with('/')))
        .max_by_key(|p| p.len());
    let Some((router, rest)) = DEPLOYMENTS.find(&normal) else {
        assert_eq!(owner, None, "{normal:?} has a deployment");
        return;
    };
    let owner = owner.unwrap_or_else(|| panic!("{normal:?} has no deployment"));
    let expected_rest = match &normal[owner.len()..] {
        "" => "/",
        rest => rest,
    };
    assert_eq!(rest, expected_rest, "{normal:?}");
    check_lookup(router, &method, rest);
});

/// The output normalises to itself, borrowed, and keeps none of what normalisation refuses.
fn check_canonical(input: &str, normal: &str) {
    match normalize_path(normal) {
        Ok(Cow::Borrowed(again)) => assert_eq!(again, normal),
        other => panic!("{input:?} normalised to {normal:?}, which then gives {other:?}"),
    }
    if matches!(normalize_path(input), Ok(Cow::Borrowed(_))) {
        assert_eq!(input, normal);
    }
    assert!(normal.starts_with('/'));
    assert!(normal.is_ascii(), "{normal:?}");
    assert!(!normal.contains('\\'), "{normal:?}");
    let segments: Vec<&str> = normal[1..].split('/').collect();
    for (i, segment) in segments.iter().enumerate() {
        // Only the last segment may be empty (a trailing slash, or the path `/`).
        assert!(!segment.is_empty() || i + 1 == segments.len(), "{normal:?}");
        assert!(*segment != "." && *segment != "..", "{normal:?}");
    }
}

/// How specific a template is, in the documented order: a literal beats a parameter, which
/// beats the template's end, which beats a wildcard; the first difference decides.
fn rank(template: &PathTemplate) -> Vec<u8> {
    let mut rank: Vec<u8> = template
        .segments()
        .iter()
        .map(|s| match s {
            Segment::Literal(_) => 0,
            Segment::Param(_) => 1,
            Segment::Wildcard(_) => 3,
        })
        .collect();
    if !template.has_wildcard() {
        rank.push(2);
    }
    rank
}

/// What the template captures from `path` (relative, starting with `/`), if it matches.
fn oracle_match(template: &PathTemplate, path: &str) -> Option<Vec<String>> {
    let parts: Vec<&str> = path[1..].split('/').collect();
    let mut values = Vec::new();
    for (i, segment) in template.segments().iter().enumerate() {
        match segment {
            Segment::Wildcard(_) => {
                values.push(parts.get(i..).unwrap_or_default().join("/"));
                return Some(values);
            }
            Segment::Literal(text) => (parts.get(i)? == &&**text).then_some(())?,
            Segment::Param(_) => {
                let part = parts.get(i).filter(|p| !p.is_empty())?;
                values.push((*part).to_owned());
            }
        }
    }
    (parts.len() == template.segments().len()).then_some(values)
}

fn check_lookup(router: &Routes, method: &Method, path: &str) {
    let matching: Vec<(&PathTemplate, MethodSet, usize)> = router
        .routes()
        .filter(|(t, _, _)| oracle_match(t, path).is_some())
        .map(|(t, m, &i)| (t, m, i))
        .collect();
    let best = matching
        .iter()
        .filter(|(_, m, _)| m.contains(method))
        .min_by_key(|(t, _, _)| rank(t));
    match router.at(method, path) {
        Lookup::Found(found) => {
            let (template, methods, _) = router.route(*found.value).expect("a stored route");
            assert!(methods.contains(method));
            let expected = oracle_match(template, path).unwrap_or_else(|| {
                panic!("{method} {path:?} found {template:?}, which does not match it")
            });
            let (best, _, _) = best.expect("the oracle finds a route too");
            assert_eq!(
                rank(best),
                rank(template),
                "{method} {path:?}: found {template:?}, but {best:?} is more specific"
            );
            let captured = captures(&found.params, path);
            assert_eq!(captured, expected, "{method} {path:?} with {template:?}");
            assert_eq!(captured.len(), template.param_count());
        }
        Lookup::MethodNotAllowed(allowed) => {
            assert!(best.is_none(), "{method} {path:?}: {best:?} was missed");
            assert!(
                !matching.is_empty(),
                "{method} {path:?}: 405 without a match"
            );
            let union = matching
                .iter()
                .fold(MethodSet::EMPTY, |set, (_, m, _)| set.union(*m));
            assert_eq!(allowed, union, "{method} {path:?}");
        }
        Lookup::NotFound => {
            assert!(
                matching.is_empty(),
                "{method} {path:?}: not found, but {matching:?} match"
            );
        }
    }
}
