//! Real Redis deployments for the tests, on free loopback ports, each stopped when dropped:
//! one server, a Redis Cluster (joined with `redis-cli --cluster create`), and a primary with a
//! replica watched by a Sentinel; each plain or with a password, TLS, or both. Every server
//! runs without persistence in a scratch directory of its own, and is killed by PID.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::net::free_port;
use crate::{eventually, TempDir};

/// How every server of a deployment is reached: a password (`requirepass`, and `masterauth`
/// for replicas) and TLS only (`--port 0 --tls-port …`), each optional.
#[derive(Debug, Clone, Default)]
pub struct Security {
    /// `requirepass` (and `masterauth`), and the password in URLs and `redis-cli` calls.
    pub password: Option<String>,
    /// TLS only, with these files.
    pub tls: Option<TlsFiles>,
}

/// PEM files for TLS: the server's certificate and key, and the CA that signed it.
pub type TlsFiles = crate::pki::ServerPki;

impl Security {
    /// The `redis-server` arguments, for a server listening on `port`.
    fn server_args(&self, port: u16) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(password) = &self.password {
            args.extend(["--requirepass", password, "--masterauth", password].map(String::from));
        }
        if let Some(tls) = &self.tls {
            args.extend([
                "--port".into(),
                "0".into(),
                "--tls-port".into(),
                port.to_string(),
            ]);
            args.extend(
                [
                    ("--tls-cert-file", &tls.cert),
                    ("--tls-key-file", &tls.key),
                    ("--tls-ca-cert-file", &tls.ca),
                ]
                .map(|(k, v)| [k.to_owned(), v.display().to_string()])
                .concat(),
            );
            args.extend(
                [
                    "--tls-auth-clients",
                    "no",
                    "--tls-replication",
                    "yes",
                    "--tls-cluster",
                    "yes",
                ]
                .map(String::from),
            );
        }
        args
    }

    /// The `redis-cli` arguments to reach such a server.
    fn cli_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(password) = &self.password {
            args.extend(["--no-auth-warning", "-a", password].map(String::from));
        }
        if let Some(tls) = &self.tls {
            args.extend([
                "--tls".into(),
                "--cacert".into(),
                tls.ca.display().to_string(),
            ]);
        }
        args
    }

    /// `redis://[:password@]127.0.0.1:PORT`, or `rediss://` with TLS.
    pub fn url(&self, port: u16) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        match &self.password {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{port}"),
            None => format!("{scheme}://127.0.0.1:{port}"),
        }
    }
}

/// `redis-cli -p PORT ARGS…` against a plain server without a password: the reply as text,
/// or `None` when the server cannot be reached.
pub fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    redis_cli_with(&Security::default(), port, args)
}

/// `redis-cli` against a server secured with `security`.
pub fn redis_cli_with(security: &Security, port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(security.cli_args())
        .args(args)
        .stderr(Stdio::null())
        .output()
        .expect("redis-cli must be installed (apt-get install redis-server)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && !text.starts_with("Could not connect")).then_some(text)
}

/// One `redis-server` process.
#[derive(Debug)]
pub struct Redis {
    child: Option<Child>,
    /// The port it listens on (its TLS port when secured with TLS).
    pub port: u16,
    security: Security,
    /// Its working directory: a replica writes the data it receives from its primary there.
    _dir: TempDir,
}

impl Redis {
    /// A server without persistence on a free port.
    pub fn start() -> Redis {
        Self::start_with(free_port(), &[])
    }

    /// A server on `port` with extra `args` (`--name value` pairs, as on the command line);
    /// also brings back on its old port a server that was stopped.
    pub fn start_with(port: u16, args: &[&str]) -> Redis {
        Self::spawn(port, &Security::default(), args, &[])
    }

    /// Like [`Redis::start`], but `None` when `redis-server` is not installed (for benches
    /// that leave a group out rather than fail).
    pub fn try_start() -> Option<Redis> {
        match Self::try_spawn(free_port(), &Security::default(), &[], &[]) {
            Ok(redis) => Some(redis),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("redis-server: {e}"),
        }
    }

    /// A server secured with `security` on a free port.
    pub fn start_secured(security: &Security) -> Redis {
        Self::spawn(free_port(), security, &[], &[])
    }

    fn spawn(port: u16, security: &Security, args: &[&str], before: &[&str]) -> Redis {
        Self::try_spawn(port, security, args, before)
            .expect("redis-server must be installed (apt-get install redis-server)")
    }

    /// Starts the process and waits until it accepts connections; the error is the spawn's.
    fn try_spawn(
        port: u16,
        security: &Security,
        args: &[&str],
        before: &[&str],
    ) -> std::io::Result<Redis> {
        let dir = TempDir::new("redis");
        let child = Command::new("redis-server")
            .args(before)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                path(dir.path()),
            ])
            .args(security.server_args(port))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut redis = Redis {
            child: Some(child),
            port,
            security: security.clone(),
            _dir: dir,
        };
        let up = eventually(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !up {
            redis.stop();
            panic!("redis-server did not start on {port}");
        }
        Ok(redis)
    }

    /// The URL to reach it, credentials included.
    pub fn url(&self) -> String {
        self.security.url(self.port)
    }

    /// `redis-cli ARGS…` against this server.
    pub fn cli(&self, args: &[&str]) -> Option<String> {
        redis_cli_with(&self.security, self.port, args)
    }

    /// Sends `signal` (`"STOP"`, `"CONT"`) to the server's process: a stopped server accepts
    /// connections (the kernel does) but answers nothing, like one still starting on a busy
    /// machine.
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), pid.as_str()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal}");
    }

    /// Kills the server at once (SIGKILL), as a crash would, and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of three primaries with one replica each.
#[derive(Debug)]
pub struct RedisCluster {
    /// The six nodes, as started (roles change with failovers).
    pub nodes: Vec<Redis>,
    security: Security,
}

impl RedisCluster {
    /// Starts six plain nodes and joins them; returns once every slot is served.
    pub fn start() -> RedisCluster {
        Self::start_secured(&Security::default())
    }

    /// Starts six nodes secured with `security` and joins them.
    pub fn start_secured(security: &Security) -> RedisCluster {
        let node_timeout = "1000";
        let nodes: Vec<Redis> = (0..6)
            .map(|_| {
                let port = free_port();
                // The bus port is chosen too: port + 10000 may be past 65535.
                let bus = free_port().to_string();
                Redis::spawn(
                    port,
                    security,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-port",
                        &bus,
                        // In the node's own directory.
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-node-timeout",
                        node_timeout,
                    ],
                    &[],
                )
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new("redis-cli")
            .args(security.cli_args())
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster {
            nodes,
            security: security.clone(),
        };
        let ready = eventually(Duration::from_secs(30), || {
            cluster.nodes.iter().all(|n| {
                n.cli(&["cluster", "info"])
                    .is_some_and(|info| info.contains("cluster_state:ok"))
            }) && cluster.primaries().len() == 3
                && cluster.replicas_in_sync()
        });
        assert!(ready, "the cluster did not become ready");
        cluster
    }

    /// The URLs of every node, as seeds.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Redis::url).collect()
    }

    /// `redis-cli ARGS…` against the node on `port`.
    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        redis_cli_with(&self.security, port, args)
    }

    /// The ports of the nodes that are primaries now (as a live node sees it).
    pub fn primaries(&self) -> Vec<u16> {
        self.roles("master")
    }

    fn roles(&self, role: &str) -> Vec<u16> {
        let Some(nodes) = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .find_map(|n| n.cli(&["cluster", "nodes"]))
        else {
            return Vec::new();
        };
        nodes
            .lines()
            .filter(|line| {
                let flags = line.split(' ').nth(2).unwrap_or("");
                flags.split(',').any(|f| f == role) && !flags.contains("fail")
            })
            .filter_map(|line| {
                let addr = line.split(' ').nth(1)?;
                addr.split(['@', ','])
                    .next()?
                    .rsplit(':')
                    .next()?
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// Whether every replica has finished its first sync with its primary.
    fn replicas_in_sync(&self) -> bool {
        let replicas = self.roles("slave");
        replicas.len() == 3
            && replicas.iter().all(|port| {
                self.cli(*port, &["info", "replication"])
                    .is_some_and(|info| info.contains("master_link_status:up"))
            })
    }

    /// The port of the primary serving `key` now.
    pub fn primary_for(&self, key: &str) -> u16 {
        let live = || self.nodes.iter().filter(|n| n.child.is_some());
        let slot: u16 = live()
            .find_map(|n| n.cli(&["cluster", "keyslot", key]))
            .and_then(|s| s.trim().parse().ok())
            .expect("keyslot");
        let nodes = live()
            .find_map(|n| n.cli(&["cluster", "nodes"]))
            .expect("cluster nodes");
        // <id> <ip:port@bus> <flags> <primary> <ping> <pong> <epoch> <link> <slot ranges…>
        nodes
            .lines()
            .map(|line| line.split(' ').collect::<Vec<_>>())
            .filter(|f| f.len() > 8 && f[2].contains("master") && !f[2].contains("fail"))
            .find(|f| {
                f[8..].iter().any(|range| {
                    let (a, b) = range.split_once('-').unwrap_or((range, range));
                    matches!((a.parse::<u16>(), b.parse::<u16>()), (Ok(a), Ok(b)) if (a..=b).contains(&slot))
                })
            })
            .and_then(|f| f[1].split(['@', ',']).next()?.rsplit(':').next()?.parse().ok())
            .expect("a primary for the slot")
    }

    /// Kills (SIGKILL) the node on `port`.
    pub fn kill(&mut self, port: u16) {
        if let Some(node) = self.nodes.iter_mut().find(|n| n.port == port) {
            node.stop();
        }
    }
}

/// A primary, its replica and one Sentinel watching them as service `mymaster`.
#[derive(Debug)]
pub struct RedisSentinel {
    /// The primary at the start.
    pub primary: Redis,
    /// Its replica.
    pub replica: Redis,
    /// The Sentinel.
    pub sentinel: Redis,
    _dir: TempDir,
}

impl RedisSentinel {
    /// The service name the sentinel knows the primary by.
    pub const SERVICE: &'static str = "mymaster";

    /// Starts the three, plain, and waits until the sentinel knows the replica.
    pub fn start() -> RedisSentinel {
        Self::start_secured(&Security::default())
    }

    /// Starts the three with the primary and replica secured by `security`; the sentinel
    /// speaks TLS when they do, and asks for no password of its own.
    pub fn start_secured(security: &Security) -> RedisSentinel {
        let dir = TempDir::new("redis-sentinel");
        let primary = Redis::start_secured(security);
        let replica = Redis::spawn(
            free_port(),
            security,
            &["--replicaof", "127.0.0.1", &primary.port.to_string()],
            &[],
        );
        let mut conf = format!(
            "sentinel monitor {service} 127.0.0.1 {port} 1\n\
             sentinel down-after-milliseconds {service} 1000\n\
             sentinel failover-timeout {service} 3000\n\
             sentinel parallel-syncs {service} 1\n",
            service = Self::SERVICE,
            port = primary.port
        );
        if let Some(password) = &security.password {
            conf.push_str(&format!(
                "sentinel auth-pass {} {password}\n",
                Self::SERVICE
            ));
        }
        let conf = dir.write("sentinel.conf", &conf);
        let own = Security {
            password: None,
            tls: security.tls.clone(),
        };
        let sentinel = Redis::spawn(free_port(), &own, &["--sentinel"], &[&conf]);
        let known = eventually(Duration::from_secs(20), || {
            sentinel
                .cli(&["sentinel", "replicas", Self::SERVICE])
                .is_some_and(|r| r.contains(&replica.port.to_string()))
                && replica
                    .cli(&["info", "replication"])
                    .is_some_and(|info| info.contains("master_link_status:up"))
        });
        assert!(known, "the sentinel did not find the replica");
        RedisSentinel {
            primary,
            replica,
            sentinel,
            _dir: dir,
        }
    }

    /// The URL of the sentinel, for `url` with `sentinel = "mymaster"`; the credentials are
    /// the primary's.
    pub fn url(&self) -> String {
        self.primary.security.url(self.sentinel.port)
    }

    /// The port of the primary the sentinel names now.
    pub fn current_primary(&self) -> Option<u16> {
        let reply = self
            .sentinel
            .cli(&["sentinel", "get-master-addr-by-name", Self::SERVICE])?;
        reply.lines().nth(1)?.trim().parse().ok()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}
