//! `gateway`: serve OCI API Gateway deployment specifications.
//!
//! The binary only parses its config, wires the pieces of `gateway-core` together and runs
//! them; everything else lives in the library crates.

mod cli;
mod config;
mod load;
mod server;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use gateway_core::GatewayService;

use crate::cli::{Cli, Command, RoutesArgs, ServeArgs, ValidateArgs};
use crate::load::{load, Loaded};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Validate(args) => validate(args),
        Command::Routes(args) => routes(args),
    };
    result.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    })
}

fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    let Loaded {
        settings,
        gateway,
        report,
    } = load(&args.source).map_err(|e| e.to_string())?;
    eprint!("{report}");
    let Some(gateway) = gateway else {
        eprintln!("{} error(s); not serving", report.error_count());
        return Ok(ExitCode::FAILURE);
    };
    let addr = args.listen.unwrap_or(settings.listen);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        // One line on stdout, so scripts and tests can learn a port-0 address.
        out(&format!("listening on http://{bound}\n"))?;
        let grace = Duration::from_secs(settings.shutdown_grace_seconds);
        server::serve(
            listener,
            GatewayService::new(gateway),
            server::shutdown_signal(),
            grace,
        )
        .await
        .map_err(|e| e.to_string())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn validate(args: ValidateArgs) -> Result<ExitCode, String> {
    let loaded = load(&args.source).map_err(|e| e.to_string())?;
    let report = &loaded.report;
    if args.json {
        let deployments: Vec<_> = report
            .deployments
            .iter()
            .map(|d| serde_json::json!({ "name": d.name, "origin": d.origin, "diagnostics": d.diagnostics }))
            .collect();
        let doc = serde_json::json!({ "gateway": report.gateway, "deployments": deployments });
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?
        ))?;
    } else {
        out(&format!(
            "{report}{} error(s), {} warning(s)\n",
            report.error_count(),
            report.warning_count()
        ))?;
    }
    Ok(if report.has_errors() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn routes(args: RoutesArgs) -> Result<ExitCode, String> {
    let loaded = load(&args.source).map_err(|e| e.to_string())?;
    let Some(gateway) = loaded.gateway else {
        eprint!("{}", loaded.report);
        return Ok(ExitCode::FAILURE);
    };
    let routes: Vec<_> = gateway.routes().collect();
    if args.json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&routes).map_err(|e| e.to_string())?
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<[String; 5]> = routes
        .iter()
        .map(|r| {
            let mut policies = r.policies.join(", ");
            if !r.unsupported.is_empty() {
                policies = format!("{policies} [501: {} unsupported]", r.unsupported.join(", "));
            }
            [
                r.deployment.to_string(),
                r.methods.to_string(),
                r.public_path(),
                r.backend.to_owned(),
                policies,
            ]
        })
        .collect();
    out(&table(
        ["DEPLOYMENT", "METHODS", "PATH", "BACKEND", "POLICIES"],
        &rows,
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Writes to stdout; a reader that went away (`gateway routes | head`) is not an error.
fn out(text: &str) -> Result<(), String> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to stdout: {e}"))
        }
        _ => Ok(()),
    }
}

/// Renders rows as left-aligned columns under a header.
fn table<const N: usize>(header: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut text = String::new();
    let mut line = |cells: [&str; N]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        text.push_str(out.trim_end());
        text.push('\n');
    };
    line(header);
    for row in rows {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
    text
}
