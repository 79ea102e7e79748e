//! The limit layers end to end over the in-memory store, with the dispatcher's
//! [`RequestContext`](crate::context::RequestContext).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http::{Method, Response, StatusCode};
use tower::{Layer, Service, ServiceExt};

use super::testing::{body_text, context, counting_ok, request};
use super::usage::{SubscriberConfig, UsagePlanConfig};
use super::*;
use crate::body::Body;
use crate::error::GatewayError;
use crate::spec::{RateKey, RateLimitingPolicy, UsagePlansPolicy};
use crate::testing::answer;

fn settings(clock: Arc<ManualClock>) -> LimitSettings {
    LimitSettings {
        store: Arc::new(MemoryLimitStore::with_clock(clock.clone(), 10_000)),
        clock,
        ..LimitSettings::default()
    }
}

fn rate_layer(rate: u32, key: RateKey, settings: LimitSettings) -> RateLimitLayer {
    let policy = RateLimitingPolicy {
        rate_in_requests_per_second: rate,
        rate_key: key,
    };
    RateLimitLayer::new(Arc::new(RateLimiter::new("orders", &policy, settings)))
}

async fn call<S>(svc: &mut S, client: &str, headers: &[(&str, &str)]) -> Response<Body>
where
    S: Service<http::Request<Body>, Response = Response<Body>, Error = GatewayError>,
{
    let ctx = context("/items", "/items", Some(client), &[]);
    let req = request(Method::GET, "/items", headers, Some(ctx));
    answer(svc, req).await
}

#[tokio::test]
async fn client_ip_buckets_are_per_client_and_total_is_shared() {
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_000)));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut per_client =
        rate_layer(2, RateKey::ClientIp, settings(clock.clone())).layer(counting_ok(calls.clone()));
    for _ in 0..2 {
        assert_eq!(
            call(&mut per_client, "192.0.2.1:5000", &[]).await.status(),
            200
        );
    }
    assert_eq!(
        call(&mut per_client, "192.0.2.1:5001", &[]).await.status(),
        429
    );
    assert_eq!(
        call(&mut per_client, "192.0.2.2:5000", &[]).await.status(),
        200
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "a refused request never reaches the route"
    );

    let mut total = rate_layer(2, RateKey::Total, settings(clock)).layer(counting_ok(calls));
    assert_eq!(call(&mut total, "192.0.2.1:1", &[]).await.status(), 200);
    assert_eq!(call(&mut total, "192.0.2.2:1", &[]).await.status(), 200);
    assert_eq!(call(&mut total, "192.0.2.3:1", &[]).await.status(), 429);
}

#[tokio::test]
async fn ipv6_clients_share_a_bucket_per_64() {
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_000)));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = rate_layer(1, RateKey::ClientIp, settings(clock)).layer(counting_ok(calls));
    assert_eq!(
        call(&mut svc, "[2001:db8:1:2::1]:1", &[]).await.status(),
        200
    );
    assert_eq!(
        call(&mut svc, "[2001:db8:1:2::ffff]:1", &[]).await.status(),
        429
    );
    assert_eq!(
        call(&mut svc, "[2001:db8:1:3::1]:1", &[]).await.status(),
        200
    );
}

#[tokio::test]
async fn trusted_proxies_forward_the_client_address() {
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_000)));
    let mut s = settings(clock);
    s.trusted_proxies = Arc::new(TrustedProxies::parse(&["10.0.0.0/8"]).expect("cidrs"));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = rate_layer(1, RateKey::ClientIp, s).layer(counting_ok(calls));
    let lb = "10.0.0.1:4000";
    assert_eq!(
        call(&mut svc, lb, &[("x-forwarded-for", "203.0.113.1")])
            .await
            .status(),
        200
    );
    // Another client behind the same balancer has its own bucket...
    assert_eq!(
        call(&mut svc, lb, &[("x-forwarded-for", "203.0.113.2")])
            .await
            .status(),
        200
    );
    // ...and forging a leftmost entry does not escape one's own.
    let forged = [("x-forwarded-for", "198.51.100.9, 203.0.113.1")];
    assert_eq!(call(&mut svc, lb, &forged).await.status(), 429);
    // An untrusted peer's header is ignored: it is limited by its own address.
    let direct = [("x-forwarded-for", "203.0.113.3")];
    assert_eq!(call(&mut svc, "192.0.2.50:1", &direct).await.status(), 200);
    assert_eq!(
        call(
            &mut svc,
            "192.0.2.50:1",
            &[("x-forwarded-for", "203.0.113.4")]
        )
        .await
        .status(),
        429
    );
}

#[tokio::test]
async fn refusals_carry_ocis_body_and_the_rate_headers() {
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_000)));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc =
        rate_layer(4, RateKey::ClientIp, settings(clock.clone())).layer(counting_ok(calls));
    let ok = call(&mut svc, "192.0.2.1:1", &[]).await;
    assert_eq!(ok.headers()["x-ratelimit-limit"], "4");
    assert_eq!(ok.headers()["x-ratelimit-remaining"], "3");
    assert_eq!(ok.headers()["x-ratelimit-reset"], "1");
    for _ in 0..3 {
        call(&mut svc, "192.0.2.1:1", &[]).await;
    }
    let denied = call(&mut svc, "192.0.2.1:1", &[]).await;
    assert_eq!(denied.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(denied.headers()["retry-after"], "1");
    assert_eq!(denied.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(denied.headers()["content-type"], "application/json");
    let body: serde_json::Value = serde_json::from_str(&body_text(denied).await).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"code": 429, "message": "Too Many Requests"})
    );
    // A quarter second later one request fits again.
    clock.advance(Duration::from_millis(250));
    assert_eq!(call(&mut svc, "192.0.2.1:1", &[]).await.status(), 200);
}

#[tokio::test]
async fn the_limit_is_shared_by_every_route_of_the_deployment() {
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_000)));
    let layer = rate_layer(2, RateKey::Total, settings(clock));
    let calls = Arc::new(AtomicUsize::new(0));
    let mut route_a = layer.layer(counting_ok(calls.clone()));
    let mut route_b = layer.layer(counting_ok(calls.clone()));
    assert_eq!(call(&mut route_a, "192.0.2.1:1", &[]).await.status(), 200);
    assert_eq!(call(&mut route_b, "192.0.2.1:1", &[]).await.status(), 200);
    assert_eq!(call(&mut route_a, "192.0.2.1:1", &[]).await.status(), 429);
    let counters = layer.limiter().counters();
    assert_eq!((counters.permitted(), counters.denied()), (2, 1));
}

// ---------------------------------------------------------------------------------------------
// Usage plans

fn plans(quota_on_breach: &str, quota_unit: &str) -> UsagePlans {
    let plans: Vec<UsagePlanConfig> = serde_json::from_value(serde_json::json!([
        { "id": "plan-gold", "name": "Gold", "entitlements": [
            { "name": "orders-gold", "targets": ["orders"],
              "rate_limit": { "value": 2, "unit": "SECOND" },
              "quota": { "value": 3, "unit": quota_unit, "reset_policy": "CALENDAR",
                         "operation_on_breach": quota_on_breach } } ] },
        { "id": "plan-free", "entitlements": [
            { "name": "stock-only", "targets": ["stock"] } ] },
        { "id": "plan-open", "entitlements": [
            { "name": "unlimited", "targets": ["orders"] } ] }
    ]))
    .expect("plans");
    let subscribers: Vec<SubscriberConfig> = serde_json::from_value(serde_json::json!([
        { "name": "acme", "usage_plans": ["plan-gold"],
          "clients": [ { "name": "web", "token": "gold-token" }, { "name": "cli", "token": "gold-cli" } ] },
        { "name": "shop", "usage_plans": ["plan-free"],
          "clients": [ { "name": "web", "token": "free-token" } ] },
        { "name": "partner", "usage_plans": ["plan-free", "plan-open"],
          "clients": [ { "name": "api", "token": "open-token" } ] }
    ]))
    .expect("subscribers");
    UsagePlans::new(&plans, &subscribers).expect("valid")
}

fn usage_layer(plans: &UsagePlans, locations: &[&str], settings: LimitSettings) -> UsagePlansLayer {
    let policy = UsagePlansPolicy {
        token_locations: locations.iter().map(|s| (*s).to_owned()).collect(),
    };
    let limiter = UsagePlanLimiter::new("orders", &policy, plans, settings).expect("locations");
    UsagePlansLayer::new(Arc::new(limiter))
}

/// An inner service answering 200 with the usage plan id it saw.
fn plan_echo() -> impl Service<
    http::Request<Body>,
    Response = Response<Body>,
    Error = GatewayError,
    Future = std::future::Ready<Result<Response<Body>, GatewayError>>,
> + Clone {
    tower::service_fn(|req: http::Request<Body>| {
        let plan = req
            .extensions()
            .get::<UsagePlanId>()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default();
        std::future::ready(Ok(Response::new(Body::full(plan))))
    })
}

async fn with_token<S>(svc: &mut S, token: Option<&str>) -> Response<Body>
where
    S: Service<http::Request<Body>, Response = Response<Body>, Error = GatewayError>,
{
    let headers: Vec<(&str, &str)> = token.map(|t| ("x-client-token", t)).into_iter().collect();
    let ctx = context("/items", "/items", Some("192.0.2.1:1"), &[]);
    let req = request(Method::GET, "/items", &headers, Some(ctx));
    answer(svc, req).await
}

#[tokio::test]
async fn tokens_that_are_missing_unknown_or_not_entitled_get_401() {
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_700_000_000)));
    let plans = plans("REJECT", "DAY");
    let mut svc = usage_layer(
        &plans,
        &["request.headers[x-client-token]"],
        settings(clock),
    )
    .layer(plan_echo());
    for token in [None, Some("nope"), Some("free-token")] {
        let res = with_token(&mut svc, token).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        let body: serde_json::Value = serde_json::from_str(&body_text(res).await).expect("json");
        assert_eq!(body["code"], 401);
    }
    // A subscriber with several plans is served by the first that entitles the deployment.
    let res = with_token(&mut svc, Some("open-token")).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body_text(res).await, "plan-open");
}

/// Names are free text: a plan `a/b` with entitlement `c` and a plan `a` with entitlement
/// `b/c`, used by client `x` of subscriber `s/1` and client `1/x` of subscriber `s`, are four
/// different things, and each client keeps its own quota.
#[tokio::test]
async fn names_with_slashes_never_share_a_counter() {
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_700_000_000)));
    let quota = serde_json::json!({ "value": 1, "unit": "DAY", "reset_policy": "CALENDAR",
                                    "operation_on_breach": "REJECT" });
    let plans: Vec<UsagePlanConfig> = serde_json::from_value(serde_json::json!([
        { "id": "a/b", "entitlements": [ { "name": "c", "targets": ["orders"], "quota": quota } ] },
        { "id": "a", "entitlements": [ { "name": "b/c", "targets": ["orders"], "quota": quota } ] }
    ]))
    .expect("plans");
    let subscribers: Vec<SubscriberConfig> = serde_json::from_value(serde_json::json!([
        { "name": "s/1", "usage_plans": ["a/b"], "clients": [ { "name": "x", "token": "one" } ] },
        { "name": "s", "usage_plans": ["a"], "clients": [ { "name": "1/x", "token": "two" } ] }
    ]))
    .expect("subscribers");
    let plans = UsagePlans::new(&plans, &subscribers).expect("valid");
    let mut svc = usage_layer(
        &plans,
        &["request.headers[x-client-token]"],
        settings(clock),
    )
    .layer(plan_echo());
    assert_eq!(with_token(&mut svc, Some("one")).await.status(), 200);
    assert_eq!(with_token(&mut svc, Some("one")).await.status(), 429);
    assert_eq!(with_token(&mut svc, Some("two")).await.status(), 200);
}

#[tokio::test]
async fn rate_then_quota_then_the_calendar_reset() {
    // 2024-03-01T23:59:58Z
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_709_337_598)));
    let plans = plans("REJECT", "DAY");
    let mut svc = usage_layer(
        &plans,
        &["request.headers[x-client-token]"],
        settings(clock.clone()),
    )
    .layer(plan_echo());
    let ok = with_token(&mut svc, Some("gold-token")).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(
        body_text(ok).await,
        "plan-gold",
        "request.usage_plan[id] is set"
    );
    assert_eq!(with_token(&mut svc, Some("gold-token")).await.status(), 200);
    // Over the rate (2/s): 429 with the rate headers; the quota is not used up by it.
    let over_rate = with_token(&mut svc, Some("gold-token")).await;
    assert_eq!(over_rate.status(), 429);
    assert_eq!(over_rate.headers()["retry-after"], "1");
    assert_eq!(over_rate.headers()["x-ratelimit-limit"], "2");
    clock.advance(Duration::from_millis(1_000));
    assert_eq!(with_token(&mut svc, Some("gold-token")).await.status(), 200);
    // Quota (3/day) used up: 429, retry when the day ends (one second from now).
    clock.advance(Duration::from_millis(500));
    let over_quota = with_token(&mut svc, Some("gold-token")).await;
    assert_eq!(over_quota.status(), 429);
    assert_eq!(over_quota.headers()["retry-after"], "1");
    assert!(over_quota.headers().get("x-ratelimit-limit").is_none());
    // The other client of the subscriber has its own allowance.
    assert_eq!(with_token(&mut svc, Some("gold-cli")).await.status(), 200);
    // Midnight UTC: a new day, a new quota.
    clock.advance(Duration::from_millis(600));
    assert_eq!(with_token(&mut svc, Some("gold-token")).await.status(), 200);
}

#[tokio::test]
async fn allow_on_breach_keeps_serving() {
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_709_337_000)));
    let plans = plans("ALLOW", "MONTH");
    let layer = usage_layer(
        &plans,
        &["request.headers[x-client-token]"],
        settings(clock.clone()),
    );
    let mut svc = layer.layer(plan_echo());
    for _ in 0..6 {
        clock.advance(Duration::from_secs(1));
        let res = with_token(&mut svc, Some("gold-token")).await;
        assert_eq!(res.status(), 200);
        assert_eq!(body_text(res).await, "plan-gold");
    }
}

#[tokio::test]
async fn tokens_are_read_from_the_first_location_with_a_value() {
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_709_337_000)));
    let plans = plans("REJECT", "DAY");
    let locations = [
        "request.headers[x-client-token]",
        "request.query[token]",
        "request.path[token]",
        "request.auth[client_token]",
    ];
    let layer = usage_layer(&plans, &locations, settings(clock));
    let mut svc = layer.layer(plan_echo());
    let send = |uri: &str, template: &str, claims: &[(&str, &str)]| {
        let ctx = context(template, uri, None, claims);
        request(Method::GET, uri, &[], Some(ctx))
    };
    let cases = [
        send("/items?token=open-token", "/items", &[]),
        send("/keys/open-token", "/keys/{token}", &[]),
        send("/items", "/items", &[("client_token", "open-token")]),
    ];
    for req in cases {
        let uri = req.uri().clone();
        let res = svc
            .ready()
            .await
            .expect("ready")
            .call(req)
            .await
            .expect("infallible");
        assert_eq!(res.status(), 200, "{uri}");
    }
    let limiter = UsagePlanLimiter::new(
        "orders",
        &UsagePlansPolicy {
            token_locations: vec!["request.auth[sub]".into()],
        },
        &plans,
        LimitSettings::default(),
    )
    .expect("valid");
    assert!(
        limiter.reads_auth(),
        "the integrator must place it after authentication"
    );
}

// ---------------------------------------------------------------------------------------------
// Usage plans over Redis

#[cfg(feature = "redis")]
#[tokio::test]
async fn quotas_are_shared_by_replicas_through_redis_and_reset_on_the_calendar() {
    let server = gateway_test_support::redis::Redis::start();
    // 2024-03-31T23:59:00Z: the month ends in a minute.
    let clock = Arc::new(ManualClock::at(Duration::from_secs(1_711_929_540)));
    let plans_config: Vec<UsagePlanConfig> = serde_json::from_value(serde_json::json!([
        { "id": "plan-q", "entitlements": [ { "name": "monthly", "targets": ["orders"],
            "quota": { "value": 3, "unit": "MONTH", "reset_policy": "CALENDAR",
                       "operation_on_breach": "REJECT" } } ] }
    ]))
    .expect("plans");
    let subscribers: Vec<SubscriberConfig> = serde_json::from_value(serde_json::json!([
        { "name": "acme", "usage_plans": ["plan-q"],
          "clients": [ { "name": "web", "token": "gold-token" } ] }
    ]))
    .expect("subscribers");
    let plans = UsagePlans::new(&plans_config, &subscribers).expect("valid");
    let replica = || {
        let conn = crate::redis::RedisConnection::open(
            &server.url(),
            crate::redis::RedisOptions::default(),
        )
        .expect("url");
        let settings = LimitSettings {
            store: Arc::new(RedisLimitStore::new(conn)),
            clock: clock.clone(),
            on_unavailable: OnUnavailable::Closed,
            ..LimitSettings::default()
        };
        usage_layer(&plans, &["request.headers[x-client-token]"], settings).layer(plan_echo())
    };
    let (mut a, mut b) = (replica(), replica());
    let mut admitted = 0;
    for i in 0..8 {
        let svc = if i % 2 == 0 { &mut a } else { &mut b };
        match with_token(svc, Some("gold-token")).await.status().as_u16() {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(admitted, 3, "one quota for both replicas");
    let over = with_token(&mut a, Some("gold-token")).await;
    assert_eq!(
        over.headers()["retry-after"],
        "60",
        "the month ends in a minute"
    );
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        with_token(&mut b, Some("gold-token")).await.status(),
        200,
        "April's quota"
    );
}
