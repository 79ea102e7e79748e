//! The web console, in headless Chromium (Debian's `chromium`, driven by `playwright-core` from
//! npm): it lists the deployment's routes and shows a request as it is served.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use gateway_tests::{repo_root, request, Gateway, TempDir};

const SPEC: &str = r#"{ "routes": [
  { "path": "/hello/{name}", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hi" } },
  { "path": "/teapot", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 418, "body": "short and stout" } } ] }"#;

/// playwright-core, installed from npm once per target directory.
fn playwright() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("playwright");
    let ready = dir.join(".ready");
    if !ready.exists() {
        let status = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .arg("playwright-core@1.65.2")
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm install playwright-core");
        std::fs::write(&ready, "playwright-core@1.65.2").expect("marker");
    }
    dir.join("node_modules")
}

#[test]
fn the_console_shows_routes_and_live_traffic() {
    let dir = TempDir::new("console");
    let spec = dir.write("spec.json", SPEC);
    let gw = Gateway::serve(&[
        &spec,
        "--path-prefix",
        "/v1",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    let admin = gw.admin.expect("admin listener");
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console.png");

    let mut browser = Command::new("node")
        .arg(repo_root().join("tests/console/check.js"))
        .arg(format!("http://{admin}/"))
        .args(["/v1/hello/{name}", "/v1/hello/ann?from=console-test"])
        .arg(&screenshot)
        .env("NODE_PATH", playwright())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(browser.stdout.take().expect("stdout")).lines();
    let first = lines.next().and_then(Result::ok);
    assert_eq!(
        first.as_deref(),
        Some("ready"),
        "the console did not list the routes"
    );

    // Sent once the console is open: it records traffic while somebody watches.
    let res = request(gw.addr, "GET", "/v1/hello/ann?from=console-test", &[], b"");
    assert_eq!(res.status, 200);
    assert_eq!(request(gw.addr, "GET", "/v1/teapot", &[], b"").status, 418);

    let page: Vec<String> = lines.map_while(Result::ok).collect();
    let status = browser.wait().expect("node ends");
    let page = page.join("\n");
    assert!(status.success(), "{page}");
    for shown in [
        "/v1/hello/{name}",
        "STOCK_RESPONSE_BACKEND",
        "/v1/hello/ann?from=console-test",
        "Latency per route",
    ] {
        assert!(page.contains(shown), "{shown:?} not on the page:\n{page}");
    }
    assert!(screenshot.exists());
}
