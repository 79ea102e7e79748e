//! `gateway`: serve OCI API Gateway deployment specifications.
//!
//! The binary only parses its config, wires the pieces of the library crates together and runs
//! them.

mod access_log;
mod admin;
mod alloc;
mod ca;
mod changes;
mod cli;
mod console;
mod explain;
mod functions;
mod identity;
mod import;
mod init;
mod invoke;
mod load;
mod logging;
mod open_files;
mod output;
mod permissions;
mod reload;
mod running;
mod signals;
#[cfg(test)]
mod testing;
mod watch;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::process::ExitCode;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use tracing::info;

// `gateway.toml` is parsed by the library half of this crate; the modules here name it
// `crate::config`.
use gateway_bin::config;

use gateway_core::gateway::CompiledGateway;
use gateway_core::observe::{AccessLog, GatewayIdentity, Observer};
use gateway_core::server::{ConnectionLimits, ListenerStats, Server};
use gateway_core::GatewayService;

use crate::access_log::AccessLogWriter;
use crate::admin::Admin;
use crate::console::{Board, Console, Tee, Traffic};
use crate::logging::LogHandle;

use crate::cli::{Cli, Command, RoutesArgs, ServeArgs, ValidateArgs};
use crate::functions::Readiness;
use crate::load::{load, Lasting};
use crate::output::{out, table};
use crate::reload::Reloader;
use crate::running::FunctionSet;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let quiet = matches!(&cli.command, Command::Serve(args) if args.quiet);
    let log = logging::init(quiet);
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
            Command::Serve(args) => serve(args, log).await,
            Command::Validate(args) => validate(args).await,
            Command::Routes(args) => routes(args).await,
            Command::Invoke(args) => invoke::run(args).await,
            Command::Explain(args) => explain::run(args),
            Command::Init(args) => init::run(args),
            Command::Import(args) => import::run(args),
        }
    });
    result.unwrap_or_else(|message| {
        eprintln!("error: {message}");
        ExitCode::FAILURE
    })
}

async fn serve(args: ServeArgs, log: LogHandle) -> Result<ExitCode, String> {
    open_files::raise_to_hard_limit();
    // One client for HTTP backends and one body budget for the life of the process: reloads
    // keep the client's pools, and what is held counts across them.
    let lasting = Lasting::default();
    let mut loaded = load(
        &args.source,
        Readiness::Running(&FunctionSet::default()),
        &lasting,
    )
    .await
    .map_err(|e| e.to_string())?;
    let settings = &loaded.settings;
    let identity = GatewayIdentity {
        id: settings.id.as_str().into(),
        display_name: settings.display_name.as_str().into(),
        node: settings.node.clone().unwrap_or_else(host_name).into(),
    };
    log.configure(settings.log.format, &identity);
    eprint!("{}", loaded.report);
    let Some(gateway) = loaded.gateway.take() else {
        eprintln!("{} error(s); not serving", loaded.report.error_count());
        return Ok(ExitCode::FAILURE);
    };
    let settings = loaded.settings.clone();
    let addr = args.listen.unwrap_or(settings.listen);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let signal = signals::shutdown_signal().map_err(|e| format!("cannot handle signals: {e}"))?;
    // Draining: `/ready` says no at once, so that a load balancer stops sending, while the
    // listener keeps serving for `drain_seconds`; then it stops accepting.
    let draining = Arc::new(AtomicBool::new(false));
    let drain = Duration::from_secs(settings.drain_seconds);
    let shutdown = {
        let draining = draining.clone();
        async move {
            signal.await;
            draining.store(true, Ordering::Release);
            if !drain.is_zero() {
                info!(?drain, "draining: /ready answers 503; still serving");
                tokio::time::sleep(drain).await;
            }
        }
    };
    let access_log = AccessLogWriter::open(&settings.log.access, identity.clone(), args.quiet)
        .await
        .map_err(|e| format!("cannot open the access log: {e}"))?
        .map(Arc::new);
    // The console records traffic only when there is an admin listener to show it on.
    let admin_addr = args.admin_listen.or(settings.admin_listen);
    let traffic = Arc::new(Traffic::default());
    let board = Arc::new(Board::default());
    board.serving(loaded.report.to_string());
    let mut logs: Vec<Arc<dyn AccessLog>> = Vec::new();
    if let Some(log) = &access_log {
        logs.push(log.clone());
    }
    if admin_addr.is_some() {
        logs.push(traffic.clone());
    }
    let observer = Observer {
        access_log: match logs.len() {
            0 => None,
            1 => logs.pop(),
            _ => Some(Arc::new(Tee(logs))),
        },
        identity: identity.clone(),
        ..Observer::default()
    };
    let try_it = example_request(&gateway, bound, loaded.tls.is_some());
    let service = GatewayService::with_observer(gateway, observer);
    let stats = Arc::new(ListenerStats::default());
    let (reloader, watched) = Reloader::new(
        args.source,
        lasting,
        service.clone(),
        &loaded,
        !args.no_watch,
        board.clone(),
    );
    let current = reloader.current_functions();
    let reloads = reloader.spawn();
    reload::on_sighup(reloads.clone()).map_err(|e| format!("cannot handle SIGHUP: {e}"))?;
    if args.no_watch {
        info!("not watching files (--no-watch); SIGHUP reloads");
    } else {
        // The watcher runs even when `[gateway] watch = false`, with nothing to watch, so that
        // a reload that turns the setting on needs no restart.
        let roots = watched.borrow().clone();
        if roots.is_empty() {
            info!("not watching files (watch = false); SIGHUP reloads");
        } else {
            info!(
                paths = roots.len(),
                "watching the config, its specifications and function sources; a change reloads"
            );
        }
        // Taken before announcing, so that no change made after the announcement is missed.
        let baseline = watch::baseline(roots).await;
        watch::spawn(baseline, watched, reloads);
    }
    if let Some(admin_addr) = admin_addr {
        let admin = tokio::net::TcpListener::bind(admin_addr)
            .await
            .map_err(|e| format!("cannot listen on {admin_addr}: {e}"))?;
        let admin_bound = admin.local_addr().map_err(|e| e.to_string())?;
        admin::spawn(
            admin,
            Admin {
                gateway: service.clone(),
                listener: stats.clone(),
                access_log: access_log.clone(),
                functions: current.clone(),
                draining,
                console: Console {
                    gateway: service.clone(),
                    functions: current.clone(),
                    traffic,
                    board,
                    identity,
                },
            },
        );
        out(&format!("admin listening on http://{admin_bound}\n"))?;
    }
    let grace = Duration::from_secs(settings.shutdown_grace_seconds);
    let limits = &settings.limits;
    let workers = args
        .workers
        .or(settings.workers)
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    let mut server = Server::builder()
        .workers(workers)
        .limits(
            ConnectionLimits::default()
                .with_timeouts(
                    Duration::from_secs(limits.header_read_timeout_seconds),
                    Duration::from_secs(limits.idle_timeout_seconds),
                )
                .with_connections(limits.max_connections, limits.max_connections_per_client),
        )
        .stats(stats);
    if let Some(log) = access_log {
        server = server.access_log(log);
    }
    let scheme = match loaded.tls.take() {
        Some(tls) => {
            server = server.tls(tls);
            "https"
        }
        None => "http",
    };
    let running = match server.start(listener, service).await {
        Ok(running) => running,
        Err(e) => {
            functions::shutdown(current.lock().await.functions()).await;
            return Err(format!("cannot serve on {bound}: {e}"));
        }
    };
    // One line on stdout, so scripts and tests can learn a port-0 address; every signal handler
    // is in place and every worker accepts by now.
    out(&format!("listening on {scheme}://{bound}\n"))?;
    if let Some(line) = try_it {
        out(&format!("try: {line}\n"))?;
    }
    running.serve_until(shutdown, grace).await;
    functions::shutdown(current.lock().await.functions()).await;
    Ok(ExitCode::SUCCESS)
}

/// This machine's name, for `node` when the configuration does not name the replica.
fn host_name() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// A request to try, for a person who just started the gateway: `curl` of the first route
/// that answers a plain GET without parameters.
fn example_request(gateway: &CompiledGateway, bound: SocketAddr, tls: bool) -> Option<String> {
    let route = gateway
        .routes()
        .find(|r| r.methods.contains(&http::Method::GET) && r.template.param_count() == 0)?;
    let host = match bound.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let (scheme, insecure) = if tls { ("https", " -k") } else { ("http", "") };
    Some(format!(
        "curl{insecure} {scheme}://{}{}",
        SocketAddr::new(host, bound.port()),
        route.public_path()
    ))
}

async fn validate(args: ValidateArgs) -> Result<ExitCode, String> {
    let loaded = load(&args.source, Readiness::Checked, &Lasting::default())
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
    let loaded = load(&args.source, Readiness::Checked, &Lasting::default())
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
            let policies = r.policies.join(", ");
            [
                r.deployment.to_string(),
                r.methods.to_string(),
                r.public_path().to_owned(),
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
