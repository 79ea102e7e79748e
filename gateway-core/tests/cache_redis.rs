//! A response cache shared by replicas through a real `redis-server`.
#![cfg(feature = "redis")]

mod limit_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gateway_core::cache::{
    CredentialLocations, ResponseCacheConfig, ResponseCacheLayer, ResponseCachePolicy,
};
use gateway_core::spec::{
    FixedTtlStorePolicy, ResponseCacheLookupPolicy, ResponseCacheStorePolicy, SimpleLookupPolicy,
};
use gateway_core::Body;
use gateway_test_support::redis::Redis;
use http::{Request, Response};
use limit_support::{body_text, client, counting, eventually};
use tower::{Layer, Service, ServiceExt};

/// One replica's cache layer, with its own connection built from `[response_cache]`.
fn replica(url: &str) -> ResponseCacheLayer {
    let config = ResponseCacheConfig {
        url: Some(url.into()),
        timeout_ms: Some(300),
        ..ResponseCacheConfig::default()
    };
    let store = config.build().expect("store");
    let lookup = ResponseCacheLookupPolicy::Simple(SimpleLookupPolicy {
        is_enabled: Some(true),
        is_private_caching_enabled: None,
        cache_key_additions: vec!["request.headers[accept]".into()],
    });
    let ttl = ResponseCacheStorePolicy::FixedTtl(FixedTtlStorePolicy {
        time_to_live_in_seconds: 60,
    });
    let policy = ResponseCachePolicy::compile(
        "orders",
        &lookup,
        Some(&ttl),
        CredentialLocations::new(),
        store,
    )
    .expect("compiles")
    .expect("enabled");
    ResponseCacheLayer::new(Arc::new(policy))
}

async fn get<S>(svc: &mut S) -> (String, String)
where
    S: Service<Request<Body>, Response = Response<Body>, Error = std::convert::Infallible>,
{
    let req = Request::get("/orders/items")
        .header("accept", "application/json")
        .body(Body::empty())
        .expect("request");
    let res = svc
        .ready()
        .await
        .expect("ready")
        .call(req)
        .await
        .expect("infallible");
    let cache = res.headers()["x-cache-status"]
        .to_str()
        .expect("ascii")
        .to_owned();
    (cache, body_text(res).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_stores_and_another_serves_the_hit() {
    let server = Redis::start();
    let calls = Arc::new(AtomicUsize::new(0));
    let mut a = replica(&server.url()).layer(counting(calls.clone(), "from the backend"));
    let mut b = replica(&server.url()).layer(counting(calls.clone(), "other backend"));
    assert_eq!(
        get(&mut a).await,
        ("MISS".into(), "from the backend".into())
    );
    // The store is written in the background once the body has been sent.
    let mut redis = client(&server).await;
    let stored = eventually(Duration::from_secs(5), || {
        let mut redis = redis.clone();
        async move {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("gw:rc:*")
                .query_async(&mut redis)
                .await
                .unwrap_or_default();
            !keys.is_empty()
        }
    })
    .await;
    assert!(stored, "the response reached Redis");
    assert_eq!(get(&mut b).await, ("HIT".into(), "from the backend".into()));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the second replica did not call its backend"
    );
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("gw:rc:*")
        .query_async(&mut redis)
        .await
        .expect("keys");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&keys[0])
        .query_async(&mut redis)
        .await
        .expect("pttl");
    assert!(
        pttl > 55_000 && pttl <= 60_000,
        "stored with the policy's TTL: {pttl} ms"
    );
}

#[tokio::test]
async fn an_unreachable_cache_at_startup_serves_every_request() {
    // Nothing listens on port 1: the gateway still starts and serves, bypassing the cache.
    let calls = Arc::new(AtomicUsize::new(0));
    let mut svc = replica("redis://127.0.0.1:1").layer(counting(calls.clone(), "ok"));
    for _ in 0..3 {
        assert_eq!(get(&mut svc).await, ("BYPASS".into(), "ok".into()));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
