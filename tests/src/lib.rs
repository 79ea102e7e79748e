//! Shared support for the end-to-end tests: start the real `gateway` binary on a free loopback
//! port, talk raw HTTP/1.1 to it (so that odd request targets arrive byte for byte), and stop
//! it again. The helpers every test crate of the workspace uses (Redis deployments, keys and
//! JWTs, upstreams, the raw client) come from `gateway-test-support` and are re-exported here.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use openmetrics::Exposition;

pub use gateway_test_support::client::{chunked, parse_response, request, try_request, Response};
pub use gateway_test_support::upstream::raw_echo_upstream;
pub use gateway_test_support::{client, eventually, jwt, net, pki, redis, upstream, TempDir};

pub mod oidc;
pub mod openmetrics;
/// How long a gateway may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The `gateway` binary built by this workspace (`cargo test --workspace` builds it).
pub fn gateway_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/gateway
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target directory");
    let bin = dir.join(format!("gateway{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        bin.display()
    );
    bin
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root")
        .to_owned()
}

/// A `gateway` process; killed when dropped.
#[derive(Debug)]
pub struct Gateway {
    child: Child,
    pub addr: SocketAddr,
    /// The admin listener's address, when `--admin-listen` was given.
    pub admin: Option<SocketAddr>,
    _stdout: std::thread::JoinHandle<()>,
    /// Everything the gateway wrote to stderr so far. It is read as it comes, so that a
    /// chatty gateway never blocks on a full pipe.
    stderr: Arc<Mutex<String>>,
}

impl Gateway {
    /// Runs `gateway serve ARGS --listen 127.0.0.1:0` and waits for its `listening on` line.
    pub fn serve(args: &[&str]) -> Gateway {
        Self::try_serve(args).unwrap_or_else(|e| panic!("gateway did not start: {e}"))
    }

    /// Like [`Gateway::serve`], but returns the failure (exit status and stderr) instead of
    /// panicking, for tests of refused configurations.
    pub fn try_serve(args: &[&str]) -> Result<Gateway, String> {
        Self::try_serve_under(&[], args)
    }

    /// Like [`Gateway::try_serve`], with the gateway started by the command `wrapper` (such
    /// as `prlimit --nofile=256:`), which must run it in its own process (exec it).
    pub fn try_serve_under(wrapper: &[&str], args: &[&str]) -> Result<Gateway, String> {
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(gateway_bin());
                command
            }
            None => Command::new(gateway_bin()),
        };
        let mut child = command
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn gateway");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let reader = std::thread::spawn(move || forward_stdout(stdout, tx));
        let stderr = Arc::new(Mutex::new(String::new()));
        let stderr_reader = {
            let pipe = child.stderr.take().expect("piped stderr");
            let stderr = stderr.clone();
            std::thread::spawn(move || collect(pipe, &stderr))
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let mut admin = None;
        loop {
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Announced::Admin(addr)) => admin = Some(addr),
                Ok(Announced::Public(addr)) => {
                    return Ok(Gateway {
                        child,
                        addr,
                        admin,
                        _stdout: reader,
                        stderr,
                    })
                }
                Err(_) => {}
            }
            if let Some(status) = child.try_wait().expect("wait") {
                let _ = stderr_reader.join();
                let err = stderr.lock().map(|e| e.clone()).unwrap_or_default();
                return Err(format!("exited with {status}: {err}"));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err("no `listening on` line in time".into());
            }
        }
    }

    /// Sends one request (raw bytes of the head; `Connection: close` is added) and reads the
    /// whole response.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(self.addr, method, target, headers, body)
    }

    pub fn get(&self, target: &str) -> Response {
        self.request("GET", target, &[], b"")
    }

    /// The admin listener's `/metrics`, series (with labels) to value.
    pub fn scrape(&self) -> BTreeMap<String, f64> {
        let admin = self.admin.expect("admin listener");
        let res = request(admin, "GET", "/metrics", &[], b"");
        assert_eq!(res.status, 200);
        res.text()
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').expect("a sample line");
                (series.to_owned(), value.parse().expect("a number"))
            })
            .collect()
    }

    /// The admin listener's `/metrics`, checked to be OpenMetrics and parsed.
    pub fn metrics(&self) -> Exposition {
        let res = request(
            self.admin.expect("admin listener"),
            "GET",
            "/metrics",
            &[],
            b"",
        );
        assert_eq!(res.status, 200);
        assert_eq!(
            res.header("content-type"),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        Exposition::parse(&res.text())
    }

    /// The gateway's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the gateway has written to stderr (its log) so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Sends a signal (`"HUP"`, `"TERM"`, ...) to the gateway.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([format!("-{name}").as_str(), &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "gateway did not exit after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An address the gateway announced on stdout.
enum Announced {
    Public(SocketAddr),
    Admin(SocketAddr),
}

fn forward_stdout(stdout: ChildStdout, tx: mpsc::Sender<Announced>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        let public = line
            .strip_prefix("listening on http://")
            .or_else(|| line.strip_prefix("listening on https://"));
        let announced = if let Some(addr) = public {
            addr.trim().parse().ok().map(Announced::Public)
        } else if let Some(addr) = line.strip_prefix("admin listening on http://") {
            addr.trim().parse().ok().map(Announced::Admin)
        } else {
            None
        };
        if let Some(announced) = announced {
            let _ = tx.send(announced);
        }
    }
}

/// Appends everything `pipe` yields to `into`, line by line, until it closes.
fn collect(pipe: impl Read, into: &Mutex<String>) {
    for line in BufReader::new(pipe).lines() {
        let Ok(line) = line else { return };
        if let Ok(mut text) = into.lock() {
            text.push_str(&line);
            text.push('\n');
        }
    }
}

/// Installs the npm `package` (`name@version`) into `dir` unless a marker says an earlier run
/// did, and returns `dir` (its `node_modules` is inside). Installs are one at a time in a test
/// process, so tests running in parallel threads never install into one directory at once.
pub fn npm_install(dir: &Path, package: &str) -> PathBuf {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(|e| e.into_inner());
    let ready = dir.join(".ready");
    if std::fs::read_to_string(&ready).ok().as_deref() != Some(package) {
        let status = Command::new("npm")
            .args(["install", "--silent", "--no-audit", "--no-fund", "--prefix"])
            .arg(dir)
            .arg(package)
            .status()
            .expect("npm runs");
        assert!(status.success(), "npm install {package}");
        std::fs::write(&ready, package).expect("marker");
    }
    dir.to_owned()
}

/// Runs `gateway ARGS` to completion and returns (exit code, stdout, stderr).
pub fn run_gateway(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(gateway_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run gateway");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
