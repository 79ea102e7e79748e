//! Real Redis deployments for the tests, on free loopback ports, each stopped when dropped:
//! one server, a Redis Cluster (joined with `redis-cli --cluster create`), and a primary with a
//! replica watched by a Sentinel.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{eventually, TempDir};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `redis-cli -p PORT ARGS…`: the reply as text, or `None` when the server cannot be reached.
pub fn redis_cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
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
    pub port: u16,
}

impl Redis {
    /// A server without persistence on a free port.
    pub fn start() -> Redis {
        Self::start_with(free_port(), &[])
    }

    /// A server on `port` with extra `args` (`--name value` pairs, as on the command line).
    pub fn start_with(port: u16, args: &[&str]) -> Redis {
        Self::spawn(port, args, &[])
    }

    fn spawn(port: u16, args: &[&str], before: &[&str]) -> Redis {
        let child = Command::new("redis-server")
            .args(before)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let mut redis = Redis {
            child: Some(child),
            port,
        };
        let up = eventually(Duration::from_secs(10), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !up {
            redis.stop();
            panic!("redis-server did not start on {port}");
        }
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
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
    pub nodes: Vec<Redis>,
    _dir: TempDir,
}

impl RedisCluster {
    /// Starts six nodes and joins them; returns once every slot is served.
    pub fn start() -> RedisCluster {
        let dir = TempDir::new("redis-cluster");
        let node_timeout = "1000";
        let nodes: Vec<Redis> = (0..6)
            .map(|i| {
                let port = free_port();
                // The bus port is chosen too: port + 10000 may be past 65535.
                let bus = free_port().to_string();
                let conf = dir.path().join(format!("nodes-{i}.conf"));
                let node_dir = dir.path().join(format!("node-{i}"));
                std::fs::create_dir_all(&node_dir).expect("node dir");
                Redis::start_with(
                    port,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-port",
                        &bus,
                        "--cluster-config-file",
                        path(&conf),
                        "--cluster-node-timeout",
                        node_timeout,
                        "--dir",
                        path(&node_dir),
                    ],
                )
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let status = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli");
        assert!(status.success(), "redis-cli --cluster create failed");
        let cluster = RedisCluster { nodes, _dir: dir };
        let ready = eventually(Duration::from_secs(30), || {
            cluster.nodes.iter().all(|n| {
                redis_cli(n.port, &["cluster", "info"])
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

    /// The ports of the nodes that are primaries now (as a live node sees it).
    pub fn primaries(&self) -> Vec<u16> {
        self.roles("master")
    }

    fn roles(&self, role: &str) -> Vec<u16> {
        let Some(nodes) = self
            .nodes
            .iter()
            .filter(|n| n.child.is_some())
            .find_map(|n| redis_cli(n.port, &["cluster", "nodes"]))
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
                redis_cli(*port, &["info", "replication"])
                    .is_some_and(|info| info.contains("master_link_status:up"))
            })
    }

    /// The port of the primary serving `key` now.
    pub fn primary_for(&self, key: &str) -> u16 {
        let live = || self.nodes.iter().filter(|n| n.child.is_some());
        let slot: u16 = live()
            .find_map(|n| redis_cli(n.port, &["cluster", "keyslot", key]))
            .and_then(|s| s.trim().parse().ok())
            .expect("keyslot");
        let nodes = live()
            .find_map(|n| redis_cli(n.port, &["cluster", "nodes"]))
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
    pub primary: Redis,
    pub replica: Redis,
    pub sentinel: Redis,
    _dir: TempDir,
}

impl RedisSentinel {
    /// The service name the sentinel knows the primary by.
    pub const SERVICE: &'static str = "mymaster";

    /// Starts the three and waits until the sentinel knows the replica.
    pub fn start() -> RedisSentinel {
        let dir = TempDir::new("redis-sentinel");
        let primary = Redis::start();
        let replica = Redis::start_with(
            free_port(),
            &["--replicaof", "127.0.0.1", &primary.port.to_string()],
        );
        let conf = dir.write(
            "sentinel.conf",
            &format!(
                "sentinel monitor {service} 127.0.0.1 {port} 1\n\
                 sentinel down-after-milliseconds {service} 1000\n\
                 sentinel failover-timeout {service} 3000\n\
                 sentinel parallel-syncs {service} 1\n",
                service = Self::SERVICE,
                port = primary.port
            ),
        );
        let sentinel = Redis::spawn(free_port(), &["--sentinel"], &[&conf]);
        let known = eventually(Duration::from_secs(20), || {
            redis_cli(sentinel.port, &["sentinel", "replicas", Self::SERVICE])
                .is_some_and(|r| r.contains(&replica.port.to_string()))
                && redis_cli(replica.port, &["info", "replication"])
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

    /// The port of the primary the sentinel names now.
    pub fn current_primary(&self) -> Option<u16> {
        let reply = redis_cli(
            self.sentinel.port,
            &["sentinel", "get-master-addr-by-name", Self::SERVICE],
        )?;
        reply.lines().nth(1)?.trim().parse().ok()
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temporary path")
}
