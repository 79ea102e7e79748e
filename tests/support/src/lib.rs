//! Helpers shared by the workspace's tests and benches, one documented version of each:
//!
//! * [`redis`]: a real `redis-server`, Redis Cluster or Sentinel deployment on free loopback
//!   ports, plain or with a password and TLS, stopped by PID when dropped;
//! * [`jwt`]: keys generated at run time, JWTs signed by hand (so that attack tokens can be
//!   built exactly), JSON web keys, and a JWKS server;
//! * [`upstream`]: tiny loopback HTTP servers used as backends, raw (bytes written by hand) or
//!   on hyper;
//! * [`client`]: a raw HTTP/1.1 client that writes bytes to a socket and parses the response;
//! * [`pki`]: a CA and a loopback server certificate, as PEM files;
//! * [`net`], [`TempDir`] and [`eventually`]: free ports, scratch directories, polling.
//!
//! It depends on none of the gateway's crates, whose dev-dependency it is.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub mod client;
pub mod jwt;
pub mod net;
pub mod pki;
pub mod redis;
pub mod upstream;

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

/// A scratch directory for config, spec and data files, removed when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory under the system's temporary directory, named after `tag`, the
    /// process and the time.
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

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
