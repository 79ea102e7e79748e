//! `gateway`: serve OCI API Gateway deployment specifications.
//!
//! The binary only parses its config, wires the pieces of the library crates together and runs
//! them.

mod admin;
mod cli;
mod config;
mod explain;
mod functions;
mod invoke;
mod load;
mod output;
mod permissions;
mod reload;
mod server;
mod tls;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use gateway_core::backend::HttpClient;
use gateway_core::GatewayService;

use crate::cli::{Cli, Command, RoutesArgs, ServeArgs, ValidateArgs};
use crate::functions::Readiness;
use crate::load::{load, Loaded};
use crate::output::{out, table};

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => serve(args).await,
            Command::Validate(args) => validate(args).await,
            Command::Routes(args) => routes(args).await,
            Command::Invoke(args) => invoke::run(args).await,
            Command::Explain(args) => explain::run(args),
        }
    });
    result.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    })
}

async fn serve(args: ServeArgs) -> Result<ExitCode, String> {
    // One client for HTTP backends for the life of the process: reloads keep its pools.
    let http = HttpClient::new();
    let Loaded {
        settings,
        tls,
        functions,
        gateway,
        report,
    } = load(&args.source, Readiness::Running, &http)
        .await
        .map_err(|e| e.to_string())?;
    eprint!("{report}");
    let Some(gateway) = gateway else {
        eprintln!("{} error(s); not serving", report.error_count());
        return Ok(ExitCode::FAILURE);
    };
    let addr = args.listen.unwrap_or(settings.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let shutdown = server::shutdown_signal().map_err(|e| format!("cannot handle signals: {e}"))?;
    let service = GatewayService::new(gateway);
    let current = std::sync::Arc::new(tokio::sync::Mutex::new(functions));
    reload::on_sighup(args.source, http, service.clone(), current.clone())
        .map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    if let Some(admin_addr) = args.admin_listen.or(settings.admin_listen) {
        let admin = tokio::net::TcpListener::bind(admin_addr)
            .await
            .map_err(|e| format!("cannot listen on {admin_addr}: {e}"))?;
        let admin_bound = admin.local_addr().map_err(|e| e.to_string())?;
        admin::spawn(admin, service.clone());
        out(&format!("admin listening on http://{admin_bound}\n"))?;
    }
    // One line on stdout, so scripts and tests can learn a port-0 address; every signal handler
    // is in place by now.
    let scheme = if tls.is_some() { "https" } else { "http" };
    out(&format!("listening on {scheme}://{bound}\n"))?;
    let grace = Duration::from_secs(settings.shutdown_grace_seconds);
    let served = server::serve(listener, service, tls, shutdown, grace).await;
    functions::shutdown(&*current.lock().await).await;
    served.map_err(|e| e.to_string())?;
    Ok(ExitCode::SUCCESS)
}

async fn validate(args: ValidateArgs) -> Result<ExitCode, String> {
    let loaded = load(&args.source, Readiness::Checked, &HttpClient::new())
        .await
        .map_err(|e| e.to_string())?;
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

async fn routes(args: RoutesArgs) -> Result<ExitCode, String> {
    let loaded = load(&args.source, Readiness::Checked, &HttpClient::new())
        .await
        .map_err(|e| e.to_string())?;
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
