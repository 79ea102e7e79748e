//! A warm function call through the gateway against a direct call on the function's own unix
//! socket, in one run, and the cold-start time of a function process.
//!
//! Both paths run the same unchanged Fn Python function (`tests/functions/echo`) with the real
//! `fdk` from PyPI, one call at a time. The gateway path is the whole gateway (HTTP/1.1 server on
//! loopback, routing, the function backend, the process pool); the direct path writes the
//! http-stream `POST /call` straight to a process's socket. The difference is what the gateway
//! adds to a warm call.
//!
//!     cargo bench -p gateway-benches --bench function_roundtrip [-- CALLS]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream, UnixStream};

use gateway_core::function::{FunctionCall, FunctionInvoker, Intent, RegisteredFunction};
use gateway_core::gateway::Gateway;
use gateway_fn_backend::{no_progress, protocol, LocalFunction, LocalFunctionConfig};

const FUNCTION_ID: &str = "ocid1.fnfunc.oc1..bench";
const BODY: &[u8] = br#"{"name":"bench"}"#;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let calls: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let source = root.join("tests/functions/echo");
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench-function-cache");
    let function = prepare(&source, &cache, 1).await?;

    let direct = direct_latencies(&function, calls).await?;
    let gateway = gateway_latencies(function.clone(), calls).await?;
    function.shutdown().await;
    let cold = cold_starts(&source, &cache, 5).await?;

    println!("warm call, {calls} sequential calls each (after {WARMUP} warm-up calls)");
    report("direct (unix socket)", &direct);
    report("through the gateway", &gateway);
    let (d50, d99) = (percentile(&direct, 50.0), percentile(&direct, 99.0));
    let (g50, g99) = (percentile(&gateway, 50.0), percentile(&gateway, 99.0));
    println!(
        "added by the gateway: p50 {:.1} µs, p99 {:.1} µs; throughput gateway/direct {:.2}",
        micros(g50.saturating_sub(d50)),
        micros(g99.saturating_sub(d99)),
        mean(&direct).as_secs_f64() / mean(&gateway).as_secs_f64(),
    );
    println!(
        "cold start (first request to response, new process), {} runs: median {:.1} ms, max {:.1} ms",
        cold.len(),
        percentile(&cold, 50.0).as_secs_f64() * 1e3,
        cold.iter().max().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    Ok(())
}

const WARMUP: usize = 200;

async fn prepare(source: &Path, cache: &Path, min_idle: usize) -> Result<LocalFunction, BoxError> {
    let mut config = LocalFunctionConfig::new(FUNCTION_ID, "echo", source, cache);
    config.max_concurrency = 1;
    config.min_idle = min_idle;
    config.idle_timeout = Some(Duration::from_secs(600));
    Ok(LocalFunction::prepare(config, &no_progress).await?)
}

fn call() -> FunctionCall {
    FunctionCall {
        function_id: Arc::from(FUNCTION_ID),
        call_id: "bench".to_owned(),
        deadline: Instant::now() + Duration::from_secs(30),
        intent: Intent::HttpRequest,
        method: Method::POST,
        request_url: "/bench/echo".to_owned(),
        headers: HeaderMap::new(),
        body: Bytes::from_static(BODY).into(),
    }
}

/// Starts a process of the prepared function by hand and times calls on its socket.
async fn direct_latencies(
    function: &LocalFunction,
    calls: usize,
) -> Result<Vec<Duration>, BoxError> {
    let prepared = function.prepared();
    let dir = std::env::temp_dir().join(format!("gwbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let socket = dir.join("lsnr.sock");
    let mut child = tokio::process::Command::new(&prepared.program)
        .args(&prepared.args)
        .current_dir(&prepared.cwd)
        .envs(prepared.env.iter().cloned())
        .env("FN_LISTENER", format!("unix:{}", socket.display()))
        .env("FN_FORMAT", "http-stream")
        .env("FN_FN_ID", FUNCTION_ID)
        .env("FN_APP_ID", "bench")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let started = Instant::now();
    while !socket.exists() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err("the function did not listen".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stream = UnixStream::connect(&socket).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut latencies = Vec::with_capacity(calls);
    for i in 0..WARMUP + calls {
        let request = protocol::encode_call(&call())?.map(|()| Full::new(Bytes::from_static(BODY)));
        sender.ready().await?;
        let t = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        if !status.is_success() {
            return Err(format!("direct call answered {status}").into());
        }
        if i >= WARMUP {
            latencies.push(t.elapsed());
        }
    }
    child.kill().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(latencies)
}

/// Serves the function through the whole gateway on loopback and times calls over one
/// keep-alive connection.
async fn gateway_latencies(
    function: LocalFunction,
    calls: usize,
) -> Result<Vec<Duration>, BoxError> {
    let spec = format!(
        r#"{{ "routes": [ {{ "path": "/echo", "methods": ["POST"],
            "backend": {{ "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "{FUNCTION_ID}" }} }} ] }}"#
    );
    let timeout = function.timeout();
    let service = Gateway::builder()
        .deployment("bench", "/bench", spec)
        .function(RegisteredFunction {
            id: Arc::from(FUNCTION_ID),
            name: "bench/echo".to_owned(),
            timeout,
            invoker: Arc::new(function),
            denied: None,
        })
        .build()?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut latencies = Vec::with_capacity(calls);
    for i in 0..WARMUP + calls {
        let request = Request::post(format!("http://{addr}/bench/echo"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(BODY)))?;
        sender.ready().await?;
        let t = Instant::now();
        let response = sender.send_request(request).await?;
        let status = response.status();
        response.into_body().collect().await?;
        if !status.is_success() {
            return Err(format!("gateway answered {status}").into());
        }
        if i >= WARMUP {
            latencies.push(t.elapsed());
        }
    }
    Ok(latencies)
}

/// Times the first call of fresh functions: process start, FDK import, socket, call.
async fn cold_starts(source: &Path, cache: &Path, runs: usize) -> Result<Vec<Duration>, BoxError> {
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let function = prepare(source, cache, 0).await?;
        let t = Instant::now();
        function.invoke(call()).await?;
        times.push(t.elapsed());
        function.shutdown().await;
    }
    Ok(times)
}

fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    let index = ((p / 100.0) * (sorted.len().saturating_sub(1)) as f64).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

fn mean(samples: &[Duration]) -> Duration {
    samples.iter().sum::<Duration>() / samples.len().max(1) as u32
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn report(name: &str, samples: &[Duration]) {
    println!(
        "  {name:<22} p50 {:>8.1} µs  p99 {:>8.1} µs  mean {:>8.1} µs  {:>7.0} calls/s",
        micros(percentile(samples, 50.0)),
        micros(percentile(samples, 99.0)),
        micros(mean(samples)),
        1.0 / mean(samples).as_secs_f64(),
    );
}
