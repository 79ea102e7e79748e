//! A fleet: three gateway replicas behind HAProxy (`examples/fleet/haproxy.cfg`), sharing rate
//! limits, the response cache and authorizer results through a six-node Redis Cluster, all
//! real processes on loopback. It behaves as one gateway: one limit for the fleet, one cache,
//! one authorizer call per credential; and it keeps answering while a Redis primary is
//! killed, while replicas reload in turn, and while one is stopped.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gateway_tests::net::free_port;
use gateway_tests::redis::{redis_cli, RedisCluster};
use gateway_tests::{eventually, repo_root, request, run_gateway, try_request, Gateway, TempDir};

const AUTHORIZER_ID: &str = "ocid1.fnfunc.oc1..authorizer";
/// The fleet's one TOTAL limit.
const RATE: f64 = 20.0;

const SPEC_LIMITED: &str = r#"{
  "requestPolicies": { "rateLimiting": { "rateInRequestsPerSecond": 20, "rateKey": "TOTAL" } },
  "routes": [ { "path": "/hello", "methods": ["GET"],
                "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hi" } } ]
}"#;

fn spec_open() -> String {
    format!(
        r#"{{
  "requestPolicies": {{ "authentication": {{ "type": "CUSTOM_AUTHENTICATION",
      "functionId": "{AUTHORIZER_ID}", "tokenHeader": "Authorization",
      "isAnonymousAccessAllowed": true }} }},
  "routes": [
    {{ "path": "/cached", "methods": ["GET"],
       "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "cacheable" }},
       "requestPolicies": {{ "authorization": {{ "type": "ANONYMOUS" }},
                             "responseCacheLookup": {{ "type": "SIMPLE_LOOKUP_POLICY" }} }},
       "responsePolicies": {{ "responseCacheStore": {{ "type": "FIXED_TTL_STORE_POLICY",
                                                      "timeToLiveInSeconds": 300 }} }} }},
    {{ "path": "/me", "methods": ["GET"],
       "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "you" }},
       "requestPolicies": {{ "authorization": {{ "type": "AUTHENTICATION_ONLY" }} }} }}
  ]
}}"#
    )
}

/// Where prepared functions live, shared with the other end-to-end tests.
fn function_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("function-cache")
}

/// One replica's `gateway.toml`: every shared store on the cluster, the replica named `node`.
fn replica_config(node: &str, seeds: &str, invocations: &str) -> String {
    format!(
        r#"[gateway]
node = "{node}"
display_name = "fleet"
cache_dir = "{cache}"
drain_seconds = 2
shutdown_grace_seconds = 10

[rate_limit]
store = "redis"
url = [{seeds}]
cluster = true

[response_cache]
url = [{seeds}]
cluster = true

[authorizer_cache]
url = [{seeds}]
cluster = true

[[deployment]]
name = "limited"
path_prefix = "/l"
specification = "limited.json"

[[deployment]]
name = "open"
path_prefix = "/o"
specification = "open.json"

[[application]]
name = "auth-app"

[[application.function]]
name = "authorizer"
id = "{AUTHORIZER_ID}"
source = "{source}"
timeout = 5
config = {{ INVOCATIONS_FILE = "{invocations}" }}
"#,
        cache = function_cache().display(),
        source = repo_root().join("tests/functions/authorizer").display(),
    )
}

/// HAProxy running `examples/fleet/haproxy.cfg` with the replicas' real addresses.
struct HaProxy {
    child: Child,
    addr: SocketAddr,
}

impl HaProxy {
    fn start(dir: &TempDir, replicas: &[&Gateway]) -> HaProxy {
        let mut config = std::fs::read_to_string(repo_root().join("examples/fleet/haproxy.cfg"))
            .expect("examples/fleet/haproxy.cfg");
        let port = free_port();
        config = config.replace("bind 127.0.0.1:8080", &format!("bind 127.0.0.1:{port}"));
        for (i, gw) in replicas.iter().enumerate() {
            let admin = gw.admin.expect("admin listener");
            config = config.replace(
                &format!("127.0.0.1:{} port {}", 8081 + i, 9091 + i),
                &format!("{} port {}", gw.addr, admin.port()),
            );
        }
        assert!(
            !config.contains(":808"),
            "every address replaced:\n{config}"
        );
        let path = dir.write("haproxy.cfg", &config);
        let child = Command::new("haproxy")
            .args(["-f", &path])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy must be installed (apt-get install haproxy)");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let up = eventually(Duration::from_secs(10), || {
            try_request(addr, "GET", "/o/cached", &[], b"").is_ok_and(|r| r.status == 200)
        });
        assert!(up, "HAProxy did not start serving");
        HaProxy { child, addr }
    }
}

impl Drop for HaProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request of the load: when it was answered, and its status or why there was none.
type Answer = (Instant, Result<u16, String>);

/// Requests sent through HAProxy by a background thread, about 100 a second, until stopped;
/// every answer that is neither 200 nor 429 (and every failed exchange) is kept.
struct Load {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Answer>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, log) = (stop.clone(), log.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let result = try_request(addr, "GET", "/l/hello", &[], b"")
                        .map(|r| r.status)
                        .map_err(|e| e.to_string());
                    log.lock().expect("log").push((Instant::now(), result));
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        Load {
            stop,
            log,
            thread: Some(thread),
        }
    }

    /// Stops the load: the answers (time, status or error).
    fn finish(mut self) -> Vec<Answer> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("load thread");
        }
        std::mem::take(&mut *self.log.lock().expect("log"))
    }
}

/// The answers that are failures: anything but 200 and 429.
fn failures(answers: &[Answer]) -> Vec<String> {
    answers
        .iter()
        .filter_map(|(_, r)| match r {
            Ok(200 | 429) => None,
            Ok(status) => Some(format!("status {status}")),
            Err(e) => Some(e.clone()),
        })
        .collect()
}

/// Admitted requests of `answers` sent in `[from, to)`, and the bound the fleet's one limit
/// puts on them: a burst of the rate, then the rate, and one for rounding.
fn admitted_within(answers: &[Answer], from: Instant, to: Instant) -> (usize, f64) {
    let admitted = answers
        .iter()
        .filter(|(at, r)| *at >= from && *at < to && matches!(r, Ok(200)))
        .count();
    let bound = RATE + RATE * (to - from).as_secs_f64() + 1.0;
    (admitted, bound)
}

/// Prepares the authorizer once (a venv takes seconds), so that replicas start at once.
fn prepare_authorizer(dir: &TempDir, seeds: &str) {
    dir.write("limited.json", SPEC_LIMITED);
    dir.write("open.json", &spec_open());
    let invocations = dir.path().join("prepare.jsonl");
    let config = dir.write(
        "prepare.toml",
        &replica_config("prepare", seeds, &invocations.to_string_lossy()),
    );
    let (code, out, err) = run_gateway(&[
        "invoke",
        "--config",
        &config,
        AUTHORIZER_ID,
        "--data",
        r#"{"type":"TOKEN","token":"inactive"}"#,
    ]);
    assert_eq!(code, 0, "preparing the authorizer:\n{out}\n{err}");
}

#[test]
fn a_fleet_on_a_redis_cluster_behaves_as_one_gateway() {
    let mut cluster = RedisCluster::start();
    let seeds = cluster
        .urls()
        .iter()
        .take(3)
        .map(|u| format!("\"{u}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let dir = TempDir::new("fleet");
    prepare_authorizer(&dir, &seeds);
    let invocations = dir.path().join("invocations.jsonl");
    let replicas: Vec<Gateway> = ["r1", "r2", "r3"]
        .iter()
        .map(|node| {
            let config = dir.write(
                &format!("{node}.toml"),
                &replica_config(node, &seeds, &invocations.to_string_lossy()),
            );
            Gateway::serve(&["--config", &config, "--admin-listen", "127.0.0.1:0"])
        })
        .collect();
    let calls = || {
        std::fs::read_to_string(&invocations)
            .unwrap_or_default()
            .lines()
            .count()
    };

    // Each replica says who it is.
    for (gw, node) in replicas.iter().zip(["r1", "r2", "r3"]) {
        let metrics = request(gw.admin.expect("admin"), "GET", "/metrics", &[], b"").text();
        assert!(
            metrics.contains(&format!(
                "gateway_info{{gateway_id=\"ocid1.apigateway.oc1..local\",node=\"{node}\"}} 1"
            )),
            "{metrics}"
        );
    }

    // A response cached by one replica is served by the others.
    let cached = eventually(Duration::from_secs(10), || {
        replicas[0].get("/o/cached").header("x-cache-status") == Some("HIT")
    });
    assert!(cached, "the first replica caches the response");
    for gw in &replicas[1..] {
        let res = gw.get("/o/cached");
        assert_eq!(res.header("x-cache-status"), Some("HIT"));
        assert_eq!(res.text(), "cacheable");
    }

    // An authorizer result cached by one replica is reused by the others.
    let token = [("Authorization", "Bearer good:read")];
    assert_eq!(replicas[0].request("GET", "/o/me", &token, b"").status, 200);
    assert_eq!(calls(), 1);
    for gw in &replicas[1..] {
        assert_eq!(gw.request("GET", "/o/me", &token, b"").status, 200);
    }
    assert_eq!(calls(), 1, "one call for the fleet, not one per replica");
    let deny = [("Authorization", "Bearer deny")];
    for gw in &replicas {
        assert_eq!(gw.request("GET", "/o/me", &deny, b"").status, 401);
    }
    assert_eq!(calls(), 2, "denials are shared too");

    let proxy = HaProxy::start(&dir, &replicas.iter().collect::<Vec<_>>());

    // One TOTAL limit for the fleet: round robin over three replicas admits what one would.
    let load = Load::start(proxy.addr);
    std::thread::sleep(Duration::from_secs(4));
    let answers = load.finish();
    assert!(failures(&answers).is_empty(), "{:?}", failures(&answers));
    let (first, last) = (answers[0].0, answers[answers.len() - 1].0);
    let (admitted, bound) = admitted_within(&answers, first, last + Duration::from_millis(1));
    let refused = answers.iter().filter(|(_, r)| matches!(r, Ok(429))).count();
    assert!(refused > 0, "the load exceeds the limit");
    assert!(
        admitted as f64 <= bound,
        "{admitted} admitted, at most {bound:.0} for one fleet-wide limit ({} sent)",
        answers.len()
    );

    // kill -9 of the primary holding the bucket, under load: no replica crashes, requests are
    // answered throughout (the limit fails open), and enforcement is back once a replica is
    // promoted.
    let bucket = cluster
        .primaries()
        .into_iter()
        .find(|port| {
            redis_cli(*port, &["--scan", "--pattern", "gw:{rl/limited/*"])
                .is_some_and(|keys| !keys.trim().is_empty())
        })
        .expect("a primary holds the bucket");
    let load = Load::start(proxy.addr);
    std::thread::sleep(Duration::from_millis(500));
    cluster.kill(bucket);
    let killed = Instant::now();
    let promoted = eventually(Duration::from_secs(30), || {
        let primaries = cluster.primaries();
        primaries.len() == 3 && !primaries.contains(&bucket)
    });
    assert!(promoted, "a replica was promoted");
    let promoted_after = killed.elapsed();
    std::thread::sleep(Duration::from_secs(6));
    let answers = load.finish();
    assert!(failures(&answers).is_empty(), "{:?}", failures(&answers));
    for gw in &replicas {
        let health = request(gw.admin.expect("admin"), "GET", "/health", &[], b"");
        assert_eq!(health.status, 200, "every replica is alive");
    }
    // Enforcement is back within seconds of the promotion: the last three seconds keep to
    // the limit again.
    let end = answers[answers.len() - 1].0 + Duration::from_millis(1);
    let (admitted, bound) = admitted_within(&answers, end - Duration::from_secs(3), end);
    eprintln!(
        "primary killed: replica promoted after {promoted_after:?}; {} requests answered, \
         {admitted} admitted in the last 3 s (bound {bound:.0})",
        answers.len()
    );
    assert!(
        admitted as f64 <= bound,
        "{admitted} admitted in the last 3 s, bound {bound:.0} (promotion after {promoted_after:?})"
    );

    // A rolling reload, one replica after the other, under load: nothing lost.
    let load = Load::start(proxy.addr);
    for gw in &replicas {
        gw.signal("HUP");
        std::thread::sleep(Duration::from_millis(700));
    }
    let answers = load.finish();
    assert!(failures(&answers).is_empty(), "{:?}", failures(&answers));
    for gw in &replicas {
        assert!(
            eventually(Duration::from_secs(10), || gw
                .stderr()
                .contains("configuration reloaded")),
            "{}",
            gw.stderr()
        );
    }

    // SIGTERM of one replica under load: it drains (HAProxy sees /ready fail and stops
    // sending), then stops; nothing is lost.
    let mut replicas = replicas;
    let leaving = replicas.remove(0);
    let load = Load::start(proxy.addr);
    std::thread::sleep(Duration::from_millis(500));
    let status = leaving.terminate();
    std::thread::sleep(Duration::from_millis(500));
    let answers = load.finish();
    assert!(status.success(), "the replica stopped cleanly: {status}");
    assert!(failures(&answers).is_empty(), "{:?}", failures(&answers));
    assert!(answers.len() > 100, "{} requests", answers.len());
}
