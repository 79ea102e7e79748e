//! `gateway init DIR`: a runnable project, as `fn init` makes a function plus the gateway in
//! front of it: `gateway.toml`, an OCI deployment specification with a route to the function,
//! and the function itself (Python or Node, FDK and `func.yaml` as Fn's templates have them).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::cli::{InitArgs, Runtime};
use crate::output::out;

/// One file of the project: where it goes and what it holds.
struct Template {
    path: &'static str,
    text: &'static str,
}

macro_rules! template {
    ($path:literal, $source:literal) => {
        Template {
            path: $path,
            text: include_str!(concat!("../templates/init/", $source)),
        }
    };
}

const COMMON: [Template; 3] = [
    template!("gateway.toml", "gateway.toml"),
    template!("deployment.json", "deployment.json"),
    template!(".gitignore", "gitignore"),
];

const PYTHON: [Template; 3] = [
    template!("hello/func.yaml", "python/func.yaml"),
    template!("hello/func.py", "python/func.py"),
    template!("hello/requirements.txt", "python/requirements.txt"),
];

const NODE: [Template; 3] = [
    template!("hello/func.yaml", "node/func.yaml"),
    template!("hello/func.js", "node/func.js"),
    template!("hello/package.json", "node/package.json"),
];

pub(crate) fn run(args: InitArgs) -> Result<ExitCode, String> {
    let dir = &args.dir;
    refuse_non_empty(dir)?;
    let function = match args.runtime {
        Runtime::Python => &PYTHON,
        Runtime::Node => &NODE,
    };
    for template in COMMON.iter().chain(function) {
        write(dir, template)?;
    }
    let shown = dir.display();
    let files: Vec<&str> = function
        .iter()
        .map(|t| t.path.trim_start_matches("hello/"))
        .collect();
    out(&format!(
        "created {shown}/ with a {runtime} function:\n\
         \x20 {shown}/gateway.toml      the gateway: listener, deployment, function, IAM\n\
         \x20 {shown}/deployment.json   the OCI deployment: GET|POST /api/hello, GET /api/health\n\
         \x20 {shown}/hello/            the function: {files}\n\
         \n\
         run it:\n\
         \x20 gateway serve --config {shown}/gateway.toml\n\
         \x20 curl -X POST http://127.0.0.1:8080/api/hello -d '{{\"name\":\"Ann\"}}'\n",
        runtime = args.runtime.name(),
        files = files.join(", "),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// A project is never written over files that are already there.
fn refuse_non_empty(dir: &Path) -> Result<(), String> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(format!(
                "{} is not empty; init writes a new project into an empty or new directory",
                dir.display()
            )),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(format!("cannot read {}: {e}", dir.display())),
    }
}

fn write(dir: &Path, template: &Template) -> Result<(), String> {
    let path: PathBuf = dir.join(template.path);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    std::fs::write(&path, template.text)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
