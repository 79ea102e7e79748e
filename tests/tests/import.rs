//! `gateway import` on real API descriptions: the OpenAPI Initiative's Petstore examples (as
//! packaged in `@readme/oas-examples`) and GitHub's REST API description (`@octokit/openapi`),
//! both from npm; what it writes validates and serves.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use gateway_tests::{raw_echo_upstream, run_gateway, Gateway, TempDir};

/// Pinned, so that the counts below stay true.
const PACKAGES: [(&str, &str); 2] = [
    ("@readme/oas-examples@8.2.2", "oas-examples"),
    ("@octokit/openapi@23.0.2", "octokit"),
];

/// The unpacked packages, fetched from npm once per target directory.
fn packages() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("api-descriptions");
        for (package, name) in PACKAGES {
            let into = dir.join(name);
            let ready = into.join(".ready");
            if ready.exists() {
                continue;
            }
            std::fs::create_dir_all(&into).expect("package directory");
            let packed = Command::new("npm")
                .args(["pack", "--silent", package])
                .current_dir(&into)
                .output()
                .expect("npm runs");
            assert!(packed.status.success(), "npm pack {package}: {packed:?}");
            let tarball = String::from_utf8_lossy(&packed.stdout).trim().to_owned();
            let unpacked = Command::new("tar")
                .args(["xzf", &tarball])
                .current_dir(&into)
                .status()
                .expect("tar runs");
            assert!(unpacked.success(), "tar xzf {tarball}");
            std::fs::write(ready, package).expect("marker");
        }
        dir
    })
}

/// Imports `description` (with `extra` arguments) into `dir/name`; returns that path.
fn import(dir: &TempDir, description: &Path, name: &str, extra: &[&str]) -> String {
    let output = dir.path().join(name).to_string_lossy().into_owned();
    let mut args = vec![
        "import",
        description.to_str().expect("UTF-8 path"),
        "-o",
        &output,
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = run_gateway(&args);
    assert_eq!(code, 0, "{}: {out}{err}", description.display());
    assert!(!err.contains("ERROR"), "{err}");
    output
}

fn validate_clean(spec: &str) -> String {
    let (code, out, err) = run_gateway(&["validate", spec]);
    assert_eq!(code, 0, "{spec}: {out}{err}");
    assert!(out.contains("0 error(s)"), "{out}");
    out
}

#[test]
fn every_petstore_example_imports_into_a_valid_deployment() {
    let dir = TempDir::new("import-petstores");
    let mut imported = 0;
    for version in ["2.0", "3.0", "3.1"] {
        for format in ["json", "yaml"] {
            let folder = packages()
                .join("oas-examples/package")
                .join(version)
                .join(format);
            for entry in std::fs::read_dir(&folder).expect("examples") {
                let path = entry.expect("entry").path();
                let file = path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                if !file.starts_with("petstore") {
                    continue;
                }
                let spec = import(&dir, &path, &format!("{version}-{file}.json"), &[]);
                let out = validate_clean(&spec);
                assert!(out.contains("0 warning(s)"), "{out}");
                imported += 1;
            }
        }
    }
    assert_eq!(imported, 22);
}

#[test]
fn githubs_rest_api_imports_whole() {
    let dir = TempDir::new("import-github");
    let description = packages().join("octokit/package/generated/api.github.com.json");
    let spec = import(&dir, &description, "github.json", &[]);

    // Every operation is a route, but those of the one path with a parameter inside a segment
    // (`/repos/{owner}/{repo}/compare/{base}...{head}`).
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&description).expect("read")).expect("JSON");
    let operations: usize = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(path, _)| !path.contains("}..."))
        .map(|(_, item)| {
            ["get", "head", "post", "put", "patch", "delete", "options"]
                .iter()
                .filter(|m| item.get(**m).is_some())
                .count()
        })
        .sum();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&spec).expect("read")).expect("JSON");
    let routes = written["routes"].as_array().expect("routes");
    assert!(operations > 1000, "{operations}");
    assert_eq!(routes.len(), operations);

    let out = validate_clean(&spec);
    assert!(
        out.contains(&format!("{operations} routes; OCI allows at most 50")),
        "{out}"
    );
}

#[test]
fn an_imported_petstore_serves_against_a_given_backend() {
    let dir = TempDir::new("import-serve");
    let upstream = raw_echo_upstream();
    let description = packages().join("oas-examples/package/3.0/yaml/petstore.yaml");
    let base = format!("http://{upstream}/base");
    let spec = import(&dir, &description, "petstore.json", &["--backend", &base]);
    let gw = Gateway::serve(&[&spec, "--path-prefix", "/store"]);

    let res = gw.get("/store/pet/42");
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(
        res.text().starts_with("GET /base/pet/42 HTTP/1.1"),
        "{}",
        res.text()
    );

    // `status` is a required query parameter of findByStatus, a body is required by addPet.
    assert_eq!(gw.get("/store/pet/findByStatus").status, 400);
    let res = gw.get("/store/pet/findByStatus?status=sold");
    assert_eq!(res.status, 200, "{}", res.text());
    assert!(
        res.text()
            .starts_with("GET /base/pet/findByStatus?status=sold "),
        "{}",
        res.text()
    );
    let res = gw.request(
        "POST",
        "/store/pet",
        &[("Content-Type", "application/json")],
        b"",
    );
    assert_eq!(res.status, 400, "{}", res.text());
}
