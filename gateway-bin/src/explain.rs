//! `gateway explain`: may the gateway invoke a function, and why.

use std::path::Path;
use std::process::ExitCode;

use gateway_core::diagnostics::Diagnostics;

use crate::cli::ExplainArgs;
use crate::config::Config;
use crate::output::out;
use crate::permissions::Permissions;

pub(crate) fn run(args: ExplainArgs) -> Result<ExitCode, String> {
    let path = args.config.as_deref().unwrap_or(Path::new("gateway.toml"));
    let config = Config::load(path).map_err(|e| e.to_string())?;
    if config.iam.is_none() {
        out("no [iam] section: permissions are not enforced, and the gateway may invoke every function\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut problems = Diagnostics::new();
    let permissions = Permissions::build(&config, &mut problems);
    if problems.has_errors() {
        return Err(format!("the IAM configuration has errors:\n{problems}"));
    }
    let permissions = permissions.ok_or("the IAM configuration has errors")?;

    let mut decisions = Vec::new();
    let mut known = Vec::new();
    for (a, app) in config.applications.iter().enumerate() {
        for function in &app.functions {
            let name = format!("{}/{}", app.name, function.name);
            known.push(format!("{} ({name})", function.id));
            let wanted = args.all
                || args
                    .function
                    .as_deref()
                    .is_some_and(|f| f == function.id || f == name);
            if wanted {
                let decision = permissions
                    .decide(app, a, function, &mut problems)
                    .ok_or_else(|| format!("{problems}"))?;
                decisions.push(decision);
            }
        }
    }
    if decisions.is_empty() {
        let wanted = args.function.as_deref().unwrap_or("");
        return Err(format!(
            "no function {wanted:?}; known functions: {}",
            known.join(", ")
        ));
    }
    if args.json {
        let traces: Vec<_> = decisions.iter().map(|d| &d.trace).collect();
        let json = serde_json::to_string_pretty(&traces).map_err(|e| e.to_string())?;
        out(&format!("{json}\n"))?;
    } else {
        let text: Vec<String> = decisions.iter().map(|d| d.trace.to_string()).collect();
        out(&format!("{}\n", text.join("\n")))?;
    }
    Ok(if decisions.iter().all(|d| d.allowed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
