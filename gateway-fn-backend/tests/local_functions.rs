//! Local functions end to end, with the real FDKs: `pip install fdk` into a venv and
//! `npm install @fnproject/fdk`, prepared by the crate itself into a cache shared by the tests.
//! Needs python3 (with venv and pip), node and npm, and the package registries.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{alive, config, eventually, http_call, invoke_call, logs, prepare};
use gateway_core::function::{FunctionInvoker, InvokeError};
use gateway_core::Refusal as _;
use gateway_fn_backend::{FuncFileError, LocalFunction, LocalFunctionConfig, PrepareError};
use http::{Method, StatusCode};
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const CALL_TIMEOUT: Duration = Duration::from_secs(30);

fn json(body: &[u8]) -> Result<Value, serde_json::Error> {
    serde_json::from_slice(body)
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn python_fn_init_boilerplate_runs() -> TestResult {
    let function = prepare(config("hello-python")).await?;
    let response = function
        .invoke(invoke_call(r#"{"name": "Gateway"}"#, CALL_TIMEOUT))
        .await?;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(json(&response.body)?["message"], "Hello Gateway");
    assert_eq!(
        header(&response.headers, "content-type"),
        Some("application/json")
    );

    let response = function
        .invoke(http_call(Method::GET, "/hello", &[], "", CALL_TIMEOUT))
        .await?;
    assert_eq!(response.status, StatusCode::OK);
    // An empty body is not JSON: the boilerplate logs that and answers "Hello World".
    assert_eq!(json(&response.body)?["message"], "Hello World");
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn python_echo_maps_request_and_response_both_ways() -> TestResult {
    let mut cfg = config("echo");
    cfg.config
        .insert("OVERRIDDEN".into(), "by the gateway".into());
    cfg.config.insert("FROM_GATEWAY".into(), "yes".into());
    let function = prepare(cfg).await?;
    let call = http_call(
        Method::PUT,
        "/v1/items/42?x=1",
        &[
            ("authorization", "Bearer abc"),
            ("x-custom", "foo"),
            ("x-want-status", "201"),
            ("content-type", "application/json"),
            ("connection", "x-secret"),
            ("x-secret", "hop-by-hop"),
        ],
        r#"{"a":1}"#,
        CALL_TIMEOUT,
    );
    let call_id = call.call_id.clone();
    let response = function.invoke(call).await?;

    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(header(&response.headers, "x-echo"), Some("yes"));
    assert_eq!(
        header(&response.headers, "content-type"),
        Some("application/json")
    );
    assert!(
        response
            .headers
            .keys()
            .all(|k| !k.as_str().starts_with("fn-")),
        "no protocol header reaches the client: {:?}",
        response.headers
    );

    let seen = json(&response.body)?;
    assert_eq!(seen["method"], "PUT");
    assert_eq!(seen["url"], "/v1/items/42?x=1");
    assert_eq!(seen["body"], r#"{"a":1}"#);
    assert_eq!(seen["call_id"], call_id.as_str());
    assert_eq!(seen["content_type"], "application/json");
    assert_eq!(seen["headers"]["authorization"], "Bearer abc");
    assert_eq!(seen["headers"]["x-custom"], "foo");
    assert!(seen["headers"].get("content-type").is_none());
    assert!(seen["headers"].get("connection").is_none());
    assert!(seen["headers"].get("x-secret").is_none());

    let env = &seen["env"];
    assert_eq!(env["FN_FORMAT"], "http-stream");
    assert_eq!(env["FN_TYPE"], "sync");
    assert_eq!(env["FN_MEMORY"], "256");
    assert_eq!(env["FN_FN_ID"], "ocid1.fnfunc.test.echo");
    assert_eq!(env["FN_APP_ID"], "ocid1.fnapp.test");
    assert_eq!(env["FN_APP_NAME"], "testapp");
    assert_eq!(env["FN_FN_NAME"], "echo");
    assert_eq!(env["FN_LOGFRAME_NAME"], "call_id");
    assert_eq!(env["FN_LOGFRAME_HDR"], "Fn-Call-Id");
    assert_eq!(env["GREETING"], "from func.yaml");
    assert_eq!(env["OVERRIDDEN"], "by the gateway");
    assert_eq!(env["FROM_GATEWAY"], "yes");
    let listener = env["FN_LISTENER"].as_str().unwrap_or_default();
    assert!(
        listener.starts_with("unix:/") && listener.ends_with("/lsnr.sock"),
        "{listener}"
    );
    let source = std::fs::canonicalize(common::functions_dir().join("echo"))?;
    assert_eq!(seen["cwd"], source.to_string_lossy().as_ref());

    // Hot: the next call is served by the same process.
    let again = function
        .invoke(http_call(Method::GET, "/again", &[], "", CALL_TIMEOUT))
        .await?;
    assert_eq!(json(&again.body)?["pid"], seen["pid"]);
    assert_eq!(again.status, StatusCode::OK);

    // The function's output is logged, tagged with the call it belongs to.
    let found = eventually(Duration::from_secs(3), || {
        logs().iter().any(|l| {
            l.call_id == call_id && l.stream == "stdout" && l.message.contains("echo stdout for")
        }) && logs().iter().any(|l| {
            l.call_id == call_id && l.stream == "stderr" && l.message.contains("echo stderr for")
        })
    })
    .await;
    assert!(found, "log lines for {call_id} in {:#?}", logs());
    assert!(logs().iter().all(|l| !l.message.starts_with("call_id=")));

    // Preparation left the source directory as it was.
    assert!(!source.join("__pycache__").exists());
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn python_status_codes_come_from_the_function() -> TestResult {
    let function = prepare(config("echo")).await?;
    for status in [200u16, 204, 302, 404, 500, 503] {
        let text = status.to_string();
        let response = function
            .invoke(http_call(
                Method::GET,
                "/s",
                &[("x-want-status", &text)],
                "",
                CALL_TIMEOUT,
            ))
            .await?;
        assert_eq!(response.status.as_u16(), status);
    }
    assert_eq!(
        function.stats().live,
        1,
        "user errors do not cost a process"
    );
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn python_raise_is_502_and_the_process_serves_on() -> TestResult {
    let function = prepare(config("fail")).await?;
    for _ in 0..2 {
        let error = function
            .invoke(http_call(Method::POST, "/f", &[], "x", CALL_TIMEOUT))
            .await
            .err();
        assert!(
            matches!(error, Some(InvokeError::Failed { .. })),
            "{error:?}"
        );
        assert_eq!(error.map(|e| e.status()), Some(StatusCode::BAD_GATEWAY));
    }
    let pids = function.pids();
    assert_eq!(pids.len(), 1, "the FDK answered 502 and stays in service");
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn python_sleep_past_the_deadline_is_504_then_the_next_call_works() -> TestResult {
    let function = prepare(config("sleep")).await?;
    assert_eq!(function.timeout(), Duration::from_secs(2), "from func.yaml");
    // Warm up, so the deadline below measures the call, not the start.
    let warm = function
        .invoke(invoke_call("0", function.timeout()))
        .await?;
    let first_pid: u32 = String::from_utf8_lossy(&warm.body)
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or("no pid in the answer")?;

    let started = Instant::now();
    let error = function
        .invoke(invoke_call("30", function.timeout()))
        .await
        .err();
    let took = started.elapsed();
    assert!(
        matches!(error, Some(InvokeError::Timeout { .. })),
        "{error:?}"
    );
    assert_eq!(error.map(|e| e.status()), Some(StatusCode::GATEWAY_TIMEOUT));
    assert!(took < Duration::from_secs(10), "gave up after {took:?}");
    assert!(
        eventually(Duration::from_secs(5), || !alive(first_pid)).await,
        "the timed-out process {first_pid} is killed"
    );

    let response = function
        .invoke(invoke_call("0", function.timeout()))
        .await?;
    let text = String::from_utf8_lossy(&response.body).into_owned();
    assert!(text.starts_with("slept 0.0 in "), "{text}");
    assert!(
        !text.ends_with(&first_pid.to_string()),
        "a new process: {text}"
    );
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn python_exit_replaces_the_process_and_the_next_call_works() -> TestResult {
    let function = prepare(config("exit")).await?;
    let first = function.invoke(invoke_call("hi", CALL_TIMEOUT)).await?;
    let first_pid = String::from_utf8_lossy(&first.body).into_owned();

    let error = function
        .invoke(invoke_call("exit", CALL_TIMEOUT))
        .await
        .err();
    match &error {
        Some(InvokeError::Failed { reason, .. }) => {
            assert!(reason.contains("exited"), "{reason}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(error.map(|e| e.status()), Some(StatusCode::BAD_GATEWAY));

    let next = function.invoke(invoke_call("hi", CALL_TIMEOUT)).await?;
    let next_pid = String::from_utf8_lossy(&next.body).into_owned();
    assert_eq!(next.status, StatusCode::OK);
    assert_ne!(first_pid, next_pid);
    assert_eq!(function.stats().live, 1);
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn twenty_concurrent_calls_use_at_most_max_concurrency_processes() -> TestResult {
    let mut cfg = config("sleep");
    cfg.max_concurrency = 4;
    cfg.timeout = Some(CALL_TIMEOUT);
    let function = prepare(cfg).await?;

    let calls: Vec<_> = (0..20)
        .map(|_| {
            let function = function.clone();
            tokio::spawn(async move { function.invoke(invoke_call("0.2", CALL_TIMEOUT)).await })
        })
        .collect();
    let mut max_live = 0;
    let mut pids = HashSet::new();
    for call in calls {
        max_live = max_live.max(function.stats().live);
        let response = call.await??;
        assert_eq!(response.status, StatusCode::OK);
        let text = String::from_utf8_lossy(&response.body).into_owned();
        pids.insert(text.rsplit(' ').next().unwrap_or_default().to_string());
    }
    assert!(max_live <= 4, "live processes peaked at {max_live}");
    assert!(
        !pids.is_empty() && pids.len() <= 4,
        "served by {} processes",
        pids.len()
    );
    assert!(function.stats().live <= 4);
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_full_queue_answers_busy() -> TestResult {
    let mut cfg = config("sleep");
    cfg.max_concurrency = 1;
    cfg.queue_size = 1;
    cfg.timeout = Some(CALL_TIMEOUT);
    let function = prepare(cfg).await?;
    function.invoke(invoke_call("0", CALL_TIMEOUT)).await?; // warm

    let busy = function.clone();
    let first = tokio::spawn(async move { busy.invoke(invoke_call("1.5", CALL_TIMEOUT)).await });
    assert!(eventually(Duration::from_secs(5), || function.stats().idle == 0).await);
    let queued = function.clone();
    let second = tokio::spawn(async move { queued.invoke(invoke_call("0", CALL_TIMEOUT)).await });
    assert!(eventually(Duration::from_secs(5), || function.stats().waiting == 1).await);

    let third = function.invoke(invoke_call("0", CALL_TIMEOUT)).await.err();
    assert!(matches!(third, Some(InvokeError::Busy { .. })), "{third:?}");
    assert_eq!(
        third.map(|e| e.status()),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    assert_eq!(first.await??.status, StatusCode::OK);
    assert_eq!(second.await??.status, StatusCode::OK);
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn idle_processes_are_reaped_and_min_idle_ones_kept() -> TestResult {
    let mut cfg = config("echo");
    cfg.idle_timeout = Some(Duration::from_millis(300));
    let function = prepare(cfg).await?;
    function
        .invoke(http_call(Method::GET, "/", &[], "", CALL_TIMEOUT))
        .await?;
    let pids = function.pids();
    assert_eq!(pids.len(), 1);
    assert!(
        eventually(Duration::from_secs(5), || function.stats().live == 0
            && !alive(pids[0]))
        .await,
        "reaped: {:?}",
        function.stats()
    );
    // The next call starts a new process.
    let response = function
        .invoke(http_call(Method::GET, "/", &[], "", CALL_TIMEOUT))
        .await?;
    assert_eq!(response.status, StatusCode::OK);
    function.shutdown().await;

    let mut cfg = config("echo");
    cfg.idle_timeout = Some(Duration::from_millis(200));
    cfg.min_idle = 1;
    let warm = prepare(cfg).await?;
    warm.start().await?;
    let pids = warm.pids();
    assert_eq!(pids.len(), 1, "started before any call");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(warm.pids(), pids, "the min_idle process is kept");
    warm.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn shutdown_leaves_no_process_behind() -> TestResult {
    let mut cfg = config("echo");
    cfg.max_concurrency = 3;
    cfg.min_idle = 1;
    let function = prepare(cfg).await?;
    function.start().await?;
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let function = function.clone();
            tokio::spawn(async move {
                function
                    .invoke(http_call(Method::GET, "/", &[], "", CALL_TIMEOUT))
                    .await
            })
        })
        .collect();
    for call in calls {
        call.await??;
    }
    let pids = function.pids();
    assert!(!pids.is_empty());
    assert!(pids.iter().all(|&p| alive(p)));

    function.shutdown().await;
    for pid in &pids {
        assert!(!alive(*pid), "process {pid} survived shutdown");
    }
    assert!(function.pids().is_empty());
    assert_eq!(function.stats().live, 0);
    let after = function
        .invoke(http_call(Method::GET, "/", &[], "", CALL_TIMEOUT))
        .await
        .err();
    assert!(
        matches!(after, Some(InvokeError::Unavailable { .. })),
        "{after:?}"
    );
    Ok(())
}

#[tokio::test]
async fn node_echo_maps_request_and_response() -> TestResult {
    let function = prepare(config("node-echo")).await?;
    let call = http_call(
        Method::POST,
        "/my/url/bar?baz=bob",
        &[("x-custom", "foo"), ("content-type", "text/plain")],
        "hello node",
        CALL_TIMEOUT,
    );
    let call_id = call.call_id.clone();
    let response = function.invoke(call).await?;
    assert_eq!(response.status, StatusCode::CREATED);
    assert_eq!(header(&response.headers, "x-echo"), Some("yes"));
    let seen = json(&response.body)?;
    assert_eq!(seen["got"], "hello node");
    assert_eq!(seen["callID"], call_id.as_str());
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["url"], "/my/url/bar?baz=bob");
    assert_eq!(seen["headers"]["X-Custom"][0], "foo");
    assert_eq!(seen["appName"], "testapp");
    assert_eq!(seen["fnName"], "node-echo");

    let error = function
        .invoke(http_call(Method::POST, "/", &[], "boom", CALL_TIMEOUT))
        .await
        .err();
    assert!(
        matches!(error, Some(InvokeError::Failed { .. })),
        "{error:?}"
    );
    let next = function.invoke(invoke_call("again", CALL_TIMEOUT)).await?;
    assert_eq!(next.status, StatusCode::OK);
    assert_eq!(
        json(&next.body)?["pid"],
        seen["pid"],
        "still the same process"
    );

    let found = eventually(Duration::from_secs(3), || {
        logs()
            .iter()
            .any(|l| l.call_id == call_id && l.message.contains("node echo handling"))
    })
    .await;
    assert!(found, "node log line tagged with {call_id}");
    assert!(!common::functions_dir()
        .join("node-echo")
        .join("node_modules")
        .exists());
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn node_fn_init_boilerplate_runs() -> TestResult {
    let function = prepare(config("hello-node")).await?;
    let response = function
        .invoke(invoke_call(r#"{"name": "Gateway"}"#, CALL_TIMEOUT))
        .await?;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(json(&response.body)?["message"], "Hello Gateway");
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn node_without_package_json_or_entrypoint_runs() -> TestResult {
    let function = prepare(config("node-bare")).await?;
    assert!(function.prepared().program.ends_with("node"));
    assert_eq!(function.prepared().args, ["func.js"]);
    let response = function.invoke(invoke_call("plain", CALL_TIMEOUT)).await?;
    assert_eq!(response.status, StatusCode::OK);
    let seen = json(&response.body)?;
    assert_eq!(seen["bare"], true);
    assert_eq!(seen["got"], "plain");
    let source = common::functions_dir().join("node-bare");
    assert!(!source.join("node_modules").exists());
    assert!(!source.join("package.json").exists());
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn bad_requirements_fail_to_prepare_with_pip_output() -> TestResult {
    let result = prepare(config("bad-requirements")).await;
    match result {
        Err(PrepareError::ToolFailed {
            function,
            command,
            output,
            ..
        }) => {
            assert_eq!(function, "bad-requirements");
            assert!(command.contains("pip install"), "{command}");
            assert!(
                output.contains("gateway-fn-backend-test-no-such-package-zz9"),
                "{output}"
            );
        }
        other => panic!("expected ToolFailed, got {other:?}"),
    }
    // Other functions are unaffected.
    let echo = prepare(config("echo")).await?;
    let response = echo
        .invoke(http_call(Method::GET, "/", &[], "", CALL_TIMEOUT))
        .await?;
    assert_eq!(response.status, StatusCode::OK);
    echo.shutdown().await;
    Ok(())
}

/// A function directory with a hand-written `func.yaml` (custom runtime).
fn custom(func_yaml: &str) -> Result<(tempfile::TempDir, LocalFunctionConfig), std::io::Error> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("func.yaml"), func_yaml)?;
    let cfg = LocalFunctionConfig::new(
        "ocid1.fnfunc.custom",
        "custom",
        dir.path(),
        dir.path().join("cache"),
    );
    Ok((dir, cfg))
}

#[tokio::test]
async fn early_exit_is_502_and_no_socket_is_504() -> TestResult {
    let (_dir, cfg) = custom("runtime: custom\nentrypoint: sh -c echo-dying;exit\n")?;
    let function = prepare(cfg).await?;
    let error = function.invoke(invoke_call("", CALL_TIMEOUT)).await.err();
    match &error {
        Some(InvokeError::Unavailable { reason, .. }) => {
            assert!(reason.contains("exited"), "{reason}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(error.map(|e| e.status()), Some(StatusCode::BAD_GATEWAY));
    function.shutdown().await;

    let (_dir, mut cfg) = custom("runtime: custom\nentrypoint: sleep 30\n")?;
    cfg.start_timeout = Duration::from_millis(300);
    let function = prepare(cfg).await?;
    let started = Instant::now();
    let error = function.invoke(invoke_call("", CALL_TIMEOUT)).await.err();
    assert!(
        matches!(error, Some(InvokeError::Timeout { .. })),
        "{error:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(eventually(Duration::from_secs(5), || function.pids().is_empty()).await);
    function.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn a_bad_func_yaml_names_the_file_and_key() -> TestResult {
    let (dir, cfg) = custom("name: x\nmemory: lots\n")?;
    match LocalFunction::prepare(cfg, &gateway_fn_backend::no_progress).await {
        Err(PrepareError::FuncFile {
            source: FuncFileError::Field { path, key, .. },
            ..
        }) => {
            assert_eq!(key, "memory");
            assert_eq!(path.file_name().and_then(|n| n.to_str()), Some("func.yaml"));
            assert!(path.starts_with(std::fs::canonicalize(dir.path())?));
        }
        other => panic!("expected a func.yaml field error, got {other:?}"),
    }
    Ok(())
}

/// The child "gateway" of [`functions_die_with_a_killed_gateway`]; does nothing when run
/// otherwise.
#[tokio::test]
#[ignore = "helper process for functions_die_with_a_killed_gateway"]
async fn helper_gateway_to_be_killed() -> TestResult {
    if std::env::var_os(KILL_HELPER_ENV).is_none() {
        return Ok(());
    }
    let function = prepare(config("echo")).await?;
    let response = function
        .invoke(http_call(Method::GET, "/", &[], "", CALL_TIMEOUT))
        .await?;
    let pid = json(&response.body)?["pid"].clone();
    println!("FUNCTION_PID={pid}");
    std::io::Write::flush(&mut std::io::stdout())?;
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(())
}

const KILL_HELPER_ENV: &str = "GATEWAY_FN_BACKEND_KILL_HELPER";

#[tokio::test]
async fn functions_die_with_a_killed_gateway() -> TestResult {
    use tokio::io::AsyncBufReadExt;

    let mut helper = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "--ignored",
            "--exact",
            "helper_gateway_to_be_killed",
            "--nocapture",
        ])
        .env(KILL_HELPER_ENV, "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = helper.stdout.take().ok_or("no stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let pid = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(pid) = line.strip_prefix("FUNCTION_PID=") {
                return Ok::<u32, Box<dyn std::error::Error>>(pid.trim().parse()?);
            }
        }
        Err("the helper ended without a function pid".into())
    })
    .await??;
    assert!(alive(pid));
    let helper_pid = helper.id().ok_or("the helper has no pid")?;

    // SIGKILL: no destructor, no shutdown, no kill_on_drop runs in the helper.
    helper.kill().await?;
    let died = eventually(Duration::from_secs(5), || !alive(pid)).await;
    // The helper could not remove its socket directory (the next gateway would).
    let _ = std::fs::remove_dir_all(format!("/tmp/gwfn-{helper_pid}"));
    assert!(died, "function process {pid} outlived its killed gateway");
    Ok(())
}
