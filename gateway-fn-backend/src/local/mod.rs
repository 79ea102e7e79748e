//! Local functions: an Fn function directory run as hot processes on this machine, no Docker.
//!
//! [`LocalFunction::prepare`] reads `func.yaml`, prepares the directory as `fn build` would
//! (see [`crate::prepare`]) and returns an invoker; processes start on the first call (or at
//! [`FunctionInvoker::start`] for `min_idle`), speak the http-stream contract over a unix socket
//! and are pooled per function.
//!
//! Pool behaviour: at most `max_concurrency` processes, each serving one call at a time. A
//! call takes the most recently used idle process; if there is none it starts one (below the
//! limit) or waits in a queue of `queue_size` calls (full: [`InvokeError::Busy`], 503). Waiting
//! calls take processes in arrival order, whichever becomes ready first, so a cold start is
//! shared. A call whose deadline passes gets [`InvokeError::Timeout`] (504) and its process is
//! killed and replaced; a process that dies or breaks the protocol is replaced and its call
//! gets 502. Processes idle for `idle_timeout` are stopped, except `min_idle` of them.
//!
//! A `LocalFunction` belongs to the tokio runtime of its first call (its processes' helper
//! tasks run there); processes are killed when that runtime stops, when the function is dropped
//! or shut down, and (Linux) when the gateway process dies in any way.

mod pool;
mod process;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use gateway_core::function::{
    FunctionCall, FunctionInvoker, FunctionResponse, InvokeError, RuntimeStats,
};
use gateway_core::request_limits::MAX_FUNCTION_BODY;
use gateway_core::BoxFuture;

use crate::func_yaml::{FuncFile, DEFAULT_MEMORY_MB};
use crate::prepare::{self, PrepareError, Prepared, Progress};
use crate::protocol::{self, DecodeError};

pub use pool::PoolStats;
pub use process::LOG_TARGET;

use pool::{Pool, PoolSettings};
use process::{CallError, Spec};

/// Fn's default call timeout, when neither the caller nor `func.yaml` sets one.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Fn's default idle timeout.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Processes per function, at most.
pub const DEFAULT_MAX_CONCURRENCY: usize = 8;
/// Calls that may wait for a busy function before it answers 503.
pub const DEFAULT_QUEUE_SIZE: usize = 64;
/// Fn's `FN_HOT_START_TIMEOUT_MSECS`.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a process may take to exit after SIGTERM before it gets SIGKILL.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The largest response body accepted from a function (OCI's limit for a request body applies
/// to responses here too).
pub const MAX_RESPONSE_BODY: usize = MAX_FUNCTION_BODY;

/// Variables copied from the gateway's environment into every function process (besides any
/// `LC_*`). Everything else a function sees comes from its configuration, as in Fn.
const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "TMPDIR",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "REQUESTS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
];

/// Everything needed to run one local function. Build with [`LocalFunctionConfig::new`] and
/// adjust the public fields.
#[derive(Debug, Clone)]
pub struct LocalFunctionConfig {
    /// The function's id (`FN_FN_ID`; the spec's `functionId`).
    pub id: String,
    /// The function's name (`FN_FN_NAME`; messages; the cache entry's name).
    pub name: String,
    /// `FN_APP_NAME`; empty if none.
    pub app_name: String,
    /// `FN_APP_ID`; empty if none.
    pub app_id: String,
    /// The directory with `func.yaml` and the source.
    pub source_dir: PathBuf,
    /// Where prepared environments are kept, e.g. `<config dir>/.gateway/functions`; each
    /// function gets `<name>-<hash>/` inside.
    pub cache_dir: PathBuf,
    /// Application configuration merged with the function's (function wins). Applied over
    /// `func.yaml`'s `config:`.
    pub config: BTreeMap<String, String>,
    /// Call timeout; default: `func.yaml`'s `timeout`, else 30 s.
    pub timeout: Option<Duration>,
    /// `FN_MEMORY`; default: `func.yaml`'s `memory`, else 128 (not enforced locally).
    pub memory_mb: Option<u64>,
    /// How long an idle process is kept; default: `func.yaml`'s `idle_timeout`, else 30 s.
    pub idle_timeout: Option<Duration>,
    /// Processes at most (each serves one call at a time). Default 8; at least 1.
    pub max_concurrency: usize,
    /// Processes kept started even when idle. Default 0; at most `max_concurrency`.
    pub min_idle: usize,
    /// Calls that may wait when every process is busy and no more may start; beyond that a
    /// call gets 503. Default 64.
    pub queue_size: usize,
    /// How long a process may take to listen. Default 5 s.
    pub start_timeout: Duration,
    /// Run the function under a debugger listening on `127.0.0.1:PORT` (Python: debugpy;
    /// Node: `--inspect`), in one process kept started, so that an IDE can attach to it.
    pub debug_port: Option<u16>,
}

impl LocalFunctionConfig {
    /// A configuration with every default.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        source_dir: impl Into<PathBuf>,
        cache_dir: impl Into<PathBuf>,
    ) -> Self {
        LocalFunctionConfig {
            id: id.into(),
            name: name.into(),
            app_name: String::new(),
            app_id: String::new(),
            source_dir: source_dir.into(),
            cache_dir: cache_dir.into(),
            config: BTreeMap::new(),
            timeout: None,
            memory_mb: None,
            idle_timeout: None,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            min_idle: 0,
            queue_size: DEFAULT_QUEUE_SIZE,
            start_timeout: DEFAULT_START_TIMEOUT,
            debug_port: None,
        }
    }
}

/// A prepared local function: a [`FunctionInvoker`] over a pool of FDK processes. Cheap to
/// clone (clones share the pool).
#[derive(Debug, Clone)]
pub struct LocalFunction {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// `app/name` (or `name`), for messages.
    display: Arc<str>,
    timeout: Duration,
    func_file: FuncFile,
    prepared: Prepared,
    pool: Pool,
}

impl LocalFunction {
    /// Reads `func.yaml`, prepares the function (venv, `npm install`, …; cached) and returns
    /// an invoker. No process is started yet.
    pub async fn prepare(
        config: LocalFunctionConfig,
        progress: Progress<'_>,
    ) -> Result<LocalFunction, PrepareError> {
        let source_dir =
            std::fs::canonicalize(&config.source_dir).map_err(|source| PrepareError::Io {
                function: config.name.clone(),
                action: "open the function directory",
                path: config.source_dir.clone(),
                source,
            })?;
        let func_file = FuncFile::load(&source_dir).map_err(|source| PrepareError::FuncFile {
            function: config.name.clone(),
            source,
        })?;
        for key in func_file.config.keys().chain(config.config.keys()) {
            if key.is_empty() || key.contains('=') || key.contains('\0') {
                return Err(PrepareError::InvalidConfig {
                    function: config.name.clone(),
                    key: key.clone(),
                });
            }
        }
        let prepared = prepare::prepare(
            &config.name,
            &func_file,
            &source_dir,
            &config.cache_dir,
            progress,
            config.debug_port,
        )
        .await?;

        let display: Arc<str> = if config.app_name.is_empty() {
            Arc::from(config.name.as_str())
        } else {
            Arc::from(format!("{}/{}", config.app_name, config.name))
        };
        let timeout = config
            .timeout
            .or(func_file.timeout.map(|s| Duration::from_secs(s.into())))
            .unwrap_or(DEFAULT_TIMEOUT);
        let idle_timeout = config
            .idle_timeout
            .or(func_file
                .idle_timeout
                .map(|s| Duration::from_secs(s.into())))
            .unwrap_or(DEFAULT_IDLE_TIMEOUT);
        // Under a debugger: one process (a second could not listen on the port), started now
        // and kept, so that an IDE can attach before the first call.
        let debugging = config.debug_port.is_some();
        let max_concurrency = if debugging {
            1
        } else {
            config.max_concurrency.max(1)
        };
        let min_idle = if debugging { 1 } else { config.min_idle };
        let settings = PoolSettings {
            max_concurrency,
            queue_size: config.queue_size,
            idle_timeout,
            min_idle: min_idle.min(max_concurrency),
            start_timeout: config.start_timeout,
            shutdown_grace: SHUTDOWN_GRACE,
        };
        let spec = Spec {
            function: display.clone(),
            program: prepared.program.clone(),
            args: prepared.args.clone(),
            cwd: prepared.cwd.clone(),
            env: process_env(&config, &func_file, &prepared),
        };
        Ok(LocalFunction {
            inner: Arc::new(Inner {
                display,
                timeout,
                func_file,
                prepared,
                pool: Pool::new(spec, settings),
            }),
        })
    }

    /// The call timeout to register the function with.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// The parsed `func.yaml`.
    pub fn func_file(&self) -> &FuncFile {
        &self.inner.func_file
    }

    /// What a process runs.
    pub fn prepared(&self) -> &Prepared {
        &self.inner.prepared
    }

    /// Process counts and waiting calls.
    pub fn stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    /// The pids of this function's processes that have not exited.
    pub fn pids(&self) -> Vec<u32> {
        self.inner.pool.pids()
    }
}

/// The environment of a function process, in order (later wins): what is inherited from the
/// gateway, what the runtime needs, `func.yaml`'s config, the caller's config, then the
/// `FN_*` variables of the contract (`FN_LISTENER` is added per process).
fn process_env(
    config: &LocalFunctionConfig,
    func_file: &FuncFile,
    prepared: &Prepared,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| {
            k.to_str()
                .is_some_and(|k| INHERITED_ENV.contains(&k) || k.starts_with("LC_"))
        })
        .collect();
    // Output reaches the log as it is printed, and the FDK's call-id frame stays next to the
    // lines it introduces.
    env.push(("PYTHONUNBUFFERED".into(), "1".into()));
    env.extend(
        prepared
            .env
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    for (k, v) in func_file.config.iter().chain(config.config.iter()) {
        env.push((k.into(), v.into()));
    }
    let memory = config
        .memory_mb
        .or(func_file.memory)
        .unwrap_or(DEFAULT_MEMORY_MB);
    let fn_vars = [
        ("FN_FORMAT", "http-stream".to_string()),
        ("FN_MEMORY", memory.to_string()),
        ("FN_TYPE", "sync".to_string()),
        ("FN_FN_ID", config.id.clone()),
        ("FN_APP_ID", config.app_id.clone()),
        ("FN_APP_NAME", config.app_name.clone()),
        ("FN_FN_NAME", config.name.clone()),
        ("FN_LOGFRAME_NAME", process::LOGFRAME_NAME.to_string()),
        ("FN_LOGFRAME_HDR", "Fn-Call-Id".to_string()),
    ];
    env.extend(fn_vars.into_iter().map(|(k, v)| (k.into(), v.into())));
    env
}

impl FunctionInvoker for LocalFunction {
    fn invoke(
        &self,
        call: FunctionCall,
    ) -> BoxFuture<'static, Result<FunctionResponse, InvokeError>> {
        let inner = self.inner.clone();
        Box::pin(async move { inner.invoke(call).await })
    }

    /// Starts `min_idle` processes and waits until they listen; the first failure is
    /// returned (the function stays usable: calls retry starting processes).
    fn start(&self) -> BoxFuture<'static, Result<(), InvokeError>> {
        let pool = self.inner.pool.clone();
        Box::pin(async move { pool.start().await })
    }

    fn shutdown(&self) -> BoxFuture<'static, ()> {
        let pool = self.inner.pool.clone();
        Box::pin(async move { pool.shutdown().await })
    }

    fn runtime_stats(&self) -> Option<RuntimeStats> {
        Some(self.inner.pool.runtime_stats())
    }
}

impl Inner {
    async fn invoke(&self, mut call: FunctionCall) -> Result<FunctionResponse, InvokeError> {
        let function = self.display.clone();
        let budget = call.remaining();
        let timed_out = || InvokeError::Timeout {
            function: function.clone(),
            timeout: budget,
        };
        if budget.is_zero() {
            return Err(timed_out());
        }
        let head = protocol::encode_call(&call).map_err(|e| InvokeError::Failed {
            function: function.clone(),
            reason: e.to_string(),
        })?;
        // A process first: a call the pool refuses (503) or that waits in its queue has read
        // nothing of the client's body, which then streams straight to the process.
        let mut lease = self.pool.acquire(call.deadline, budget).await?;
        let Some(process) = lease.begin_call() else {
            return Err(InvokeError::Unavailable {
                function,
                reason: "no process".into(),
            });
        };
        let pid = process.pid();
        let deadline = tokio::time::Instant::from_std(call.deadline);
        let request = head.map(|()| std::mem::take(&mut call.body).into_stream());
        let outcome =
            tokio::time::timeout_at(deadline, process.call(request, MAX_RESPONSE_BODY)).await;
        match outcome {
            Err(_) => {
                tracing::warn!(
                    target: LOG_TARGET,
                    %function,
                    call_id = %call.call_id,
                    pid,
                    "no answer within {budget:.1?}: stopping the process"
                );
                lease.discard();
                Err(timed_out())
            }
            Ok(Err(CallError::RequestBody(error))) => {
                // The process holds half a request: as Fn does after a failed exchange, it
                // is replaced rather than trusted with the next call.
                tracing::debug!(
                    target: LOG_TARGET,
                    %function,
                    call_id = %call.call_id,
                    pid,
                    "the client's body failed mid-call ({error}): stopping the process"
                );
                lease.discard();
                Err(InvokeError::RequestBody(error))
            }
            Ok(Err(CallError::TooLarge(limit))) => {
                lease.discard();
                Err(InvokeError::BadResponse {
                    function,
                    reason: format!("the response body is larger than {limit} bytes"),
                })
            }
            Ok(Err(CallError::Transport(error))) => {
                let reason = describe_transport_failure(&lease, &error).await;
                tracing::warn!(target: LOG_TARGET, %function, call_id = %call.call_id, pid, "{reason}");
                lease.discard();
                Err(InvokeError::Failed { function, reason })
            }
            Ok(Ok((parts, body))) => {
                match protocol::decode_response(parts.status, &parts.headers, body, call.intent) {
                    Ok(response) => {
                        lease.release();
                        Ok(response)
                    }
                    Err(error) => {
                        match &error {
                            DecodeError::FunctionFailed { detail } => tracing::warn!(
                                target: LOG_TARGET,
                                %function,
                                call_id = %call.call_id,
                                pid,
                                "function failed: {detail}"
                            ),
                            other => tracing::warn!(
                                target: LOG_TARGET,
                                %function,
                                call_id = %call.call_id,
                                pid,
                                "{other}"
                            ),
                        }
                        if error.replaces_process() {
                            lease.discard();
                        } else {
                            lease.release();
                        }
                        Err(error.into_invoke_error(function, budget))
                    }
                }
            }
        }
    }
}

/// A transport failure, explained by the process's exit when it died (it usually did).
async fn describe_transport_failure(lease: &pool::Lease, error: &str) -> String {
    let Some(process) = lease.process() else {
        return format!("error receiving the function's response: {error}");
    };
    let exit = tokio::time::timeout(Duration::from_millis(500), process.handle().wait_exit())
        .await
        .ok()
        .flatten();
    match exit {
        Some(info) => {
            let tail = process.tail(3);
            if tail.is_empty() {
                format!("the process exited during the call ({})", info.status)
            } else {
                format!(
                    "the process exited during the call ({}); last output: {tail}",
                    info.status
                )
            }
        }
        None => format!("error receiving the function's response: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::func_yaml::FuncFileError;
    use std::path::Path;

    fn last<'a>(env: &'a [(OsString, OsString)], key: &str) -> Option<&'a str> {
        env.iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.to_str())
    }

    #[test]
    fn env_layers_config_over_func_yaml_and_fn_vars_last() -> Result<(), FuncFileError> {
        let func_file = FuncFile::parse(
            "memory: 512\nconfig:\n  A: yaml\n  B: yaml\n  FN_FORMAT: json\n",
            Path::new("/f/func.yaml"),
        )?;
        let mut config = LocalFunctionConfig::new("id1", "fn1", "/f", "/cache");
        config.app_name = "app1".into();
        config.app_id = "appid1".into();
        config.config.insert("B".into(), "gateway".into());
        config.config.insert("FN_TYPE".into(), "async".into());
        config.config.insert("NODE_PATH".into(), "mine".into());
        let prepared = Prepared {
            program: "/bin/true".into(),
            args: Vec::new(),
            cwd: "/f".into(),
            env: vec![("NODE_PATH".into(), "/cache/node_modules".into())],
            artifacts: None,
        };
        let env = process_env(&config, &func_file, &prepared);
        assert_eq!(last(&env, "A"), Some("yaml"));
        assert_eq!(last(&env, "B"), Some("gateway"));
        assert_eq!(last(&env, "NODE_PATH"), Some("mine"), "config may override");
        assert_eq!(last(&env, "FN_FORMAT"), Some("http-stream"), "FN_* win");
        assert_eq!(last(&env, "FN_TYPE"), Some("sync"));
        assert_eq!(last(&env, "FN_MEMORY"), Some("512"));
        assert_eq!(last(&env, "FN_FN_ID"), Some("id1"));
        assert_eq!(last(&env, "FN_FN_NAME"), Some("fn1"));
        assert_eq!(last(&env, "FN_APP_ID"), Some("appid1"));
        assert_eq!(last(&env, "FN_APP_NAME"), Some("app1"));
        assert_eq!(last(&env, "FN_LOGFRAME_NAME"), Some("call_id"));
        assert_eq!(last(&env, "FN_LOGFRAME_HDR"), Some("Fn-Call-Id"));
        assert!(last(&env, "FN_LISTENER").is_none(), "set per process");
        if std::env::var_os("PATH").is_some() {
            assert!(last(&env, "PATH").is_some(), "PATH is inherited");
        }
        config.memory_mb = Some(64);
        let env = process_env(&config, &func_file, &prepared);
        assert_eq!(last(&env, "FN_MEMORY"), Some("64"));
        Ok(())
    }
}
