//! One function process: spawned in its own socket directory, ready when the FDK's socket
//! symlink appears, called over one kept HTTP/1.1 connection, logged line by line, and stopped
//! by a monitor task that owns the child and always reaps it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::ThreadId;
use std::time::Duration;

use bytes::Bytes;
use gateway_core::request_limits::RequestBodyError;
use gateway_core::Body;
use http::response::Parts;
use http::Request;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The tracing target of every line a function prints.
pub const LOG_TARGET: &str = "function";

/// `FN_LOGFRAME_NAME`: before each call the FDK prints `call_id=<Fn-Call-Id>` on both streams.
pub(crate) const LOGFRAME_NAME: &str = "call_id";

/// The socket file name inside a process's directory (what Fn uses).
const SOCKET_NAME: &str = "lsnr.sock";

/// `sun_path` holds 108 bytes including the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// How often readiness is checked while a process starts (a stat; FDKs take 0.1–1 s).
const READY_POLL: Duration = Duration::from_millis(10);

/// Lines longer than this are cut (a function printing a huge line must not exhaust memory).
const MAX_LINE: usize = 16 * 1024;

/// How many recent output lines are kept for messages about a dying process.
const TAIL_LINES: usize = 40;

/// fdk-python's server closes a connection idle for 75 s; reconnect before that rather than
/// race it.
const RECONNECT_AFTER_IDLE: Duration = Duration::from_secs(60);

/// How long an exited process's output readers may take to drain.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(1);

/// How to start a process of one function.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    /// `app/function`, for logs.
    pub function: Arc<str>,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// The complete environment except `FN_LISTENER`, in order (later entries win).
    pub env: Vec<(OsString, OsString)>,
}

/// Why a process did not become ready.
#[derive(Debug)]
pub(crate) enum StartError {
    /// It could not be spawned at all.
    Spawn(String),
    /// It exited before its socket appeared.
    Exited { status: String, tail: String },
    /// Its socket did not appear in time.
    Timeout,
    /// Its socket is not what the contract says (not a socket, or a link leaving the directory),
    /// or could not be connected to.
    Invalid(String),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Spawn(e) => write!(f, "cannot start the process: {e}"),
            StartError::Exited { status, tail } if tail.is_empty() => {
                write!(f, "the process exited ({status}) before listening")
            }
            StartError::Exited { status, tail } => write!(
                f,
                "the process exited ({status}) before listening; last output: {tail}"
            ),
            StartError::Timeout => write!(f, "the process did not listen in time"),
            StartError::Invalid(reason) => write!(f, "{reason}"),
        }
    }
}

/// Why a call over the socket did not produce a complete response.
#[derive(Debug)]
pub(crate) enum CallError {
    /// Connection refused, reset or closed mid-exchange, or an HTTP syntax error.
    Transport(String),
    /// The client's body, streamed to the process, failed (too large, stalled, cut off): the
    /// process got an incomplete request.
    RequestBody(RequestBodyError),
    /// The response body exceeded the limit.
    TooLarge(usize),
}

/// How the monitor should stop a process.
#[derive(Debug, Clone, Copy)]
enum Stop {
    /// SIGTERM to the process group, SIGKILL after the grace period.
    Terminate(Duration),
    /// SIGKILL to the process group at once.
    Kill,
}

/// How a process ended, once it has.
#[derive(Debug, Clone)]
pub(crate) struct ExitInfo {
    pub status: String,
}

/// A cheap handle to a process, kept by the pool so that shutdown reaches every process,
/// including those busy in a call or still starting.
#[derive(Debug, Clone)]
pub(crate) struct ProcessHandle {
    pid: u32,
    stop: mpsc::UnboundedSender<Stop>,
    exit: watch::Receiver<Option<ExitInfo>>,
}

impl ProcessHandle {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.exit.borrow().is_some()
    }

    pub(crate) fn terminate(&self, grace: Duration) {
        let _ = self.stop.send(Stop::Terminate(grace));
    }

    pub(crate) fn kill(&self) {
        let _ = self.stop.send(Stop::Kill);
    }

    /// Waits until the process has exited, been reaped and its directory removed.
    pub(crate) async fn wait_exit(&self) -> Option<ExitInfo> {
        let mut exit = self.exit.clone();
        loop {
            if let Some(info) = exit.borrow_and_update().clone() {
                return Some(info);
            }
            if exit.changed().await.is_err() {
                return exit.borrow().clone();
            }
        }
    }
}

/// The kept connection to a process's socket.
struct Conn {
    sender: SendRequest<Body>,
    driver: JoinHandle<()>,
    last_used: Instant,
    /// The single-threaded runtime (a serving worker's) whose thread drives the connection;
    /// `None` on a multi-threaded one.
    home: Option<ThreadId>,
}

/// The thread of the single-threaded runtime this runs on (a serving worker's), if it is one.
/// A call from such a runtime reconnects when the kept connection is driven by another: each
/// exchange would otherwise wake that runtime's thread twice, a switch each way, where a new
/// connection to the local socket costs one `connect` once.
fn home() -> Option<ThreadId> {
    Handle::try_current()
        .ok()
        .filter(|h| h.runtime_flavor() == RuntimeFlavor::CurrentThread)
        .map(|_| std::thread::current().id())
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// A running function process. Dropping it kills the process (its state is unknown to
/// whoever lets it go without handing it back).
pub(crate) struct Process {
    handle: ProcessHandle,
    function: Arc<str>,
    socket: PathBuf,
    conn: Option<Conn>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("function", &self.function)
            .field("pid", &self.handle.pid)
            .field("socket", &self.socket)
            .finish()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.conn = None;
        self.handle.kill();
    }
}

impl Process {
    /// Spawns a process in a fresh socket directory. Synchronous so that the pool can do it
    /// under its lock (a shutdown then never misses a process). Must run inside a tokio runtime.
    pub(crate) fn spawn(spec: &Spec) -> Result<Process, StartError> {
        static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);
        let base = socket_base().map_err(StartError::Spawn)?;
        let instance = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let dir = base.join(instance.to_string());
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| StartError::Spawn(format!("cannot create {}: {e}", dir.display())))?;
        let socket = dir.join(SOCKET_NAME);
        if socket.as_os_str().len() > MAX_SOCKET_PATH {
            let _ = std::fs::remove_dir(&dir);
            return Err(StartError::Spawn(format!(
                "socket path {} is longer than {MAX_SOCKET_PATH} bytes",
                socket.display()
            )));
        }
        let mut listener = OsString::from("unix:");
        listener.push(&socket);

        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .current_dir(&spec.cwd)
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .env("FN_LISTENER", listener)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            // Its own process group: stopping the function stops what it started, and a
            // Ctrl-C at the terminal reaches the gateway only, which then stops functions in
            // order.
            .process_group(0);
        set_parent_death_signal(&mut command);

        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(StartError::Spawn(format!(
                    "{}: {e}",
                    spec.program.display()
                )));
            }
        };
        let Some(pid) = child.id() else {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(StartError::Spawn("the process exited at once".into()));
        };

        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES)));
        let mut readers = Vec::with_capacity(2);
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(read_output(
                stdout,
                "stdout",
                spec.function.clone(),
                pid,
                tail.clone(),
            )));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(read_output(
                stderr,
                "stderr",
                spec.function.clone(),
                pid,
                tail.clone(),
            )));
        }
        let (stop_tx, stop_rx) = mpsc::unbounded_channel();
        let (exit_tx, exit_rx) = watch::channel(None);
        tokio::spawn(monitor(Monitor {
            child,
            pid,
            function: spec.function.clone(),
            stop: stop_rx,
            readers,
            dir,
            exit: exit_tx,
            tail: tail.clone(),
        }));
        tracing::debug!(target: LOG_TARGET, function = %spec.function, pid, "process spawned");
        Ok(Process {
            handle: ProcessHandle {
                pid,
                stop: stop_tx,
                exit: exit_rx,
            },
            function: spec.function.clone(),
            socket,
            conn: None,
            tail,
        })
    }

    pub(crate) fn handle(&self) -> &ProcessHandle {
        &self.handle
    }

    pub(crate) fn pid(&self) -> u32 {
        self.handle.pid
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.handle.has_exited()
    }

    /// Stops the process gracefully (SIGTERM, then SIGKILL after `grace`).
    pub(crate) fn terminate(self, grace: Duration) {
        self.handle.terminate(grace);
        // Drop sends Kill too, but the monitor acts on the first request only.
    }

    /// The last lines the process printed, oldest first, joined with ` | `.
    pub(crate) fn tail(&self, lines: usize) -> String {
        tail_text(&self.tail, lines, " | ")
    }

    /// Waits until the socket is ready (the FDK's symlink, validated as Fn does) and connects.
    pub(crate) async fn wait_ready(&mut self, timeout: Duration) -> Result<(), StartError> {
        let deadline = Instant::now() + timeout;
        let mut exit = self.handle.exit.clone();
        loop {
            if let Some(info) = exit.borrow_and_update().clone() {
                return Err(StartError::Exited {
                    status: info.status,
                    tail: self.tail(3),
                });
            }
            match socket_state(&self.socket) {
                Ok(true) => break,
                Ok(false) => {}
                Err(reason) => return Err(StartError::Invalid(reason)),
            }
            tokio::select! {
                _ = tokio::time::sleep(READY_POLL) => {}
                changed = exit.changed() => {
                    if changed.is_err() {
                        return Err(StartError::Exited { status: "unknown".into(), tail: self.tail(3) });
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return Err(StartError::Timeout),
            }
        }
        self.connect().await.map_err(StartError::Invalid)
    }

    async fn connect(&mut self) -> Result<(), String> {
        self.conn = None;
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| format!("cannot connect to {}: {e}", self.socket.display()))?;
        let (sender, connection) = hyper::client::conn::http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP handshake on {} failed: {e}", self.socket.display()))?;
        let function = self.function.clone();
        let pid = self.handle.pid;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(target: LOG_TARGET, %function, pid, "connection closed: {e}");
            }
        });
        self.conn = Some(Conn {
            sender,
            driver,
            last_used: Instant::now(),
            home: home(),
        });
        Ok(())
    }

    /// Sends one request, its body streamed as it comes, and reads the whole response (body at
    /// most `max_body` bytes). A connection the FDK closed while idle is replaced once, before
    /// anything was sent.
    pub(crate) async fn call(
        &mut self,
        mut request: Request<Body>,
        max_body: usize,
    ) -> Result<(Parts, Bytes), CallError> {
        let stale = match &self.conn {
            None => true,
            Some(conn) => {
                conn.sender.is_closed()
                    || conn.last_used.elapsed() >= RECONNECT_AFTER_IDLE
                    || conn.home != home()
            }
        };
        if stale {
            self.connect().await.map_err(CallError::Transport)?;
        }
        let mut retried = false;
        let response = loop {
            let conn = self
                .conn
                .as_mut()
                .ok_or_else(|| CallError::Transport("not connected".into()))?;
            let sent = match conn.sender.ready().await {
                Ok(()) => conn.sender.try_send_request(request).await,
                Err(e) if !retried => {
                    tracing::debug!(target: LOG_TARGET, function = %self.function, "reconnecting: {e}");
                    retried = true;
                    self.connect().await.map_err(CallError::Transport)?;
                    continue;
                }
                Err(e) => return Err(CallError::Transport(e.to_string())),
            };
            match sent {
                Ok(response) => break response,
                Err(mut e) => match e.take_message() {
                    // Not written at all: the connection was already gone; a new one is safe.
                    Some(unsent) if !retried => {
                        retried = true;
                        request = unsent;
                        self.connect().await.map_err(CallError::Transport)?;
                    }
                    _ => return Err(send_error(&e.into_error())),
                },
            }
        };
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<LengthLimitError>() {
                    CallError::TooLarge(max_body)
                } else {
                    CallError::Transport(e.to_string())
                }
            })?
            .to_bytes();
        if let Some(conn) = self.conn.as_mut() {
            conn.last_used = Instant::now();
        }
        Ok((parts, body))
    }
}

/// A failed send: the client's body failing mid-stream is the client's fault, anything else
/// the process's or the connection's.
fn send_error(error: &hyper::Error) -> CallError {
    match RequestBodyError::find(error) {
        Some(body) => CallError::RequestBody(body),
        None => CallError::Transport(error.to_string()),
    }
}

/// Whether the socket named by `FN_LISTENER` is ready: absent → not yet; a symlink must point
/// to a name in the same directory (Fn's `checkSocketDestination`) and resolve to a socket.
fn socket_state(socket: &Path) -> Result<bool, String> {
    let meta = match std::fs::symlink_metadata(socket) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot inspect {}: {e}", socket.display())),
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(socket)
            .map_err(|e| format!("cannot read the link {}: {e}", socket.display()))?;
        if target.is_absolute() || target.parent() != Some(Path::new("")) {
            return Err(format!(
                "{} links to {}, outside its directory",
                socket.display(),
                target.display()
            ));
        }
    }
    let resolved = std::fs::metadata(socket)
        .map_err(|e| format!("{} does not resolve: {e}", socket.display()))?;
    if !resolved.file_type().is_socket() {
        return Err(format!("{} is not a socket", socket.display()));
    }
    Ok(true)
}

/// The directory holding every process's socket directory: `/tmp/gwfn-<pid>`, short enough
/// for `sun_path` whatever `TMPDIR` says. Created on demand (shutdown removes it when empty);
/// directories left by gateways that no longer run are removed the first time.
fn socket_base() -> Result<PathBuf, String> {
    static CLEANED: OnceLock<()> = OnceLock::new();
    let parent = if Path::new("/tmp").is_dir() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let base = parent.join(format!("gwfn-{}", std::process::id()));
    CLEANED.get_or_init(|| {
        remove_stale_bases(&parent);
        // Anything under our own pid is from an earlier process that had it.
        let _ = std::fs::remove_dir_all(&base);
    });
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&base)
        .map_err(|e| format!("cannot create {}: {e}", base.display()))?;
    Ok(base)
}

/// Removes `gwfn-<pid>` directories whose gateway is gone (killed before it could clean up).
fn remove_stale_bases(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    let me = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("gwfn-"))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // The pid test alone could be fooled by a gateway in another pid namespace sharing
        // /tmp; a socket that still accepts connections proves its owner is alive.
        if pid != me && !pid_alive(pid) && !has_live_socket(&entry.path()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether any process directory under `base` has a socket that accepts connections.
fn has_live_socket(base: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(base) else {
        return false;
    };
    entries.flatten().any(|entry| {
        std::os::unix::net::UnixStream::connect(entry.path().join(SOCKET_NAME)).is_ok()
    })
}

/// Removes the socket base directory if no process uses it any more.
pub(crate) fn remove_socket_base_if_empty() {
    let parent = if Path::new("/tmp").is_dir() {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let _ = std::fs::remove_dir(parent.join(format!("gwfn-{}", std::process::id())));
}

/// Whether a process with this pid exists (signal 0; EPERM means it exists but is not ours).
pub(crate) fn pid_alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// Sends a signal to the process group led by `pid` (every function process leads one).
fn signal_group(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// Makes the kernel SIGKILL the function process when the gateway dies, even by SIGKILL (when
/// `kill_on_drop` and shutdown never run).
///
/// The "parent" for `PR_SET_PDEATHSIG` is the *thread* that forked: processes are spawned from
/// tokio tasks, i.e. on runtime worker threads, which live as long as the runtime (never from
/// `spawn_blocking` threads, which exit when idle).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_parent_death_signal(command: &mut Command) {
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec, where only async-signal-safe
    // operations are allowed. It makes two raw system calls through rustix (prctl, getppid)
    // and builds an io::Error from an errno, which does not allocate; it touches no lock and no
    // memory shared with the parent.
    unsafe {
        command.pre_exec(move || {
            use rustix::process::{getppid, set_parent_process_death_signal, Signal};
            set_parent_process_death_signal(Some(Signal::KILL))?;
            // The gateway died between fork and prctl: the signal would never come.
            if getppid().map(|pid| pid.as_raw_nonzero().get().unsigned_abs()) != Some(parent) {
                return Err(rustix::io::Errno::SRCH.into());
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_command: &mut Command) {}

struct Monitor {
    child: Child,
    pid: u32,
    function: Arc<str>,
    stop: mpsc::UnboundedReceiver<Stop>,
    readers: Vec<JoinHandle<()>>,
    dir: PathBuf,
    exit: watch::Sender<Option<ExitInfo>>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

/// Owns the child: waits for it to exit or to be told to stop it, then reaps it, kills what is
/// left of its process group, drains its output, removes its socket directory and publishes
/// the exit. Because only this task reaps, signals by pid never reach a recycled pid.
async fn monitor(mut m: Monitor) {
    let mut requested = false;
    let status = tokio::select! {
        status = m.child.wait() => status,
        stop = m.stop.recv() => {
            requested = true;
            match stop {
                Some(Stop::Terminate(grace)) => {
                    signal_group(m.pid, rustix::process::Signal::TERM);
                    match tokio::time::timeout(grace, m.child.wait()).await {
                        Ok(status) => status,
                        Err(_) => {
                            signal_group(m.pid, rustix::process::Signal::KILL);
                            m.child.wait().await
                        }
                    }
                }
                // Kill, or every handle dropped: nobody can use the process any more.
                Some(Stop::Kill) | None => {
                    signal_group(m.pid, rustix::process::Signal::KILL);
                    m.child.wait().await
                }
            }
        }
    };
    // Whatever the function started in its group goes with it, as when Fn removes a container.
    signal_group(m.pid, rustix::process::Signal::KILL);
    for reader in m.readers {
        let abort = reader.abort_handle();
        if tokio::time::timeout(DRAIN_TIMEOUT, reader).await.is_err() {
            abort.abort();
        }
    }
    let status = match status {
        Ok(status) => status.to_string(),
        Err(e) => format!("unknown ({e})"),
    };
    if requested {
        tracing::debug!(target: LOG_TARGET, function = %m.function, pid = m.pid, %status, "process stopped");
    } else {
        tracing::warn!(
            target: LOG_TARGET,
            function = %m.function,
            pid = m.pid,
            %status,
            "function process exited on its own; last output:\n{}",
            tail_text(&m.tail, TAIL_LINES, "\n")
        );
    }
    if let Err(e) = std::fs::remove_dir_all(&m.dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(target: LOG_TARGET, dir = %m.dir.display(), "cannot remove socket directory: {e}");
        }
    }
    m.exit.send_replace(Some(ExitInfo { status }));
}

fn tail_text(tail: &Mutex<VecDeque<String>>, lines: usize, separator: &str) -> String {
    let tail = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let skip = tail.len().saturating_sub(lines);
    tail.iter()
        .skip(skip)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(separator)
}

/// Turns one output stream into log lines tagged with the function, the pid and the call the
/// FDK said it is serving (its `call_id=…` frame line, which is not logged itself).
async fn read_output<R: AsyncRead + Unpin>(
    stream: R,
    name: &'static str,
    function: Arc<str>,
    pid: u32,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut reader = BufReader::new(stream);
    let mut call_id: Option<String> = None;
    let frame = format!("{LOGFRAME_NAME}=");
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        match read_line_capped(&mut reader, &mut line, MAX_LINE).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue; // the frame is printed as "\ncall_id=…\n": skip its blank line
        }
        if let Some(id) = text.strip_prefix(&frame) {
            call_id = Some(id.trim().to_string());
            continue;
        }
        {
            let mut tail = tail.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text.to_string());
        }
        tracing::info!(
            target: LOG_TARGET,
            %function,
            call_id = call_id.as_deref().unwrap_or("-"),
            pid,
            stream = name,
            "{text}"
        );
    }
}

/// Reads up to and including the next `\n`, keeping at most `cap` bytes of it (the rest of a
/// longer line is consumed and dropped). Returns the bytes consumed; 0 at end of stream.
async fn read_line_capped<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    out: &mut Vec<u8>,
    cap: usize,
) -> std::io::Result<usize> {
    let mut consumed = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(consumed);
        }
        let (len, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        let room = cap.saturating_sub(out.len());
        out.extend_from_slice(&buf[..len.min(room)]);
        reader.consume(len);
        consumed += len;
        if done {
            return Ok(consumed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn socket_validation_follows_fn() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join(SOCKET_NAME);
        assert_eq!(socket_state(&socket), Ok(false));

        let _listener = UnixListener::bind(dir.path().join("phonylsnr.sock"))?;
        std::os::unix::fs::symlink("phonylsnr.sock", &socket)?;
        assert_eq!(socket_state(&socket), Ok(true));

        std::fs::remove_file(&socket)?;
        std::os::unix::fs::symlink(dir.path().join("phonylsnr.sock"), &socket)?;
        assert!(socket_state(&socket).is_err(), "absolute link");

        std::fs::remove_file(&socket)?;
        std::fs::write(dir.path().join("plain"), "x")?;
        std::os::unix::fs::symlink("plain", &socket)?;
        assert!(socket_state(&socket).is_err(), "not a socket");

        std::fs::remove_file(&socket)?;
        std::os::unix::fs::symlink("missing.sock", &socket)?;
        assert!(socket_state(&socket).is_err(), "dangling");

        std::fs::remove_file(&socket)?;
        let _direct = UnixListener::bind(&socket)?;
        assert_eq!(socket_state(&socket), Ok(true), "a plain socket is fine");
        Ok(())
    }

    #[tokio::test]
    async fn long_lines_are_capped_and_consumed() -> std::io::Result<()> {
        let input = format!("{}\nnext\nlast", "x".repeat(100));
        let mut reader = BufReader::with_capacity(8, input.as_bytes());
        let mut line = Vec::new();
        assert_eq!(read_line_capped(&mut reader, &mut line, 10).await?, 101);
        assert_eq!(line, b"xxxxxxxxxx");
        line.clear();
        read_line_capped(&mut reader, &mut line, 10).await?;
        assert_eq!(line, b"next\n");
        line.clear();
        read_line_capped(&mut reader, &mut line, 10).await?;
        assert_eq!(line, b"last");
        line.clear();
        assert_eq!(read_line_capped(&mut reader, &mut line, 10).await?, 0);
        Ok(())
    }

    #[test]
    fn own_pid_is_alive_and_a_huge_one_is_not() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(u32::MAX));
    }
}
