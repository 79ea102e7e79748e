//! `gateway init`: the project it writes validates, serves and answers as its output says.

use std::path::Path;

use gateway_tests::{run_gateway, Gateway, TempDir};

/// Writes a project with `runtime` into `dir/project` and returns the config's path.
fn init(dir: &TempDir, runtime: &str) -> String {
    let project = dir.path().join("project");
    let project = project.to_string_lossy();
    let (code, out, err) = run_gateway(&["init", &project, "--runtime", runtime]);
    assert_eq!(code, 0, "{out}{err}");
    let config = format!("{project}/gateway.toml");
    assert!(
        out.contains(&format!("gateway serve --config {config}")),
        "{out}"
    );
    config
}

/// `init --runtime RUNTIME` writes the function's `files`, and the project validates, is
/// allowed by its IAM section and serves.
fn a_project_serves_its_function(runtime: &str, files: [&str; 3]) {
    let dir = TempDir::new(&format!("init-{runtime}"));
    let config = init(&dir, runtime);
    let function = Path::new(&config).with_file_name("hello");
    for file in files {
        assert!(function.join(file).is_file(), "{file}");
    }
    let (code, out, err) = run_gateway(&["validate", "--config", &config]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 error(s), 0 warning(s)"), "{out}");
    // The IAM section it writes lets the gateway invoke its function.
    let (code, out, err) = run_gateway(&["explain", "--config", &config, "--all"]);
    assert_eq!(code, 0, "{out}{err}");

    let gw = Gateway::serve(&["--config", &config]);
    let res = gw.request("POST", "/api/hello", &[], br#"{"name":"Ann"}"#);
    assert_eq!(res.status, 200, "{}", res.text());
    assert_eq!(res.json(), serde_json::json!({"message": "Hello Ann"}));
    let res = gw.get("/api/health");
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), serde_json::json!({"status": "ok"}));
}

#[test]
fn a_python_project_serves_its_function() {
    a_project_serves_its_function("python", ["func.yaml", "func.py", "requirements.txt"]);
}

#[test]
fn a_node_project_serves_its_function() {
    a_project_serves_its_function("node", ["func.yaml", "func.js", "package.json"]);
}

#[test]
fn init_never_writes_over_an_existing_project() {
    let dir = TempDir::new("init-twice");
    let existing = dir.write("gateway.toml", "# mine\n");
    let (code, out, err) = run_gateway(&["init", &dir.path().to_string_lossy()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("is not empty"), "{err}");
    assert_eq!(std::fs::read_to_string(existing).expect("kept"), "# mine\n");
}
