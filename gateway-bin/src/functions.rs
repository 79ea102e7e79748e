//! The function registry from `[[application]]` / `[[application.function]]`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gateway_core::diagnostics::Diagnostics;
use gateway_core::function::{
    BoxFuture, FunctionCall, FunctionInvoker, FunctionRegistry, FunctionResponse, InvokeError,
    RegisteredFunction,
};
use gateway_fn_backend::local::DEFAULT_TIMEOUT;
use gateway_fn_backend::{print_progress, FuncFile, LocalFunction, LocalFunctionConfig};
use tracing::{error, info};

use crate::config::{ApplicationSection, Config, FunctionSection};
use crate::permissions::Permissions;

/// How far to go in making functions runnable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Readiness {
    /// Only read `func.yaml` (validate, routes): nothing is installed or started.
    Checked,
    /// Prepare every function as `fn build` would, then start its warm processes.
    Running,
}

/// Builds the registry. Problems with one function are reported and leave the others working:
/// a function that cannot be prepared answers 502 with the reason in the log.
pub(crate) async fn registry(
    config: &Config,
    permissions: Option<&Permissions>,
    readiness: Readiness,
    problems: &mut Diagnostics,
) -> FunctionRegistry {
    let mut registry = FunctionRegistry::new();
    let mut ids = HashSet::new();
    let cache_dir = cache_dir(config);
    for (a, app) in config.applications.iter().enumerate() {
        for (f, function) in app.functions.iter().enumerate() {
            let at = format!("application[{a}].function[{f}]");
            let name = format!("{}/{}", app.name, function.name);
            if !ids.insert(function.id.as_str()) {
                problems.error(
                    format!("{at}.id"),
                    format!(
                        "function {name}: another function also has the id {:?}",
                        function.id
                    ),
                );
                continue;
            }
            if let Err(e) = FuncFile::load(&function.source) {
                problems.error(format!("{at}.source"), format!("function {name}: {e}"));
                continue;
            }
            // As in OCI, a function the gateway may not invoke is still served: its routes answer
            // 500 and the log says why.
            let denied = permissions
                .and_then(|p| p.decide(app, a, function, problems))
                .filter(|decision| !decision.allowed)
                .map(|decision| Arc::from(decision.reason()));
            let (invoker, timeout) = match (readiness, &denied) {
                (Readiness::Checked, _) => {
                    unavailable("functions are not run by this command".to_owned())
                }
                (Readiness::Running, Some(_)) => {
                    unavailable("the gateway may not invoke it".to_owned())
                }
                (Readiness::Running, None) => run(app, function, &name, &cache_dir).await,
            };
            registry.register(RegisteredFunction {
                id: Arc::from(function.id.as_str()),
                name,
                timeout,
                invoker,
                denied,
            });
        }
    }
    registry
}

/// Prepares and starts one local function; a failure becomes an invoker that answers 502.
/// Returns the invoker and the call timeout it was configured with.
async fn run(
    app: &ApplicationSection,
    function: &FunctionSection,
    name: &str,
    cache_dir: &Path,
) -> (Arc<dyn FunctionInvoker>, Duration) {
    let mut local =
        LocalFunctionConfig::new(&function.id, &function.name, &function.source, cache_dir);
    local.app_name = app.name.clone();
    local.app_id = app
        .id
        .clone()
        .unwrap_or_else(|| format!("ocid1.fnapp.local..{}", app.name));
    local.config = app.config.clone();
    local.config.extend(function.config.clone());
    local.timeout = function.timeout.map(Duration::from_secs);
    local.memory_mb = function.memory;
    local.idle_timeout = function.idle_timeout.map(Duration::from_secs);
    if let Some(n) = function.max_concurrency {
        local.max_concurrency = n;
    }
    if let Some(n) = function.min_idle {
        local.min_idle = n;
    }
    if let Some(n) = function.queue_size {
        local.queue_size = n;
    }
    let prepared = match LocalFunction::prepare(local, &print_progress).await {
        Ok(f) => f,
        Err(e) => {
            error!(function = %name, error = %e, "function cannot be prepared; its routes answer 502");
            return unavailable(e.to_string());
        }
    };
    if let Err(e) = prepared.start().await {
        error!(function = %name, error = %e, "function failed to start its warm processes");
    } else {
        info!(function = %name, "function ready");
    }
    let timeout = prepared.timeout();
    (Arc::new(prepared), timeout)
}

fn unavailable(reason: String) -> (Arc<dyn FunctionInvoker>, Duration) {
    (Arc::new(Unavailable { reason }), DEFAULT_TIMEOUT)
}

/// Prepares and starts the one function named `wanted` (its id or `application/name`).
pub(crate) async fn prepare_one(
    config: &Config,
    wanted: &str,
) -> Result<RegisteredFunction, String> {
    let cache_dir = cache_dir(config);
    let mut known = Vec::new();
    for app in &config.applications {
        for function in &app.functions {
            let name = format!("{}/{}", app.name, function.name);
            if function.id == wanted || name == wanted {
                FuncFile::load(&function.source).map_err(|e| format!("function {name}: {e}"))?;
                let (invoker, timeout) = run(app, function, &name, &cache_dir).await;
                return Ok(RegisteredFunction {
                    id: Arc::from(function.id.as_str()),
                    name,
                    timeout,
                    invoker,
                    denied: None,
                });
            }
            known.push(format!("{} ({name})", function.id));
        }
    }
    if known.is_empty() {
        return Err(format!(
            "no function {wanted:?}: the config declares no functions"
        ));
    }
    Err(format!(
        "no function {wanted:?}; known functions: {}",
        known.join(", ")
    ))
}

fn cache_dir(config: &Config) -> PathBuf {
    config
        .gateway
        .cache_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(".gateway/functions"))
}

/// Stops every function's processes.
pub(crate) async fn shutdown(registry: &FunctionRegistry) {
    let stops: Vec<_> = registry.iter().map(|f| f.invoker.shutdown()).collect();
    for stop in stops {
        stop.await;
    }
}

/// A function that cannot run: every call fails with the reason (502 to clients).
#[derive(Debug)]
struct Unavailable {
    reason: String,
}

impl FunctionInvoker for Unavailable {
    fn invoke(
        &self,
        call: FunctionCall,
    ) -> BoxFuture<'static, Result<FunctionResponse, InvokeError>> {
        let error = InvokeError::Unavailable {
            function: call.function_id,
            reason: self.reason.clone(),
        };
        Box::pin(async move { Err(error) })
    }
}
