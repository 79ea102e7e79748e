//! Rate limits, usage plans and the response cache behind the real binary; state shared by
//! two gateway processes through a real redis-server started by the test on loopback.

use std::time::{Duration, Instant};

use gateway_tests::redis::Redis;
use gateway_tests::{eventually, request, Gateway, TempDir};

const SPEC: &str = r#"{
  "requestPolicies": { "rateLimiting": { "rateInRequestsPerSecond": 5, "rateKey": "TOTAL" } },
  "routes": [
    { "path": "/hello", "methods": ["GET"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hi" } },
    { "path": "/cached", "methods": ["GET", "POST"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "cacheable" },
      "requestPolicies": { "responseCacheLookup": { "type": "SIMPLE_LOOKUP_POLICY" } },
      "responsePolicies": { "responseCacheStore": { "type": "FIXED_TTL_STORE_POLICY", "timeToLiveInSeconds": 60 } } }
  ]
}"#;

fn config(dir: &TempDir, redis: &Redis, on_unavailable: &str) -> String {
    dir.write("spec.json", SPEC);
    dir.write(
        "gateway.toml",
        &format!(
            "[rate_limit]\nstore = \"redis\"\nurl = \"{url}\"\non_unavailable = \"{on_unavailable}\"\n\n\
             [response_cache]\nurl = \"{url}\"\n\n\
             [[deployment]]\nname = \"shared\"\npath_prefix = \"/s\"\nspecification = \"spec.json\"\n",
            url = redis.url()
        ),
    )
}

#[test]
fn two_gateways_share_one_rate_limit() {
    let redis = Redis::start();
    let dir = TempDir::new("limits-shared");
    let config = config(&dir, &redis, "open");
    let a = Gateway::serve(&["--config", &config]);
    let b = Gateway::serve(&["--config", &config]);
    // Connections to Redis are made on first use (a request that finds none fails open); make
    // them, then let the bucket refill before measuring.
    a.get("/s/hello");
    b.get("/s/hello");
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    let mut admitted = 0;
    let mut refused = None;
    for i in 0..40 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let res = gw.get("/s/hello");
        match res.status {
            200 => admitted += 1,
            429 => refused = Some(res),
            other => panic!("unexpected status {other}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // GCRA: a burst of the rate, then the rate; shared, so the two together stay within it.
    let bound = 5.0 + 5.0 * elapsed + 1.0;
    assert!(admitted >= 5, "{admitted}");
    assert!(
        f64::from(admitted) <= bound,
        "{admitted} admitted in {elapsed:.2}s, bound {bound:.1}"
    );
    let refused = refused.expect("some requests were refused");
    assert_eq!(
        refused.json(),
        serde_json::json!({"code": 429, "message": "Too Many Requests"})
    );
    let retry: u64 = refused
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!(retry >= 1);
}

#[test]
fn the_cache_is_shared_and_an_outage_fails_nothing() {
    let mut redis = Redis::start();
    let dir = TempDir::new("limits-cache");
    let config = config(&dir, &redis, "open");
    let a = Gateway::serve(&["--config", &config]);
    let b = Gateway::serve(&["--config", &config]);
    // The first lookup also connects to Redis; once connected, a lookup is a MISS or a HIT.
    let reachable = eventually(Duration::from_secs(5), || {
        matches!(
            a.get("/s/cached").header("x-cache-status"),
            Some("MISS" | "HIT")
        )
    });
    assert!(reachable, "the cache answers MISS, then HIT");
    // The store is written after the response; the other gateway sees it shortly after.
    let hit = eventually(Duration::from_secs(5), || {
        b.get("/s/cached").header("x-cache-status") == Some("HIT")
    });
    assert!(hit, "the second gateway found the first one's entry");
    assert_eq!(b.get("/s/cached").text(), "cacheable");
    let post = a.request("POST", "/s/cached", &[], b"x");
    assert_eq!(post.header("x-cache-status"), Some("BYPASS"));

    // Redis goes away: rate limits fail open, the cache is bypassed, nothing fails.
    redis.stop();
    for _ in 0..5 {
        let res = request(a.addr, "GET", "/s/cached", &[], b"");
        assert_eq!(res.status, 200, "{}", res.text());
        assert_eq!(res.text(), "cacheable");
    }
}

#[test]
fn fail_closed_refuses_with_503_when_redis_is_down() {
    let mut redis = Redis::start();
    let dir = TempDir::new("limits-closed");
    let config = config(&dir, &redis, "closed");
    let gw = Gateway::serve(&["--config", &config, "--admin-listen", "127.0.0.1:0"]);
    // The connection to Redis is made on first use; on a busy machine the first attempt may
    // miss its deadline, which fail-closed answers with 503.
    let admitted = eventually(Duration::from_secs(10), || gw.get("/s/hello").status == 200);
    assert!(admitted, "the gateway admits requests while Redis is up");
    redis.stop();
    let res = gw.get("/s/hello");
    assert_eq!(res.status, 503);
    assert_eq!(res.json()["code"], 503);

    // The outage is visible in the metrics.
    let admin = gw.admin.expect("admin listener");
    let metrics = request(admin, "GET", "/metrics", &[], b"").text();
    let value = |outcome: &str| -> u64 {
        let series = format!("oci_apigateway_RateLimitingRequests_total{{deploymentName=\"shared\",outcome=\"{outcome}\"}} ");
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {outcome} series in:\n{metrics}"))
    };
    assert!(value("permitted") >= 1, "{metrics}");
    assert!(value("storeUnavailable") >= 1, "{metrics}");
    assert_eq!(request(admin, "GET", "/health", &[], b"").status, 200);
    assert_eq!(request(admin, "GET", "/ready", &[], b"").status, 200);
}

#[test]
fn usage_plans_admit_known_clients_within_their_entitlement() {
    let dir = TempDir::new("usage-plans");
    dir.write(
        "spec.json",
        r#"{ "requestPolicies": { "usagePlans": { "tokenLocations": ["request.headers[x-client-token]"] } },
             "routes": [ { "path": "/data", "methods": ["GET"],
               "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "data" },
               "responsePolicies": { "headerTransformations": { "setHeaders": { "items": [
                 { "name": "X-Plan", "values": ["${request.usage_plan[id]}"] } ] } } } } ] }"#,
    );
    let config = dir.write(
        "gateway.toml",
        r#"[[deployment]]
name = "api"
path_prefix = "/api"
specification = "spec.json"

[[usage_plan]]
id = "ocid1.usageplan.oc1..gold"
name = "gold"
[[usage_plan.entitlements]]
name = "standard"
targets = ["api"]
quota = { value = 3, unit = "DAY", reset_policy = "CALENDAR", operation_on_breach = "REJECT" }

[[subscriber]]
name = "acme"
usage_plans = ["ocid1.usageplan.oc1..gold"]
clients = [{ name = "acme-app", token = "acme-token" }]
"#,
    );
    let gw = Gateway::serve(&["--config", &config]);
    assert_eq!(gw.get("/api/data").status, 401);
    assert_eq!(
        gw.request("GET", "/api/data", &[("x-client-token", "nope")], b"")
            .status,
        401
    );
    let ok = gw.request("GET", "/api/data", &[("x-client-token", "acme-token")], b"");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-plan"), Some("ocid1.usageplan.oc1..gold"));
    let statuses: Vec<u16> = (0..3)
        .map(|_| {
            gw.request("GET", "/api/data", &[("x-client-token", "acme-token")], b"")
                .status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 429], "a quota of 3 a day");
}
