//! CUSTOM_AUTHENTICATION: the function's input in both forms, the response contract, the
//! result cache (hits, expiry, narrowing, single flight) and every failure → 502.

mod common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use gateway_core::function::{FunctionRegistry, RegisteredFunction};
use gateway_fn_backend::ServiceFunction;
use http::{Request, Response};
use serde_json::{json, Value};

fn single_arg_spec(location: &str) -> String {
    format!(
        r#"{{ "requestPolicies": {{ "authentication": {{ "type": "CUSTOM_AUTHENTICATION",
              "functionId": "authz", {location} }} }},
            "routes": [
              {{ "path": "/", "methods": ["GET"],
                 "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }},
              {{ "path": "/scoped", "methods": ["GET"],
                 "requestPolicies": {{ "authorization": {{ "type": "ANY_OF",
                                                          "allowedScope": ["read:hello"] }} }},
                 "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }} ] }}"#
    )
}

fn header_spec() -> String {
    single_arg_spec(r#""tokenHeader": "Authorization""#)
}

fn with(authorizer: &Authorizer) -> Factory {
    Factory::new(registry(&[("authz", authorizer)]))
}

#[tokio::test]
async fn single_argument_sends_the_raw_header_and_exposes_the_answer() {
    let authz = token_checker();
    let gate = gate(&header_spec(), &with(&authz));
    let reply = gate.get(0, "/", &[("authorization", "Bearer good")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        authz.inputs(),
        [json!({"type": "TOKEN", "token": "Bearer good"})]
    );
    let seen = reply.json();
    assert_eq!(seen["principal"], "jdoe");
    assert_eq!(seen["clientId"], "app");
    assert_eq!(seen["scopes"], json!(["read:hello"]));
    assert_eq!(seen["claims"]["email"], "jdoe@example.com");
    assert_eq!(seen["claims"]["principal"], "jdoe");
    // The scope drives ANY_OF.
    let reply = gate
        .get(1, "/scoped", &[("authorization", "Bearer good")])
        .await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn single_argument_from_a_query_parameter() {
    let authz = token_checker();
    let gate = gate(
        &single_arg_spec(r#""tokenQueryParam": "token""#),
        &with(&authz),
    );
    assert_eq!(gate.get(0, "/?a=1&token=good", &[]).await.status, 200);
    assert_eq!(authz.inputs(), [json!({"type": "TOKEN", "token": "good"})]);
    // In a header instead: no credentials, the function is not called.
    let reply = gate.get(0, "/", &[("token", "good")]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(authz.calls(), 1);
}

#[tokio::test]
async fn no_token_means_no_call_and_401() {
    let authz = token_checker();
    let gate = gate(&header_spec(), &with(&authz));
    let reply = gate.get(0, "/", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert_eq!(authz.calls(), 0);
}

#[tokio::test]
async fn active_false_is_401_with_the_authorizers_challenge() {
    let authz = token_checker();
    let gate = gate(&header_spec(), &with(&authz));
    let reply = gate.get(0, "/", &[("authorization", "Bearer bad")]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("Bearer realm=\"test\"")
    );
    assert_eq!(
        reply.json(),
        json!({"code": 401, "message": "Unauthorized"})
    );
}

#[tokio::test]
async fn a_4xx_from_the_authorizer_is_not_authenticated() {
    let authz = Authorizer::new(|_| (401, json!({"active": false}).to_string()));
    let gate = gate(&header_spec(), &with(&authz));
    assert_eq!(
        gate.get(0, "/", &[("authorization", "k")]).await.status,
        401
    );
    let authz = Authorizer::new(|_| (403, json!({"active": true}).to_string()));
    let gate = gate_for(&authz);
    assert_eq!(
        gate.get(0, "/", &[("authorization", "k")]).await.status,
        401
    );
}

fn gate_for(authz: &Authorizer) -> Gate {
    gate(&header_spec(), &with(authz))
}

#[tokio::test]
async fn an_authorizer_returning_junk_is_502_and_never_cached() {
    for junk in [
        "not json",
        "[]",
        r#"{"active": "true"}"#,
        r#"{"active": true, "scope": 1}"#,
        "",
    ] {
        let authz = Authorizer::new(move |_| (200, junk.to_owned()));
        let gate = gate_for(&authz);
        for _ in 0..2 {
            let reply = gate.get(0, "/", &[("authorization", "k")]).await;
            assert_eq!(reply.status, 502, "{junk:?}");
            assert_eq!(reply.json(), json!({"code": 502, "message": "Bad Gateway"}));
        }
        assert_eq!(authz.calls(), 2, "{junk:?}: failures are not cached");
    }
}

#[tokio::test]
async fn an_authorizer_5xx_is_502() {
    let authz = Authorizer::new(|_| (500, json!({"active": true}).to_string()));
    assert_eq!(
        gate_for(&authz)
            .get(0, "/", &[("authorization", "k")])
            .await
            .status,
        502
    );
}

/// A registry with one in-process function run by gateway-fn-backend's `ServiceFunction`.
fn service_registry<S>(service: S, timeout: Duration) -> FunctionRegistry
where
    S: tower::Service<Request<Bytes>, Response = Response<Bytes>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: std::fmt::Display + Send + 'static,
{
    let mut registry = FunctionRegistry::new();
    registry.register(RegisteredFunction {
        id: Arc::from("authz"),
        name: "test/authz".into(),
        timeout,
        invoker: Arc::new(ServiceFunction::new("authz", service)),
        denied: None,
    });
    registry
}

#[tokio::test]
async fn an_authorizer_that_crashes_is_502() {
    let crashing = tower::service_fn(|_req: Request<Bytes>| async {
        Err::<Response<Bytes>, _>("the process died")
    });
    let factory = Factory::new(service_registry(crashing, Duration::from_secs(5)));
    let gate = gate(&header_spec(), &factory);
    assert_eq!(
        gate.get(0, "/", &[("authorization", "k")]).await.status,
        502
    );
}

#[tokio::test]
async fn an_authorizer_that_times_out_is_502() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let slow = tower::service_fn(move |_req: Request<Bytes>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok::<_, Infallible>(Response::new(Bytes::from_static(br#"{"active": true}"#)))
        }
    });
    let factory = Factory::new(service_registry(slow, Duration::from_millis(200)));
    let gate = gate(&header_spec(), &factory);
    let started = std::time::Instant::now();
    let reply = gate.get(0, "/", &[("authorization", "k")]).await;
    assert_eq!(reply.status, 502);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_real_in_process_function_sees_the_invoke_body() {
    let service = tower::service_fn(|req: Request<Bytes>| async move {
        let input: Value = serde_json::from_slice(req.body()).unwrap_or(Value::Null);
        let active = input["token"] == "good";
        let body = json!({"active": active, "principal": "svc"}).to_string();
        Ok::<_, Infallible>(Response::new(Bytes::from(body)))
    });
    let factory = Factory::new(service_registry(service, Duration::from_secs(5)));
    let gate = gate(&header_spec(), &factory);
    assert_eq!(
        gate.get(0, "/", &[("authorization", "good")]).await.status,
        200
    );
    assert_eq!(
        gate.get(0, "/", &[("authorization", "bad")]).await.status,
        401
    );
}

#[tokio::test]
async fn results_are_cached_per_credential() {
    let authz = token_checker();
    let gate = gate_for(&authz);
    for _ in 0..3 {
        assert_eq!(
            gate.get(0, "/", &[("authorization", "good")]).await.status,
            200
        );
    }
    assert_eq!(authz.calls(), 1);
    // Another credential never reuses that entry.
    for _ in 0..2 {
        assert_eq!(
            gate.get(0, "/", &[("authorization", "bad")]).await.status,
            401
        );
    }
    assert_eq!(authz.calls(), 2, "the denial is cached too");
    assert_eq!(
        gate.get(0, "/", &[("authorization", "good ")]).await.status,
        401
    );
    assert_eq!(authz.calls(), 3);
}

#[tokio::test(start_paused = true)]
async fn cached_results_expire_at_expires_at_clamped_to_60_3600_seconds() {
    let in_ten_minutes = time_in(600);
    let authz = Authorizer::new(move |input| {
        let expires = match input["token"].as_str() {
            Some("ten-minutes") => json!(in_ten_minutes),
            Some("ten-hours") => json!(time_in(36_000)),
            Some("ten-seconds") => json!(time_in(10)),
            _ => Value::Null,
        };
        (
            200,
            json!({"active": true, "expiresAt": expires}).to_string(),
        )
    });
    let gate = gate_for(&authz);
    let call = |token: &'static str| {
        let gate = gate.clone();
        async move { gate.get(0, "/", &[("authorization", token)]).await.status }
    };
    for token in ["ten-minutes", "ten-hours", "ten-seconds", "no-expiry"] {
        assert_eq!(call(token).await, 200);
    }
    assert_eq!(authz.calls(), 4);

    advance(50).await; // 50 s: everything still cached (60 s minimum)
    for token in ["ten-minutes", "ten-hours", "ten-seconds", "no-expiry"] {
        call(token).await;
    }
    assert_eq!(authz.calls(), 4);

    advance(20).await; // 70 s: the 10 s and the missing expiry were clamped to 60 s
    for token in ["ten-minutes", "ten-hours", "ten-seconds", "no-expiry"] {
        call(token).await;
    }
    assert_eq!(authz.calls(), 6);

    advance(560).await; // 630 s: past ten minutes
    call("ten-minutes").await;
    call("ten-hours").await;
    assert_eq!(authz.calls(), 7);

    advance(3000).await; // 3630 s: past the 3600 s maximum
    call("ten-hours").await;
    assert_eq!(authz.calls(), 8);
}

#[tokio::test(start_paused = true)]
async fn denials_are_cached_for_60_seconds() {
    let authz = token_checker();
    let gate = gate_for(&authz);
    for _ in 0..3 {
        assert_eq!(
            gate.get(0, "/", &[("authorization", "bad")]).await.status,
            401
        );
    }
    assert_eq!(authz.calls(), 1);
    advance(61).await;
    gate.get(0, "/", &[("authorization", "bad")]).await;
    assert_eq!(authz.calls(), 2);
}

async fn advance(seconds: u64) {
    tokio::time::advance(Duration::from_secs(seconds)).await;
}

/// An RFC 3339 time `seconds` from now (wall clock: the authorizer states real times).
fn time_in(seconds: u64) -> String {
    let t = std::time::SystemTime::now() + Duration::from_secs(seconds);
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    rfc3339(secs)
}

/// Seconds since the epoch as `YYYY-MM-DDThh:mm:ssZ` (civil-from-days, proleptic Gregorian).
fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[tokio::test]
async fn concurrent_misses_for_one_token_invoke_the_function_once() {
    let authz = token_checker().with_delay(Duration::from_millis(200));
    let gate = gate_for(&authz);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let gate = gate.clone();
        tasks.push(tokio::spawn(async move {
            gate.get(0, "/", &[("authorization", "good")]).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.ok(), Some(http::StatusCode::OK));
    }
    assert_eq!(authz.calls(), 1);
}

fn multi_spec(cache_key: &str) -> String {
    format!(
        r#"{{ "requestPolicies": {{ "authentication": {{ "type": "CUSTOM_AUTHENTICATION",
              "functionId": "authz",
              "parameters": {{ "xapikey": "request.headers[X-Api-Key]",
                              "city": "request.query[city]",
                              "state": "request.query[state]",
                              "trace": "request.headers[X-Trace]",
                              "host": "request.host",
                              "payload": "request.body" }} {cache_key} }} }},
            "routes": [ {{ "path": "/", "methods": ["POST"],
              "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200 }} }} ] }}"#
    )
}

fn key_checker() -> Authorizer {
    Authorizer::new(|input| {
        let ok = input["data"]["xapikey"] == "abc123def456";
        (
            200,
            json!({ "active": ok, "principal": "key-owner",
                    "context": { "city": input["data"]["city"] } })
            .to_string(),
        )
    })
}

#[tokio::test]
async fn multi_argument_input_has_arrays_for_repeats_omits_absent_and_carries_the_body() {
    let authz = key_checker();
    let gate = gate(&multi_spec(""), &with(&authz));
    let req = request(
        "POST",
        "http://api.example.com/?city=fremont&city=belmont&other=1",
        &[("x-api-key", "abc123def456"), ("host", "api.example.com")],
        r#"{"order": 1}"#,
    );
    let reply = gate.send(0, req).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        authz.inputs(),
        [json!({ "type": "USER_DEFINED", "data": {
            "xapikey": "abc123def456",
            "city": ["fremont", "belmont"],
            "host": "api.example.com",
            "payload": "{\"order\": 1}" } })]
    );
    // The body was put back for the backend, and the context reached request.auth.
    let seen = reply.json();
    assert_eq!(seen["body"], r#"{"order": 1}"#);
    assert_eq!(seen["claims"]["city"], r#"["fremont","belmont"]"#);
}

#[tokio::test]
async fn multi_argument_without_any_value_is_no_credentials() {
    let authz = key_checker();
    let spec = r#"{ "requestPolicies": { "authentication": { "type": "CUSTOM_AUTHENTICATION",
        "functionId": "authz", "parameters": { "k": "request.headers[X-Api-Key]" } } },
      "routes": [ { "path": "/", "methods": ["GET"],
        "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#;
    let gate = gate(spec, &with(&authz));
    assert_eq!(gate.get(0, "/", &[]).await.status, 401);
    assert_eq!(authz.calls(), 0);
}

#[tokio::test]
async fn the_cache_key_covers_every_argument_but_the_body() {
    let authz = key_checker();
    let gate = gate(&multi_spec(""), &with(&authz));
    let send = |trace: &'static str, body: &'static str| {
        let gate = gate.clone();
        async move {
            let req = request(
                "POST",
                "/?city=a",
                &[("x-api-key", "abc123def456"), ("x-trace", trace)],
                body,
            );
            gate.send(0, req).await.status
        }
    };
    assert_eq!(send("1", "x").await, 200);
    assert_eq!(send("1", "another body").await, 200);
    assert_eq!(authz.calls(), 1, "the body is not part of the key");
    assert_eq!(send("2", "x").await, 200);
    assert_eq!(authz.calls(), 2, "another trace header is another key");
}

#[tokio::test]
async fn cache_key_narrows_the_key_to_the_listed_arguments() {
    let authz = key_checker();
    let gate = gate(&multi_spec(r#", "cacheKey": ["xapikey"]"#), &with(&authz));
    for trace in ["1", "2", "3"] {
        let req = request(
            "POST",
            "/",
            &[("x-api-key", "abc123def456"), ("x-trace", trace)],
            "",
        );
        assert_eq!(gate.send(0, req).await.status, 200);
    }
    assert_eq!(authz.calls(), 1);
    let req = request("POST", "/", &[("x-api-key", "other")], "");
    assert_eq!(gate.send(0, req).await.status, 401);
    assert_eq!(
        authz.calls(),
        2,
        "another key value is never served from that entry"
    );
}

#[tokio::test]
async fn only_a_body_argument_is_never_cached() {
    let authz = Authorizer::new(|input| {
        let ok = input["data"]["payload"] == "secret";
        (200, json!({"active": ok}).to_string())
    });
    let spec = r#"{ "requestPolicies": { "authentication": { "type": "CUSTOM_AUTHENTICATION",
        "functionId": "authz", "parameters": { "payload": "request.body" } } },
      "routes": [ { "path": "/", "methods": ["POST"],
        "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#;
    let gate = gate(spec, &with(&authz));
    assert_eq!(
        gate.send(0, request("POST", "/", &[], "secret"))
            .await
            .status,
        200
    );
    assert_eq!(
        gate.send(0, request("POST", "/", &[], "guess"))
            .await
            .status,
        401
    );
    assert_eq!(
        gate.send(0, request("POST", "/", &[], "secret"))
            .await
            .status,
        200
    );
    assert_eq!(authz.calls(), 3);
}

#[tokio::test]
async fn an_authorizer_the_gateway_may_not_invoke_is_500_and_never_called() {
    let authz = token_checker();
    let mut function = authz.register("authz");
    function.denied = Some(Arc::from(
        "no policy allows the gateway to use fn-invocation",
    ));
    let mut registry = FunctionRegistry::new();
    registry.register(function);
    let (enforced, diags) = build_errors(&header_spec(), &Factory::new(registry.clone()));
    assert!(enforced);
    assert_eq!(
        diags
            .of_kind(gateway_core::diagnostics::Kind::Permission)
            .count(),
        1
    );
    let gate = gate(&header_spec(), &Factory::new(registry));
    let reply = gate.get(0, "/", &[("authorization", "good")]).await;
    assert_eq!(reply.status, 500);
    assert_eq!(authz.calls(), 0);
    assert_eq!(gate.get(0, "/", &[]).await.status, 401);
}

#[test]
fn an_unknown_authorizer_function_is_a_load_error() {
    let (enforced, diags) = build_errors(&header_spec(), &Factory::new(FunctionRegistry::new()));
    assert!(!enforced);
    let errors: BTreeMap<String, String> = diags
        .errors()
        .map(|d| (d.path.clone(), d.message.clone()))
        .collect();
    assert!(
        errors.contains_key("requestPolicies.authentication.functionId"),
        "{errors:?}"
    );
}
