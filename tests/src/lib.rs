//! Shared support for the end-to-end tests: start the real `gateway` binary on a free loopback
//! port, talk raw HTTP/1.1 to it (so that odd request targets arrive byte for byte), and stop
//! it again.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use openmetrics::Exposition;

pub mod oidc;
pub mod openmetrics;
pub mod pki;
pub mod redis;
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
        let mut child = Command::new(gateway_bin())
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

/// A parsed HTTP/1.1 response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a header, in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }
}

/// `body` in the chunked transfer coding, `size` bytes a chunk, for a request that sends
/// `Transfer-Encoding: chunked` (an upload of unknown length).
pub fn chunked(body: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / size.max(1) * 12 + 5);
    for chunk in body.chunks(size.max(1)) {
        out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// Sends one raw HTTP/1.1 request to `addr` and reads the response until the server closes.
/// `Content-Length` is added for a non-empty body unless `headers` frame it themselves.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    try_request(addr, method, target, headers, body).expect("request")
}

/// Like [`request`], but a connection that fails or breaks is an error rather than a panic,
/// for tests that count failures.
pub fn try_request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    let framed = headers.iter().any(|(n, _)| {
        n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
    });
    if !body.is_empty() && !framed {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    // A server may answer (413, 400) and close before reading the whole body, as it should;
    // the response is what the test looks at.
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    if !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("incomplete response: {:?}", String::from_utf8_lossy(&raw)),
        ));
    }
    Ok(parse_response(&raw, method == "HEAD"))
}

/// Parses a complete HTTP/1.1 response (Content-Length or chunked framing).
pub fn parse_response(raw: &[u8], head_only: bool) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {:?}", String::from_utf8_lossy(raw)));
    let head = std::str::from_utf8(&raw[..split]).expect("ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if head_only {
        Vec::new()
    } else if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = std::str::from_utf8(&data[..eol]).unwrap_or("0");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = data.get(start + size + 2..).unwrap_or(&[]);
    }
}

/// An HTTP/1.1 upstream on loopback that answers each request with its request line and header
/// lines exactly as they arrived (`text/plain`), once it has read the body (`Content-Length` or
/// chunked). One request per connection; it runs as long as the test process.
pub fn raw_echo_upstream() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind upstream");
    let addr = listener.local_addr().expect("upstream address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || echo_head(stream));
        }
    });
    addr
}

fn echo_head(mut stream: TcpStream) {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let lower = head.to_ascii_lowercase();
    let length = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = lower.contains("transfer-encoding: chunked");
    let body_done = |data: &[u8]| {
        let body = &data[head_end + 4..];
        match length {
            Some(n) => body.len() >= n,
            None if chunked => body.ends_with(b"0\r\n\r\n"),
            None => true,
        }
    };
    while !body_done(&data) {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{head}",
        head.len()
    );
    let _ = stream.write_all(answer.as_bytes());
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

/// Polls `check` every 100 ms until it holds or `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scratch directory for config and spec files, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("gateway-test-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// Writes `contents` to `name` inside the directory and returns its path as a string.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, contents).expect("write file");
        path.to_string_lossy().into_owned()
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
