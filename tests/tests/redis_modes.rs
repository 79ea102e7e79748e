//! Rate limits on every Redis deployment the gateway supports (one server, a Redis Cluster, a
//! primary watched by Sentinel), with passwords and TLS, behind the real binary. The limit
//! fails closed here, so a 200 proves the gateway reached Redis.

use std::time::Duration;

use gateway_tests::pki::ServerPki;
use gateway_tests::redis::{Redis, RedisCluster, RedisSentinel, Security};
use gateway_tests::{eventually, Gateway, TempDir};

const PASSWORD: &str = "s3cret-redis-pw";

const SPEC: &str = r#"{
  "requestPolicies": { "rateLimiting": { "rateInRequestsPerSecond": 5, "rateKey": "TOTAL" } },
  "routes": [ { "path": "/hello", "methods": ["GET"],
                "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hi" } } ]
}"#;

/// A gateway whose `[rate_limit]` is `redis` (the keys given), failing closed.
fn gateway(dir: &TempDir, redis: &str) -> Gateway {
    dir.write("spec.json", SPEC);
    let config = dir.write(
        "gateway.toml",
        &format!(
            "[rate_limit]\nstore = \"redis\"\non_unavailable = \"closed\"\n{redis}\n\n\
             [[deployment]]\nname = \"modes\"\npath_prefix = \"/m\"\nspecification = \"spec.json\"\n"
        ),
    );
    Gateway::serve(&["--config", &config])
}

/// The limit works: Redis answers (a 200, where an unreachable Redis is 503), and a burst is
/// cut down to the rate.
fn assert_limited(gw: &Gateway) {
    let reachable = eventually(Duration::from_secs(15), || gw.get("/m/hello").status == 200);
    assert!(reachable, "Redis never answered:\n{}", gw.stderr());
    let statuses: Vec<u16> = (0..20).map(|_| gw.get("/m/hello").status).collect();
    assert!(
        statuses.iter().all(|s| [200, 429].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&429),
        "the burst was limited: {statuses:?}"
    );
}

fn assert_no_password(gw: &Gateway) {
    assert!(!gw.stderr().contains(PASSWORD), "{}", gw.stderr());
}

#[test]
fn sentinel_finds_the_promoted_primary_after_a_failover() {
    let mut redis = RedisSentinel::start_secured(&Security {
        password: Some(PASSWORD.into()),
        tls: None,
    });
    let dir = TempDir::new("redis-sentinel-failover");
    let gw = gateway(
        &dir,
        &format!(
            "url = [\"{}\"]\nsentinel = \"{}\"",
            redis.url(),
            RedisSentinel::SERVICE
        ),
    );
    assert_limited(&gw);

    // The primary dies; the sentinel promotes the replica; the gateway follows.
    redis.primary.stop();
    let promoted = eventually(Duration::from_secs(30), || {
        redis.current_primary() == Some(redis.replica.port)
    });
    assert!(promoted, "the sentinel promoted the replica");
    assert_limited(&gw);
    assert_no_password(&gw);
}

#[test]
fn tls_and_passwords_work_for_one_server_a_cluster_and_sentinel() {
    let dir = TempDir::new("redis-tls");
    let tls = ServerPki::new(&dir, "redis");
    let security = Security {
        password: Some(PASSWORD.into()),
        tls: Some(tls.clone()),
    };
    let ca = format!("ca_file = \"{}\"", tls.ca.display());

    let single = Redis::start_secured(&security);
    assert!(single.url().starts_with("rediss://"));
    let gw = gateway(
        &TempDir::new("redis-tls-single"),
        &format!("url = \"{}\"\n{ca}", single.url()),
    );
    assert_limited(&gw);
    assert_no_password(&gw);

    // The system's roots do not include the test CA: the server is not trusted, and the limit
    // (failing closed) refuses.
    let untrusted = gateway(
        &TempDir::new("redis-tls-untrusted"),
        &format!("url = \"{}\"", single.url()),
    );
    let refused = eventually(Duration::from_secs(5), || {
        untrusted.get("/m/hello").status == 503
    });
    assert!(refused, "an untrusted server is not used");
    assert_no_password(&untrusted);

    let cluster = RedisCluster::start_secured(&security);
    let seeds: Vec<String> = cluster.urls().iter().map(|u| format!("\"{u}\"")).collect();
    let gw = gateway(
        &TempDir::new("redis-tls-cluster"),
        &format!("url = [{}]\ncluster = true\n{ca}", seeds.join(", ")),
    );
    assert_limited(&gw);
    assert_no_password(&gw);
    drop(cluster);

    let sentinel = RedisSentinel::start_secured(&security);
    let gw = gateway(
        &TempDir::new("redis-tls-sentinel"),
        &format!(
            "url = \"{}\"\nsentinel = \"{}\"\n{ca}",
            sentinel.url(),
            RedisSentinel::SERVICE
        ),
    );
    assert_limited(&gw);
    assert_no_password(&gw);
}
