//! The functions of `[[application]]` / `[[application.function]]`: checked, prepared and
//! started, or taken over from the running gateway when a reload finds them unchanged.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gateway_core::diagnostics::{Diagnostics, Kind};
use gateway_core::function::{
    FunctionCall, FunctionInvoker, FunctionResponse, InvokeError, RegisteredFunction,
};
use gateway_core::BoxFuture;
use gateway_fn_backend::local::{DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT};
use gateway_fn_backend::{
    print_progress, Credentials, FuncFile, LocalFunction, LocalFunctionConfig, OciFunction,
    OciFunctionConfig, OciHttpClient,
};
use rustls::pki_types::CertificateDer;
use tracing::{error, info, warn};

use crate::ca;
use crate::config::{ApplicationSection, Config, FunctionSection};
use crate::identity::FunctionIdentity;
use crate::permissions::Permissions;
use crate::running::{FunctionSet, Member};

/// How far to go in making functions runnable.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Readiness<'a> {
    /// Only read `func.yaml` (validate, routes): nothing is installed or started.
    Checked,
    /// Prepare every function as `fn build` would, then start its warm processes, except
    /// the functions of this running set that are unchanged: those are taken over as they run.
    Running(&'a FunctionSet),
}

/// Builds the function set. Problems with one function are reported and leave the others
/// working: a function that cannot be prepared answers 502 with the reason in the log.
pub(crate) async fn registry(
    config: &Config,
    permissions: Option<&Permissions>,
    ca_roots: &[CertificateDer<'static>],
    readiness: Readiness<'_>,
    problems: &mut Diagnostics,
) -> FunctionSet {
    let mut set = FunctionSet::default();
    let mut ids = HashSet::new();
    let mut debug_ports = HashMap::new();
    let cache_dir = cache_dir(config);
    let oci = OciClient::new(ca_roots);
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
            if let Err(message) = check(function, &name) {
                problems.error(at, message);
                continue;
            }
            if let Some(port) = function.debug_port {
                if let Some(other) = debug_ports.insert(port, name.clone()) {
                    problems.error(
                        format!("{at}.debug_port"),
                        format!("function {name}: {other} is debugged on port {port} already"),
                    );
                    continue;
                }
            }
            let max_concurrency = function.max_concurrency.unwrap_or(DEFAULT_MAX_CONCURRENCY);
            if function.min_idle.is_some_and(|n| n > max_concurrency) {
                problems
                    .warning(
                        Kind::Invalid,
                        format!("{at}.min_idle"),
                        format!(
                            "function {name}: min_idle is above max_concurrency ({max_concurrency}); only {max_concurrency} processes are kept warm"
                        ),
                    )
                    .hint("lower min_idle or raise max_concurrency");
            }
            // As in OCI, a function the gateway may not invoke is still served: its routes answer
            // 500 and the log says why.
            let decision = permissions.and_then(|p| p.decide(app, a, function, problems));
            let denied = decision
                .as_ref()
                .filter(|decision| !decision.allowed)
                .map(|decision| Arc::from(decision.reason()));
            let explanation = decision.map(|decision| decision.trace.to_string());
            let member = match (readiness, &denied) {
                (Readiness::Checked, _) => {
                    unavailable(function, name, "functions are not run by this command")
                }
                (Readiness::Running(_), Some(_)) => {
                    unavailable(function, name, "the gateway may not invoke it")
                }
                (Readiness::Running(running), None) => {
                    keep_or_run(running, app, function, name, &cache_dir, &oci).await
                }
            };
            set.insert(Member {
                function: RegisteredFunction {
                    denied,
                    ..member.function
                },
                explanation,
                ..member
            });
        }
    }
    set
}

/// The running function when its identity is unchanged; otherwise a new one, prepared and
/// started. Only a function that could be prepared gets an identity, so that a reload retries
/// one that could not.
async fn keep_or_run(
    running: &FunctionSet,
    app: &ApplicationSection,
    function: &FunctionSection,
    name: String,
    cache_dir: &Path,
    oci: &OciClient,
) -> Member {
    // Read before preparing: an edit made while the function is prepared is seen by the next
    // reload.
    let identity = FunctionIdentity::of(app, function, cache_dir)
        .inspect_err(|e| warn!(function = %name, error = %e, "cannot fingerprint the function; every reload restarts it"))
        .ok();
    if let Some(kept) = identity
        .as_ref()
        .and_then(|identity| running.reusable(&function.id, identity))
    {
        return Member {
            function: kept.clone(),
            identity,
            failure: None,
            explanation: None,
        };
    }
    match run(app, function, &name, cache_dir, oci).await {
        Ok(made) => member(function, name, made, identity),
        Err(reason) => Member {
            failure: Some(reason.clone()),
            ..member(function, name, unavailable_invoker(reason), None)
        },
    }
}

fn member(
    function: &FunctionSection,
    name: String,
    (invoker, timeout): Made,
    identity: Option<FunctionIdentity>,
) -> Member {
    Member {
        function: RegisteredFunction {
            id: Arc::from(function.id.as_str()),
            name,
            timeout,
            invoker,
            denied: None,
        },
        identity,
        failure: None,
        explanation: None,
    }
}

/// Checks what can be checked without running a function: where it runs, and its `func.yaml`.
fn check(function: &FunctionSection, name: &str) -> Result<(), String> {
    match (&function.source, &function.invoke_endpoint) {
        (Some(source), None) => FuncFile::load(source)
            .map(drop)
            .map_err(|e| format!("function {name}: {e}")),
        (None, Some(_)) if function.debug_port.is_some() => Err(format!(
            "function {name}: debug_port is for a local function (source); a function in OCI is not debugged from here"
        )),
        (None, Some(_)) => Ok(()),
        _ => Err(format!(
            "function {name}: set exactly one of `source` (a local function directory) or `invoke_endpoint` (a function in OCI)"
        )),
    }
}

/// The HTTPS client for functions in OCI, made on first use and shared by all of them; it
/// trusts the `ca_bundles` CAs beside the system's roots.
struct OciClient {
    roots: Vec<CertificateDer<'static>>,
    client: std::sync::OnceLock<Result<OciHttpClient, String>>,
}

impl OciClient {
    fn new(roots: &[CertificateDer<'static>]) -> Self {
        Self {
            roots: roots.to_vec(),
            client: std::sync::OnceLock::new(),
        }
    }

    fn get(&self) -> Result<OciHttpClient, String> {
        self.client
            .get_or_init(|| OciHttpClient::new(&self.roots).map_err(|e| e.to_string()))
            .clone()
    }
}

/// An invoker and the call timeout it was configured with.
pub(crate) type Made = (Arc<dyn FunctionInvoker>, Duration);

/// Makes one function runnable: a local one is prepared and started, one in OCI gets its
/// signing credentials. A failure is logged and returned with its reason.
async fn run(
    app: &ApplicationSection,
    function: &FunctionSection,
    name: &str,
    cache_dir: &Path,
    oci: &OciClient,
) -> Result<Made, String> {
    let result = match (&function.source, &function.invoke_endpoint) {
        (Some(source), _) => run_local(app, function, source, cache_dir).await,
        (None, Some(endpoint)) => run_in_oci(function, endpoint, name, oci),
        (None, None) => Err("neither source nor invoke_endpoint is set".to_owned()),
    };
    match result {
        Ok((invoker, timeout)) => {
            if let Err(e) = invoker.start().await {
                error!(function = %name, error = %e, "function is not ready; calls will retry");
            } else {
                info!(function = %name, "function ready");
            }
            Ok((invoker, timeout))
        }
        Err(reason) => {
            error!(function = %name, error = %reason, "function cannot run");
            Err(reason)
        }
    }
}

/// A function in OCI, invoked with signed requests.
fn run_in_oci(
    function: &FunctionSection,
    endpoint: &str,
    name: &str,
    oci: &OciClient,
) -> Result<(Arc<dyn FunctionInvoker>, Duration), String> {
    let credentials = if function.resource_principal {
        Credentials::resource_principal_from_env()
    } else {
        Credentials::from_config_file(
            function.oci_config.as_deref(),
            function.oci_profile.as_deref(),
        )
    }
    .map_err(|e| format!("function {name}: {e}"))?;
    let mut config = OciFunctionConfig::new(&function.id, name, endpoint, credentials);
    config.api_version = function.api_version.clone();
    if let Some(seconds) = function.timeout {
        config.timeout = Duration::from_secs(seconds);
    }
    let invoker = OciFunction::with_client(config, oci.get()?)
        .map_err(|e| format!("function {name}: {e}"))?;
    let timeout = invoker.timeout();
    Ok((Arc::new(invoker), timeout))
}

/// A local function directory, prepared as `fn build` would and run as hot processes.
async fn run_local(
    app: &ApplicationSection,
    function: &FunctionSection,
    source: &Path,
    cache_dir: &Path,
) -> Result<(Arc<dyn FunctionInvoker>, Duration), String> {
    let mut local = LocalFunctionConfig::new(&function.id, &function.name, source, cache_dir);
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
    local.debug_port = function.debug_port;
    let prepared = LocalFunction::prepare(local, &print_progress)
        .await
        .map_err(|e| e.to_string())?;
    let timeout = prepared.timeout();
    Ok((Arc::new(prepared), timeout))
}

/// An invoker whose every call fails with `reason` (502 to clients).
pub(crate) fn unavailable_invoker(reason: String) -> Made {
    (Arc::new(Unavailable { reason }), DEFAULT_TIMEOUT)
}

/// A function that is not run, for `reason`.
fn unavailable(function: &FunctionSection, name: String, reason: &str) -> Member {
    member(function, name, unavailable_invoker(reason.to_owned()), None)
}

/// Prepares and starts the one function named `wanted` (its id or `application/name`).
pub(crate) async fn prepare_one(
    config: &Config,
    wanted: &str,
) -> Result<RegisteredFunction, String> {
    let cache_dir = cache_dir(config);
    let mut problems = Diagnostics::new();
    let oci = OciClient::new(&ca::roots(&config.gateway.ca_bundles, &mut problems));
    if problems.has_errors() {
        return Err(problems.to_string());
    }
    let mut known = Vec::new();
    for app in &config.applications {
        for function in &app.functions {
            let name = format!("{}/{}", app.name, function.name);
            if function.id == wanted || name == wanted {
                check(function, &name)?;
                let (invoker, timeout) = run(app, function, &name, &cache_dir, &oci)
                    .await
                    .unwrap_or_else(unavailable_invoker);
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

/// Stops the processes of `functions`.
pub(crate) async fn shutdown<'a>(functions: impl IntoIterator<Item = &'a RegisteredFunction>) {
    let stops: Vec<_> = functions
        .into_iter()
        .map(|f| f.invoker.shutdown())
        .collect();
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
