//! IAM: dynamic groups and policies decide whether the gateway may invoke a function, and
//! `gateway explain` says why. Behind the real binary.

use std::path::PathBuf;
use std::time::Duration;

use gateway_tests::{eventually, repo_root, run_gateway, Gateway, TempDir};

fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("function-cache")
}

const SPEC: &str = r#"{ "routes": [
  { "path": "/echo", "methods": ["POST"],
    "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..echo" } } ] }"#;

const RULE: &str =
    "ALL {resource.type = 'ApiGateway', resource.compartment.id = 'ocid1.compartment.oc1..gw'}";

/// A gateway in compartment `gw`, the echo function in compartment `apps`, one dynamic group
/// with `rule`, and the given policy statements.
fn config(dir: &TempDir, rule: &str, statements: &[&str]) -> String {
    dir.write("spec.json", SPEC);
    let statements: Vec<String> = statements.iter().map(|s| format!("{s:?}")).collect();
    dir.write(
        "gateway.toml",
        &format!(
            r#"[gateway]
cache_dir = "{cache}"
id = "ocid1.apigateway.oc1..gw1"
compartment = "gw"

[[compartment]]
name = "gw"
id = "ocid1.compartment.oc1..gw"

[[compartment]]
name = "apps"
id = "ocid1.compartment.oc1..apps"

[[deployment]]
name = "p"
path_prefix = "/p"
specification = "spec.json"

[[application]]
name = "app"
compartment = "apps"

[[application.function]]
name = "echo"
id = "ocid1.fnfunc.oc1..echo"
source = "{echo}"

[iam]
[[iam.dynamic_group]]
name = "gateways"
matching_rules = [{rule:?}]

[[iam.policy]]
name = "invoke"
statements = [{statements}]
"#,
            cache = cache_dir().display(),
            echo = repo_root().join("tests/functions/echo").display(),
            statements = statements.join(", "),
        ),
    )
}

const ALLOW: &str = "Allow dynamic-group gateways to use functions-family in compartment apps";

#[test]
fn the_example_is_allowed_and_explained() {
    let config = repo_root().join("examples/hello/gateway.toml");
    let (code, out, err) =
        run_gateway(&["explain", "--config", &config.to_string_lossy(), "--all"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ALLOWED"), "{out}");
    assert!(out.contains("fn-gw-dynamic-group"), "{out}");
    assert!(
        out.contains("decision: ALLOWED by policy \"fn-gw-policy\""),
        "{out}"
    );

    let (code, out, _) = run_gateway(&[
        "explain",
        "--config",
        &config.to_string_lossy(),
        "--all",
        "--json",
    ]);
    assert_eq!(code, 0);
    let traces: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(traces.as_array().map(Vec::len), Some(2));
    assert_eq!(traces[0]["allowed"], true);
}

#[test]
fn a_wrong_compartment_in_all_denies_and_the_trace_shows_the_values() {
    let dir = TempDir::new("iam-all");
    let wrong = RULE.replace("oc1..gw'", "oc1..gx'");
    let config = config(&dir, &wrong, &[ALLOW]);
    let (code, out, _) = run_gateway(&["explain", "--config", &config, "--function", "app/echo"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("DENIED"), "{out}");
    assert!(
        out.contains("resource.compartment.id = 'ocid1.compartment.oc1..gx' vs the gateway's compartment 'ocid1.compartment.oc1..gw': false"),
        "{out}"
    );

    // ANY with the same wrong value matches on the type alone, as the article's author found.
    let any = wrong.replacen("ALL", "ANY", 1);
    let any_config = self::config(&dir, &any, &[ALLOW]);
    let (code, out, _) =
        run_gateway(&["explain", "--config", &any_config, "--function", "app/echo"]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_denied_function_answers_500_and_validate_says_why() {
    let dir = TempDir::new("iam-denied");
    let config = config(&dir, RULE, &[]);
    let (code, out, _) = run_gateway(&["validate", "--config", &config]);
    assert_eq!(
        code, 0,
        "denied is a warning, as OCI serves the deployment: {out}"
    );
    assert!(
        out.contains("routes[0].backend.functionId: the gateway may not invoke app/echo"),
        "{out}"
    );

    let gw = Gateway::serve(&["--config", &config]);
    let res = gw.request("POST", "/p/echo", &[], b"x");
    assert_eq!(res.status, 500);
    assert_eq!(
        res.json(),
        serde_json::json!({"code": 500, "message": "Internal Server Error"})
    );
}

#[test]
fn a_policy_added_and_reloaded_makes_the_function_invocable() {
    let dir = TempDir::new("iam-reload");
    let config = config(&dir, RULE, &[]);
    let gw = Gateway::serve(&["--config", &config]);
    assert_eq!(gw.request("POST", "/p/echo", &[], b"x").status, 500);

    // An invalid change is refused and changes nothing.
    std::fs::write(&config, "[gateway]\nlisen = 1\n").expect("write");
    gw.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(gw.request("POST", "/p/echo", &[], b"x").status, 500);

    self::config(&dir, RULE, &[ALLOW]);
    gw.signal("HUP");
    let ok = eventually(Duration::from_secs(30), || {
        gw.request("POST", "/p/echo", &[], b"x").status == 200
    });
    assert!(ok, "the function became invocable after the reload");
}

#[test]
fn bad_statements_point_at_the_column() {
    let dir = TempDir::new("iam-bad");
    let config = config(
        &dir,
        RULE,
        &["Allow dynamic-group gateways to usee functions-family in compartment apps"],
    );
    let (code, out, _) = run_gateway(&["validate", "--config", &config]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("iam.policy[0] \"invoke\" statement 0"),
        "{out}"
    );
    assert!(out.contains("usee"), "{out}");
    assert!(out.contains("(column 33)"), "{out}");
}
