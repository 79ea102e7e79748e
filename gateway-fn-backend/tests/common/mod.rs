//! Shared helpers for the integration tests: the test functions, one prepared cache shared by
//! every test (and every run: it lives in the target directory), calls, and captured logs.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use gateway_core::function::{FunctionCall, Intent};
use gateway_fn_backend::{LocalFunction, LocalFunctionConfig, PrepareError};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// `tests/functions/`.
pub fn functions_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("functions")
}

/// The prepared-function cache shared by all tests and runs (venvs and `npm install`s take
/// seconds to build; afterwards a preparation is a cache hit).
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("fn-backend-cache")
}

/// A configuration for `tests/functions/<name>`.
pub fn config(name: &str) -> LocalFunctionConfig {
    let mut config = LocalFunctionConfig::new(
        format!("ocid1.fnfunc.test.{name}"),
        name,
        functions_dir().join(name),
        cache_dir(),
    );
    config.app_name = "testapp".into();
    config.app_id = "ocid1.fnapp.test".into();
    config
}

/// Prepares a test function (progress lines go to stderr).
pub async fn prepare(config: LocalFunctionConfig) -> Result<LocalFunction, PrepareError> {
    init_logs();
    LocalFunction::prepare(config, &gateway_fn_backend::print_progress).await
}

fn next_call_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("01TESTCALL{:016}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A call through an HTTP route.
pub fn http_call(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    timeout: Duration,
) -> FunctionCall {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    FunctionCall {
        function_id: Arc::from("test"),
        call_id: next_call_id(),
        deadline: Instant::now() + timeout,
        intent: Intent::HttpRequest,
        method,
        request_url: url.to_string(),
        headers: map,
        body: body.to_string().into(),
    }
}

/// A direct invocation (`fn invoke`).
pub fn invoke_call(body: &str, timeout: Duration) -> FunctionCall {
    let mut call = http_call(Method::POST, "", &[], body, timeout);
    call.intent = Intent::Invoke;
    call
}

/// Whether a process exists and has not exited (a zombie waiting for a reaper that is not ours,
/// e.g. an orphan under a container's init, counts as dead).
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) S ...": the state follows the last ')'.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, Some('Z') | Some('X') | None)
}

/// Polls `cond` until it holds or `within` passes.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    cond()
}

/// One line a function printed, as logged.
#[derive(Debug, Clone, Default)]
pub struct LogLine {
    pub function: String,
    pub call_id: String,
    pub stream: String,
    pub pid: String,
    pub message: String,
}

static LOGS: Mutex<Vec<LogLine>> = Mutex::new(Vec::new());

/// Every function line logged so far (by every test of this binary).
pub fn logs() -> Vec<LogLine> {
    LOGS.lock().map(|l| l.clone()).unwrap_or_default()
}

struct Capture;

#[derive(Default)]
struct Fields(LogLine);

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.set(field, format!("{value:?}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field, value.to_string());
    }
}

impl Fields {
    fn set(&mut self, field: &Field, value: String) {
        match field.name() {
            "function" => self.0.function = value,
            "call_id" => self.0.call_id = value,
            "stream" => self.0.stream = value,
            "pid" => self.0.pid = value,
            "message" => self.0.message = value,
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != gateway_fn_backend::LOG_TARGET
            || *event.metadata().level() != tracing::Level::INFO
        {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        if let Ok(mut logs) = LOGS.lock() {
            logs.push(fields.0);
        }
    }
}

/// Captures function log lines; also prints logs per `RUST_LOG` (default: warnings).
pub fn init_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
        let _ = tracing_subscriber::registry()
            .with(Capture)
            .with(
                tracing_subscriber::fmt::layer()
                    .with_test_writer()
                    .with_filter(filter),
            )
            .try_init();
    });
}
