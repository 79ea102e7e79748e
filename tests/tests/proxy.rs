//! HTTP backends, dynamic routing, CORS, validation and transformations behind the real binary,
//! against a real upstream server started by the test on loopback.

use std::net::SocketAddr;

use bytes::Bytes;
use http::Response;

use gateway_tests::upstream::{echo_json, TestServer};
use gateway_tests::{Gateway, TempDir};

/// An upstream that answers with what it received, as JSON, and names itself.
fn start_upstream(name: &'static str) -> SocketAddr {
    TestServer::start(move |parts, body| {
        let mut echo = echo_json(parts, body);
        echo["upstream"] = name.into();
        Response::builder()
            .header("content-type", "application/json")
            .header("x-upstream", name)
            .header("connection", "keep-alive, x-hop")
            .header("x-hop", "must not pass")
            .body(Bytes::from(echo.to_string()))
            .expect("response")
    })
    .detach()
}

fn spec(a: SocketAddr, b: SocketAddr) -> String {
    format!(
        r#"{{
  "requestPolicies": {{ "cors": {{ "allowedOrigins": ["https://app.example.com"], "allowedMethods": ["GET", "POST"],
                                   "allowedHeaders": ["X-Username"], "maxAgeInSeconds": 600 }} }},
  "routes": [
    {{ "path": "/api/{{region}}/{{rest*}}", "methods": ["GET", "POST"],
      "backend": {{ "type": "HTTP_BACKEND", "url": "http://{a}/v2/${{request.path[rest]}}", "readTimeoutInSeconds": 5 }},
      "requestPolicies": {{
        "headerValidations": {{ "headers": [ {{ "name": "X-Username", "required": true }} ] }},
        "headerTransformations": {{
          "setHeaders": {{ "items": [ {{ "name": "X-Region", "values": ["${{request.path[region]}}"] }} ] }},
          "renameHeaders": {{ "items": [ {{ "from": "X-Username", "to": "X-User-Id" }} ] }},
          "filterHeaders": {{ "type": "BLOCK", "items": [ {{ "name": "X-Secret" }} ] }} }},
        "queryParameterTransformations": {{
          "setQueryParameters": {{ "items": [ {{ "name": "source", "values": ["gateway"] }} ] }},
          "filterQueryParameters": {{ "type": "BLOCK", "items": [ {{ "name": "debug" }} ] }} }} }},
      "responsePolicies": {{
        "headerTransformations": {{
          "setHeaders": {{ "items": [ {{ "name": "X-Served-By", "values": ["gateway ${{request.path[region]}}"] }} ] }} }} }} }},
    {{ "path": "/pick", "methods": ["GET"],
      "backend": {{ "type": "DYNAMIC_ROUTING_BACKEND",
        "selectionSource": {{ "type": "SINGLE", "selector": "request.headers[X-Tier]" }},
        "routingBackends": [
          {{ "key": {{ "type": "ANY_OF", "name": "gold", "values": ["gold", "platinum"] }},
            "backend": {{ "type": "HTTP_BACKEND", "url": "http://{b}/gold" }} }},
          {{ "key": {{ "type": "WILDCARD", "name": "beta", "expression": "beta-*" }},
            "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "beta" }} }},
          {{ "key": {{ "type": "ANY_OF", "name": "default", "values": ["basic"], "isDefault": true }},
            "backend": {{ "type": "HTTP_BACKEND", "url": "http://{a}/basic" }} }} ] }} }},
    {{ "path": "/strict", "methods": ["GET"],
      "backend": {{ "type": "DYNAMIC_ROUTING_BACKEND",
        "selectionSource": {{ "type": "SINGLE", "selector": "request.query[tier]" }},
        "routingBackends": [
          {{ "key": {{ "type": "ANY_OF", "name": "gold", "values": ["gold"] }},
            "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "gold" }} }} ] }} }},
    {{ "path": "/down", "methods": ["GET"],
      "backend": {{ "type": "HTTP_BACKEND", "url": "http://127.0.0.1:1/" }} }}
  ]
}}"#
    )
}

fn serve() -> (TempDir, Gateway) {
    let a = start_upstream("a");
    let b = start_upstream("b");
    let dir = TempDir::new("proxy");
    let spec = dir.write("spec.json", &spec(a, b));
    let gw = Gateway::serve(&[&spec, "--path-prefix", "/p"]);
    (dir, gw)
}

#[test]
fn requests_are_proxied_with_transformations() {
    let (_dir, gw) = serve();
    let res = gw.request(
        "POST",
        "/p/api/eu/items/42?x=1&debug=true",
        &[
            ("X-Username", "ada"),
            ("X-Secret", "s3"),
            ("Content-Type", "text/plain"),
        ],
        b"payload",
    );
    assert_eq!(res.status, 200, "{}", res.text());
    let echo = res.json();
    assert_eq!(echo["upstream"], "a");
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["uri"], "/v2/items/42?x=1&source=gateway");
    assert_eq!(echo["body"], "payload");
    let headers = &echo["headers"];
    assert_eq!(headers["x-region"], "eu");
    assert_eq!(headers["x-user-id"], "ada");
    assert!(headers.get("x-username").is_none(), "{headers}");
    assert!(headers.get("x-secret").is_none(), "{headers}");
    assert!(
        headers["x-forwarded-for"]
            .as_str()
            .is_some_and(|v| v.contains("127.0.0.1")),
        "{headers}"
    );
    // Response: upstream headers pass, hop-by-hop ones do not, the response transformation applies.
    assert_eq!(res.header("x-upstream"), Some("a"));
    assert_eq!(res.header("x-hop"), None);
    assert_eq!(res.header("x-served-by"), Some("gateway eu"));
}

#[test]
fn validation_failures_never_reach_the_backend() {
    let (_dir, gw) = serve();
    let res = gw.get("/p/api/eu/items");
    assert_eq!(res.status, 400);
    assert_eq!(
        res.json(),
        serde_json::json!({"code": 400, "message": "Bad Request: missing required header X-Username"})
    );
}

#[test]
fn cors_preflight_is_answered_by_the_gateway() {
    let (_dir, gw) = serve();
    let res = gw.request(
        "OPTIONS",
        "/p/api/eu/items",
        &[
            ("Origin", "https://app.example.com"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "x-username"),
        ],
        b"",
    );
    assert_eq!(res.status, 204, "{}", res.text());
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(res.header("access-control-max-age"), Some("600"));
    assert!(res
        .header("access-control-allow-methods")
        .is_some_and(|m| m.contains("POST")));

    // An origin that is not allowed gets no CORS headers.
    let res = gw.request(
        "OPTIONS",
        "/p/api/eu/items",
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(res.header("access-control-allow-origin"), None);

    // Actual requests carry the CORS headers, errors included.
    let res = gw.request(
        "GET",
        "/p/api/eu/items",
        &[("Origin", "https://app.example.com")],
        b"",
    );
    assert_eq!(res.status, 400);
    assert_eq!(
        res.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
}

#[test]
fn dynamic_routing_selects_by_the_context_variable() {
    let (_dir, gw) = serve();
    let pick = |tier: Option<&str>| {
        let headers: Vec<(&str, &str)> = tier.map(|t| ("X-Tier", t)).into_iter().collect();
        gw.request("GET", "/p/pick", &headers, b"")
    };
    assert_eq!(
        pick(Some("GOLD")).json()["upstream"],
        "b",
        "ANY_OF is case-insensitive"
    );
    assert_eq!(pick(Some("platinum")).json()["uri"], "/gold");
    assert_eq!(pick(Some("beta-7")).text(), "beta");
    assert_eq!(
        pick(Some("Beta-7")).json()["uri"],
        "/basic",
        "WILDCARD is case-sensitive"
    );
    assert_eq!(
        pick(None).json()["uri"],
        "/basic",
        "absent goes to the default"
    );

    let res = gw.get("/p/strict?tier=silver");
    assert_eq!(res.status, 404);
    assert_eq!(
        res.json(),
        serde_json::json!({"code": 404, "message": "Not Found"})
    );
    assert_eq!(gw.get("/p/strict?tier=gold").text(), "gold");
}

#[test]
fn an_unreachable_upstream_is_a_bad_gateway() {
    let (_dir, gw) = serve();
    let res = gw.get("/p/down");
    assert_eq!(res.status, 502);
    assert_eq!(
        res.json(),
        serde_json::json!({"code": 502, "message": "Bad Gateway"})
    );
}

/// nginx from Debian as the upstream: a large static file through the gateway, byte for byte,
/// and the headers nginx itself answers with.
#[test]
fn nginx_as_the_upstream() {
    let dir = TempDir::new("proxy-nginx");
    let body: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &body).expect("write file");
    let port = gateway_tests::net::free_port();
    let root = dir.path().display().to_string();
    let conf = dir.write(
        "nginx.conf",
        &format!(
            "master_process off;\ndaemon off;\npid {root}/nginx.pid;\nerror_log {root}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; client_body_temp_path {root}; proxy_temp_path {root};\n\
               fastcgi_temp_path {root}; uwsgi_temp_path {root}; scgi_temp_path {root};\n\
               server {{ listen 127.0.0.1:{port}; root {root}; }} }}\n"
        ),
    );
    // One process (`master_process off`), so that killing it by PID leaves no worker behind.
    // Debian installs it in /usr/sbin, which a non-root PATH may lack.
    let program = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|p| !p.starts_with('/') || std::path::Path::new(p).exists())
        .unwrap_or("nginx");
    let mut nginx = std::process::Command::new(program)
        .args(["-c", &conf, "-p", &root])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nginx must be installed (apt-get install nginx-light)");
    let up = gateway_tests::eventually(std::time::Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "nginx did not start");
    let spec = dir.write(
        "spec.json",
        &format!(
            r#"{{ "routes": [ {{ "path": "/files/{{name}}", "methods": ["GET", "HEAD"],
                "backend": {{ "type": "HTTP_BACKEND", "url": "http://127.0.0.1:{port}/${{request.path[name]}}" }} }} ] }}"#
        ),
    );
    let gw = Gateway::serve(&[&spec]);
    let res = gw.get("/files/big.bin");
    assert_eq!(res.status, 200);
    assert_eq!(
        res.header("server").map(|s| s.starts_with("nginx")),
        Some(true)
    );
    assert!(
        res.body == body,
        "the body arrived byte for byte ({} bytes)",
        res.body.len()
    );
    assert_eq!(gw.get("/files/missing.bin").status, 404);
    let _ = nginx.kill();
    let _ = nginx.wait();
}
