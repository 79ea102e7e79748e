//! Tests that need what only the crate can build: a routed [`RequestContext`] (path
//! parameters, client address, request id), and the backend's private pieces.

use std::net::SocketAddr;
use std::sync::Arc;

use gateway_test_support::upstream::{ok, raw_upstream};
use http::{Method, Request, Uri};
use http_body_util::BodyExt;

use super::*;
use crate::diagnostics::Severity;
use crate::error::Refusal;
use crate::request_id::RequestId;
use crate::router::{MethodSet, RouterBuilder};
use crate::routes::RouteInfo;
use crate::testing::answer;

/// The context the dispatcher would build for `uri` routed to `template` under `prefix`.
pub(crate) fn routed(
    prefix: &str,
    template: &str,
    uri: &str,
    client: Option<SocketAddr>,
) -> RequestContext {
    let template = PathTemplate::parse(template).expect("template");
    let mut builder = RouterBuilder::new();
    builder
        .insert(template.clone(), MethodSet::ANY, ())
        .expect("insert");
    let router = builder.build();
    let uri: Uri = uri.parse().expect("uri");
    let route_path = &uri.path()[prefix.len()..];
    let crate::router::Lookup::Found(matched) = router.at(&Method::GET, route_path) else {
        panic!("{route_path} does not match");
    };
    let info = RouteInfo::new(
        Arc::from("test"),
        Arc::from(prefix),
        0,
        template,
        MethodSet::ANY,
        "HTTP_BACKEND",
    );
    RequestContext::new(
        RequestId::generate(),
        client,
        Arc::new(info),
        uri.clone(),
        prefix.len(),
        matched.params,
    )
}

fn spec(url: &str) -> spec::HttpBackend {
    spec::HttpBackend {
        url: url.to_owned(),
        connect_timeout_in_seconds: None,
        read_timeout_in_seconds: None,
        send_timeout_in_seconds: None,
        is_ssl_verify_disabled: None,
    }
}

/// An upstream that answers with the request head it received (blank line included) as the
/// body.
fn head_echo() -> SocketAddr {
    raw_upstream(|req| ok(None, format!("{}\r\n\r\n", req.head).as_bytes()))
}

#[tokio::test]
async fn path_parameters_and_the_routed_client_reach_the_upstream() {
    let addr = head_echo();
    let template = PathTemplate::parse("/weather/{region}/{rest*}").expect("template");
    let mut diags = Diagnostics::new();
    let mut svc = HttpBackendService::compile(
        &HttpClient::new(),
        &spec(&format!(
            "http://{addr}/v1/${{request.path[region]}}/x/${{request.path[rest]}}"
        )),
        "routes[0].backend",
        &template,
        &mut diags,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let uri = "/api/weather/west%20coast/a/b?state=CA";
    let client: SocketAddr = "192.0.2.10:5555".parse().expect("addr");
    let mut req = Request::builder()
        .uri(uri)
        .header("host", "api.example.com")
        .body(Body::empty())
        .expect("request");
    req.extensions_mut().insert(routed(
        "/api",
        "/weather/{region}/{rest*}",
        uri,
        Some(client),
    ));
    let res = answer(&mut svc, req).await;
    assert_eq!(res.status(), 200);
    let head = res.into_body().collect().await.expect("body").to_bytes();
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(
        head.starts_with("get /v1/west%20coast/x/a/b?state=ca http/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains("\r\nx-forwarded-for: 192.0.2.10\r\n"),
        "{head}"
    );
    assert!(head.contains(&format!("\r\nhost: {addr}\r\n")), "{head}");
}

#[test]
fn compile_reports_what_cannot_work() {
    let client = HttpClient::new();
    let template = PathTemplate::parse("/items/{id}").expect("template");
    let compile = |spec: &spec::HttpBackend| {
        let mut diags = Diagnostics::new();
        HttpBackendService::compile(&client, spec, "routes[1].backend", &template, &mut diags);
        diags
            .iter()
            .map(|d| (d.severity, d.path.clone(), d.message.clone()))
            .collect::<Vec<_>>()
    };

    let unknown = compile(&spec("http://h/${request.path[name]}/${request.path[id]}"));
    assert_eq!(unknown.len(), 1, "{unknown:?}");
    assert_eq!(unknown[0].0, Severity::Warning);
    assert_eq!(unknown[0].1, "routes[1].backend.url");
    assert!(unknown[0].2.contains("no parameter \"name\""));

    let host = compile(&spec("http://${request.headers[x]}.svc/"));
    assert_eq!(host.len(), 1, "{host:?}");
    assert_eq!(host[0].0, Severity::Error);

    let mut bad = spec("http://h/");
    bad.read_timeout_in_seconds = Some(f64::NAN);
    bad.send_timeout_in_seconds = Some(0.0);
    let timeouts = compile(&bad);
    let paths: Vec<&str> = timeouts.iter().map(|d| d.1.as_str()).collect();
    assert_eq!(
        paths,
        [
            "routes[1].backend.sendTimeoutInSeconds",
            "routes[1].backend.readTimeoutInSeconds"
        ]
    );
}

#[test]
fn timeouts_default_to_ocis() {
    let mut diags = Diagnostics::new();
    let template = PathTemplate::parse("/").expect("template");
    let mut s = spec("https://h/");
    s.read_timeout_in_seconds = Some(2.5);
    let svc = HttpBackendService::compile(&HttpClient::new(), &s, "b", &template, &mut diags);
    assert_eq!(
        svc.timeouts(),
        Timeouts {
            connect: Duration::from_secs(60),
            send: Duration::from_secs(10),
            read: Duration::from_millis(2500),
        }
    );
}

#[test]
fn the_send_timeout_runs_from_the_last_progress_then_the_read_timeout_from_the_end() {
    let t = Timeouts {
        connect: Duration::from_secs(1),
        send: Duration::from_secs(10),
        read: Duration::from_secs(3),
    };
    let connected = Instant::now();
    let later = connected + Duration::from_secs(4);

    let (at, e) = phase_deadline(State::default(), connected, t);
    assert_eq!(at, connected + t.send);
    assert!(matches!(e, HttpBackendError::SendTimeout(_)));

    let moving = State {
        last: Some(later),
        done: None,
    };
    assert_eq!(phase_deadline(moving, connected, t).0, later + t.send);

    // An empty body is "written" before the connection exists: the read timeout counts from
    // the connection.
    let empty = State {
        last: Some(connected - Duration::from_millis(1)),
        done: Some(connected - Duration::from_millis(1)),
    };
    let (at, e) = phase_deadline(empty, connected, t);
    assert_eq!(at, connected + t.read);
    assert!(matches!(e, HttpBackendError::ReadTimeout(_)));
}

#[test]
fn errors_map_to_ocis_statuses_and_log_codes() {
    let d = Duration::from_secs(1);
    for (e, status, code) in [
        (
            HttpBackendError::ConnectTimeout(d),
            504,
            "httpBackend.requestError",
        ),
        (
            HttpBackendError::SendTimeout(d),
            504,
            "httpBackend.requestError",
        ),
        (
            HttpBackendError::ReadTimeout(d),
            504,
            "httpBackend.requestError",
        ),
        (
            HttpBackendError::Connect("refused".into()),
            502,
            "httpBackend.requestError",
        ),
        (
            HttpBackendError::Request("reset".into()),
            502,
            "httpBackend.requestError",
        ),
        (
            HttpBackendError::UrlInvalid("x".into()),
            502,
            "httpBackend.urlInvalid",
        ),
    ] {
        assert_eq!(e.status(), status);
        let gateway = GatewayError::from(e);
        assert_eq!(gateway.log_code(), code);
        assert_eq!(gateway.status(), status);
    }
}
