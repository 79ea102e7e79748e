//! `gateway import FILE`: an API description turned into a deployment specification (see
//! [`gateway_core::import`]), problems reported as OCI's API validation does: `ERROR` or
//! `WARNING` with the place in the description.

use std::path::Path;
use std::process::ExitCode;

use serde_json::Value;

use gateway_core::diagnostics::Severity;
use gateway_core::import::{import_api_description, ImportBackend};

use crate::cli::ImportArgs;
use crate::output::out;

pub(crate) fn run(args: ImportArgs) -> Result<ExitCode, String> {
    let document = read(&args.file)?;
    let backend = match (args.backend, args.function) {
        (Some(url), _) => ImportBackend::Url(url),
        (None, Some(id)) => ImportBackend::Function(id),
        (None, None) => ImportBackend::Described,
    };
    let imported = import_api_description(&document, &backend);
    for d in imported.diagnostics.iter() {
        let level = match d.severity {
            Severity::Error => "ERROR",
            Severity::Warning => "WARNING",
        };
        eprintln!("{level} {}", d.details());
    }
    let Some(spec) = imported.specification else {
        eprintln!("{}: nothing written", args.file.display());
        return Ok(ExitCode::FAILURE);
    };
    let routes = spec.routes.len();
    let mut text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
    text.push('\n');
    match &args.output {
        Some(path) => {
            std::fs::write(path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("{routes} route(s) written to {}", path.display());
        }
        None => out(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The description as JSON, whichever of JSON and YAML it is written in.
fn read(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(&text)
            .map_err(|e| format!("{}: invalid JSON: {e}", path.display()));
    }
    let yaml: serde_norway::Value = serde_norway::from_str(&text)
        .map_err(|e| format!("{}: invalid YAML: {e}", path.display()))?;
    // Keys such as response codes (`200:`) are numbers in YAML and strings in JSON.
    serde_json::to_value(yaml).map_err(|e| format!("{}: {e}", path.display()))
}
