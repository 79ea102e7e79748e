//! Rate limits shared by replicas through a real `redis-server`.
#![cfg(feature = "redis")]

mod limit_support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_core::error_response;
use gateway_core::limit::{
    LimitSettings, OnUnavailable, RateLimitLayer, RateLimiter, RedisLimitStore,
};
use gateway_core::redis::{RedisConnection, RedisOptions};
use gateway_core::spec::{RateKey, RateLimitingPolicy};
use gateway_core::{Body, ClientAddr, GatewayError};
use gateway_test_support::redis::Redis;
use http::{Request, Response};
use limit_support::{body_text, client, counting, eventually};
use tower::{Layer, Service, ServiceExt};

/// Deadlines no loaded test machine misses: these tests are about what Redis answers, and a
/// request that missed its deadline would be refused (fail closed) for the machine's sake.
/// An outage is a refused connection, which fails at once whatever the deadline.
fn options() -> RedisOptions {
    RedisOptions {
        connect_timeout: Duration::from_secs(5),
        op_timeout: Duration::from_secs(2),
        retry_interval: Duration::from_millis(100),
    }
}

/// One gateway replica's limiter: its own connection, its own store.
fn replica(url: &str, rate: u32, key: RateKey, on_unavailable: OnUnavailable) -> Arc<RateLimiter> {
    let conn = RedisConnection::open(url, options()).expect("url");
    let mut settings = LimitSettings::with_store(Arc::new(RedisLimitStore::new(conn)));
    settings.on_unavailable = on_unavailable;
    let policy = RateLimitingPolicy {
        rate_in_requests_per_second: rate,
        rate_key: key,
    };
    Arc::new(RateLimiter::new("orders", &policy, settings))
}

fn get(client: &str) -> Request<Body> {
    let mut req = Request::get("/orders/items")
        .body(Body::empty())
        .expect("request");
    let addr: SocketAddr = client.parse().expect("address");
    req.extensions_mut().insert(ClientAddr(addr));
    req
}

async fn send<S>(svc: &mut S, client: &str) -> Response<Body>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = GatewayError>,
{
    let result = match svc.ready().await {
        Ok(svc) => svc.call(get(client)).await,
        Err(error) => Err(error),
    };
    result.unwrap_or_else(error_response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_sharing_redis_admit_no_more_than_the_limit() {
    let server = Redis::start();
    let calls = Arc::new(AtomicUsize::new(0));
    let (rate, burst) = (10u32, 10u32);
    let a = RateLimitLayer::new(replica(
        &server.url(),
        rate,
        RateKey::Total,
        OnUnavailable::Closed,
    ))
    .layer(counting(calls.clone(), "a"));
    let b = RateLimitLayer::new(replica(
        &server.url(),
        rate,
        RateKey::Total,
        OnUnavailable::Closed,
    ))
    .layer(counting(calls.clone(), "b"));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (replica, svc) in [("a", a), ("b", b)] {
        for client in 0..4 {
            let mut svc = svc.clone();
            tasks.push(tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..25 {
                    let res = send(&mut svc, &format!("192.0.2.{client}:1")).await;
                    statuses.push(res.status().as_u16());
                    // Paced so the run spans refills, not only the initial burst.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                (replica, statuses)
            }));
        }
    }
    let mut admitted = 0;
    let mut refused = 0;
    let mut per_replica = [0usize; 2];
    for task in tasks {
        let (replica, statuses) = task.await.expect("task");
        for status in statuses {
            match status {
                200 => {
                    admitted += 1;
                    per_replica[usize::from(replica == "b")] += 1;
                }
                429 => refused += 1,
                other => panic!("unexpected status {other}"),
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // GCRA's bound for any window: fewer than burst + rate × window admissions.
    let bound = f64::from(burst) + f64::from(rate) * elapsed;
    assert!(
        (admitted as f64) < bound + 1.0,
        "{admitted} admitted in {elapsed:.3}s by two replicas (bound {bound:.1})"
    );
    assert!(
        admitted > burst as usize,
        "the bucket refills while the replicas keep sending"
    );
    assert_eq!(admitted + refused, 200);
    assert_eq!(calls.load(Ordering::SeqCst), admitted);
    eprintln!("admitted {admitted} ({per_replica:?}) of 200 in {elapsed:.3}s");
}

#[tokio::test]
async fn client_keys_are_node_independent_and_expire() {
    let server = Redis::start();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut a = RateLimitLayer::new(replica(
        &server.url(),
        1,
        RateKey::ClientIp,
        OnUnavailable::Closed,
    ))
    .layer(counting(calls.clone(), "a"));
    let mut b = RateLimitLayer::new(replica(
        &server.url(),
        1,
        RateKey::ClientIp,
        OnUnavailable::Closed,
    ))
    .layer(counting(calls, "b"));
    assert_eq!(send(&mut a, "[2001:db8:5:6::1]:1").await.status(), 200);
    // The same /64 through the other replica: same bucket.
    assert_eq!(send(&mut b, "[2001:db8:5:6::2]:1").await.status(), 429);
    assert_eq!(send(&mut b, "203.0.113.7:9").await.status(), 200);
    let mut redis = client(&server).await;
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg("gw:*")
        .query_async(&mut redis)
        .await
        .expect("keys");
    keys.sort();
    assert_eq!(
        keys,
        [
            "gw:{rl/orders/CLIENT_IP/ip4-203.0.113.7}:r",
            "gw:{rl/orders/CLIENT_IP/ip6-20010db800050006}:r"
        ]
    );
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut redis)
        .await
        .expect("pttl");
    assert!(
        pttl > 0 && pttl <= 1_000,
        "buckets expire once full again: {pttl} ms"
    );
}

#[tokio::test]
async fn a_flushed_script_cache_falls_back_to_eval() {
    let server = Redis::start();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = RateLimitLayer::new(replica(
        &server.url(),
        100,
        RateKey::Total,
        OnUnavailable::Closed,
    ))
    .layer(counting(calls, "ok"));
    assert_eq!(send(&mut svc, "192.0.2.1:1").await.status(), 200);
    let mut redis = client(&server).await;
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut redis)
        .await
        .expect("flush");
    assert_eq!(send(&mut svc, "192.0.2.1:1").await.status(), 200);
}

/// A replica that starts while its Redis connection is still being made (here: a server that
/// accepts but does not answer yet) must not refuse its first requests: until the server has
/// answered once, the connect timeout counts too.
#[tokio::test]
async fn a_starting_connection_does_not_refuse_the_first_requests() {
    let server = Redis::start();
    server.signal("STOP");
    let conn = RedisConnection::open(
        &server.url(),
        RedisOptions {
            connect_timeout: Duration::from_secs(5),
            op_timeout: Duration::from_millis(200),
            retry_interval: Duration::from_millis(100),
        },
    )
    .expect("url");
    let mut settings = LimitSettings::with_store(Arc::new(RedisLimitStore::new(conn)));
    settings.on_unavailable = OnUnavailable::Closed;
    let policy = RateLimitingPolicy {
        rate_in_requests_per_second: 100,
        rate_key: RateKey::Total,
    };
    let limiter = Arc::new(RateLimiter::new("orders", &policy, settings));
    let mut svc = RateLimitLayer::new(limiter).layer(counting(Arc::default(), "ok"));
    let resume = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(600)).await;
        server.signal("CONT");
        server
    });
    assert_eq!(send(&mut svc, "192.0.2.1:1").await.status(), 200);
    drop(resume.await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopping_fails_open_or_closed_and_recovers() {
    let mut server = Redis::start();
    let port = server.port;
    let calls = Arc::new(AtomicUsize::new(0));
    let open_limiter = replica(&server.url(), 100, RateKey::ClientIp, OnUnavailable::Open);
    let closed_limiter = replica(&server.url(), 100, RateKey::ClientIp, OnUnavailable::Closed);
    let mut open = RateLimitLayer::new(open_limiter.clone()).layer(counting(calls.clone(), "ok"));
    let mut closed =
        RateLimitLayer::new(closed_limiter.clone()).layer(counting(calls.clone(), "ok"));
    assert_eq!(send(&mut open, "192.0.2.1:1").await.status(), 200);
    assert_eq!(send(&mut closed, "192.0.2.1:1").await.status(), 200);

    server.stop();
    let res = send(&mut open, "192.0.2.1:1").await;
    assert_eq!(res.status(), 200, "fail open: served");
    assert!(
        res.headers().get("x-ratelimit-remaining").is_none(),
        "no limit was applied"
    );
    let res = send(&mut closed, "192.0.2.1:1").await;
    assert_eq!(res.status(), 503, "fail closed: refused");
    let body: serde_json::Value = serde_json::from_str(&body_text(res).await).expect("json");
    assert_eq!(
        body,
        serde_json::json!({"code": 503, "message": "Service Unavailable"})
    );
    // While the breaker is open, requests fail fast and are still counted.
    let started = Instant::now();
    for _ in 0..20 {
        assert_eq!(send(&mut closed, "192.0.2.1:1").await.status(), 503);
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "outage answers do not wait for Redis"
    );
    assert!(open_limiter.counters().store_unavailable() >= 1);
    assert!(closed_limiter.counters().store_unavailable() >= 21);

    let _server = Redis::start_with(port, &[]);
    let recovered = eventually(Duration::from_secs(10), || {
        let mut svc = closed.clone();
        async move { send(&mut svc, "192.0.2.1:1").await.status() == 200 }
    })
    .await;
    assert!(recovered, "the limiter uses Redis again once it is back");
}
