//! `gateway serve` with stock responses, behind the real binary.

use std::time::Duration;

use gateway_tests::{eventually, Gateway, TempDir};

const SPEC: &str = r#"{
  "routes": [
    { "path": "/hello", "methods": ["GET", "POST"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 201,
        "headers": [ { "name": "Content-Type", "value": "application/json" },
                     { "name": "X-Multi", "value": "one" },
                     { "name": "X-Multi", "value": "two" } ],
        "body": "{\"special_key\":\"Special Value\"}" } },
    { "path": "/redirect", "methods": ["ANY"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 302,
        "headers": [ { "name": "Location", "value": "https://example.com/" } ] } },
    { "path": "/items/{id}", "methods": ["GET"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "item" } },
    { "path": "/items/special", "methods": ["GET"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "special" } },
    { "path": "/files/{rest*}", "methods": ["GET"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "files" } },
    { "path": "/files/readme", "methods": ["GET"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "readme" } },
    { "path": "/", "methods": ["GET"],
      "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "root" } }
  ]
}"#;

fn serve_spec(extra: &[&str]) -> (TempDir, Gateway) {
    let dir = TempDir::new("stock");
    let spec = dir.write("spec.json", SPEC);
    let mut args = vec![spec.as_str(), "--path-prefix", "/v1"];
    args.extend_from_slice(extra);
    let gw = Gateway::serve(&args);
    (dir, gw)
}

#[test]
fn stock_response_is_served_exactly() {
    let (_dir, gw) = serve_spec(&[]);
    let res = gw.get("/v1/hello");
    assert_eq!(res.status, 201);
    assert_eq!(res.header("content-type"), Some("application/json"));
    assert_eq!(res.header_all("x-multi"), ["one", "two"]);
    let expected = r#"{"special_key":"Special Value"}"#;
    assert_eq!(res.text(), expected);
    assert_eq!(
        res.header("content-length"),
        Some(&*expected.len().to_string())
    );

    let res = gw.request("POST", "/v1/redirect", &[], b"ignored body");
    assert_eq!(res.status, 302);
    assert_eq!(res.header("location"), Some("https://example.com/"));
    assert!(res.body.is_empty());
}

#[test]
fn every_response_carries_a_request_id() {
    let (_dir, gw) = serve_spec(&[]);
    let res = gw.request("GET", "/v1/hello", &[("opc-request-id", "my-id-42")], b"");
    assert_eq!(res.header("opc-request-id"), Some("my-id-42"));

    for target in ["/v1/hello", "/nowhere", "/v1/a/../hello"] {
        let res = gw.get(target);
        let id = res
            .header("opc-request-id")
            .unwrap_or_else(|| panic!("no id on {target}"));
        assert_eq!(id.len(), 32, "{target}: {id}");
    }
    assert_ne!(
        gw.get("/v1/hello").header("opc-request-id"),
        gw.get("/v1/hello").header("opc-request-id")
    );
}

#[test]
fn unknown_paths_get_ocis_not_found_body() {
    let (_dir, gw) = serve_spec(&[]);
    for target in [
        "/nowhere",
        "/v1/nowhere",
        "/v1x/hello",
        "/v1/hello/extra",
        "/V1/hello",
    ] {
        let res = gw.get(target);
        assert_eq!(res.status, 404, "{target}");
        assert_eq!(res.header("content-type"), Some("application/json"));
        assert_eq!(
            res.json(),
            serde_json::json!({"code": 404, "message": "Not Found"}),
            "{target}"
        );
    }
}

#[test]
fn method_mismatch_is_404_by_default() {
    let (_dir, gw) = serve_spec(&[]);
    let res = gw.request("DELETE", "/v1/hello", &[], b"");
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["message"], "Not Found");
    assert_eq!(res.header("allow"), None);
}

#[test]
fn method_mismatch_is_405_with_allow_when_configured() {
    let dir = TempDir::new("405");
    dir.write("spec.json", SPEC);
    let config = dir.write(
        "gateway.toml",
        "[gateway]\nmethod_mismatch_status = 405\n\n[[deployment]]\nname = \"v1\"\npath_prefix = \"/v1\"\nspecification = \"spec.json\"\n",
    );
    let gw = Gateway::serve(&["--config", &config]);
    let res = gw.request("DELETE", "/v1/hello", &[], b"");
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("GET, POST"));
    assert_eq!(
        res.json(),
        serde_json::json!({"code": 405, "message": "Method Not Allowed"})
    );
    // An ANY route accepts methods outside OCI's list too.
    assert_eq!(gw.request("TRACE", "/v1/redirect", &[], b"").status, 302);
}

#[test]
fn literal_beats_parameter_beats_wildcard() {
    let (_dir, gw) = serve_spec(&[]);
    assert_eq!(gw.get("/v1/items/special").text(), "special");
    assert_eq!(gw.get("/v1/items/42").text(), "item");
    assert_eq!(gw.get("/v1/files/readme").text(), "readme");
    assert_eq!(gw.get("/v1/files/a/b/c.txt").text(), "files");
    // A wildcard matches zero segments: with and without the trailing slash.
    assert_eq!(gw.get("/v1/files/").text(), "files");
    assert_eq!(gw.get("/v1/files").text(), "files");
    // A parameter never matches an empty segment.
    assert_eq!(gw.get("/v1/items/").status, 404);
}

#[test]
fn the_prefix_alone_reaches_the_root_route() {
    let (_dir, gw) = serve_spec(&[]);
    assert_eq!(gw.get("/v1").text(), "root");
    assert_eq!(gw.get("/v1/").text(), "root");
    assert_eq!(gw.get("/v1?x=1").text(), "root");
}

#[test]
fn path_spellings_cannot_reach_other_routes() {
    let (_dir, gw) = serve_spec(&[]);
    // Encoded unreserved characters are the same path.
    assert_eq!(
        gw.get("/v1/%68ello").text(),
        r#"{"special_key":"Special Value"}"#
    );
    assert_eq!(gw.get("/v1/items/%73pecial").text(), "special");
    // Everything that could make one path look like another is refused.
    for target in [
        "/v1/items/../hello",
        "/v1/./hello",
        "/v1/items/%2e%2e/hello",
        "/v1/items/%2E%2E/hello",
        "/v1//hello",
        "/v1/files/a%2Fb",
        "/v1/files/a%2fb",
        "/v1/files/a%5Cb",
        "/v1/files/a\\b",
        "/v1/files/%00",
        "/v1/files/%zz",
        "/v1/files/%4",
        "/v1/files/..",
    ] {
        let res = gw.get(target);
        assert_eq!(res.status, 400, "{target}: {}", res.text());
        assert_eq!(res.json()["code"], 400, "{target}");
        assert!(res.header("opc-request-id").is_some(), "{target}");
    }
}

#[test]
fn head_requests_get_headers_without_a_body() {
    let dir = TempDir::new("head");
    let spec = dir.write(
        "spec.json",
        r#"{"routes":[{"path":"/h","methods":["HEAD"],"backend":{"type":"STOCK_RESPONSE_BACKEND","status":200,"body":"abc"}}]}"#,
    );
    let gw = Gateway::serve(&[&spec]);
    let res = gw.request("HEAD", "/h", &[], b"");
    assert_eq!(res.status, 200);
    assert!(res.body.is_empty());
}

#[test]
fn sigterm_stops_the_gateway_cleanly() {
    let (_dir, gw) = serve_spec(&[]);
    assert_eq!(gw.get("/v1/hello").status, 201);
    let status = gw.terminate();
    assert!(status.success(), "{status}");
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let (_dir, gw) = serve_spec(&[]);
    assert_eq!(gw.get("/v1/nowhere").status, 404);
    // The log is read from the gateway's stderr as it arrives.
    let logged = eventually(Duration::from_secs(10), || {
        gw.stderr().contains("request.routeNotFound")
    });
    let log = gw.stderr();
    assert!(logged, "{log}");
    assert!(!log.contains('\x1b'), "{log:?}");
    // Request lines are for a person at a terminal; a pipe gets the execution log only.
    assert!(!log.contains("GET /v1/nowhere"), "{log}");
}
