//! The web console on the admin listener: a read-only page at `/` showing the deployments and
//! their routes, the functions (processes, queue, cold starts, IAM decision and trace, their
//! last log lines), live traffic with
//! a latency plot per route, the last reload and the running configuration's problems.
//!
//! The page and its assets are compiled into the binary; it reads everything through the JSON
//! of `/console/api/state` and `/console/api/traffic`, which it polls.

mod function_logs;
mod traffic;

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::{json, Value};

use gateway_core::observe::GatewayIdentity;
use gateway_core::GatewayService;

use crate::running::CurrentFunctions;

pub(crate) use function_logs::FunctionLogs;
pub(crate) use traffic::{Tee, Traffic};

/// What the reloader and the start-up tell the console.
#[derive(Debug, Default)]
pub(crate) struct Board(Mutex<BoardState>);

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
struct BoardState {
    /// The running configuration's diagnostics, as `gateway validate` prints them.
    problems: String,
    last_reload: Option<Reload>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Reload {
    time_ms: u64,
    applied: bool,
    /// The change summary of an applied reload, the reason of a refused one.
    summary: String,
}

impl Board {
    /// The problems of the configuration now serving.
    pub(crate) fn serving(&self, problems: String) {
        self.state().problems = problems;
    }

    /// A reload that swapped in a new configuration, with its change summary and problems.
    pub(crate) fn reloaded(&self, summary: String, problems: String) {
        let mut state = self.state();
        state.problems = problems;
        state.last_reload = Some(Reload {
            time_ms: now_ms(),
            applied: true,
            summary,
        });
    }

    /// A reload that was refused: the running configuration stays.
    pub(crate) fn refused(&self, reason: String) {
        self.state().last_reload = Some(Reload {
            time_ms: now_ms(),
            applied: false,
            summary: reason,
        });
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The console: what it reads from.
#[derive(Debug, Clone)]
pub(crate) struct Console {
    pub(crate) gateway: GatewayService,
    pub(crate) functions: CurrentFunctions,
    pub(crate) traffic: Arc<Traffic>,
    pub(crate) board: Arc<Board>,
    pub(crate) identity: GatewayIdentity,
}

/// A file of the console: its content type and bytes.
pub(crate) type Asset = (&'static str, &'static [u8]);

/// The console's static files by path.
pub(crate) fn asset(path: &str) -> Option<Asset> {
    Some(match path {
        "/" => (
            "text/html; charset=utf-8",
            include_bytes!("../../console/index.html"),
        ),
        "/console/console.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../console/console.js"),
        ),
        "/console/uPlot.min.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../../console/vendor/uPlot.iife.min.js"),
        ),
        "/console/uPlot.min.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../../console/vendor/uPlot.min.css"),
        ),
        _ => return None,
    })
}

impl Console {
    /// Deployments and routes, functions, the last reload and the problems, as JSON.
    pub(crate) async fn state(&self) -> Value {
        let gateway = self.gateway.current();
        let routes: Vec<Value> = gateway
            .routes()
            .map(|r| {
                let mut route = serde_json::to_value(r).unwrap_or_default();
                route["publicPath"] = Value::from(r.public_path());
                route
            })
            .collect();
        let functions: Vec<Value> = self
            .functions
            .lock()
            .await
            .members()
            .map(|member| {
                let f = &member.function;
                let stats = f.invoker.runtime_stats();
                json!({
                    "id": &*f.id,
                    "name": f.name,
                    "timeoutSeconds": f.timeout.as_secs_f64(),
                    "allowed": f.denied.is_none(),
                    "denied": f.denied.as_deref(),
                    "processes": stats.as_ref().map(|s| json!({
                        "idle": s.idle, "busy": s.busy, "starting": s.starting,
                    })),
                    "queued": stats.as_ref().map(|s| s.queued),
                    "coldStarts": stats.as_ref().map(|s| s.cold_starts),
                    "coldStartSeconds": stats.as_ref().map(|s| s.cold_start_seconds),
                    "failure": member.failure,
                    "explanation": member.explanation,
                    "logs": function_logs::lines(&f.name),
                })
            })
            .collect();
        let board = serde_json::to_value(&*self.board.state()).unwrap_or_default();
        json!({
            "gateway": { "id": &*self.identity.id, "displayName": &*self.identity.display_name },
            "routes": routes,
            "functions": functions,
            "problems": board["problems"],
            "lastReload": board["lastReload"],
        })
    }

    /// The requests recorded after `after` (the query's `after=SEQ`).
    pub(crate) fn traffic(&self, query: Option<&str>) -> Value {
        let after = query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .find_map(|pair| pair.strip_prefix("after="))
            .and_then(|v| v.parse().ok());
        json!({ "requests": self.traffic.since(after) })
    }
}
