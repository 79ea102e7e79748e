//! Operations behind the real binary: the access and execution logs, `/metrics`, request and
//! connection limits, and draining on SIGTERM.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use gateway_tests::upstream::{ok, raw_upstream};
use gateway_tests::{eventually, request, Gateway, TempDir};

const SPEC: &str = r#"{
  "loggingPolicies": { "executionLog": { "logLevel": "INFO" } },
  "routes": [
    { "path": "/hello", "methods": ["GET", "POST"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hello world" } },
    { "path": "/loud", "methods": ["GET"],
      "backend": { "type": "HTTP_BACKEND", "url": "http://127.0.0.1:1/" } },
    { "path": "/quiet", "methods": ["GET"],
      "loggingPolicies": { "executionLog": { "logLevel": "ERROR" } },
      "backend": { "type": "HTTP_BACKEND", "url": "http://127.0.0.1:1/" } }
  ]
}"#;

/// A gateway serving [`SPEC`] at `/ops`, with `extra` appended to its `[gateway]` section.
fn gateway(tag: &str, extra: &str) -> (Gateway, TempDir) {
    let dir = TempDir::new(tag);
    dir.write("ops.json", SPEC);
    let config = dir.write(
        "gateway.toml",
        &format!(
            "[gateway]\nid = \"ocid1.apigateway.oc1..ops\"\ndisplay_name = \"ops-test\"\nnode = \"ops-1\"\n{extra}\n\
             [[deployment]]\nname = \"ops\"\npath_prefix = \"/ops\"\nspecification = \"ops.json\"\n"
        ),
    );
    let gw = Gateway::serve(&[
        "--config",
        &config,
        "--admin-listen",
        "127.0.0.1:0",
        "--no-watch",
    ]);
    (gw, dir)
}

fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// `/metrics` as a map from series (name and labels) to value.
fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

#[test]
fn the_access_log_has_one_line_per_request_with_ocis_fields() {
    let (gw, dir) = gateway("ops-access", "[gateway.log]\naccess = \"access.log\"");
    let ok = gw.request(
        "GET",
        "/ops/hello?x=1",
        &[
            ("User-Agent", "ops-test/1.0"),
            ("Referer", "http://example.test/"),
            ("opc-request-id", "REQ-ACCESS-1"),
        ],
        b"",
    );
    assert_eq!(ok.status, 200);
    let missing = gw.get("/elsewhere");
    assert_eq!(missing.status, 404);
    let path = dir.path().join("access.log");
    let mut lines = Vec::new();
    assert!(
        eventually(Duration::from_secs(10), || {
            lines = json_lines(&std::fs::read_to_string(&path).unwrap_or_default());
            lines.len() >= 2
        }),
        "access log: {lines:?}"
    );
    let first = &lines[0];
    for (field, value) in [
        ("httpMethod", "GET"),
        ("requestUri", "/ops/hello?x=1"),
        ("serverProtocol", "HTTP/1.1"),
        ("opcRequestId", "REQ-ACCESS-1"),
        ("remoteAddr", "127.0.0.1"),
        ("deploymentId", "ops"),
        ("gatewayId", "ocid1.apigateway.oc1..ops"),
        ("gatewayDisplayName", "ops-test"),
        ("node", "ops-1"),
        ("httpUserAgent", "ops-test/1.0"),
        ("httpReferrer", "http://example.test/"),
        ("message", "GET /ops/hello?x=1 HTTP/1.1"),
    ] {
        assert_eq!(first[field], value, "{field} in {first}");
    }
    assert_eq!(first["status"], 200);
    assert_eq!(first["bodyBytesSent"], 11);
    let duration = first["requestDuration"].as_f64().expect("seconds");
    assert!((0.0..5.0).contains(&duration), "{first}");
    let second = &lines[1];
    assert_eq!(second["status"], 404);
    assert_eq!(second["requestUri"], "/elsewhere");
    assert_eq!(second["deploymentId"], "");
    assert_eq!(
        second["opcRequestId"].as_str(),
        missing.header("opc-request-id")
    );
}

#[test]
fn the_execution_log_is_json_and_honours_each_routes_level() {
    let (gw, _dir) = gateway("ops-exec", "[gateway.log]\nformat = \"json\"");
    let loud = gw.get("/ops/loud");
    assert_eq!(loud.status, 502);
    let quiet = gw.get("/ops/quiet");
    assert_eq!(quiet.status, 502);
    let loud_id = loud.header("opc-request-id").expect("id").to_owned();
    let quiet_id = quiet.header("opc-request-id").expect("id").to_owned();
    let mut failure = None;
    assert!(
        eventually(Duration::from_secs(10), || {
            failure = json_lines(&gw.stderr())
                .into_iter()
                .find(|l| l["opcRequestId"] == loud_id.as_str());
            failure.is_some()
        }),
        "no execution-log line for {loud_id}:\n{}",
        gw.stderr()
    );
    let failure = failure.expect("found");
    assert_eq!(failure["code"], "httpBackend.requestError", "{failure}");
    assert_eq!(failure["level"], "WARN");
    assert_eq!(failure["deploymentId"], "ops");
    assert_eq!(failure["route"], "/loud");
    assert_eq!(failure["gatewayId"], "ocid1.apigateway.oc1..ops");
    assert_eq!(failure["node"], "ops-1");
    assert!(failure["time"].as_str().is_some_and(|t| t.ends_with('Z')));
    // The quiet route logs ERROR only: its WARN is dropped.
    assert!(
        !json_lines(&gw.stderr())
            .iter()
            .any(|l| l["opcRequestId"] == quiet_id.as_str()),
        "{}",
        gw.stderr()
    );
}

#[test]
fn metrics_count_each_request_by_route_method_and_status() {
    let (gw, _dir) = gateway("ops-metrics", "");
    // A first request creates the route's series, so that "before" has them all.
    assert_eq!(gw.get("/ops/hello").status, 200);
    let before = gw.scrape();
    for _ in 0..3 {
        assert_eq!(gw.get("/ops/hello").status, 200);
    }
    assert_eq!(gw.request("POST", "/ops/hello", &[], b"abcd").status, 200);
    assert_eq!(gw.get("/nowhere").status, 404);
    assert_eq!(gw.get("/ops/loud").status, 502);
    let after = gw.scrape();

    let route = "deploymentName=\"ops\",route=\"/hello\"";
    let get = format!("{route},httpMethodType=\"GET\",backendType=\"STOCK_RESPONSE_BACKEND\"");
    let ok = format!("{get},httpStatusCode=\"200\",httpStatusCategory=\"2xx\"");
    let d = |series: String| delta(&before, &after, &series);
    assert_eq!(
        d(format!("oci_apigateway_HttpRequests_total{{{get}}}")),
        3.0
    );
    assert_eq!(
        d(format!("oci_apigateway_HttpResponses_total{{{ok}}}")),
        3.0
    );
    assert_eq!(d(format!("oci_apigateway_BytesSent_total{{{ok}}}")), 33.0);
    assert_eq!(d(format!("oci_apigateway_Latency_count{{{ok}}}")), 3.0);
    assert_eq!(
        d(format!("oci_apigateway_Latency_bucket{{le=\"+Inf\",{ok}}}")),
        3.0
    );
    let post = format!(
        "{route},httpMethodType=\"POST\",backendType=\"STOCK_RESPONSE_BACKEND\",httpStatusCode=\"200\",httpStatusCategory=\"2xx\""
    );
    assert_eq!(
        d(format!("oci_apigateway_HttpResponses_total{{{post}}}")),
        1.0
    );
    assert_eq!(
        d("oci_apigateway_HttpResponses_total{deploymentName=\"\",route=\"\",httpMethodType=\"GET\",backendType=\"\",httpStatusCode=\"404\",httpStatusCategory=\"4xx\"}".into()),
        1.0
    );
    assert_eq!(
        d("oci_apigateway_HttpResponses_total{deploymentName=\"ops\",route=\"/loud\",httpMethodType=\"GET\",backendType=\"HTTP_BACKEND\",httpStatusCode=\"502\",httpStatusCategory=\"5xx\"}".into()),
        1.0
    );
    // Every label comes from the configuration or a bounded set.
    let unknown = gw.request("BREW", "/ops/coffee-pot-42", &[], b"");
    assert_eq!(unknown.status, 404);
    let text = request(gw.admin.expect("admin"), "GET", "/metrics", &[], b"").text();
    assert!(
        !text.contains("coffee-pot-42") && !text.contains("BREW"),
        "{text}"
    );
}

#[test]
fn metrics_are_openmetrics_with_ocis_names_labels_and_values() {
    let (gw, dir) = gateway("ops-openmetrics", "[gateway.log]\naccess = \"access.log\"");
    for _ in 0..2 {
        assert_eq!(gw.get("/ops/hello").status, 200);
    }
    assert_eq!(gw.request("POST", "/ops/hello", &[], b"abcd").status, 200);
    assert_eq!(gw.get("/nowhere").status, 404);
    // Parsing checks the format: every sample typed, counters' samples named `_total`, `# EOF`.
    let m = gw.metrics();

    let types = [
        ("oci_apigateway_HttpRequests", "counter"),
        ("oci_apigateway_HttpResponses", "counter"),
        ("oci_apigateway_BackendHttpResponses", "counter"),
        ("oci_apigateway_BytesSent", "counter"),
        ("oci_apigateway_BytesReceived", "counter"),
        ("oci_apigateway_ResponseCacheAction", "counter"),
        ("oci_apigateway_Latency", "histogram"),
        ("oci_apigateway_IntegrationLatency", "histogram"),
        ("oci_apigateway_InternalLatency", "histogram"),
        ("oci_apigateway_RateLimitingRequests", "counter"),
        ("oci_apigateway_UsagePlansRequests", "counter"),
        ("gateway", "info"),
        ("gateway_function_processes", "gauge"),
        ("gateway_function_queue_length", "gauge"),
        ("gateway_function_cold_start_seconds", "histogram"),
        ("gateway_connections_active", "gauge"),
        ("gateway_connections_rejected", "counter"),
        ("gateway_request_heads_refused", "counter"),
        ("gateway_idle_connections_closed", "counter"),
        ("gateway_buffered_body_bytes", "gauge"),
        ("gateway_buffered_body_refused", "counter"),
        ("gateway_access_log_dropped", "counter"),
    ];
    for (family, kind) in types {
        assert_eq!(
            m.types.get(family).map(String::as_str),
            Some(kind),
            "{family}"
        );
    }
    assert_eq!(m.types.len(), types.len(), "{:?}", m.types);

    let route = [
        ("deploymentName", "ops"),
        ("route", "/hello"),
        ("backendType", "STOCK_RESPONSE_BACKEND"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| [&route[..], extra].concat();
    let get = with(&[("httpMethodType", "GET")]);
    let ok = |method| {
        with(&[
            ("httpMethodType", method),
            ("httpStatusCode", "200"),
            ("httpStatusCategory", "2xx"),
        ])
    };
    let get_200 = ok("GET");
    for (name, labels, value) in [
        ("oci_apigateway_HttpRequests_total", &get, 2.0),
        ("oci_apigateway_HttpResponses_total", &get_200, 2.0),
        ("oci_apigateway_BytesSent_total", &get_200, 22.0),
        // Body bytes a backend read: a stock response reads none.
        ("oci_apigateway_BytesReceived_total", &ok("POST"), 0.0),
        ("oci_apigateway_Latency_count", &get_200, 2.0),
    ] {
        assert_eq!(m.value(name, labels), Some(value), "{name} {labels:?}");
    }
    let inf = [&get_200[..], &[("le", "+Inf")]].concat();
    assert_eq!(m.value("oci_apigateway_Latency_bucket", &inf), Some(2.0));
    let buckets: Vec<f64> = m
        .named("oci_apigateway_Latency_bucket")
        .filter(|s| s.labels.get("httpMethodType").map(String::as_str) == Some("GET"))
        .filter(|s| s.labels.get("route").map(String::as_str) == Some("/hello"))
        .map(|s| s.value)
        .collect();
    assert_eq!(buckets.len(), 15, "14 bounds and +Inf");
    assert!(
        buckets.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {buckets:?}"
    );
    let unrouted = [
        ("deploymentName", ""),
        ("route", ""),
        ("backendType", ""),
        ("httpMethodType", "GET"),
        ("httpStatusCode", "404"),
        ("httpStatusCategory", "4xx"),
    ];
    assert_eq!(
        m.value("oci_apigateway_HttpResponses_total", &unrouted),
        Some(1.0)
    );

    let info = [
        ("gateway_id", "ocid1.apigateway.oc1..ops"),
        ("node", "ops-1"),
    ];
    assert_eq!(m.value("gateway_info", &info), Some(1.0));
    let active = m.value("gateway_connections_active", &[]);
    assert!(active.is_some_and(|n| n >= 0.0), "{active:?}");
    for limit in ["max_connections", "max_connections_per_client"] {
        let labels = [("limit", limit)];
        assert_eq!(
            m.value("gateway_connections_rejected_total", &labels),
            Some(0.0)
        );
    }
    for status in ["408", "431"] {
        let labels = [("httpStatusCode", status)];
        assert_eq!(
            m.value("gateway_request_heads_refused_total", &labels),
            Some(0.0)
        );
    }
    for (name, value) in [
        ("gateway_idle_connections_closed_total", 0.0),
        ("gateway_buffered_body_bytes", 0.0),
        ("gateway_buffered_body_refused_total", 0.0),
        ("gateway_access_log_dropped_total", 0.0),
    ] {
        assert_eq!(m.value(name, &[]), Some(value), "{name}");
    }
    drop(dir);
}

#[test]
fn oversized_heads_and_bodies_are_refused_with_431_and_413() {
    let (gw, _dir) = gateway(
        "ops-sizes",
        "[gateway.limits]\nmax_body_bytes = 1000\nmax_header_bytes = 2048",
    );
    let before = gw.scrape();
    let big = "a".repeat(3000);
    let res = gw.request("GET", "/ops/hello", &[("X-Big", big.as_str())], b"");
    assert_eq!(res.status, 431, "{}", res.text());
    assert_eq!(res.json()["code"], 431);
    let res = gw.request("POST", "/ops/hello", &[], &vec![b'x'; 1001]);
    assert_eq!(res.status, 413, "{}", res.text());
    assert_eq!(res.json()["code"], 413);
    assert_eq!(
        gw.request("POST", "/ops/hello", &[], &vec![b'x'; 1000])
            .status,
        200
    );
    // A head far past what the server buffers never reaches the gateway: hyper answers 431.
    let huge = "b".repeat(512 * 1024);
    let res = gw.request("GET", "/ops/hello", &[("X-Huge", huge.as_str())], b"");
    assert_eq!(res.status, 431);
    // The server counts a refused head when the connection has closed, which may be just after
    // the client has read the answer.
    let refused = "gateway_request_heads_refused_total{httpStatusCode=\"431\"}";
    let counted = eventually(Duration::from_secs(10), || {
        delta(&before, &gw.scrape(), refused) >= 1.0
    });
    assert!(counted, "{:?}", gw.scrape().get(refused));
    let after = gw.scrape();
    let series = |status: &str, method: &str| {
        format!("oci_apigateway_HttpResponses_total{{deploymentName=\"ops\",route=\"/hello\",httpMethodType=\"{method}\",backendType=\"STOCK_RESPONSE_BACKEND\",httpStatusCode=\"{status}\",httpStatusCategory=\"4xx\"}}")
    };
    assert_eq!(delta(&before, &after, &series("431", "GET")), 1.0);
    assert_eq!(delta(&before, &after, &series("413", "POST")), 1.0);
    assert_eq!(delta(&before, &after, refused), 1.0);
}

#[test]
fn a_slowloris_client_is_cut_off_while_others_are_served() {
    let (gw, dir) = gateway(
        "ops-slow",
        "[gateway.limits]\nheader_read_timeout_seconds = 1\nidle_timeout_seconds = 2\n\
         [gateway.log]\naccess = \"access.log\"",
    );
    let mut slow = TcpStream::connect(gw.addr).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let started = Instant::now();
    // A byte every 100 ms: never a pause long enough for a between-reads timeout.
    let head = b"GET /ops/hello HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut answer = Vec::new();
    for byte in head.iter().chain(std::iter::repeat(&b'a')) {
        if slow.write_all(&[*byte]).is_err() || started.elapsed() > Duration::from_secs(8) {
            break;
        }
        // Others are served meanwhile.
        if started.elapsed() > Duration::from_millis(300) && answer.is_empty() {
            assert_eq!(gw.get("/ops/hello").status, 200);
            answer.push(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut response = Vec::new();
    let _ = slow.read_to_end(&mut response);
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&response);
    assert!(
        text.starts_with("HTTP/1.1 408 Request Timeout"),
        "{text:?} after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "cut off after {elapsed:?}"
    );

    // An idle keep-alive connection is closed quietly.
    let mut idle = TcpStream::connect(gw.addr).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut rest = Vec::new();
    let n = idle.read_to_end(&mut rest).expect("closed by the gateway");
    assert_eq!(n, 0, "{:?}", String::from_utf8_lossy(&rest));

    let metrics = gw.scrape();
    assert_eq!(
        metrics["gateway_request_heads_refused_total{httpStatusCode=\"408\"}"],
        1.0
    );
    assert!(metrics["gateway_idle_connections_closed_total"] >= 1.0);
    let path = dir.path().join("access.log");
    assert!(
        eventually(Duration::from_secs(10), || {
            json_lines(&std::fs::read_to_string(&path).unwrap_or_default())
                .iter()
                .any(|l| l["status"] == 408 && l["message"] == "request.clientTimeout")
        }),
        "{}",
        std::fs::read_to_string(&path).unwrap_or_default()
    );
}

#[test]
fn connections_over_the_per_client_limit_get_503() {
    let (gw, _dir) = gateway(
        "ops-conns",
        "[gateway.limits]\nmax_connections_per_client = 2",
    );
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(gw.addr).expect("connect"))
        .collect();
    // The gateway counts a connection once it has accepted it.
    assert!(eventually(Duration::from_secs(10), || {
        gw.scrape()["gateway_connections_active"] == 2.0
    }));
    let refused = gw.get("/ops/hello");
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["code"], 503);
    assert_eq!(
        refused.header("content-length"),
        Some(refused.body.len().to_string().as_str())
    );
    drop(held);
    assert!(eventually(Duration::from_secs(10), || {
        gw.get("/ops/hello").status == 200
    }));
    assert!(
        gw.scrape()["gateway_connections_rejected_total{limit=\"max_connections_per_client\"}"]
            >= 1.0
    );
}

/// An upstream that answers each request after `delay`.
fn slow_upstream(delay: Duration) -> SocketAddr {
    raw_upstream(move |_| {
        std::thread::sleep(delay);
        ok(None, b"slow")
    })
}

#[test]
fn sigterm_lets_requests_in_flight_finish_and_exits_zero() {
    let upstream = slow_upstream(Duration::from_millis(1500));
    let dir = TempDir::new("ops-term");
    dir.write(
        "slow.json",
        &format!(
            r#"{{ "routes": [ {{ "path": "/slow", "methods": ["GET"],
                "backend": {{ "type": "HTTP_BACKEND", "url": "http://{upstream}/" }} }} ] }}"#
        ),
    );
    let config = dir.write(
        "gateway.toml",
        "[gateway]\nshutdown_grace_seconds = 10\n\
         [[deployment]]\nname = \"slow\"\npath_prefix = \"/s\"\nspecification = \"slow.json\"\n",
    );
    let gw = Gateway::serve(&["--config", &config, "--no-watch"]);
    let addr = gw.addr;
    let in_flight = std::thread::spawn(move || request(addr, "GET", "/s/slow", &[], b""));
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let status = gw.terminate();
    let res = in_flight.join().expect("request thread");
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.text(), "slow");
    assert!(status.success(), "exit status {status}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener is closed after shutdown"
    );
}

#[test]
fn sigterm_turns_ready_off_and_keeps_serving_while_draining() {
    let (gw, _dir) = gateway("ops-drain", "drain_seconds = 2\nshutdown_grace_seconds = 5");
    let admin = gw.admin.expect("admin listener");
    assert_eq!(request(admin, "GET", "/ready", &[], b"").status, 200);
    let metrics = request(admin, "GET", "/metrics", &[], b"").text();
    assert!(
        metrics.contains("gateway_info{gateway_id=\"ocid1.apigateway.oc1..ops\",node=\"ops-1\"} 1"),
        "{metrics}"
    );
    gw.signal("TERM");
    let draining = eventually(Duration::from_secs(5), || {
        request(admin, "GET", "/ready", &[], b"").status == 503
    });
    assert!(
        draining,
        "/ready answers 503 once the replica is told to stop"
    );
    assert_eq!(
        request(admin, "GET", "/ready", &[], b"").text(),
        "draining\n"
    );
    // Still serving, on new connections too, and still alive.
    assert_eq!(gw.get("/ops/hello").status, 200);
    assert_eq!(request(admin, "GET", "/health", &[], b"").status, 200);
    let addr = gw.addr;
    let stopped = eventually(Duration::from_secs(10), || {
        TcpStream::connect(addr).is_err()
    });
    assert!(stopped, "the listener closes after drain_seconds");
}

/// CPU time (user and system, in clock ticks) the process `pid` has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name (which may hold spaces) start at `) `.
    let fields: Vec<&str> = stat[stat.rfind(')').expect("comm") + 2..]
        .split(' ')
        .collect();
    // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[test]
fn listeners_out_of_file_descriptors_back_off_instead_of_spinning() {
    let dir = TempDir::new("emfile");
    let spec = dir.write("spec.json", SPEC);
    let gw = Gateway::serve(&[&spec, "--admin-listen", "127.0.0.1:0", "--no-watch"]);
    let admin = gw.admin.expect("admin listener");
    let pid = gw.pid();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fds")
        .count();
    // The soft limit only, so that it can be raised again.
    let limit = |n: usize| {
        let status = std::process::Command::new("prlimit")
            .arg(format!("--pid={pid}"))
            .arg(format!("--nofile={n}:"))
            .status()
            .expect("util-linux prlimit runs");
        assert!(status.success());
    };
    // A few descriptors to spare, then more connections than that on both listeners: the
    // kernel completes them, and accept fails with EMFILE until some are closed.
    limit(open + 3);
    let waiting: Vec<TcpStream> = (0..20)
        .flat_map(|_| [TcpStream::connect(admin), TcpStream::connect(gw.addr)])
        .map(|c| c.expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_ticks(pid) - before;
    // Spinning on accept would use the 2 s whole (about 200 ticks at 100 Hz).
    assert!(
        used < 100,
        "{used} ticks of CPU in 2 s while out of descriptors"
    );

    drop(waiting);
    limit(1024);
    let health = request(admin, "GET", "/health", &[], b"");
    assert_eq!(health.status, 200);
    assert_eq!(gw.get("/hello").status, 200);
}

/// The soft and hard limits on open files of process `pid` (`/proc/PID/limits`).
fn open_files_limits(pid: &str) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("an open files line");
    let fields: Vec<&str> = line["Max open files".len()..].split_whitespace().collect();
    (fields[0].to_owned(), fields[1].to_owned())
}

#[test]
fn the_open_files_limit_is_raised_to_the_hard_limit() {
    let (_, hard) = open_files_limits("self");
    let dir = TempDir::new("nofile");
    let spec = dir.write("spec.json", SPEC);
    // A soft limit of 256 would cap the gateway at about a hundred proxied clients.
    let gw = Gateway::try_serve_under(&["prlimit", "--nofile=256:"], &[&spec, "--no-watch"])
        .expect("the gateway starts");
    assert_eq!(
        open_files_limits(&gw.pid().to_string()),
        (hard.clone(), hard)
    );
    assert_eq!(gw.get("/hello").status, 200);
}

/// Names of the threads of process `pid` (`/proc/PID/task/*/comm`).
fn thread_names(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("tasks")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

#[test]
fn the_listening_line_comes_once_every_worker_serves() {
    let dir = TempDir::new("workers");
    let spec = dir.write("spec.json", SPEC);
    // Enough workers that starting them takes longer than reading the line: a script (or a
    // test counting descriptors) that acts on the line sees the server as it will stay.
    let gw = Gateway::serve(&[&spec, "--workers", "32", "--no-watch"]);
    let workers = thread_names(gw.pid())
        .iter()
        .filter(|name| name.starts_with("gateway-worker"))
        .count();
    assert_eq!(workers, 32);
    assert_eq!(gw.get("/hello").status, 200);
}
