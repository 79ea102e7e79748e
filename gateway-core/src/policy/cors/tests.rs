use std::convert::Infallible;

use http::{HeaderMap, Method, Request, Response};
use tower::{service_fn, Layer, ServiceExt};

use super::*;
use crate::body::Body;
use crate::diagnostics::{Diagnostics, Severity};
use crate::policy::testing::{body_text, request, values};

fn policy(origins: &[&str]) -> CorsPolicy {
    CorsPolicy {
        allowed_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        allowed_methods: Vec::new(),
        allowed_headers: Vec::new(),
        exposed_headers: Vec::new(),
        is_allow_credentials_enabled: None,
        max_age_in_seconds: None,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|i| (*i).to_owned()).collect()
}

/// A full policy for `https://app.example`.
fn app_policy() -> CorsPolicy {
    CorsPolicy {
        allowed_methods: strings(&["PUT", "DELETE"]),
        allowed_headers: strings(&["Content-Type", "X-Api-Key"]),
        exposed_headers: strings(&["X-Request-Count", "ETag"]),
        max_age_in_seconds: Some(600),
        ..policy(&["https://app.example"])
    }
}

fn cors(policy: &CorsPolicy) -> CorsLayer {
    let mut diags = Diagnostics::new();
    let layer = CorsLayer::compile(policy, "requestPolicies.cors", &mut diags);
    assert!(!diags.has_errors(), "{diags}");
    layer
}

/// The backend: 200 with a few headers of its own; marks that it was reached.
async fn backend(_req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let mut res = Response::new(Body::full("backend"));
    let h = res.headers_mut();
    h.insert("x-backend", "reached".parse().expect("value"));
    h.insert("vary", "Accept-Encoding".parse().expect("value"));
    h.insert("etag", "\"1\"".parse().expect("value"));
    Ok(res)
}

async fn send(layer: &CorsLayer, method: Method, headers: &[(&str, &str)]) -> Response<Body> {
    let req = request(method, "/p", headers, None, Body::empty());
    layer
        .layer(service_fn(backend))
        .oneshot(req)
        .await
        .expect("infallible")
}

fn preflight_headers<'a>(
    origin: &'a str,
    method: &'a str,
    headers: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![
        ("origin", origin),
        ("access-control-request-method", method),
    ];
    if let Some(list) = headers {
        h.push(("access-control-request-headers", list));
    }
    h
}

fn cors_headers(h: &HeaderMap) -> Vec<&str> {
    h.keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("access-control-"))
        .collect()
}

#[tokio::test]
async fn an_allowed_preflight_is_answered_with_every_allow_header() {
    let l = cors(&app_policy());
    let h = preflight_headers(
        "https://app.example",
        "PUT",
        Some("content-type, x-api-key"),
    );
    let res = send(&l, Method::OPTIONS, &h).await;
    assert_eq!(res.status(), 204);
    let h = res.headers();
    assert!(!h.contains_key("x-backend"), "never forwarded");
    assert_eq!(
        values(h, "access-control-allow-origin"),
        ["https://app.example"]
    );
    assert_eq!(values(h, "access-control-allow-methods"), ["PUT, DELETE"]);
    assert_eq!(
        values(h, "access-control-allow-headers"),
        ["content-type, x-api-key"]
    );
    assert_eq!(values(h, "access-control-max-age"), ["600"]);
    assert!(!h.contains_key("access-control-allow-credentials"));
    assert_eq!(
        values(h, "vary"),
        ["Origin, Access-Control-Request-Method, Access-Control-Request-Headers"]
    );
    assert_eq!(body_text(res).await, "");
}

#[tokio::test]
async fn a_denied_preflight_is_answered_without_cors_headers() {
    let l = cors(&app_policy());
    for h in [
        preflight_headers("https://evil.example", "PUT", None),
        preflight_headers("http://app.example", "PUT", None),
        preflight_headers("https://app.example", "PATCH", None),
        preflight_headers("https://app.example", "PUT", Some("x-api-key, x-other")),
        preflight_headers("https://app.example", "PUT", Some("bad header")),
        preflight_headers("https://app.example", "bad method", None),
    ] {
        let res = send(&l, Method::OPTIONS, &h).await;
        assert_eq!(res.status(), 204, "{h:?}");
        assert!(cors_headers(res.headers()).is_empty(), "{h:?}");
        assert!(!res.headers().contains_key("x-backend"), "{h:?}");
    }
}

#[tokio::test]
async fn origins_match_case_insensitively_with_default_ports() {
    let l = cors(&app_policy());
    for origin in ["https://APP.example", "https://app.example:443"] {
        let res = send(&l, Method::OPTIONS, &preflight_headers(origin, "PUT", None)).await;
        assert_eq!(
            values(res.headers(), "access-control-allow-origin"),
            [origin]
        );
    }
}

#[tokio::test]
async fn simple_methods_pass_an_empty_or_partial_method_list() {
    let l = cors(&policy(&["https://app.example"]));
    let res = send(
        &l,
        Method::OPTIONS,
        &preflight_headers("https://app.example", "POST", None),
    )
    .await;
    assert_eq!(
        values(res.headers(), "access-control-allow-origin"),
        ["https://app.example"]
    );
    assert!(!res.headers().contains_key("access-control-allow-methods"));
    let res = send(
        &l,
        Method::OPTIONS,
        &preflight_headers("https://app.example", "PUT", None),
    )
    .await;
    assert!(cors_headers(res.headers()).is_empty());

    let l = cors(&app_policy());
    let res = send(
        &l,
        Method::OPTIONS,
        &preflight_headers("https://app.example", "GET", None),
    )
    .await;
    assert_eq!(
        values(res.headers(), "access-control-allow-methods"),
        ["PUT, DELETE"]
    );
}

#[tokio::test]
async fn wildcards_allow_everything_and_echo_what_was_asked() {
    let p = CorsPolicy {
        allowed_methods: strings(&["*"]),
        allowed_headers: strings(&["*"]),
        ..policy(&["*"])
    };
    let l = cors(&p);
    let h = preflight_headers(
        "https://any.example",
        "PATCH",
        Some("X-Custom, content-type"),
    );
    let res = send(&l, Method::OPTIONS, &h).await;
    let h = res.headers();
    assert_eq!(values(h, "access-control-allow-origin"), ["*"]);
    assert_eq!(values(h, "access-control-allow-methods"), ["PATCH"]);
    assert_eq!(
        values(h, "access-control-allow-headers"),
        ["X-Custom, content-type"]
    );
    assert_eq!(
        values(h, "vary"),
        ["Access-Control-Request-Method, Access-Control-Request-Headers"],
        "a lone * without credentials does not depend on the origin"
    );
    assert!(!h.contains_key("access-control-max-age"));
}

#[tokio::test]
async fn a_star_origin_answers_actual_requests_without_vary() {
    let l = cors(&policy(&["*"]));
    let res = send(&l, Method::GET, &[("origin", "https://any.example")]).await;
    assert_eq!(values(res.headers(), "access-control-allow-origin"), ["*"]);
    assert_eq!(values(res.headers(), "vary"), ["Accept-Encoding"]);
}

#[tokio::test]
async fn credentials_with_a_star_origin_echo_the_origin_and_warn() {
    let p = CorsPolicy {
        is_allow_credentials_enabled: Some(true),
        ..policy(&["*"])
    };
    let mut diags = Diagnostics::new();
    let l = CorsLayer::compile(&p, "requestPolicies.cors", &mut diags);
    let warning = diags.iter().next().expect("a warning");
    assert_eq!(warning.severity, Severity::Warning);
    assert_eq!(warning.path, "requestPolicies.cors.allowedOrigins");

    let res = send(&l, Method::GET, &[("origin", "https://any.example")]).await;
    let h = res.headers();
    assert_eq!(
        values(h, "access-control-allow-origin"),
        ["https://any.example"]
    );
    assert_eq!(values(h, "access-control-allow-credentials"), ["true"]);
    assert_eq!(values(h, "vary"), ["Accept-Encoding", "Origin"]);

    let res = send(
        &l,
        Method::OPTIONS,
        &preflight_headers("https://any.example", "GET", None),
    )
    .await;
    assert_eq!(
        values(res.headers(), "access-control-allow-credentials"),
        ["true"]
    );
    assert_eq!(
        values(res.headers(), "access-control-allow-origin"),
        ["https://any.example"]
    );
}

#[tokio::test]
async fn the_null_origin_matches_only_a_null_entry_or_star() {
    let l = cors(&policy(&["null", "https://app.example"]));
    let res = send(&l, Method::GET, &[("origin", "null")]).await;
    assert_eq!(
        values(res.headers(), "access-control-allow-origin"),
        ["null"]
    );

    let l = cors(&policy(&["https://app.example"]));
    let res = send(&l, Method::GET, &[("origin", "null")]).await;
    assert!(cors_headers(res.headers()).is_empty());

    let l = cors(&policy(&["*"]));
    let res = send(&l, Method::GET, &[("origin", "null")]).await;
    assert_eq!(values(res.headers(), "access-control-allow-origin"), ["*"]);
}

#[tokio::test]
async fn an_exact_match_is_preferred_to_star() {
    let l = cors(&policy(&["*", "https://app.example"]));
    let res = send(&l, Method::GET, &[("origin", "https://app.example")]).await;
    assert_eq!(
        values(res.headers(), "access-control-allow-origin"),
        ["https://app.example"]
    );
    assert_eq!(values(res.headers(), "vary"), ["Accept-Encoding", "Origin"]);
}

#[tokio::test]
async fn an_allowed_actual_request_gets_origin_and_exposed_headers() {
    let p = CorsPolicy {
        is_allow_credentials_enabled: Some(true),
        ..app_policy()
    };
    let l = cors(&p);
    let res = send(&l, Method::PUT, &[("origin", "https://app.example")]).await;
    let h = res.headers();
    assert_eq!(values(h, "x-backend"), ["reached"]);
    assert_eq!(
        values(h, "access-control-allow-origin"),
        ["https://app.example"]
    );
    assert_eq!(values(h, "access-control-allow-credentials"), ["true"]);
    assert_eq!(
        values(h, "access-control-expose-headers"),
        ["x-request-count, etag"]
    );
    assert_eq!(values(h, "vary"), ["Accept-Encoding", "Origin"]);
    assert!(
        !h.contains_key("access-control-allow-methods"),
        "pre-flight only"
    );
    assert!(!h.contains_key("access-control-max-age"), "pre-flight only");
}

#[tokio::test]
async fn exposing_star_with_credentials_lists_the_response_headers() {
    let p = CorsPolicy {
        exposed_headers: strings(&["*"]),
        is_allow_credentials_enabled: Some(true),
        ..policy(&["https://app.example"])
    };
    let res = send(&cors(&p), Method::GET, &[("origin", "https://app.example")]).await;
    assert_eq!(
        values(res.headers(), "access-control-expose-headers"),
        ["x-backend, vary, etag"]
    );
    let p = CorsPolicy {
        exposed_headers: strings(&["*"]),
        ..policy(&["https://app.example"])
    };
    let res = send(&cors(&p), Method::GET, &[("origin", "https://app.example")]).await;
    assert_eq!(
        values(res.headers(), "access-control-expose-headers"),
        ["*"]
    );
}

#[tokio::test]
async fn a_denied_actual_request_reaches_the_backend_without_allow_headers() {
    let l = cors(&app_policy());
    let res = send(&l, Method::GET, &[("origin", "https://evil.example")]).await;
    let h = res.headers();
    assert_eq!(values(h, "x-backend"), ["reached"]);
    assert!(cors_headers(h).is_empty());
    assert_eq!(values(h, "vary"), ["Accept-Encoding", "Origin"]);
}

#[tokio::test]
async fn requests_without_origin_are_untouched() {
    let l = cors(&app_policy());
    for method in [Method::GET, Method::OPTIONS] {
        let res = send(&l, method, &[("access-control-request-method", "PUT")]).await;
        let h = res.headers();
        assert_eq!(values(h, "x-backend"), ["reached"]);
        assert_eq!(values(h, "vary"), ["Accept-Encoding"]);
        assert!(cors_headers(h).is_empty());
    }
}

#[tokio::test]
async fn an_options_request_without_a_requested_method_is_an_actual_request() {
    let l = cors(&app_policy());
    let res = send(&l, Method::OPTIONS, &[("origin", "https://app.example")]).await;
    assert_eq!(values(res.headers(), "x-backend"), ["reached"]);
    assert_eq!(
        values(res.headers(), "access-control-allow-origin"),
        ["https://app.example"]
    );
}

#[tokio::test]
async fn backend_cors_headers_are_replaced_for_allowed_origins() {
    let l = cors(&app_policy());
    let svc = l.layer(service_fn(|_req: Request<Body>| async {
        let mut res = Response::new(Body::empty());
        res.headers_mut()
            .insert("access-control-allow-origin", "*".parse().expect("value"));
        res.headers_mut()
            .insert("vary", "origin".parse().expect("value"));
        Ok::<_, Infallible>(res)
    }));
    let req = request(
        Method::GET,
        "/p",
        &[("origin", "https://app.example")],
        None,
        Body::empty(),
    );
    let res = svc.oneshot(req).await.expect("infallible");
    assert_eq!(
        values(res.headers(), "access-control-allow-origin"),
        ["https://app.example"]
    );
    assert_eq!(
        values(res.headers(), "vary"),
        ["origin"],
        "Vary: Origin is not repeated"
    );
}

#[test]
fn bad_entries_in_a_policy_built_in_code_are_reported() {
    let p = CorsPolicy {
        allowed_methods: strings(&["GET", "BAD METHOD"]),
        allowed_headers: strings(&["bad header"]),
        ..policy(&["https://ok.example", "ftp//nope"])
    };
    let mut diags = Diagnostics::new();
    CorsLayer::compile(&p, "routes[0].requestPolicies.cors", &mut diags);
    let paths: Vec<&str> = diags.errors().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "routes[0].requestPolicies.cors.allowedOrigins[1]",
            "routes[0].requestPolicies.cors.allowedMethods[1]",
            "routes[0].requestPolicies.cors.allowedHeaders[0]",
        ]
    );
}

#[test]
fn preflight_method_names_the_method_to_route_by() {
    let headers = |pairs: &[(&str, &str)]| {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(n.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        h
    };
    let preflight = headers(&[
        ("origin", "https://a.example"),
        ("access-control-request-method", "PUT"),
    ]);
    assert_eq!(
        preflight_method(&Method::OPTIONS, &preflight),
        Some(Method::PUT)
    );
    assert_eq!(
        preflight_method(&Method::GET, &preflight),
        None,
        "not OPTIONS"
    );
    let no_origin = headers(&[("access-control-request-method", "PUT")]);
    assert_eq!(preflight_method(&Method::OPTIONS, &no_origin), None);
    let no_method = headers(&[("origin", "https://a.example")]);
    assert_eq!(preflight_method(&Method::OPTIONS, &no_method), None);
    let bad = headers(&[
        ("origin", "https://a.example"),
        ("access-control-request-method", "P(T"),
    ]);
    assert_eq!(preflight_method(&Method::OPTIONS, &bad), None);
}
