//! The web console, in headless Chromium (Debian's `chromium`, driven by `playwright-core` from
//! npm): it lists the deployment's routes and shows a request as it is served.

use std::io::{BufRead, BufReader, Lines};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use gateway_tests::{eventually, npm_install, repo_root, request, Gateway, TempDir};

const SPEC: &str = r#"{ "routes": [
  { "path": "/hello/{name}", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "hi" } },
  { "path": "/teapot", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 418, "body": "short and stout" } } ] }"#;

/// playwright-core, installed from npm once per target directory.
fn playwright() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("playwright");
    npm_install(&dir, "playwright-core@1.65.2").join("node_modules")
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
    let mut page = Page::open(
        admin,
        "/v1/hello/{name}",
        "/v1/hello/ann?from=console-test",
        &screenshot,
    );
    // Sent once the console is open: it records traffic while somebody watches.
    let res = request(gw.addr, "GET", "/v1/hello/ann?from=console-test", &[], b"");
    assert_eq!(res.status, 200);
    assert_eq!(request(gw.addr, "GET", "/v1/teapot", &[], b"").status, 418);

    let text = page.text();
    for shown in [
        "/v1/hello/{name}",
        "STOCK_RESPONSE_BACKEND",
        "/v1/hello/ann?from=console-test",
        "Latency per route",
    ] {
        assert!(text.contains(shown), "{shown:?} not on the page:\n{text}");
    }
    assert!(screenshot.exists());

    // A reload's outcome and change summary are there too.
    gw.signal("HUP");
    let reloaded = eventually(Duration::from_secs(20), || {
        let state = request(admin, "GET", "/console/api/state", &[], b"").json();
        state["lastReload"]["applied"] == true
    });
    let state = request(admin, "GET", "/console/api/state", &[], b"").json();
    assert!(reloaded, "{state}");
    assert!(
        state["lastReload"]["summary"]
            .as_str()
            .is_some_and(|s| s.contains("2 routes")),
        "{state}"
    );
}

#[test]
fn the_console_shows_functions_with_their_iam_decision_and_output() {
    let config = repo_root().join("examples/hello/gateway.toml");
    let gw = Gateway::serve(&[
        "--config",
        &config.to_string_lossy(),
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    let admin = gw.admin.expect("admin listener");
    let screenshot = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-functions.png");
    let mut page = Page::open(admin, "/fn/hello", "/fn/hello", &screenshot);
    let res = request(gw.addr, "POST", "/fn/hello", &[], br#"{"name":"Ann"}"#);
    assert_eq!(res.status, 200, "{}", res.text());

    let text = page.text();
    for shown in [
        "lab-app/hello",
        "ocid1.fnfunc.oc1..hello",
        "allowed",
        "200 ",
    ] {
        assert!(text.contains(shown), "{shown:?} not on the page:\n{text}");
    }
    // What the page folds away: the IAM trace and the function's own log lines.
    let state = request(admin, "GET", "/console/api/state", &[], b"").json();
    let hello = state["functions"]
        .as_array()
        .expect("functions")
        .iter()
        .find(|f| f["name"] == "lab-app/hello")
        .expect("the hello function")
        .clone();
    let trace = hello["explanation"].as_str().expect("an IAM trace");
    assert!(
        trace.starts_with("ALLOWED") && trace.contains("fn-gw-dynamic-group"),
        "{trace}"
    );
    let logs = hello["logs"].as_array().expect("log lines");
    assert!(
        logs.iter().any(|l| l
            .as_str()
            .unwrap_or("")
            .contains("Inside Python Hello World function")),
        "{logs:?}"
    );
}

/// The console in headless Chromium, driven by `tests/console/check.js`.
struct Page {
    browser: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Page {
    /// Opens the console of the admin listener `admin` and waits until it lists `route` and
    /// records traffic; [`Page::text`] then waits for a request to `target`.
    fn open(admin: SocketAddr, route: &str, target: &str, screenshot: &Path) -> Page {
        let mut browser = Command::new("node")
            .arg(repo_root().join("tests/console/check.js"))
            .arg(format!("http://{admin}/"))
            .args([route, target])
            .arg(screenshot)
            .env("NODE_PATH", playwright())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let mut lines = BufReader::new(browser.stdout.take().expect("stdout")).lines();
        let first = lines.next().and_then(Result::ok);
        assert_eq!(
            first.as_deref(),
            Some("ready"),
            "the console did not list {route}"
        );
        Page { browser, lines }
    }

    /// The page's text once it shows the request.
    fn text(&mut self) -> String {
        let text: Vec<String> = self.lines.by_ref().map_while(Result::ok).collect();
        let status = self.browser.wait().expect("node ends");
        let text = text.join("\n");
        assert!(status.success(), "{text}");
        text
    }
}
