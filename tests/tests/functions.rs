//! Functions behind the real binary: unchanged FDK functions (the real `fdk` from PyPI and
//! `@fnproject/fdk` from npm) run as local processes and exposed on routes.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use gateway_tests::{chunked, eventually, repo_root, run_gateway, Gateway, TempDir};

/// Prepared functions are shared by every test run (a venv takes seconds to build).
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("function-cache")
}

fn function_dir(name: &str) -> String {
    repo_root()
        .join("tests/functions")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

const SPEC: &str = r#"{ "routes": [
  { "path": "/echo", "methods": ["ANY"],
    "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..echo" } },
  { "path": "/items/{id}", "methods": ["GET", "PUT"],
    "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..echo" } },
  { "path": "/broken", "methods": ["GET"],
    "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..broken" } },
  { "path": "/stock", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "still here" } }
] }"#;

/// A config with the echo function (`timeout` seconds, at most 4 processes, 2 s idle timeout)
/// and, optionally, a function whose requirements cannot be installed.
fn config(dir: &TempDir, with_broken: bool, timeout: u64) -> String {
    dir.write("spec.json", SPEC);
    let mut config = format!(
        r#"[gateway]
cache_dir = "{cache}"

[[deployment]]
name = "t"
path_prefix = "/t"
specification = "spec.json"

[[application]]
name = "test-app"
config = {{ GREETING = "from the app" }}

[[application.function]]
name = "echo"
id = "ocid1.fnfunc.oc1..echo"
source = "{echo}"
timeout = {timeout}
max_concurrency = 4
idle_timeout = 2
"#,
        cache = cache_dir().display(),
        echo = function_dir("echo"),
    );
    if with_broken {
        config.push_str(&format!(
            "\n[[application.function]]\nname = \"broken\"\nid = \"ocid1.fnfunc.oc1..broken\"\nsource = \"{}\"\n",
            function_dir("broken")
        ));
    } else {
        config = config.replace("ocid1.fnfunc.oc1..broken", "ocid1.fnfunc.oc1..echo");
        dir.write(
            "spec.json",
            &SPEC.replace("ocid1.fnfunc.oc1..broken", "ocid1.fnfunc.oc1..echo"),
        );
    }
    dir.write("gateway.toml", &config)
}

/// The echo function behind a gateway, with a 2 s call timeout.
fn serve(dir: &TempDir) -> Gateway {
    let config = config(dir, false, 2);
    Gateway::serve(&["--config", &config])
}

fn pid(res: &gateway_tests::Response) -> u64 {
    res.json()["pid"].as_u64().expect("pid in the echo")
}

#[test]
fn the_articles_flow_works_with_the_demo() {
    let config = repo_root().join("examples/hello/gateway.toml");
    let gw = Gateway::serve(&["--config", &config.to_string_lossy()]);
    let res = gw.request(
        "POST",
        "/fn/hello",
        &[],
        br#"{"name":"John Dimbleby","payload":{"param1":"221"}}"#,
    );
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(
        res.json(),
        serde_json::json!({"message": "Hello John Dimbleby"})
    );

    let res = gw.request("POST", "/fn/node/hello", &[], br#"{"name":"John"}"#);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json(), serde_json::json!({"message": "Hello John"}));
}

#[test]
fn request_and_response_are_mapped_both_ways() {
    let dir = TempDir::new("fn-map");
    let gw = serve(&dir);
    let res = gw.request(
        "PUT",
        "/t/items/42?x=1&y=two",
        &[
            ("X-Custom", "foo"),
            ("X-Status", "201"),
            ("Content-Type", "text/plain"),
            ("Connection", "close, X-Hop"),
            ("X-Hop", "must not pass"),
        ],
        b"hello function",
    );
    assert_eq!(res.status, 201, "{}", res.text());
    assert_eq!(res.header("x-echo"), Some("yes"));
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert!(res.header("opc-request-id").is_some());
    let echo = res.json();
    assert_eq!(echo["method"], "PUT");
    assert_eq!(echo["url"], "/t/items/42?x=1&y=two");
    assert_eq!(echo["body"], "hello function");
    assert_eq!(echo["headers"]["x-custom"], "foo");
    assert_eq!(echo["content_type"], "text/plain");
    assert!(echo["headers"].get("x-hop").is_none(), "{echo}");
    assert!(echo["headers"].get("connection").is_none(), "{echo}");
    assert_eq!(echo["greeting"], "from the app");
}

#[test]
fn failures_are_statuses_without_internals_and_the_function_recovers() {
    let dir = TempDir::new("fn-fail");
    let gw = serve(&dir);
    let first = gw.request("POST", "/t/echo", &[], b"hi");
    assert_eq!(first.status, 200);

    // The function raises: 502, OCI's body, nothing of the exception.
    let res = gw.request("POST", "/t/echo", &[], b"boom");
    assert_eq!(res.status, 502);
    assert_eq!(
        res.json(),
        serde_json::json!({"code": 502, "message": "Bad Gateway"})
    );
    assert!(!res.text().contains("deliberate"));
    assert_eq!(gw.request("POST", "/t/echo", &[], b"ok").status, 200);

    // The process dies mid-call: 502, and the next call gets a new process.
    let res = gw.request("POST", "/t/echo", &[], b"exit");
    assert_eq!(res.status, 502);
    let after = gw.request("POST", "/t/echo", &[], b"ok");
    assert_eq!(after.status, 200);

    // Past the 2 s timeout: 504, and the next call works.
    let started = Instant::now();
    let res = gw.request("POST", "/t/echo", &[], b"sleep:5");
    assert_eq!(res.status, 504);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the gateway enforced the deadline"
    );
    assert_eq!(
        res.json(),
        serde_json::json!({"code": 504, "message": "Gateway Timeout"})
    );
    assert_eq!(gw.request("POST", "/t/echo", &[], b"ok").status, 200);
}

#[test]
fn concurrent_calls_grow_the_pool_up_to_its_limit() {
    let dir = TempDir::new("fn-concurrency");
    // Queued calls wait for the 4 processes within their own deadline; leave room for cold
    // starts on a busy machine.
    let config = config(&dir, false, 30);
    let gw = Gateway::serve(&["--config", &config]);
    let addr = gw.addr;
    let pids: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(move || {
                    let res = gateway_tests::request(addr, "POST", "/t/echo", &[], b"sleep:0.3");
                    assert_eq!(res.status, 200, "{}", res.text());
                    pid(&res)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let distinct: HashSet<u64> = pids.into_iter().collect();
    assert!(distinct.len() > 1, "the pool grew: {distinct:?}");
    assert!(distinct.len() <= 4, "max_concurrency = 4: {distinct:?}");
}

#[test]
fn idle_processes_are_reaped() {
    let dir = TempDir::new("fn-idle");
    let gw = serve(&dir);
    let first = pid(&gw.request("POST", "/t/echo", &[], b"a"));
    assert_eq!(
        first,
        pid(&gw.request("POST", "/t/echo", &[], b"b")),
        "a warm process is reused"
    );
    std::thread::sleep(Duration::from_millis(3500));
    assert!(
        !alive(first),
        "idle process {first} was reaped after idle_timeout"
    );
    assert_ne!(first, pid(&gw.request("POST", "/t/echo", &[], b"c")));
}

#[test]
fn oversized_bodies_are_refused_before_the_function() {
    let dir = TempDir::new("fn-413");
    let gw = serve(&dir);
    let body = vec![b'x'; 6 * 1024 * 1024 + 1];
    let res = gw.request("POST", "/t/echo", &[], &body);
    assert_eq!(res.status, 413);
    assert_eq!(res.json()["code"], 413);
}

/// The echo function with one process and no queue (`timeout` 60 s), `limits` as its
/// `[gateway.limits]`, and an admin listener.
fn serve_one_process(dir: &TempDir, limits: &str) -> Gateway {
    let path = config(dir, false, 60);
    let text = std::fs::read_to_string(&path)
        .expect("config")
        .replace("max_concurrency = 4", "max_concurrency = 1\nqueue_size = 0")
        .replace(
            "[[deployment]]",
            &format!("[gateway.limits]\n{limits}\n\n[[deployment]]"),
        );
    std::fs::write(&path, text).expect("write config");
    Gateway::serve(&["--config", &path, "--admin-listen", "127.0.0.1:0"])
}

#[test]
fn a_full_pool_refuses_an_upload_before_its_body_is_sent() {
    let dir = TempDir::new("fn-upload-503");
    // A gateway that waited for the body would answer this client, which never sends it, 408.
    let gw = serve_one_process(&dir, "body_read_timeout_seconds = 2");
    let addr = gw.addr;
    std::thread::spawn(move || {
        gateway_tests::try_request(addr, "POST", "/t/echo", &[], b"sleep:30")
    });
    let busy = eventually(Duration::from_secs(30), || {
        gw.scrape().iter().any(|(series, value)| {
            series.starts_with("gateway_function_processes{")
                && series.contains("state=\"busy\"")
                && *value == 1.0
        })
    });
    assert!(busy, "the only process is serving the sleeping call");
    // What a scraper sees of the function: one busy process, started once, nothing queued.
    let m = gw.metrics();
    let echo = [
        ("functionId", "ocid1.fnfunc.oc1..echo"),
        ("functionName", "test-app/echo"),
    ];
    let state = |state| [&echo[..], &[("state", state)]].concat();
    assert_eq!(
        m.value("gateway_function_processes", &state("busy")),
        Some(1.0)
    );
    assert_eq!(
        m.value("gateway_function_processes", &state("idle")),
        Some(0.0)
    );
    assert_eq!(m.value("gateway_function_queue_length", &echo), Some(0.0));
    let started = m.value("gateway_function_cold_start_seconds_count", &echo);
    assert_eq!(started, Some(1.0));
    let seconds = m.value("gateway_function_cold_start_seconds_sum", &echo);
    assert!(seconds.is_some_and(|s| s > 0.0), "{seconds:?}");

    // Only the head: 5 MB declared, not a byte of it sent.
    let res = gw.request("POST", "/t/echo", &[("Content-Length", "5000000")], b"");
    assert_eq!(res.status, 503, "{}", res.text());
    assert_eq!(
        res.json(),
        serde_json::json!({"code": 503, "message": "Service Unavailable"})
    );
    let metrics = gw.scrape();
    assert_eq!(metrics.get("gateway_buffered_body_bytes"), Some(&0.0));
    assert_eq!(
        metrics.get("gateway_buffered_body_refused_total"),
        Some(&0.0)
    );
}

#[test]
fn chunked_uploads_stream_to_the_function_up_to_the_limit() {
    let dir = TempDir::new("fn-chunked");
    let gw = serve(&dir);
    let chunked_header = [("Transfer-Encoding", "chunked")];
    let body = vec![b'x'; 3 * 1024 * 1024];
    let res = gw.request(
        "POST",
        "/t/echo",
        &chunked_header,
        &chunked(&body, 64 * 1024),
    );
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(
        res.json()["body"].as_str().map(str::len),
        Some(body.len()),
        "the function got the whole body"
    );

    let over = vec![b'x'; 6 * 1024 * 1024 + 1];
    let res = gw.request(
        "POST",
        "/t/echo",
        &chunked_header,
        &chunked(&over, 64 * 1024),
    );
    assert_eq!(res.status, 413);
    assert_eq!(res.json()["code"], 413);
    assert_eq!(gw.request("POST", "/t/echo", &[], b"after").status, 200);
}

#[test]
fn a_function_that_cannot_be_prepared_fails_alone() {
    let dir = TempDir::new("fn-broken");
    let config = config(&dir, true, 2);
    let gw = Gateway::serve(&["--config", &config]);
    let res = gw.get("/t/broken");
    assert_eq!(res.status, 502);
    assert_eq!(
        res.json(),
        serde_json::json!({"code": 502, "message": "Bad Gateway"})
    );
    assert_eq!(gw.get("/t/stock").text(), "still here");
    assert_eq!(gw.request("POST", "/t/echo", &[], b"x").status, 200);
}

#[test]
fn no_function_process_outlives_the_gateway() {
    let dir = TempDir::new("fn-shutdown");
    let gw = serve(&dir);
    let addr = gw.addr;
    let pids: HashSet<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(move || {
                    pid(&gateway_tests::request(
                        addr,
                        "POST",
                        "/t/echo",
                        &[],
                        b"sleep:0.3",
                    ))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(pids.iter().all(|p| alive(*p)));
    // Each process was started for a request, on a serving worker: stopping it must not
    // depend on that worker's runtime still running.
    let sockets = std::path::Path::new("/tmp").join(format!("gwfn-{}", gw.pid()));
    assert!(
        sockets.is_dir(),
        "{} is where the sockets are",
        sockets.display()
    );
    assert!(gw.terminate().success());
    for p in pids {
        assert!(!alive(p), "function process {p} survived the gateway");
    }
    assert!(
        !sockets.exists(),
        "{} is left behind: a process was not stopped in order",
        sockets.display()
    );
}

#[test]
fn unknown_function_ids_are_reported_with_the_known_ones() {
    let dir = TempDir::new("fn-unknown");
    let config = config(&dir, false, 2);
    dir.write(
        "spec.json",
        r#"{ "routes": [ { "path": "/x", "methods": ["GET"],
            "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..ecko" } } ] }"#,
    );
    let (code, out, _) = run_gateway(&["validate", "--config", &config]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("routes[0].backend.functionId: unknown functionId"),
        "{out}"
    );
    assert!(out.contains("ocid1.fnfunc.oc1..echo"), "{out}");
}

#[test]
fn invoke_calls_a_function_directly() {
    let config = repo_root().join("examples/hello/gateway.toml");
    let (code, out, err) = run_gateway(&[
        "invoke",
        "--config",
        &config.to_string_lossy(),
        "ocid1.fnfunc.oc1..hello",
        "--data",
        r#"{"name":"Invoker"}"#,
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), r#"{"message": "Hello Invoker"}"#);

    let (code, _, err) = run_gateway(&["invoke", "--config", &config.to_string_lossy(), "nope"]);
    assert_eq!(code, 1);
    assert!(err.contains("known functions"), "{err}");
}

fn alive(pid: u64) -> bool {
    // A zombie is as good as gone: it runs nothing.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.split(' ').nth(2).is_none_or(|state| state != "Z"))
        .unwrap_or(false)
}
