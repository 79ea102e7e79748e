use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use http_body::Frame;
use tower::{service_fn, Layer};

use super::*;
use crate::body::BoxError;
use crate::policy::testing::{body_text, context, echo, request, seen, Seen};
use crate::spec::load_spec;
use crate::testing::answer;

/// A route's `requestPolicies`, loaded from JSON as a real spec would be.
fn policies(json: &str) -> RouteRequestPolicies {
    let spec = format!(
        r#"{{"routes": [{{"path": "/p", "methods": ["ANY"],
            "backend": {{"type": "STOCK_RESPONSE_BACKEND", "status": 200}},
            "requestPolicies": {json} }}]}}"#
    );
    let load = load_spec(&spec);
    assert!(!load.diagnostics.has_errors(), "{}", load.diagnostics);
    let mut spec = load.spec.expect("spec");
    spec.routes.remove(0).request_policies.expect("policies")
}

fn layer(json: &str) -> ValidationLayer {
    let mut diags = Diagnostics::new();
    let layer = ValidationLayer::compile(&policies(json), "routes[0].requestPolicies", &mut diags)
        .expect("a validation");
    assert!(diags.is_empty(), "{diags}");
    layer
}

async fn send(
    layer: &ValidationLayer,
    uri: &str,
    headers: &[(&str, &str)],
    body: Body,
) -> Response<Body> {
    let ctx = context("/p", uri, &[]);
    let req = request(Method::POST, uri, headers, Some(ctx), body);
    answer(&mut layer.layer(service_fn(echo)), req).await
}

/// Asserts a 400 with exactly this message, and that the backend never saw the request.
async fn assert_rejected(res: Response<Body>, message: &str) {
    assert_eq!(res.status(), 400);
    assert!(
        res.extensions().get::<Seen>().is_none(),
        "reached the backend"
    );
    let expected = serde_json::json!({"code": 400, "message": format!("Bad Request: {message}")});
    assert_eq!(body_text(res).await, expected.to_string());
}

fn assert_passed(res: &Response<Body>) -> &Seen {
    assert_eq!(res.status(), 200);
    seen(res)
}

const HEADERS: &str = r#"{"headerValidations": {"headers": [
    {"name": "X-Username", "required": true}, {"name": "X-Optional", "required": false}]}}"#;

#[tokio::test]
async fn a_missing_required_header_is_rejected_with_its_name() {
    let res = send(&layer(HEADERS), "/p", &[], Body::empty()).await;
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_rejected(res, "missing required header X-Username").await;
}

#[tokio::test]
async fn the_exact_oci_body_for_a_missing_header() {
    let res = send(&layer(HEADERS), "/p", &[], Body::empty()).await;
    assert_eq!(
        body_text(res).await,
        r#"{"code":400,"message":"Bad Request: missing required header X-Username"}"#
    );
}

#[tokio::test]
async fn header_names_are_case_insensitive_and_blank_values_do_not_count() {
    let l = layer(HEADERS);
    assert_passed(&send(&l, "/p", &[("x-USERNAME", "alice")], Body::empty()).await);
    assert_passed(
        &send(
            &l,
            "/p",
            &[("x-username", " "), ("x-username", "bob")],
            Body::empty(),
        )
        .await,
    );
    let res = send(&l, "/p", &[("x-username", " \t")], Body::empty()).await;
    assert_rejected(res, "missing required header X-Username").await;
}

#[tokio::test]
async fn permissive_failures_reach_the_backend() {
    let l = layer(
        r#"{"headerValidations": {"validationMode": "PERMISSIVE", "headers": [{"name": "X-A", "required": true}]},
            "queryParameterValidations": {"validationMode": "PERMISSIVE", "parameters": [{"name": "q", "required": true}]},
            "bodyValidation": {"validationMode": "PERMISSIVE", "required": true,
                               "content": {"application/json": {"validationType": "NONE"}}}}"#,
    );
    let seen =
        assert_passed(&send(&l, "/p", &[("content-type", "text/plain")], Body::full("x")).await)
            .clone();
    assert_eq!(seen.body, "x");
    assert_passed(&send(&l, "/p", &[], Body::empty()).await);
}

#[test]
fn disabled_or_optional_only_validations_compile_to_nothing() {
    let mut diags = Diagnostics::new();
    for json in [
        r#"{}"#,
        r#"{"headerValidations": {"validationMode": "DISABLED", "headers": [{"name": "X-A", "required": true}]}}"#,
        r#"{"queryParameterValidations": {"parameters": [{"name": "q"}, {"name": "r", "required": false}]}}"#,
        r#"{"bodyValidation": {"validationMode": "DISABLED", "required": true,
            "content": {"application/json": {"validationType": "NONE"}}}}"#,
        r#"{"bodyValidation": {"required": false, "content": {"*/*": {"validationType": "NONE"}}}}"#,
    ] {
        let layer = ValidationLayer::compile(&policies(json), "p", &mut diags);
        assert!(layer.is_none(), "{json}");
    }
    assert!(diags.is_empty());
}

const QUERY: &str =
    r#"{"queryParameterValidations": {"parameters": [{"name": "state", "required": true}]}}"#;

#[tokio::test]
async fn required_query_parameters_need_a_value_and_match_case_insensitively() {
    let l = layer(QUERY);
    assert_passed(&send(&l, "/p?a=1&state=CA", &[], Body::empty()).await);
    assert_passed(&send(&l, "/p?STATE=CA", &[], Body::empty()).await);
    assert_passed(&send(&l, "/p?st%61te=CA", &[], Body::empty()).await);
    for uri in ["/p", "/p?state", "/p?state=", "/p?states=CA"] {
        let res = send(&l, uri, &[], Body::empty()).await;
        assert_rejected(res, "missing required query parameter state").await;
    }
}

#[tokio::test]
async fn headers_are_checked_before_query_and_body() {
    let l = layer(
        r#"{"headerValidations": {"headers": [{"name": "X-A", "required": true}]},
            "queryParameterValidations": {"parameters": [{"name": "q", "required": true}]},
            "bodyValidation": {"required": true, "content": {"application/json": {"validationType": "NONE"}}}}"#,
    );
    assert_rejected(
        send(&l, "/p", &[], Body::empty()).await,
        "missing required header X-A",
    )
    .await;
    let res = send(&l, "/p", &[("x-a", "1")], Body::empty()).await;
    assert_rejected(res, "missing required query parameter q").await;
    let res = send(&l, "/p?q=1", &[("x-a", "1")], Body::empty()).await;
    assert_rejected(res, "missing required request body").await;
}

#[tokio::test]
async fn a_permissive_header_failure_does_not_hide_an_enforced_query_failure() {
    let l = layer(
        r#"{"headerValidations": {"validationMode": "PERMISSIVE", "headers": [{"name": "X-A", "required": true}]},
            "queryParameterValidations": {"parameters": [{"name": "q", "required": true}]}}"#,
    );
    assert_rejected(
        send(&l, "/p", &[], Body::empty()).await,
        "missing required query parameter q",
    )
    .await;
}

const BODY: &str = r#"{"bodyValidation": {"required": true, "content": {
    "application/json": {"validationType": "NONE"}, "application/xml": {"validationType": "NONE"}}}}"#;

#[tokio::test]
async fn a_required_body_must_not_be_empty() {
    let l = layer(BODY);
    let json = [("content-type", "application/json")];
    assert_rejected(
        send(&l, "/p", &json, Body::empty()).await,
        "missing required request body",
    )
    .await;
    assert_rejected(
        send(&l, "/p", &json, Body::full("")).await,
        "missing required request body",
    )
    .await;
    let seen = assert_passed(&send(&l, "/p", &json, Body::full("{}")).await).clone();
    assert_eq!(seen.body, "{}");
}

#[tokio::test]
async fn the_content_type_must_match_a_listed_range() {
    let l = layer(BODY);
    let ok = [("content-type", "Application/XML; charset=utf-8")];
    assert_passed(&send(&l, "/p", &ok, Body::full("<a/>")).await);
    let res = send(&l, "/p", &[("content-type", "text/plain")], Body::full("x")).await;
    assert_rejected(
        res,
        "Content-Type text/plain is not accepted (expected application/json, application/xml)",
    )
    .await;
    let res = send(&l, "/p", &[], Body::full("x")).await;
    assert_rejected(
        res,
        "request body has no Content-Type (expected application/json, application/xml)",
    )
    .await;
    let res = send(&l, "/p", &[("content-type", "json")], Body::full("x")).await;
    assert_rejected(
        res,
        "Content-Type is not a media type (expected application/json, application/xml)",
    )
    .await;
}

#[tokio::test]
async fn media_ranges_match_by_wildcard() {
    let l = layer(
        r#"{"bodyValidation": {"content": {"text/*": {"validationType": "NONE"},
            "application/json": {"validationType": "NONE"}}}}"#,
    );
    assert_passed(&send(&l, "/p", &[("content-type", "text/csv")], Body::full("a,b")).await);
    assert_passed(
        &send(
            &l,
            "/p",
            &[("content-type", "application/json")],
            Body::full("1"),
        )
        .await,
    );
    let res = send(
        &l,
        "/p",
        &[("content-type", "application/xml")],
        Body::full("<a/>"),
    )
    .await;
    assert_rejected(
        res,
        "Content-Type application/xml is not accepted (expected application/json, text/*)",
    )
    .await;
}

#[tokio::test]
async fn an_optional_empty_body_has_no_type_to_check() {
    let l = layer(
        r#"{"bodyValidation": {"content": {"application/json": {"validationType": "NONE"}}}}"#,
    );
    assert_passed(&send(&l, "/p", &[("content-type", "text/plain")], Body::empty()).await);
    assert_passed(&send(&l, "/p", &[], Body::empty()).await);
    let res = send(&l, "/p", &[("content-type", "text/plain")], Body::full("x")).await;
    assert_eq!(res.status(), 400);
}

/// A body that does not know its size, like a chunked upload.
struct Chunks(VecDeque<Result<Frame<Bytes>, BoxError>>);

impl Chunks {
    fn body(frames: Vec<Result<Frame<Bytes>, BoxError>>) -> Body {
        Body::new(Chunks(frames.into()))
    }
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Poll::Ready(self.get_mut().0.pop_front())
    }
}

fn data(s: &'static str) -> Result<Frame<Bytes>, BoxError> {
    Ok(Frame::data(Bytes::from_static(s.as_bytes())))
}

#[tokio::test]
async fn a_body_of_unknown_size_is_peeked_and_replayed_whole() {
    let l = layer(BODY);
    let json = [("content-type", "application/json")];
    let body = Chunks::body(vec![data(""), data("[1,"), data("2]")]);
    let seen = assert_passed(&send(&l, "/p", &json, body).await).clone();
    assert_eq!(seen.body, "[1,2]");

    let res = send(&l, "/p", &json, Chunks::body(vec![data(""), data("")])).await;
    assert_rejected(res, "missing required request body").await;

    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "0".parse().expect("value"));
    let res = send(
        &l,
        "/p",
        &json,
        Chunks::body(vec![Ok(Frame::trailers(trailers))]),
    )
    .await;
    assert_rejected(res, "missing required request body").await;
}

#[tokio::test]
async fn an_unknown_size_body_is_judged_by_content_length_when_given() {
    let l = layer(BODY);
    let headers = [
        ("content-type", "application/json"),
        ("content-length", "0"),
    ];
    let res = send(&l, "/p", &headers, Chunks::body(vec![data("x")])).await;
    assert_rejected(res, "missing required request body").await;
}

#[tokio::test]
async fn a_wrong_type_on_a_chunked_body_is_rejected_only_when_data_arrives() {
    let l = layer(
        r#"{"bodyValidation": {"content": {"application/json": {"validationType": "NONE"}}}}"#,
    );
    let text = [("content-type", "text/plain")];
    assert_passed(&send(&l, "/p", &text, Chunks::body(vec![data("")])).await);
    let res = send(&l, "/p", &text, Chunks::body(vec![data("x")])).await;
    assert_rejected(
        res,
        "Content-Type text/plain is not accepted (expected application/json)",
    )
    .await;
}

#[tokio::test]
async fn a_body_that_fails_while_peeked_is_a_bad_request() {
    let l = layer(BODY);
    let json = [("content-type", "application/json")];
    let res = send(&l, "/p", &json, Chunks::body(vec![Err("reset".into())])).await;
    assert_eq!(res.status(), 400);
    assert!(res.extensions().get::<Seen>().is_none());
}

#[tokio::test]
async fn without_a_request_context_validation_still_applies() {
    let req = request(Method::GET, "/p", &[], None, Body::empty());
    let res = answer(&mut layer(HEADERS).layer(service_fn(echo)), req).await;
    assert_rejected(res, "missing required header X-Username").await;
}
