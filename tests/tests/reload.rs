//! Reload behind the real binary: edits to the config, a specification or a function's source
//! are picked up while requests keep being served, only what changed is restarted, and an
//! invalid change is reported and changes nothing.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_tests::{eventually, repo_root, run_gateway, try_request, Gateway, TempDir};

/// Long enough for a reload that prepares a function on a loaded two-core machine.
const DEADLINE: Duration = Duration::from_secs(60);

/// Prepared functions are shared with the other tests (a venv takes seconds to build).
fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("function-cache")
}

fn echo_dir() -> PathBuf {
    repo_root().join("tests/functions/echo")
}

/// Routes `/stock` (a stock response with `stock_body`) and `/echo` (the echo function), with
/// `/edited` (the function `edited`) and `/added` (a stock response) when asked.
fn spec(stock_body: &str, edited: bool, added: bool) -> String {
    let mut extra = String::new();
    if edited {
        extra.push_str(
            r#",
  { "path": "/edited", "methods": ["POST"],
    "backend": { "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..edited" } }"#,
        );
    }
    if added {
        extra.push_str(
            r#",
  { "path": "/added", "methods": ["GET"],
    "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "added" } }"#,
        );
    }
    format!(
        r#"{{ "routes": [
  {{ "path": "/stock", "methods": ["GET"],
    "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "{stock_body}" }} }},
  {{ "path": "/echo", "methods": ["POST"],
    "backend": {{ "type": "ORACLE_FUNCTIONS_BACKEND", "functionId": "ocid1.fnfunc.oc1..echo" }} }}{extra}
] }}"#
    )
}

/// A config with one deployment `/t` of `spec.json`, the echo function and, when given, a
/// second function `edited` from `edited`. `gateway` is added to the `[gateway]` section.
fn config(dir: &TempDir, gateway: &str, greeting: &str, edited: Option<&Path>) -> String {
    let mut text = format!(
        r#"[gateway]
cache_dir = "{cache}"
{gateway}

[[deployment]]
name = "t"
path_prefix = "/t"
specification = "spec.json"

[[application]]
name = "app"
config = {{ GREETING = "{greeting}" }}

[[application.function]]
name = "echo"
id = "ocid1.fnfunc.oc1..echo"
source = "{echo}"
idle_timeout = 600
"#,
        cache = cache_dir().display(),
        echo = echo_dir().display(),
    );
    if let Some(edited) = edited {
        text.push_str(&format!(
            "\n[[application.function]]\nname = \"edited\"\nid = \"ocid1.fnfunc.oc1..edited\"\nsource = \"{}\"\nidle_timeout = 600\n",
            edited.display()
        ));
    }
    dir.write("gateway.toml", &text)
}

/// A stock-only config: nothing to prepare, so these gateways start at once.
fn stock_config(dir: &TempDir, gateway: &str, body: &str) -> String {
    dir.write("spec.json", &stock_spec(body));
    dir.write(
        "gateway.toml",
        &format!(
            "[gateway]\n{gateway}\n\n[[deployment]]\nname = \"s\"\npath_prefix = \"/s\"\nspecification = \"spec.json\"\n"
        ),
    )
}

fn stock_spec(body: &str) -> String {
    format!(
        r#"{{ "routes": [ {{ "path": "/hello", "methods": ["GET"],
  "backend": {{ "type": "STOCK_RESPONSE_BACKEND", "status": 200, "body": "{body}" }} }} ] }}"#
    )
}

fn body_of(gw: &Gateway, target: &str) -> Option<String> {
    let res = try_request(gw.addr, "GET", target, &[], b"").ok()?;
    (res.status == 200).then(|| res.text())
}

fn echo(gw: &Gateway, target: &str) -> Option<serde_json::Value> {
    let res = try_request(gw.addr, "POST", target, &[], b"hi").ok()?;
    (res.status == 200).then(|| res.json())
}

/// Prepares `functions` of `config` (a venv, the first time) with `gateway invoke`, which has
/// no start-up deadline, so that the gateway started next finds them ready.
fn prepare(config: &str, functions: &[&str]) {
    for function in functions {
        let (code, out, err) =
            run_gateway(&["invoke", "--config", config, function, "--data", "x"]);
        assert_eq!(code, 0, "{function}: {out}{err}");
    }
}

/// How many times the log says a reload succeeded.
fn reloads(gw: &Gateway) -> usize {
    gw.stderr().matches("configuration reloaded").count()
}

/// Clients that send requests until stopped and record every response that is not a success
/// of the old or the new configuration.
struct Load {
    stop: Arc<AtomicBool>,
    workers: Vec<std::thread::JoinHandle<(usize, Vec<String>)>>,
}

impl Load {
    /// `per_route` clients on the stock route and as many on the function route.
    fn start(gw: &Gateway, per_route: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for i in 0..per_route * 2 {
            let (stop, addr) = (stop.clone(), gw.addr);
            workers.push(std::thread::spawn(move || {
                // Bounded, whatever happens to the test: at most this long.
                let until = Instant::now() + Duration::from_secs(300);
                let (mut sent, mut failures) = (0, Vec::new());
                while !stop.load(Ordering::Relaxed) && Instant::now() < until {
                    let outcome = if i % 2 == 0 {
                        try_request(addr, "GET", "/t/stock", &[], b"").map(|res| {
                            (res.status == 200 && ["v1", "v2"].contains(&res.text().as_str()))
                                .then_some(())
                                .ok_or_else(|| format!("stock: {} {}", res.status, res.text()))
                        })
                    } else {
                        try_request(addr, "POST", "/t/echo", &[], b"hi").map(|res| {
                            let greeting = serde_json::from_slice::<serde_json::Value>(&res.body)
                                .ok()
                                .and_then(|v| v["greeting"].as_str().map(str::to_owned));
                            (res.status == 200
                                && matches!(greeting.as_deref(), Some("one" | "two")))
                            .then_some(())
                            .ok_or_else(|| format!("echo: {} {}", res.status, res.text()))
                        })
                    };
                    sent += 1;
                    match outcome {
                        Ok(Ok(())) => {}
                        Ok(Err(bad)) => failures.push(bad),
                        Err(e) => failures.push(format!("connection: {e}")),
                    }
                }
                (sent, failures)
            }));
        }
        Load { stop, workers }
    }

    /// Stops the clients; returns how many requests they sent and every failure.
    fn finish(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let mut total = (0, Vec::new());
        for worker in self.workers {
            let (sent, failures) = worker.join().expect("client thread");
            total.0 += sent;
            total.1.extend(failures);
        }
        total
    }
}

#[test]
fn reloads_under_load_fail_no_request() {
    let dir = TempDir::new("reload-load");
    dir.write("spec.json", &spec("v1", false, false));
    let config = config(&dir, "", "one", None);
    prepare(&config, &["app/echo"]);
    let gw = Gateway::serve(&["--config", &config]);
    assert!(
        eventually(DEADLINE, || echo(&gw, "/t/echo").is_some()),
        "the function answers: {}",
        gw.stderr()
    );

    let load = Load::start(&gw, 2);

    // (a) The specification gains a route and changes a stock body.
    dir.write("spec.json", &spec("v2", false, true));
    let picked_up = eventually(DEADLINE, || {
        body_of(&gw, "/t/added").as_deref() == Some("added")
            && body_of(&gw, "/t/stock").as_deref() == Some("v2")
    });
    assert!(picked_up, "the spec edit was applied: {}", gw.stderr());

    // (b) gateway.toml changes the function's configuration: the function restarts.
    config_with_greeting(&dir, "two");
    let picked_up = eventually(DEADLINE, || {
        echo(&gw, "/t/echo").is_some_and(|v| v["greeting"] == "two")
    });
    assert!(picked_up, "the config edit was applied: {}", gw.stderr());

    // (c) SIGHUP with nothing changed reloads and keeps everything.
    gw.signal("HUP");
    let reloaded = eventually(DEADLINE, || {
        let log = gw.stderr();
        log.split_once("SIGHUP)")
            .is_some_and(|(_, after)| after.contains("configuration reloaded"))
    });
    assert!(reloaded, "SIGHUP reloaded: {}", gw.stderr());

    let (sent, failures) = load.finish();
    assert!(
        failures.is_empty(),
        "{} of {sent} failed: {failures:?}",
        failures.len()
    );
    assert!(sent >= 4, "the clients kept sending ({sent} requests)");
    let log = gw.stderr();
    assert!(
        log.contains("deployments added [], removed [], changed [t]"),
        "{log}"
    );
    assert!(
        log.contains("restarted [app/echo (settings changed)]"),
        "{log}"
    );
    let after_signal = log
        .split_once("SIGHUP)")
        .map(|(_, after)| after)
        .unwrap_or_default();
    assert!(
        after_signal.contains(
            "unchanged [t]; functions started [], restarted [], retired [], kept [app/echo]"
        ),
        "{after_signal}"
    );
}

/// Rewrites the load test's config with another greeting.
fn config_with_greeting(dir: &TempDir, greeting: &str) {
    config(dir, "", greeting, None);
}

/// A copy of the echo function at a fixed place, so that its prepared venv is reused from one
/// run to the next (the cache entry depends on the directory).
fn fresh_echo_copy(tag: &str) -> PathBuf {
    let copy = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("reload-{tag}"));
    let _ = std::fs::remove_dir_all(&copy);
    std::fs::create_dir_all(&copy).expect("create the copy");
    for file in ["func.py", "func.yaml", "requirements.txt"] {
        std::fs::copy(echo_dir().join(file), copy.join(file)).expect("copy the function");
    }
    copy
}

#[test]
fn a_source_edit_restarts_only_that_function() {
    let dir = TempDir::new("reload-source");
    let edited = fresh_echo_copy("edited");
    dir.write("spec.json", &spec("v1", true, false));
    let config = config(&dir, "", "one", Some(&edited));
    prepare(&config, &["app/echo", "app/edited"]);
    let gw = Gateway::serve(&["--config", &config]);
    let pid = |v: &serde_json::Value| v["pid"].as_u64();
    let (Some(edited_before), Some(echo_before)) = (echo(&gw, "/t/edited"), echo(&gw, "/t/echo"))
    else {
        panic!("both functions answer: {}", gw.stderr());
    };
    assert_eq!(edited_before.get("edited"), None);

    let source = std::fs::read_to_string(edited.join("func.py")).expect("read func.py");
    let changed = source.replace(
        "\"pid\": os.getpid(),",
        "\"pid\": os.getpid(),\n            \"edited\": True,",
    );
    assert_ne!(source, changed, "the edit applies");
    std::fs::write(edited.join("func.py"), changed).expect("edit func.py");

    let mut edited_after = None;
    let picked_up = eventually(DEADLINE, || {
        edited_after = echo(&gw, "/t/edited").filter(|v| v["edited"] == true);
        edited_after.is_some()
    });
    assert!(picked_up, "the edited source runs: {}", gw.stderr());
    let edited_after = edited_after.unwrap_or_default();
    assert_ne!(pid(&edited_after), pid(&edited_before), "a new process");

    let echo_after = echo(&gw, "/t/echo").expect("echo answers");
    assert_eq!(
        pid(&echo_after),
        pid(&echo_before),
        "the unchanged function kept its process"
    );
    let log = gw.stderr();
    assert!(
        log.contains("restarted [app/edited (source changed)], retired [], kept [app/echo]"),
        "{log}"
    );

    // A change that leaves the running function unable to run is refused: the version that
    // runs keeps answering, in the same process.
    let func_yaml = std::fs::read_to_string(edited.join("func.yaml")).expect("read func.yaml");
    std::fs::write(
        edited.join("func.yaml"),
        "schema_version: 20180708\nname: edited\nversion: 0.0.2\nruntime: custom\n",
    )
    .expect("break func.yaml");
    let refused = eventually(DEADLINE, || {
        gw.stderr()
            .contains("could not be made runnable in their new version")
    });
    assert!(refused, "the broken function is refused: {}", gw.stderr());
    let log = gw.stderr();
    assert!(log.contains("app/edited: "), "{log}");
    let still = echo(&gw, "/t/edited").expect("the running version answers");
    assert_eq!(still["edited"], true);
    assert_eq!(pid(&still), pid(&edited_after), "the same process");

    // Putting func.yaml back is the version that runs: it is kept.
    let before_fix = reloads(&gw);
    std::fs::write(edited.join("func.yaml"), func_yaml).expect("restore func.yaml");
    assert!(
        eventually(DEADLINE, || reloads(&gw) > before_fix),
        "{}",
        gw.stderr()
    );
    let log = gw.stderr();
    let last = log
        .rsplit("configuration reloaded")
        .next()
        .unwrap_or_default();
    assert!(last.contains("kept [app/echo, app/edited]"), "{last}");
    let kept = echo(&gw, "/t/edited").expect("answers");
    assert_eq!(pid(&kept), pid(&edited_after), "the same process");
}

#[test]
fn an_invalid_change_changes_nothing_and_a_fix_is_picked_up() {
    let dir = TempDir::new("reload-invalid");
    let config = stock_config(&dir, "", "v1");
    let gw = Gateway::serve(&["--config", &config]);
    assert_eq!(body_of(&gw, "/s/hello").as_deref(), Some("v1"));

    dir.write("spec.json", "{ \"routes\": [ ");
    let reported = eventually(DEADLINE, || {
        let log = gw.stderr();
        log.contains("reload refused") && log.contains("spec.json") && log.contains("invalid JSON")
    });
    assert!(reported, "the broken spec is reported: {}", gw.stderr());
    assert_eq!(body_of(&gw, "/s/hello").as_deref(), Some("v1"));

    std::fs::write(
        &config,
        std::fs::read_to_string(&config)
            .expect("read config")
            .replace("[gateway]\n", "[gateway]\nlisen = \"127.0.0.1:1\"\n"),
    )
    .expect("write config");
    let reported = eventually(DEADLINE, || {
        let log = gw.stderr();
        log.contains("gateway.toml") && log.contains("unknown field `lisen`")
    });
    assert!(reported, "the unknown key is reported: {}", gw.stderr());
    assert_eq!(body_of(&gw, "/s/hello").as_deref(), Some("v1"));
    assert_eq!(reloads(&gw), 0, "nothing was swapped in");

    stock_config(&dir, "", "v2");
    let fixed = eventually(DEADLINE, || {
        body_of(&gw, "/s/hello").as_deref() == Some("v2")
    });
    assert!(fixed, "the fix is picked up: {}", gw.stderr());
}

#[test]
fn without_watching_only_sighup_reloads() {
    for (tag, flags, setting) in [
        ("reload-no-watch", &["--no-watch"][..], ""),
        ("reload-watch-off", &[][..], "watch = false"),
    ] {
        let dir = TempDir::new(tag);
        let config = stock_config(&dir, setting, "v1");
        let mut args = vec!["--config", config.as_str()];
        args.extend_from_slice(flags);
        let gw = Gateway::serve(&args);
        let said = eventually(DEADLINE, || gw.stderr().contains("not watching files"));
        assert!(said, "{tag}: {}", gw.stderr());

        dir.write("spec.json", &stock_spec("v2"));
        // A watching gateway notices within a second; this one must not. (On a slow machine the
        // pause can only make the check weaker, never fail it.)
        std::thread::sleep(Duration::from_secs(2));
        assert_eq!(body_of(&gw, "/s/hello").as_deref(), Some("v1"), "{tag}");
        assert_eq!(reloads(&gw), 0, "{tag}: {}", gw.stderr());

        gw.signal("HUP");
        let reloaded = eventually(DEADLINE, || {
            body_of(&gw, "/s/hello").as_deref() == Some("v2")
        });
        assert!(reloaded, "{tag}: SIGHUP reloads: {}", gw.stderr());
    }
}
