//! Preparation: what `fn build` does for a function directory, without Docker, cached until its
//! inputs change.
//!
//! - `runtime: python*`: a venv (`python3 -m venv`) with `fdk` and `requirements.txt` installed
//!   by pip. In the command, `/python/…` (the Fn image's interpreter prefix) maps to the venv and
//!   `python`/`python3` to the venv's interpreter. Byte code is cached in the entry
//!   (`PYTHONPYCACHEPREFIX`), so the source directory stays clean.
//! - `runtime: node*`: `npm install` of the function's `package.json` (plus `@fnproject/fdk` if
//!   it does not list it) into the cache, found by the function through `NODE_PATH`; the source
//!   directory is never written to. A directory that already has `node_modules/@fnproject/fdk`
//!   runs in place (the Fn CLI skips `npm install` then too).
//! - anything else: the command as written.
//!
//! In every case `/function/…` (the Fn image's working directory) maps to the source directory,
//! which is also the process's working directory.
//!
//! The cache entry is `<cache_dir>/<name>-<hash>/`, where the hash covers only what changes the
//! prepared files: the runtime, the interpreter and package-manager versions, the source
//! directory, and the dependency files (`requirements.txt`; `package.json`,
//! `package-lock.json`, `npm-shrinkwrap.json`, `.npmrc`). Editing `func.py` or `memory:` does not
//! rebuild anything. An entry is complete once its marker file is written; concurrent
//! preparations of the same entry (two gateways, or parallel tests) serialise on a `flock`.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use crate::func_yaml::{FuncFile, FuncFileError, RuntimeKind};

/// Receives one line of progress for the terminal.
pub type Progress<'a> = &'a (dyn Fn(&str) + Send + Sync);

/// A [`Progress`] that writes each line to stderr.
pub fn print_progress(line: &str) {
    eprintln!("{line}");
}

/// A [`Progress`] that drops every line.
pub fn no_progress(_line: &str) {}

/// How many lines of a failed tool's output an error quotes.
const OUTPUT_TAIL_LINES: usize = 50;

/// Bump to invalidate every cache entry when the layout of prepared files changes.
const CACHE_FORMAT: &str = "gateway-fn-backend prepare v1";

/// The file whose presence marks a complete cache entry.
const MARKER: &str = ".gateway-prepared.json";

/// Why a function could not be prepared. Every message names the function.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// The function file is missing or invalid.
    #[error("function {function}: {source}")]
    FuncFile {
        /// The function's name.
        function: String,
        /// What is wrong with the function file.
        #[source]
        source: FuncFileError,
    },
    /// A file or directory of the function or of its cache entry could not be used.
    #[error("function {function}: cannot {action} {}: {source}", path.display())]
    Io {
        /// The function's name.
        function: String,
        /// What was being done, as a verb (`create`, `copy`, `write`, `lock`, …).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// A tool preparation runs (`python3`, `npm`, …) could not be started, usually because it
    /// is not installed or not on `PATH`.
    #[error("function {function}: cannot run `{tool}` ({source}); is it installed and on PATH?")]
    ToolMissing {
        /// The function's name.
        function: String,
        /// The program that could not be started.
        tool: String,
        /// Why it could not be started.
        #[source]
        source: io::Error,
    },
    /// A tool preparation runs exited unsuccessfully.
    #[error("function {function}: `{command}` failed ({status}); its output ends with:\n{output}")]
    ToolFailed {
        /// The function's name.
        function: String,
        /// The command line that failed.
        command: String,
        /// How it exited (`exit status: 1`).
        status: String,
        /// The last lines the tool printed (stdout, then stderr).
        output: String,
    },
    /// The function cannot be run as described (no command, a program that is not an
    /// executable file, a debug port its runtime cannot serve), or its preparation finished
    /// without the file it should have made.
    #[error("function {function}: {reason}")]
    NotRunnable {
        /// The function's name.
        function: String,
        /// Why it cannot be run.
        reason: String,
    },
    /// A configuration key is empty or contains `=` or NUL, so it cannot name an environment
    /// variable.
    #[error("function {function}: config key {key:?} cannot be an environment variable name")]
    InvalidConfig {
        /// The function's name.
        function: String,
        /// The offending key.
        key: String,
    },
}

/// A prepared function: how to start one of its processes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    /// Absolute path of the program.
    pub program: PathBuf,
    /// The arguments after the program, with Fn's image paths mapped to local ones.
    pub args: Vec<String>,
    /// The working directory: the function's source directory (`/function` in Fn's images).
    pub cwd: PathBuf,
    /// Variables the runtime needs (`PATH` and `VIRTUAL_ENV` for a venv, `NODE_PATH`), set
    /// before the function's configuration.
    pub env: Vec<(String, String)>,
    /// The cache entry used, if any.
    pub artifacts: Option<PathBuf>,
}

/// Prepares the function in `source_dir` described by `func`, reusing or filling its cache
/// entry under `cache_dir`. `name` is the function's name, used in messages and in the cache
/// entry's name. `progress` gets a line when work starts and when it ends (only when something
/// is actually built). With `debug_port`, the process runs under a debugger listening on
/// `127.0.0.1:debug_port` (Python: debugpy, installed into the venv; Node: `--inspect`).
pub async fn prepare(
    name: &str,
    func: &FuncFile,
    source_dir: &Path,
    cache_dir: &Path,
    progress: Progress<'_>,
    debug_port: Option<u16>,
) -> Result<Prepared, PrepareError> {
    let ctx = Ctx {
        name,
        source_dir,
        cache_dir,
        progress,
    };
    match func.runtime_kind() {
        RuntimeKind::Python => prepare_python(&ctx, func, debug_port).await,
        RuntimeKind::Node => {
            let mut prepared = prepare_node(&ctx, func).await?;
            if let Some(port) = debug_port {
                let runs_node = prepared
                    .program
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("node"));
                if !runs_node {
                    return Err(ctx.not_runnable(format!(
                        "debug_port needs an entrypoint that runs node, not {}",
                        prepared.program.display()
                    )));
                }
                prepared
                    .args
                    .insert(0, format!("--inspect=127.0.0.1:{port}"));
            }
            Ok(prepared)
        }
        RuntimeKind::Other if debug_port.is_some() => Err(ctx.not_runnable(format!(
            "debug_port works with python and node functions; runtime {:?} has no debugger here",
            func.runtime.as_deref().unwrap_or("")
        ))),
        RuntimeKind::Other => {
            let words = func.command_words();
            if words.is_empty() {
                return Err(ctx.not_runnable(format!(
                    "{} has neither `entrypoint` nor `cmd`, and runtime {:?} has no default",
                    func.path.display(),
                    func.runtime.as_deref().unwrap_or("")
                )));
            }
            let (program, args) = ctx.map_command(&words, None)?;
            Ok(Prepared {
                program,
                args,
                cwd: source_dir.to_path_buf(),
                env: Vec::new(),
                artifacts: None,
            })
        }
    }
}

struct Ctx<'a> {
    name: &'a str,
    source_dir: &'a Path,
    cache_dir: &'a Path,
    progress: Progress<'a>,
}

async fn prepare_python(
    ctx: &Ctx<'_>,
    func: &FuncFile,
    debug_port: Option<u16>,
) -> Result<Prepared, PrepareError> {
    let python = pick_python(func.runtime.as_deref().unwrap_or("python"));
    let identity = ctx
        .tool_output(
            &python,
            &[
                "-c",
                "import sys; print(sys.version); print(sys.executable)",
            ],
        )
        .await?;
    let requirements = ctx.source_dir.join("requirements.txt");
    let mut key = CacheKey::new("python");
    key.text("runtime", func.runtime.as_deref().unwrap_or(""));
    key.text("interpreter", &identity);
    key.path("source", ctx.source_dir);
    key.file(&requirements);
    if debug_port.is_some() {
        // A venv of its own, so that the one used without a debugger stays as it was.
        key.text("debugger", "debugpy");
    }
    let entry = ctx
        .cache_dir
        .join(format!("{}-{}", safe_name(ctx.name), key.finish()));
    let venv = entry.join("venv");
    let sentinel = venv.join("bin").join("fdk");

    ctx.ensure_entry(
        &entry,
        &sentinel,
        "python",
        "creating a Python venv with fdk and requirements.txt",
        || async {
            let venv_os = venv.as_os_str();
            ctx.run_tool(
                OsStr::new(&python),
                &[OsStr::new("-m"), OsStr::new("venv"), venv_os],
                &entry,
            )
            .await?;
            let mut args: Vec<OsString> = [
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--progress-bar",
                "off",
                "fdk",
            ]
            .iter()
            .map(OsString::from)
            .collect();
            if debug_port.is_some() {
                args.push("debugpy".into());
            }
            if requirements.is_file() {
                args.push("-r".into());
                args.push(requirements.clone().into_os_string());
            }
            let arg_refs: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
            // The source directory as working directory: a requirement such as `./lib`
            // resolves there, as in `fn build`.
            ctx.run_tool(
                venv.join("bin").join("python").as_os_str(),
                &arg_refs,
                ctx.source_dir,
            )
            .await
        },
    )
    .await?;

    let mut words = func.command_words();
    if words.is_empty() {
        words = ["/python/bin/fdk", "/function/func.py", "handler"]
            .map(String::from)
            .to_vec();
    }
    let (mut program, mut args) = ctx.map_command(&words, Some(&venv))?;
    if let Some(port) = debug_port {
        // `python -m debugpy --listen ADDR SCRIPT ARGS…`: the FDK's script under the debugger,
        // which an IDE attaches to while calls are served.
        let script = std::mem::replace(&mut program, venv.join("bin").join("python"));
        let debugger = ["-m", "debugpy", "--listen"].map(String::from);
        args = debugger
            .into_iter()
            .chain([
                format!("127.0.0.1:{port}"),
                script.to_string_lossy().into_owned(),
            ])
            .chain(args)
            .collect();
    }
    let mut path = OsString::from(venv.join("bin"));
    if let Some(existing) = std::env::var_os("PATH") {
        path.push(":");
        path.push(existing);
    }
    Ok(Prepared {
        program,
        args,
        cwd: ctx.source_dir.to_path_buf(),
        env: vec![
            ("VIRTUAL_ENV".into(), venv.to_string_lossy().into_owned()),
            ("PATH".into(), path.to_string_lossy().into_owned()),
            // Byte code goes to the cache, not into `__pycache__` in the source directory.
            (
                "PYTHONPYCACHEPREFIX".into(),
                entry.join("pycache").to_string_lossy().into_owned(),
            ),
        ],
        artifacts: Some(entry),
    })
}

/// `python3.11` when the runtime names a version that is installed, else `python3`.
fn pick_python(runtime: &str) -> String {
    let versioned = runtime.trim();
    if versioned.len() > "python".len()
        && versioned.starts_with("python3.")
        && find_in_path(versioned).is_some()
    {
        versioned.to_string()
    } else {
        "python3".to_string()
    }
}

/// Files whose content decides what `npm install` produces.
const NODE_INPUTS: [&str; 4] = [
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    ".npmrc",
];

async fn prepare_node(ctx: &Ctx<'_>, func: &FuncFile) -> Result<Prepared, PrepareError> {
    let mut words = func.command_words();
    if words.is_empty() {
        words = vec!["node".into(), "func.js".into()];
    }
    let (program, args) = ctx.map_command(&words, None)?;
    let prepared = |env, artifacts| Prepared {
        program: program.clone(),
        args: args.clone(),
        cwd: ctx.source_dir.to_path_buf(),
        env,
        artifacts,
    };
    if ctx
        .source_dir
        .join("node_modules")
        .join("@fnproject")
        .join("fdk")
        .is_dir()
    {
        return Ok(prepared(Vec::new(), None));
    }

    let node = ctx.tool_output("node", &["--version"]).await?;
    let npm = ctx.tool_output("npm", &["--version"]).await?;
    let mut key = CacheKey::new("node");
    key.text("runtime", func.runtime.as_deref().unwrap_or(""));
    key.text("node", &node);
    key.text("npm", &npm);
    key.path("source", ctx.source_dir);
    for file in NODE_INPUTS {
        key.file(&ctx.source_dir.join(file));
    }
    let entry = ctx
        .cache_dir
        .join(format!("{}-{}", safe_name(ctx.name), key.finish()));
    let project = entry.join("node");
    let modules = project.join("node_modules");
    let sentinel = modules.join("@fnproject").join("fdk");

    ctx.ensure_entry(
        &entry,
        &sentinel,
        "node",
        "running npm install with @fnproject/fdk",
        || async {
            ctx.create_dir(&project)?;
            for file in NODE_INPUTS {
                let from = ctx.source_dir.join(file);
                if from.is_file() {
                    let to = project.join(file);
                    std::fs::copy(&from, &to).map_err(|source| ctx.io("copy", &from, source))?;
                }
            }
            let package = project.join("package.json");
            if !package.is_file() {
                let minimal = serde_json::json!({ "name": safe_name(ctx.name), "private": true });
                std::fs::write(&package, minimal.to_string())
                    .map_err(|source| ctx.io("write", &package, source))?;
            }
            let mut args = vec!["install", "--no-audit", "--no-fund", "--no-update-notifier"];
            if !declares_fdk(&package) {
                args.push("@fnproject/fdk");
            }
            let args: Vec<&OsStr> = args.into_iter().map(OsStr::new).collect();
            ctx.run_tool(OsStr::new("npm"), &args, &project).await
        },
    )
    .await?;

    let mut node_path = OsString::from(&modules);
    if let Some(existing) = std::env::var_os("NODE_PATH").filter(|p| !p.is_empty()) {
        node_path.push(":");
        node_path.push(existing);
    }
    Ok(prepared(
        vec![("NODE_PATH".into(), node_path.to_string_lossy().into_owned())],
        Some(entry),
    ))
}

/// Whether `package.json` lists `@fnproject/fdk` as a dependency.
fn declares_fdk(package: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(package) else {
        return false;
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    ["dependencies", "devDependencies", "optionalDependencies"]
        .iter()
        .any(|section| {
            json.get(section)
                .and_then(|d| d.get("@fnproject/fdk"))
                .is_some()
        })
}

impl Ctx<'_> {
    fn io(&self, action: &'static str, path: &Path, source: io::Error) -> PrepareError {
        PrepareError::Io {
            function: self.name.to_string(),
            action,
            path: path.to_path_buf(),
            source,
        }
    }

    fn not_runnable(&self, reason: String) -> PrepareError {
        PrepareError::NotRunnable {
            function: self.name.to_string(),
            reason,
        }
    }

    fn create_dir(&self, dir: &Path) -> Result<(), PrepareError> {
        std::fs::create_dir_all(dir).map_err(|source| self.io("create", dir, source))
    }

    /// Makes sure `entry` holds a complete preparation: under the entry's lock, reuses it when
    /// its marker and `sentinel` exist, else empties it and runs `build`.
    async fn ensure_entry<F, Fut>(
        &self,
        entry: &Path,
        sentinel: &Path,
        kind: &str,
        what: &str,
        build: F,
    ) -> Result<(), PrepareError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(), PrepareError>>,
    {
        self.create_dir(self.cache_dir)?;
        let _lock = self.lock(entry).await?;
        let marker = entry.join(MARKER);
        if marker.is_file() && sentinel.exists() {
            return Ok(());
        }
        if entry.exists() {
            std::fs::remove_dir_all(entry).map_err(|source| self.io("clear", entry, source))?;
        }
        self.create_dir(entry)?;

        let started = Instant::now();
        (self.progress)(&format!(
            "preparing function {}: {what} (once; cached in {})…",
            self.name,
            entry.display()
        ));
        if let Err(err) = build().await {
            (self.progress)(&format!(
                "function {} failed to prepare after {:.1}s",
                self.name,
                started.elapsed().as_secs_f64()
            ));
            // Leave no half-built entry behind: it would only be cleared again.
            let _ = std::fs::remove_dir_all(entry);
            return Err(err);
        }
        if !sentinel.exists() {
            let _ = std::fs::remove_dir_all(entry);
            return Err(self.not_runnable(format!(
                "preparation finished but {} is missing",
                sentinel.display()
            )));
        }
        let record = serde_json::json!({
            "format": CACHE_FORMAT,
            "kind": kind,
            "function": self.name,
            "source_dir": self.source_dir.to_string_lossy(),
            "prepared_at_unix": SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        });
        std::fs::write(&marker, record.to_string())
            .map_err(|source| self.io("write", &marker, source))?;
        (self.progress)(&format!(
            "prepared function {} in {:.1}s",
            self.name,
            started.elapsed().as_secs_f64()
        ));
        Ok(())
    }

    /// An exclusive `flock` on `<entry>.lock`, taken on a blocking thread (it may wait for
    /// another preparation of the same entry). Released when the returned file is dropped.
    async fn lock(&self, entry: &Path) -> Result<std::fs::File, PrepareError> {
        let mut lock_path = entry.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| self.io("open", &lock_path, source))?;
        let locked = tokio::task::spawn_blocking(move || loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive) {
                Ok(()) => return Ok(file),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io::Error::from(e)),
            }
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()));
        match locked {
            Ok(Ok(file)) => Ok(file),
            Ok(Err(source)) | Err(source) => Err(self.io("lock", &lock_path, source)),
        }
    }

    /// Runs a tool to completion, capturing its output; a failure quotes the output's tail.
    async fn run_tool(
        &self,
        program: &OsStr,
        args: &[&OsStr],
        cwd: &Path,
    ) -> Result<(), PrepareError> {
        let command_line = std::iter::once(program)
            .chain(args.iter().copied())
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        tracing::debug!(function = self.name, command = %command_line, "preparing");
        let output = tokio::process::Command::new(program)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| self.spawn_error(program, source))?;
        if output.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        Err(PrepareError::ToolFailed {
            function: self.name.to_string(),
            command: command_line,
            status: output.status.to_string(),
            output: tail_lines(&text, OUTPUT_TAIL_LINES),
        })
    }

    /// Runs a tool for its version or identity: its trimmed stdout.
    async fn tool_output(&self, program: &str, args: &[&str]) -> Result<String, PrepareError> {
        let output = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| self.spawn_error(OsStr::new(program), source))?;
        if !output.status.success() {
            return Err(PrepareError::ToolFailed {
                function: self.name.to_string(),
                command: format!("{program} {}", args.join(" ")),
                status: output.status.to_string(),
                output: tail_lines(&String::from_utf8_lossy(&output.stderr), OUTPUT_TAIL_LINES),
            });
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    fn spawn_error(&self, program: &OsStr, source: io::Error) -> PrepareError {
        PrepareError::ToolMissing {
            function: self.name.to_string(),
            tool: program.to_string_lossy().into_owned(),
            source,
        }
    }

    /// Maps Fn's image paths in a command to local ones and resolves the program to an
    /// absolute path (relative to the source directory, or through `PATH`).
    fn map_command(
        &self,
        words: &[String],
        venv: Option<&Path>,
    ) -> Result<(PathBuf, Vec<String>), PrepareError> {
        let Some((first, rest)) = words.split_first() else {
            return Err(self.not_runnable("the command is empty".into()));
        };
        let mut program = map_word(first, self.source_dir, venv);
        if let Some(venv) = venv {
            if is_python_name(&program) {
                program = venv
                    .join("bin")
                    .join("python")
                    .to_string_lossy()
                    .into_owned();
            }
        }
        let args = rest
            .iter()
            .map(|w| map_word(w, self.source_dir, venv))
            .collect();
        let resolved = if program.contains('/') {
            let path = self.source_dir.join(&program); // absolute paths stay absolute
            is_executable(&path).then_some(path)
        } else {
            find_in_path(&program)
        };
        let resolved = resolved.ok_or_else(|| {
            self.not_runnable(format!(
                "the command's program `{program}` (from `{first}`) is not an executable file{}",
                if program.contains('/') {
                    String::new()
                } else {
                    " on PATH".to_string()
                }
            ))
        })?;
        Ok((resolved, args))
    }
}

/// `/function` → the source directory, `/python` → the venv (Fn's image layout).
fn map_word(word: &str, source_dir: &Path, venv: Option<&Path>) -> String {
    let under = |prefix: &str, base: &Path| -> Option<String> {
        let rest = word.strip_prefix(prefix)?;
        if rest.is_empty() {
            Some(base.to_string_lossy().into_owned())
        } else {
            rest.strip_prefix('/')
                .map(|rel| base.join(rel).to_string_lossy().into_owned())
        }
    };
    under("/function", source_dir)
        .or_else(|| venv.and_then(|v| under("/python", v)))
        .unwrap_or_else(|| word.to_string())
}

/// `python`, `python3`, `python3.11` (what `fn init` used to write: `python3 func.py`).
fn is_python_name(program: &str) -> bool {
    program
        .strip_prefix("python")
        .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The first executable `name` on the gateway's `PATH`.
pub(crate) fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

/// A file-system-safe version of a function name for the cache entry.
fn safe_name(name: &str) -> String {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "function".to_string()
    } else {
        cleaned.chars().take(64).collect()
    }
}

/// The last `n` lines of `text`.
fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A SHA-256 over labelled inputs; the entry name uses its first 16 hex digits.
struct CacheKey(Sha256);

impl CacheKey {
    fn new(kind: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(CACHE_FORMAT.as_bytes());
        hasher.update(b"\0kind\0");
        hasher.update(kind.as_bytes());
        CacheKey(hasher)
    }

    fn bytes(&mut self, label: &str, value: &[u8]) {
        self.0.update(b"\0");
        self.0.update(label.as_bytes());
        self.0.update(b"\0");
        self.0.update((value.len() as u64).to_le_bytes());
        self.0.update(value);
    }

    fn text(&mut self, label: &str, value: &str) {
        self.bytes(label, value.as_bytes());
    }

    fn path(&mut self, label: &str, path: &Path) {
        self.bytes(label, path.as_os_str().as_encoded_bytes());
    }

    /// A file's content, or its absence.
    fn file(&mut self, path: &Path) {
        let label = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match std::fs::read(path) {
            Ok(content) => self.bytes(&label, &content),
            Err(_) => self.text(&label, "\0absent"),
        }
    }

    fn finish(self) -> String {
        self.0
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_paths_map_to_local_ones() {
        let src = Path::new("/srv/fns/hello");
        let venv = Path::new("/cache/hello-abc/venv");
        assert_eq!(
            map_word("/function/func.py", src, Some(venv)),
            "/srv/fns/hello/func.py"
        );
        assert_eq!(map_word("/function", src, None), "/srv/fns/hello");
        assert_eq!(
            map_word("/python/bin/fdk", src, Some(venv)),
            "/cache/hello-abc/venv/bin/fdk"
        );
        assert_eq!(map_word("/python/bin/fdk", src, None), "/python/bin/fdk");
        assert_eq!(map_word("/functions/x", src, None), "/functions/x");
        assert_eq!(map_word("handler", src, Some(venv)), "handler");
    }

    #[test]
    fn python_names() {
        assert!(is_python_name("python"));
        assert!(is_python_name("python3"));
        assert!(is_python_name("python3.11"));
        assert!(!is_python_name("pythonista"));
        assert!(!is_python_name("/usr/bin/python3"));
    }

    #[test]
    fn safe_names_and_tails() {
        assert_eq!(safe_name("hello-fn_1.2"), "hello-fn_1.2");
        assert_eq!(safe_name("app/fn x"), "app_fn_x");
        assert_eq!(safe_name("../.."), "_..");
        assert_eq!(safe_name(""), "function");
        assert_eq!(tail_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail_lines("a", 5), "a");
    }

    #[test]
    fn cache_key_changes_with_inputs_only() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let req = dir.path().join("requirements.txt");
        let key = |p: &Path| {
            let mut k = CacheKey::new("python");
            k.text("runtime", "python");
            k.file(p);
            k.finish()
        };
        let absent = key(&req);
        std::fs::write(&req, "fdk\n")?;
        let first = key(&req);
        assert_ne!(absent, first);
        assert_eq!(first, key(&req));
        assert_eq!(first.len(), 16);
        std::fs::write(&req, "fdk\nrequests\n")?;
        assert_ne!(first, key(&req));
        Ok(())
    }

    #[test]
    fn fdk_declaration_is_read_from_package_json() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let package = dir.path().join("package.json");
        assert!(!declares_fdk(&package));
        std::fs::write(&package, r#"{"dependencies": {"@fnproject/fdk": "0.x"}}"#)?;
        assert!(declares_fdk(&package));
        std::fs::write(&package, r#"{"dependencies": {"left-pad": "1"}}"#)?;
        assert!(!declares_fdk(&package));
        std::fs::write(&package, "not json")?;
        assert!(!declares_fdk(&package));
        Ok(())
    }

    #[tokio::test]
    async fn other_runtimes_run_the_command_as_written() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let script = dir.path().join("run.sh");
        std::fs::write(&script, "#!/bin/sh\nexit 0\n")?;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
        let func = FuncFile::parse(
            "runtime: docker\nentrypoint: /function/run.sh /function/data\n",
            &dir.path().join("func.yaml"),
        )?;
        let cache = dir.path().join("cache");
        let prepared = prepare("custom", &func, dir.path(), &cache, &no_progress, None).await?;
        assert_eq!(prepared.program, script);
        assert_eq!(
            prepared.args,
            [dir.path().join("data").to_string_lossy().into_owned()]
        );
        assert_eq!(prepared.cwd, dir.path());
        assert!(prepared.artifacts.is_none());

        let relative = FuncFile::parse("cmd: ./run.sh\n", &dir.path().join("func.yaml"))?;
        let prepared = prepare("custom", &relative, dir.path(), &cache, &no_progress, None).await?;
        assert_eq!(prepared.program, script);

        let on_path = FuncFile::parse("entrypoint: sh -c true\n", &dir.path().join("func.yaml"))?;
        let prepared = prepare("custom", &on_path, dir.path(), &cache, &no_progress, None).await?;
        assert!(prepared.program.is_absolute());
        assert_eq!(prepared.args, ["-c", "true"]);
        Ok(())
    }

    #[tokio::test]
    async fn unrunnable_commands_are_prepare_errors() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let cache = dir.path().join("cache");
        let path = dir.path().join("func.yaml");
        for text in [
            "runtime: java\ncmd: com.example.fn.HelloFunction::handleRequest\n",
            "runtime: go\nentrypoint: ./func\n",
            "name: nothing\n",
        ] {
            let func = FuncFile::parse(text, &path)?;
            let err = prepare("broken", &func, dir.path(), &cache, &no_progress, None).await;
            match err {
                Err(PrepareError::NotRunnable { function, reason }) => {
                    assert_eq!(function, "broken");
                    assert!(!reason.is_empty());
                }
                other => panic!("{text}: expected NotRunnable, got {other:?}"),
            }
        }
        Ok(())
    }
}
