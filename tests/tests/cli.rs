//! `gateway validate`, `gateway routes` and refusals of `gateway serve`, behind the real binary.

use std::time::Duration;

use gateway_tests::{eventually, repo_root, run_gateway, Gateway, TempDir};

fn compat_spec(name: &str) -> String {
    repo_root()
        .join("../shared/compat/specs")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Every `functionId` in a JSON document.
fn function_ids(value: &serde_json::Value, ids: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("functionId", serde_json::Value::String(id)) => ids.push(id.clone()),
                    _ => function_ids(v, ids),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| function_ids(v, ids)),
        _ => {}
    }
}

/// A config serving a compat spec at `prefix`, with every function it names declared (backed by
/// the echo test function), as a user would write one.
fn compat_config(dir: &TempDir, file: &str, prefix: &str) -> String {
    let spec = std::fs::read_to_string(compat_spec(file)).expect("compat spec");
    let mut ids = Vec::new();
    function_ids(&serde_json::from_str(&spec).expect("JSON"), &mut ids);
    ids.sort();
    ids.dedup();
    let echo = repo_root().join("tests/functions/echo");
    let cache = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("function-cache");
    let mut config = format!(
        "[gateway]\ncache_dir = \"{}\"\n\n[[deployment]]\nname = \"compat\"\npath_prefix = \"{prefix}\"\nspecification = \"{}\"\n\n[[application]]\nname = \"compat-app\"\n",
        cache.display(),
        compat_spec(file),
    );
    for (i, id) in ids.iter().enumerate() {
        config.push_str(&format!(
            "\n[[application.function]]\nname = \"f{i}\"\nid = \"{id}\"\nsource = \"{}\"\n",
            echo.display()
        ));
    }
    dir.write("gateway.toml", &config)
}

#[test]
fn validate_accepts_the_example_and_exits_zero() {
    let config = repo_root().join("examples/stock/gateway.toml");
    let (code, out, err) = run_gateway(&["validate", "--config", &config.to_string_lossy()]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 error(s)"), "{out}");
}

#[test]
fn validate_reports_every_problem_with_its_path_and_exits_one() {
    let dir = TempDir::new("validate");
    let spec = dir.write(
        "broken.json",
        r#"{ "routes": [
            { "path": "/a", "methods": ["GET"], "backend": { "type": "HTTP" } },
            { "path": "/u/{id}", "methods": ["GET"],
              "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } },
            { "path": "/u/{name}", "methods": ["GET", "POST"],
              "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } },
            { "path": "/w/{rest*}/x", "methods": ["GET"],
              "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } },
            { "path": "/s", "methods": ["GET"], "colour": "blue",
              "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": "200" } }
        ] }"#,
    );
    let (code, out, _) = run_gateway(&["validate", &spec]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("routes[0].backend.type"), "{out}");
    assert!(out.contains("HTTP_BACKEND"), "{out}");
    assert!(out.contains("routes[2].path"), "{out}");
    assert!(
        out.contains("routes[1]"),
        "conflict names both routes: {out}"
    );
    assert!(out.contains("routes[3].path"), "{out}");
    assert!(out.contains("routes[4].colour"), "{out}");
    assert!(out.contains("routes[4].backend.status"), "{out}");
}

#[test]
fn validate_json_output_is_machine_readable() {
    let dir = TempDir::new("validate-json");
    let spec = dir.write(
        "s.json",
        r#"{ "routes": [ { "path": "/a", "methods": ["GET"], "backend": { "type": "NOPE" } } ] }"#,
    );
    let (code, out, _) = run_gateway(&["validate", "--json", &spec]);
    assert_eq!(code, 1);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("JSON output");
    let diags = doc["deployments"][0]["diagnostics"]
        .as_array()
        .expect("diagnostics");
    assert!(diags
        .iter()
        .any(|d| d["path"] == "routes[0].backend.type" && d["severity"] == "error"));
}

#[test]
fn limits_are_warnings_unless_strict() {
    let dir = TempDir::new("strict");
    let body = "x".repeat(5000);
    let spec = dir.write(
        "big.json",
        &format!(
            r#"{{ "routes": [ {{ "path": "/a", "methods": ["GET"],
                "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "{body}" }} }} ] }}"#
        ),
    );
    let (code, out, _) = run_gateway(&["validate", &spec]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: routes[0].backend.body"), "{out}");
    let (code, out, _) = run_gateway(&["validate", "--strict", &spec]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("error: routes[0].backend.body"), "{out}");
}

#[test]
fn compat_specs_load() {
    for (file, prefix) in [
        ("01-oidc-custom-auth.json", "/"),
        ("03-mixed-backends.json", "/lab"),
        ("04-jwt-auth-cors-ratelimit.json", "/v1"),
    ] {
        let dir = TempDir::new("compat");
        let config = compat_config(&dir, file, prefix);
        let (code, out, err) = run_gateway(&["validate", "--config", &config]);
        assert_eq!(code, 0, "{file}: {out}{err}");
    }
}

#[test]
fn a_spec_alone_is_valid_with_its_functions_unbound() {
    let (code, out, _) = run_gateway(&["validate", &compat_spec("03-mixed-backends.json")]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("warning: routes[0].backend.functionId: function \"function ocid\" is not bound here; the route answers 500"),
        "{out}"
    );
    assert!(
        out.contains("hint: declare it in gateway.toml ([[application.function]]"),
        "{out}"
    );
}

/// One route to a function nothing binds, one stock route.
const UNBOUND: &str = r#"{ "routes": [
  { "path": "/fn", "methods": ["GET"],
    "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1.phx.aaaa" } },
  { "path": "/stock", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "fine" } } ] }"#;

#[test]
fn a_spec_alone_serves_its_other_routes_and_500_for_unbound_functions() {
    let dir = TempDir::new("unbound");
    let spec = dir.write("spec.json", UNBOUND);
    let gw = Gateway::serve(&[&spec]);
    let res = gw.get("/stock");
    assert_eq!((res.status, res.text().as_str()), (200, "fine"));
    let res = gw.get("/fn");
    assert_eq!(res.status, 500, "{}", res.text());
    // The log is read from the gateway's stderr as it arrives.
    let logged = eventually(Duration::from_secs(10), || {
        gw.stderr()
            .contains("functionBackend.notFoundOrNotAuthorized")
    });
    assert!(logged, "{}", gw.stderr());
}

/// A logout backend in a deployment without an OpenID Connect login to log out of.
const LOGOUT_WITHOUT_LOGIN: &str = r#"{ "routes": [
  { "path": "/stock", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "fine" } },
  { "path": "/logout", "methods": ["GET"],
    "backend": { "type": "OAUTH2_LOGOUT_BACKEND" } } ] }"#;

#[test]
fn a_logout_backend_needs_a_login_flow_to_end() {
    let dir = TempDir::new("logout-without-login");
    let spec = dir.write("spec.json", LOGOUT_WITHOUT_LOGIN);
    let (code, out, _) = run_gateway(&["validate", &spec]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("routes[1].backend: OAUTH2_LOGOUT_BACKEND ends OpenID Connect sessions, and the deployment has none"),
        "{out}"
    );
    let err = Gateway::try_serve(&[&spec]).expect_err("refused");
    assert!(err.contains("OAUTH2_LOGOUT_BACKEND"), "{err}");
}

#[test]
fn mutual_tls_without_client_cas_is_refused() {
    let dir = TempDir::new("mtls-without-cas");
    let spec = dir.write(
        "spec.json",
        r#"{ "requestPolicies": { "mutualTls": { "isVerifiedCertificateRequired": true } },
             "routes": [ { "path": "/stock", "methods": ["GET"],
               "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#,
    );
    // Without CA bundles to verify against, the deployment is not served at all.
    let err = Gateway::try_serve(&[&spec]).expect_err("refused");
    assert!(
        err.contains("requestPolicies.mutualTls") && err.contains("client_ca"),
        "{err}"
    );
}

#[test]
fn routes_prints_the_public_route_table() {
    let config = repo_root().join("examples/stock/gateway.toml");
    let (code, out, err) = run_gateway(&["routes", "--config", &config.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("DEPLOYMENT"), "{out}");
    assert!(out.contains("/demo/hello"), "{out}");
    assert!(out.contains("/demo/regions/{region}/status"), "{out}");
    assert!(out.contains("STOCK_RESPONSE_BACKEND"), "{out}");

    let (code, out, _) = run_gateway(&["routes", "--json", "--config", &config.to_string_lossy()]);
    assert_eq!(code, 0);
    let routes: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(routes[0]["template"], "/hello");
    assert_eq!(routes[0]["methods"], serde_json::json!(["HEAD", "GET"]));
}

#[test]
fn config_errors_name_the_file_and_location() {
    let dir = TempDir::new("config");
    let config = dir.write(
        "gateway.toml",
        "[gateway]\nlisten = \"127.0.0.1:0\"\nlisn = 3\n",
    );
    let (code, _, err) = run_gateway(&["validate", "--config", &config]);
    assert_eq!(code, 1);
    assert!(err.contains("gateway.toml"), "{err}");
    assert!(err.contains("unknown field `lisn`"), "{err}");

    let config = dir.write(
        "missing.toml",
        "[[deployment]]\nname = \"a\"\npath_prefix = \"/a\"\nspecification = \"nope.json\"\n",
    );
    let (code, _, err) = run_gateway(&["validate", "--config", &config]);
    assert_eq!(code, 1);
    assert!(err.contains("nope.json"), "{err}");
}

#[test]
fn bad_prefixes_and_duplicate_deployments_are_reported() {
    let dir = TempDir::new("prefixes");
    dir.write(
        "s.json",
        r#"{ "routes": [ { "path": "/", "methods": ["GET"], "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#,
    );
    let config = dir.write(
        "gateway.toml",
        "[[deployment]]\nname = \"a\"\npath_prefix = \"/a/\"\nspecification = \"s.json\"\n\n\
         [[deployment]]\nname = \"b\"\npath_prefix = \"/b\"\nspecification = \"s.json\"\n\n\
         [[deployment]]\nname = \"b\"\npath_prefix = \"/b\"\nspecification = \"s.json\"\n",
    );
    let (code, out, _) = run_gateway(&["validate", "--config", &config]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("pathPrefix"), "{out}");
    assert!(out.contains("also named \"b\""), "{out}");
}

#[test]
fn a_bad_parameter_name_is_named_and_its_hint_said_once() {
    let dir = TempDir::new("param-name");
    let spec = dir.write(
        "spec.json",
        r#"{ "routes": [ { "path": "/users/{user-id}", "methods": ["GET"],
            "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#,
    );
    let (code, out, _) = run_gateway(&["validate", &spec]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(
            "error: routes[0].path: invalid character '-' in parameter name 'user-id' at position 12 \
             (hint: parameter names may contain only letters, digits and '_')\n"
        ),
        "{out}"
    );
}
