//! `DYNAMIC_ROUTING_BACKEND` compiled from real specification JSON: the selection rules
//! (ANY_OF, then WILDCARD in spec order, then the default, else 404), with stock, function
//! and HTTP backends (a real upstream on loopback) as branches.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gateway_core::backend::{
    BackendService, Branch, DynamicRouting, FunctionBackend, HostRule, HttpBackendService,
    HttpClient, StockResponse,
};
use gateway_core::diagnostics::Diagnostics;
use gateway_core::error_response;
use gateway_core::function::{
    FunctionCall, FunctionInvoker, FunctionResponse, InvokeError, RegisteredFunction,
};
use gateway_core::router::PathTemplate;
use gateway_core::spec::{load_spec, Backend};
use gateway_core::Body;
use gateway_core::BoxFuture;
use gateway_test_support::upstream::{ok, raw_upstream};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;

/// Answers with the URL it was called with, to show the function branch ran.
#[derive(Debug)]
struct EchoFunction;

impl FunctionInvoker for EchoFunction {
    fn invoke(
        &self,
        call: FunctionCall,
    ) -> BoxFuture<'static, Result<FunctionResponse, InvokeError>> {
        Box::pin(async move {
            Ok(FunctionResponse {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: Bytes::from(format!("function {}", call.request_url)),
            })
        })
    }
}

/// Compiles the first route's dynamic routing backend of `spec`, the way the gateway's
/// assembly does: each branch built by type, HTTP branches allowed the selector in their host.
fn compile(spec: Value) -> DynamicRouting {
    let load = load_spec(&spec.to_string());
    assert!(!load.diagnostics.has_errors(), "{:?}", load.diagnostics);
    let spec = load.spec.expect("spec");
    let route = &spec.routes[0];
    let Backend::DynamicRouting(dynamic) = &route.backend else {
        panic!("not a dynamic routing backend");
    };
    let template = PathTemplate::parse(&route.path).expect("template");
    let client = HttpClient::new();
    let function = RegisteredFunction {
        id: Arc::from("ocid1.fnfunc.oc1..trucks"),
        name: "app/trucks".into(),
        timeout: Duration::from_secs(5),
        invoker: Arc::new(EchoFunction),
        denied: None,
    };
    let build =
        |backend: &Backend, branch: Branch<'_>, diags: &mut Diagnostics| -> BackendService {
            match backend {
                Backend::StockResponse(stock) => {
                    BoxCloneSyncService::new(StockResponse::compile(stock, branch.path, diags))
                }
                Backend::Http(http) => {
                    let rule = branch
                        .selector
                        .map_or(HostRule::Literal, HostRule::Selector);
                    BoxCloneSyncService::new(HttpBackendService::compile_with(
                        &client,
                        http,
                        branch.path,
                        &template,
                        rule,
                        diags,
                    ))
                }
                Backend::OracleFunctions(_) => {
                    BoxCloneSyncService::new(FunctionBackend::new(function.clone()))
                }
                other => panic!("{} cannot be a branch", other.type_name()),
            }
        };
    let mut diags = Diagnostics::new();
    let routing = DynamicRouting::compile(dynamic, "routes[0].backend", build, &mut diags);
    assert!(!diags.has_errors(), "{diags:?}");
    routing
}

fn stock(body: &str) -> Value {
    json!({ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": body })
}

fn any_of(name: &str, values: &[&str], default: bool) -> Value {
    json!({ "type": "ANY_OF", "name": name, "values": values, "isDefault": default })
}

fn wildcard(name: &str, expression: &str) -> Value {
    json!({ "type": "WILDCARD", "name": name, "expression": expression })
}

fn spec(selector: &str, branches: Vec<(Value, Value)>) -> Value {
    let routing: Vec<Value> = branches
        .into_iter()
        .map(|(key, backend)| json!({ "key": key, "backend": backend }))
        .collect();
    json!({ "routes": [ { "path": "/vehicles/{id}", "methods": ["ANY"], "backend": {
        "type": "DYNAMIC_ROUTING_BACKEND",
        "selectionSource": { "type": "SINGLE", "selector": selector },
        "routingBackends": routing } } ] })
}

async fn answer(routing: &DynamicRouting, req: Request<Body>) -> (StatusCode, String) {
    let res: Response<Body> =
        tokio::time::timeout(Duration::from_secs(20), routing.clone().oneshot(req))
            .await
            .expect("in time")
            .unwrap_or_else(error_response);
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::builder().uri(uri);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.body(Body::empty()).expect("request")
}

/// The vehicle example of the reference (3.4), extended with every kind of rule.
fn vehicles() -> DynamicRouting {
    compile(spec(
        "request.query[vehicle-type]",
        vec![
            (any_of("cars", &["car", "Sedan"], false), stock("cars")),
            (wildcard("trucks", "truck*"), stock("trucks")),
            (wildcard("any-truck", "*truck"), stock("any-truck")),
            (wildcard("vans", "van+"), stock("vans")),
            (any_of("bikes", &["truckbike"], true), stock("bikes")),
        ],
    ))
}

#[tokio::test]
async fn any_of_values_match_exactly_and_case_insensitively() {
    let routing = vehicles();
    for value in ["car", "CAR", "sedan", "SeDaN"] {
        let got = answer(&routing, get(&format!("/v/1?vehicle-type={value}"), &[])).await;
        assert_eq!(got, (StatusCode::OK, "cars".into()), "{value}");
    }
    // Exact: a longer value is not a match (it falls to the default).
    let got = answer(&routing, get("/v/1?vehicle-type=cars", &[])).await;
    assert_eq!(got.1, "bikes");
}

#[tokio::test]
async fn any_of_wins_over_a_wildcard_that_also_matches() {
    let routing = vehicles();
    // "truckbike" matches `truck*` (listed earlier) but ANY_OF is tried first.
    let got = answer(&routing, get("/v/1?vehicle-type=TRUCKBIKE", &[])).await;
    assert_eq!(got.1, "bikes");
}

#[tokio::test]
async fn wildcards_are_case_sensitive_and_tried_in_spec_order() {
    let routing = vehicles();
    let cases = [
        ("truck", "trucks"),
        ("trucks", "trucks"),
        // Both `truck*` and `*truck` match "trucktruck": the first in spec order wins.
        ("trucktruck", "trucks"),
        ("firetruck", "any-truck"),
        ("Truck", "bikes"),
        ("vanX", "vans"),
        ("van", "bikes"),
    ];
    for (value, expected) in cases {
        let got = answer(&routing, get(&format!("/v/1?vehicle-type={value}"), &[])).await;
        assert_eq!(got.1, expected, "{value}");
    }
}

#[tokio::test]
async fn the_default_takes_what_nothing_else_matches_including_an_absent_value() {
    let routing = vehicles();
    assert_eq!(
        answer(&routing, get("/v/1?vehicle-type=boat", &[])).await.1,
        "bikes"
    );
    assert_eq!(answer(&routing, get("/v/1", &[])).await.1, "bikes");
    assert_eq!(routing.select(None), Some("bikes"));
    assert_eq!(routing.select(Some("SEDAN")), Some("cars"));
}

#[tokio::test]
async fn no_match_and_no_default_is_ocis_404() {
    let routing = compile(spec(
        "request.headers[X-Tenant]",
        vec![
            (any_of("acme", &["acme"], false), stock("acme")),
            (wildcard("beta", "beta-+"), stock("beta")),
        ],
    ));
    assert_eq!(
        answer(&routing, get("/v/1", &[("x-tenant", "ACME")]))
            .await
            .1,
        "acme"
    );
    assert_eq!(
        answer(&routing, get("/v/1", &[("x-tenant", "beta-1")]))
            .await
            .1,
        "beta"
    );
    for headers in [&[("x-tenant", "other")][..], &[("x-tenant", "beta-")], &[]] {
        let (status, body) = answer(&routing, get("/v/1", headers)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let body: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(body, json!({"code": 404, "message": "Not Found"}));
    }
}

#[tokio::test]
async fn an_empty_value_is_a_value_that_star_matches() {
    let routing = compile(spec(
        "request.query[t]",
        vec![
            (wildcard("all", "*"), stock("all")),
            (any_of("fallback", &["x"], true), stock("fallback")),
        ],
    ));
    assert_eq!(answer(&routing, get("/v/1?t=", &[])).await.1, "all");
    assert_eq!(answer(&routing, get("/v/1", &[])).await.1, "fallback");
}

#[tokio::test]
async fn host_and_subdomain_selectors() {
    let routing = compile(spec(
        "request.subdomain[example.com]",
        vec![
            (any_of("cars", &["cars"], false), stock("cars")),
            (wildcard("eu", "+-eu"), stock("eu")),
        ],
    ));
    assert_eq!(
        answer(&routing, get("/v/1", &[("host", "Cars.example.com:8443")]))
            .await
            .1,
        "cars"
    );
    assert_eq!(
        answer(&routing, get("/v/1", &[("host", "trucks-eu.example.com")]))
            .await
            .1,
        "eu"
    );
    assert_eq!(
        answer(&routing, get("/v/1", &[("host", "example.com")]))
            .await
            .0,
        404
    );

    let routing = compile(spec(
        "request.host",
        vec![(any_of("api", &["api.example.com"], false), stock("api"))],
    ));
    assert_eq!(
        answer(&routing, get("/v/1", &[("host", "API.example.com")]))
            .await
            .1,
        "api"
    );
}

#[tokio::test]
async fn function_branches_are_called() {
    let routing = compile(spec(
        "request.headers[x-kind]",
        vec![
            (
                any_of("trucks", &["truck"], false),
                json!({ "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..trucks" }),
            ),
            (any_of("cars", &["car"], true), stock("cars")),
        ],
    ));
    let got = answer(&routing, get("/v/7?x=1", &[("x-kind", "truck")])).await;
    assert_eq!(got, (StatusCode::OK, "function /v/7?x=1".into()));
}

/// An upstream that answers every request with its request line and `Host` header.
fn request_line_upstream() -> SocketAddr {
    raw_upstream(|req| {
        let host = req.header("host").unwrap_or_default();
        ok(None, format!("{} @ {host}", req.request_line()).as_bytes())
    })
}

#[tokio::test]
async fn http_branches_may_put_the_selector_in_the_host() {
    let up = request_line_upstream();
    let port = up.port();
    let routing = compile(spec(
        "request.headers[x-target]",
        vec![
            (
                wildcard("loopback", "127.+"),
                json!({ "type": "HTTP_BACKEND",
                        "url": format!("http://${{request.headers[x-target]}}:{port}/tenant/${{request.path[id]}}") }),
            ),
            (
                any_of("fixed", &["fixed"], false),
                json!({ "type": "HTTP_BACKEND", "url": format!("http://127.0.0.1:{port}/fixed") }),
            ),
        ],
    ));
    let got = answer(
        &routing,
        get("/vehicles/42?a=b", &[("x-target", "127.0.0.1")]),
    )
    .await;
    // Without the router's context the path parameter is unknown, hence empty.
    assert_eq!(
        got,
        (
            StatusCode::OK,
            format!("GET /tenant/?a=b HTTP/1.1 @ 127.0.0.1:{port}")
        )
    );
    let got = answer(&routing, get("/vehicles/42", &[("x-target", "fixed")])).await;
    assert_eq!(got.1, format!("GET /fixed HTTP/1.1 @ 127.0.0.1:{port}"));
    // A value that would make a different URL out of the host is refused, not followed.
    let got = answer(
        &routing,
        get("/vehicles/42", &[("x-target", "127.0.0.1:1/x")]),
    )
    .await;
    assert_eq!(got.0, StatusCode::BAD_GATEWAY);
}
