//! Input built to break the gateway, behind the real binary.
//!
//! Configurations: nesting deep enough to exhaust a recursive parser's stack, header maps past
//! their capacity. `validate` reports them as errors, and a reload onto them is refused while
//! the running configuration keeps serving and later reloads still work.
//!
//! Requests: context variables that would climb out of a backend's path, servlet-style dot
//! segments, a `Connection` header naming what the gateway adds, a forged `X-Real-IP`, two
//! `Host` headers, broken and abandoned bodies.

use std::net::SocketAddr;
use std::time::Duration;

use gateway_tests::{
    client, eventually, parse_response, raw_echo_upstream, run_gateway, Gateway, Response, TempDir,
};

/// Long enough for a reload on a loaded two-core machine.
const DEADLINE: Duration = Duration::from_secs(30);

/// `ALL {` nested `depth` times around one comparison.
fn nested_rule(depth: usize) -> String {
    format!(
        "{}resource.type = 'ApiGateway'{}",
        "ALL {".repeat(depth),
        "}".repeat(depth)
    )
}

fn stock_spec(body: &str, headers: usize) -> String {
    let headers: Vec<String> = (0..headers)
        .map(|i| format!(r#"{{"name":"x-h{i}","value":"v"}}"#))
        .collect();
    format!(
        r#"{{ "routes": [ {{ "path": "/hello", "methods": ["GET"],
  "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "{body}",
                "headers": [{}] }} }} ] }}"#,
        headers.join(",")
    )
}

/// A stock-only deployment `/s`, and a dynamic group whose rule is `rule`.
fn config(dir: &TempDir, rule: &str) -> String {
    dir.write(
        "gateway.toml",
        &format!(
            r#"[gateway]
watch = false

[[deployment]]
name = "s"
path_prefix = "/s"
specification = "spec.json"

[iam]
[[iam.dynamic_group]]
name = "gateways"
matching_rules = [{rule:?}]
"#
        ),
    )
}

fn serves(gw: &Gateway, body: &str) -> bool {
    let res = gw.get("/s/hello");
    res.status == 200 && res.text() == body
}

/// SIGHUPs `gw` and waits for the `n`th refusal in its log.
fn refused_reload(gw: &Gateway, n: usize) {
    gw.signal("HUP");
    assert!(
        eventually(DEADLINE, || gw.stderr().matches("reload refused").count()
            >= n),
        "no refusal logged:\n{}",
        gw.stderr()
    );
}

#[test]
fn deeply_nested_matching_rules_are_errors_not_crashes() {
    let dir = TempDir::new("nested-rule");
    dir.write("spec.json", &stock_spec("one", 0));
    for depth in [33, 3_000, 9_000] {
        let config = config(&dir, &nested_rule(depth));
        let (code, out, err) = run_gateway(&["validate", "--config", &config]);
        assert_eq!(code, 1, "depth {depth}: {out}{err}");
        assert!(
            out.contains("nested deeper than 32 levels"),
            "depth {depth}: {out}{err}"
        );
        let (code, out, err) = run_gateway(&["explain", "--config", &config, "--all"]);
        assert_ne!(code, 0, "depth {depth}: {out}{err}");
        assert!(
            format!("{out}{err}").contains("nested deeper than 32 levels"),
            "{out}{err}"
        );
    }
}

#[test]
fn a_reload_onto_a_deeply_nested_rule_is_refused_and_later_reloads_work() {
    let dir = TempDir::new("nested-reload");
    dir.write("spec.json", &stock_spec("one", 0));
    let config = config(&dir, &nested_rule(2));
    let gw = Gateway::serve(&["--config", &config]);
    assert!(serves(&gw, "one"));

    self::config(&dir, &nested_rule(3_000));
    refused_reload(&gw, 1);
    assert!(serves(&gw, "one"), "{}", gw.stderr());

    self::config(&dir, &nested_rule(2));
    dir.write("spec.json", &stock_spec("two", 0));
    gw.signal("HUP");
    assert!(
        eventually(DEADLINE, || serves(&gw, "two")),
        "{}",
        gw.stderr()
    );
}

#[test]
fn a_stock_response_with_more_headers_than_http_carries_is_an_error() {
    let dir = TempDir::new("stock-headers");
    let spec = dir.write("spec.json", &stock_spec("x", 24_600));
    let (code, out, err) = run_gateway(&["validate", &spec]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("routes[0].backend.headers: 24600 headers"),
        "{out}{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn a_reload_onto_too_many_stock_headers_is_refused_and_later_reloads_work() {
    let dir = TempDir::new("stock-headers-reload");
    dir.write("spec.json", &stock_spec("one", 0));
    let config = config(&dir, &nested_rule(1));
    let gw = Gateway::serve(&["--config", &config]);
    assert!(serves(&gw, "one"));

    for n in 1..=2 {
        dir.write("spec.json", &stock_spec("bad", 40_000));
        refused_reload(&gw, n);
        assert!(serves(&gw, "one"), "{}", gw.stderr());
    }

    dir.write("spec.json", &stock_spec("two", 3));
    gw.signal("HUP");
    assert!(
        eventually(DEADLINE, || serves(&gw, "two")),
        "{}",
        gw.stderr()
    );
    assert!(!gw.stderr().contains("panicked"), "{}", gw.stderr());
}

/// A deployment `/p` in front of an upstream that echoes the request head it receives.
fn proxy(dir: &TempDir, upstream: SocketAddr, access_log: &str) -> Gateway {
    dir.write(
        "spec.json",
        &format!(
            r#"{{ "routes": [
  {{ "path": "/q", "methods": ["GET"],
    "backend": {{ "type": "HTTP_BACKEND", "url": "http://{upstream}/public/${{request.query[q]}}" }} }},
  {{ "path": "/h", "methods": ["GET"],
    "backend": {{ "type": "HTTP_BACKEND", "url": "http://{upstream}/public/${{request.headers[X-Seg]}}/end" }} }},
  {{ "path": "/public/{{rest*}}", "methods": ["GET", "POST"],
    "backend": {{ "type": "HTTP_BACKEND", "url": "http://{upstream}/public/${{request.path[rest]}}" }},
    "requestPolicies": {{ "headerTransformations": {{
      "setHeaders": {{ "items": [ {{ "name": "X-Auth-Sub", "values": ["set-by-gateway"] }} ] }} }} }} }}
] }}"#
        ),
    );
    let config = dir.write(
        "gateway.toml",
        &format!(
            "[gateway]\nwatch = false\n[gateway.log]\naccess = {access_log:?}\n\n[[deployment]]\nname = \"p\"\npath_prefix = \"/p\"\nspecification = \"spec.json\"\n"
        ),
    );
    Gateway::serve(&["--config", &config])
}

/// The request head the upstream received, from its echo.
fn upstream_saw(res: &Response) -> String {
    assert_eq!(res.status, 200, "{}", res.text());
    res.text()
}

#[test]
fn the_upstream_sees_the_request_id_the_client_gets() {
    let dir = TempDir::new("request-id");
    let gw = proxy(&dir, raw_echo_upstream(), "off");
    let res = gw.get("/p/public/a");
    let id = res.header("opc-request-id").expect("an id").to_owned();
    assert_eq!(id.len(), 32, "{id}");
    let seen = upstream_saw(&res);
    assert_eq!(
        seen.matches("opc-request-id").count(),
        1,
        "one opc-request-id upstream: {seen}"
    );
    assert!(
        seen.contains(&format!("opc-request-id: {id}\r\n")),
        "{seen}"
    );
    // A client's own id, when safe to echo, is the one both sides see.
    let res = gw.request("GET", "/p/public/a", &[("opc-request-id", "client-7")], b"");
    assert_eq!(res.header("opc-request-id"), Some("client-7"));
    let seen = upstream_saw(&res);
    assert_eq!(seen.matches("opc-request-id").count(), 1, "{seen}");
    assert!(seen.contains("opc-request-id: client-7\r\n"), "{seen}");
}

#[test]
fn context_variables_cannot_climb_out_of_the_backend_path() {
    let dir = TempDir::new("url-traversal");
    let gw = proxy(&dir, raw_echo_upstream(), "off");
    for q in [
        "../admin/secret",
        "%2e%2e/admin",
        "..%2Fadmin",
        "..;/admin",
        "..",
    ] {
        let res = gw.get(&format!("/p/q?q={q}"));
        assert_eq!(res.status, 400, "q={q}: {}", res.text());
        assert_eq!(res.json()["code"], 400);
    }
    for seg in ["../admin", "%2E%2E", "a/../../admin"] {
        let res = gw.request("GET", "/p/h", &[("X-Seg", seg)], b"");
        assert_eq!(res.status, 400, "X-Seg: {seg}: {}", res.text());
    }
    let seen = upstream_saw(&gw.get("/p/q?q=a/b%5Cc"));
    assert!(
        seen.starts_with("GET /public/a%2Fb%5Cc?q=a/b%5Cc HTTP/1.1"),
        "{seen}"
    );
    let seen = upstream_saw(&gw.request("GET", "/p/h", &[("X-Seg", "a/b?c")], b""));
    assert!(
        seen.starts_with("GET /public/a%2Fb%3Fc/end HTTP/1.1"),
        "{seen}"
    );
    let seen = upstream_saw(&gw.get("/p/public/a/b"));
    assert!(seen.starts_with("GET /public/a/b HTTP/1.1"), "{seen}");
}

#[test]
fn servlet_style_dot_segments_are_refused() {
    let dir = TempDir::new("dot-semicolon");
    let gw = proxy(&dir, raw_echo_upstream(), "off");
    for path in [
        "/p/public/..;/admin/x",
        "/p/public/%2e%2e;/admin",
        "/p/public/.;/x",
        "/p/public/a/..;jsessionid=1/x",
    ] {
        let res = gw.get(path);
        assert_eq!(res.status, 400, "{path}: {}", res.text());
    }
    let seen = upstream_saw(&gw.get("/p/public/a;v=1/b"));
    assert!(seen.starts_with("GET /public/a;v=1/b HTTP/1.1"), "{seen}");
}

#[test]
fn the_clients_connection_header_cannot_strip_what_the_gateway_adds() {
    let dir = TempDir::new("connection-strip");
    let gw = proxy(&dir, raw_echo_upstream(), "off");
    let res = gw.request(
        "GET",
        "/p/public/x",
        &[
            ("Connection", "X-Auth-Sub, opc-request-id, X-Private"),
            ("X-Private", "hop"),
        ],
        b"",
    );
    let seen = upstream_saw(&res).to_ascii_lowercase();
    assert!(seen.contains("\r\nx-auth-sub: set-by-gateway"), "{seen}");
    assert!(seen.contains("\r\nopc-request-id: "), "{seen}");
    assert!(!seen.contains("x-private"), "{seen}");
}

#[test]
fn the_clients_x_real_ip_is_replaced_by_its_address() {
    let dir = TempDir::new("real-ip");
    let gw = proxy(&dir, raw_echo_upstream(), "off");
    let res = gw.request("GET", "/p/public/x", &[("X-Real-IP", "6.6.6.6")], b"");
    let seen = upstream_saw(&res).to_ascii_lowercase();
    assert!(seen.contains("\r\nx-real-ip: 127.0.0.1"), "{seen}");
    assert!(!seen.contains("6.6.6.6"), "{seen}");
}

#[test]
fn two_host_headers_are_refused_and_an_absolute_target_names_the_host() {
    let dir = TempDir::new("hosts");
    let gw = proxy(&dir, raw_echo_upstream(), "off");
    let res = gw.request("GET", "/p/public/x", &[("Host", "evil.example")], b"");
    assert_eq!(res.status, 400, "{}", res.text());
    let res = gw.request("GET", "http://front.example/p/public/x", &[], b"");
    let seen = upstream_saw(&res).to_ascii_lowercase();
    assert!(
        seen.contains("\r\nx-forwarded-host: front.example"),
        "{seen}"
    );
}

/// Sends `raw` on a new connection; with `hang_up`, closes without reading, else returns what
/// the gateway answered.
fn send_raw(gw: &Gateway, raw: &[u8], hang_up: bool) -> Option<Response> {
    if hang_up {
        drop(client::send(gw.addr, raw));
        return None;
    }
    Some(parse_response(&client::exchange(gw.addr, raw), false))
}

#[test]
fn a_clients_broken_body_is_the_clients_error_not_the_backends() {
    let dir = TempDir::new("broken-body");
    let log = dir.path().join("access.log");
    let gw = proxy(&dir, raw_echo_upstream(), &log.to_string_lossy());
    let res = send_raw(
        &gw,
        b"POST /p/public/x HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1ffffffffffffffff\r\nxx",
        false,
    )
    .expect("answer");
    assert_eq!(res.status, 400, "{}", res.text());

    send_raw(
        &gw,
        b"POST /p/public/gone HTTP/1.1\r\nHost: gw\r\nContent-Length: 1000\r\n\r\nonly a little",
        true,
    );
    let lines = || std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        eventually(DEADLINE, || lines().lines().count() >= 2),
        "{}",
        lines()
    );
    let statuses: Vec<(String, u64)> = lines()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            (
                v["requestUri"].as_str().unwrap_or_default().to_owned(),
                v["status"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&("/p/public/x".into(), 400)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&("/p/public/gone".into(), 499)),
        "{statuses:?}"
    );
    let log = gw.stderr();
    assert!(!log.contains("httpBackend.requestError"), "{log}");
}

#[test]
fn a_key_written_twice_is_an_error_not_a_silent_override() {
    let dir = TempDir::new("duplicate-keys");
    let spec = dir.write(
        "spec.json",
        r#"{ "requestPolicies": { "authentication": { "type": "JWT_AUTHENTICATION",
      "tokenHeader": "Authorization", "tokenAuthScheme": "Bearer",
      "issuers": ["https://idp.example"], "audiences": ["api"],
      "publicKeys": { "type": "REMOTE_JWKS", "uri": "https://idp.example/jwks" } } },
  "routes": [ { "path": "/x", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "secret" } } ],
  "requestPolicies": {} }"#,
    );
    let (code, out, err) = run_gateway(&["validate", &spec]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains("error: requestPolicies: the key appears twice"),
        "{out}{err}"
    );
}

#[test]
fn http1_and_http2_refuse_the_same_header_count() {
    let dir = TempDir::new("header-count");
    dir.write("spec.json", &stock_spec("one", 0));
    let config = config(&dir, &nested_rule(1));
    let gw = Gateway::serve(&["--config", &config]);
    let names: Vec<String> = (0..120).map(|i| format!("x-h{i}")).collect();
    let many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    assert_eq!(gw.request("GET", "/s/hello", &many[..90], b"").status, 200);
    assert_eq!(gw.request("GET", "/s/hello", &many, b"").status, 431);

    let h2_status = |count: usize| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let stream = tokio::net::TcpStream::connect(gw.addr)
                .await
                .expect("connect");
            let (mut sender, conn) = hyper::client::conn::http2::handshake(
                hyper_util::rt::TokioExecutor::new(),
                hyper_util::rt::TokioIo::new(stream),
            )
            .await
            .expect("h2c handshake");
            tokio::spawn(conn);
            let mut req = http::Request::get(format!("http://{}/s/hello", gw.addr));
            for name in &names[..count] {
                req = req.header(name.as_str(), "v");
            }
            let req = req
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .expect("request");
            sender.send_request(req).await.expect("response").status()
        })
    };
    assert_eq!(h2_status(90), 200);
    assert_eq!(h2_status(120), 431);
}
