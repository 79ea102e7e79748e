//! The three ways to reach Redis behind one connection type.
//!
//! * One server: `redis::aio::ConnectionManager`, which multiplexes and reconnects by itself.
//! * A cluster: the `redis` crate's async cluster connection, which routes each command to the
//!   slot's primary, follows MOVED and ASK, and refreshes its slot map after a failover. It is
//!   made on first use and kept.
//! * Sentinel: a multiplexed connection to the primary the sentinels name. After any failure it
//!   is dropped and the next operation asks the sentinels again, so a promoted replica is found
//!   (and a demoted primary answering `READONLY` is left).

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use redis::aio::{
    ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection,
};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{
    AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, RedisResult, TlsCertificates, TlsMode, Value,
};

use super::connection::RedisOptions;
use super::target::{RedisMode, RedisTarget};

/// Prepared access to a deployment; connecting happens on first use.
pub(crate) enum Client {
    Single(ConnectionManager),
    Cluster {
        client: ClusterClient,
        config: ClusterConfig,
        conn: Kept<ClusterConnection>,
    },
    Sentinel {
        sentinel: tokio::sync::Mutex<SentinelClient>,
        config: AsyncConnectionConfig,
        conn: Kept<MultiplexedConnection>,
    },
}

impl Client {
    /// Prepares the client without connecting. Must run inside a Tokio runtime (the single
    /// server's manager spawns its connection task).
    pub(crate) fn open(target: &RedisTarget, options: &RedisOptions) -> RedisResult<Self> {
        let certs = || TlsCertificates {
            client_tls: None,
            root_cert: target.ca_pem.clone(),
        };
        Ok(match &target.mode {
            RedisMode::Single => {
                let info = target.nodes[0].clone();
                let client = if target.is_tls() {
                    redis::Client::build_with_tls(info, certs())?
                } else {
                    redis::Client::open(info)?
                };
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(options.connect_timeout))
                    .set_response_timeout(Some(options.op_timeout))
                    // One attempt per reconnection: the breaker, not the manager, paces retries.
                    .set_number_of_retries(0);
                Client::Single(ConnectionManager::new_lazy_with_config(client, config)?)
            }
            RedisMode::Cluster => {
                let op_ms = u64::try_from(options.op_timeout.as_millis()).unwrap_or(u64::MAX);
                let mut builder = ClusterClient::builder(target.nodes.clone())
                    .connection_timeout(options.connect_timeout)
                    .response_timeout(options.op_timeout)
                    // Enough to follow a redirection or a refreshed slot map; beyond that the
                    // operation's deadline and the breaker decide, and a dropped operation
                    // stops being retried soon rather than piling up during an outage.
                    .retries(3)
                    .max_retry_wait(op_ms);
                if target.is_tls() {
                    builder = builder.certs(certs());
                }
                let config = ClusterConfig::new()
                    .set_connection_timeout(options.connect_timeout)
                    .set_response_timeout(options.op_timeout);
                Client::Cluster {
                    client: builder.build()?,
                    config,
                    conn: Kept::default(),
                }
            }
            RedisMode::Sentinel { service } => {
                let primary = target.nodes[0].redis_settings();
                let addrs = target.nodes.iter().map(|n| n.addr().clone());
                let mut builder =
                    SentinelClientBuilder::new(addrs, service, SentinelServerType::Master)?
                        .set_client_to_redis_db(primary.db());
                if let Some(user) = primary.username() {
                    builder = builder.set_client_to_redis_username(user);
                }
                if let Some(password) = primary.password() {
                    builder = builder.set_client_to_redis_password(password);
                }
                if target.is_tls() {
                    builder = builder
                        .set_client_to_redis_tls_mode(TlsMode::Secure)
                        .set_client_to_redis_certificates(certs())
                        .set_client_to_sentinel_tls_mode(TlsMode::Secure)
                        .set_client_to_sentinel_certificates(certs());
                }
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(options.connect_timeout))
                    .set_response_timeout(Some(options.op_timeout));
                Client::Sentinel {
                    sentinel: tokio::sync::Mutex::new(builder.build()?),
                    config,
                    conn: Kept::default(),
                }
            }
        })
    }

    /// A connection for one operation (cheap clones of shared multiplexed connections).
    pub(crate) async fn connection(&self) -> RedisResult<Conn> {
        match self {
            Client::Single(manager) => Ok(Conn::Single(manager.clone())),
            Client::Cluster {
                client,
                config,
                conn,
            } => conn
                .get_or_make(|| client.get_async_connection_with_config(config.clone()))
                .await
                .map(Conn::Cluster),
            Client::Sentinel {
                sentinel,
                config,
                conn,
            } => conn
                .get_or_make(|| async {
                    let primary = sentinel.lock().await.async_get_client().await?;
                    primary
                        .get_multiplexed_async_connection_with_config(config)
                        .await
                })
                .await
                .map(Conn::Primary),
        }
    }

    /// An operation failed: with Sentinel, ask the sentinels for the primary again next time.
    pub(crate) fn failed(&self) {
        if let Client::Sentinel { conn, .. } = self {
            conn.forget();
        }
    }
}

/// A connection made on first use and kept until forgotten; concurrent first uses make one.
pub(crate) struct Kept<C> {
    current: ArcSwapOption<C>,
    making: tokio::sync::Mutex<()>,
}

impl<C> Default for Kept<C> {
    fn default() -> Self {
        Self {
            current: ArcSwapOption::empty(),
            making: tokio::sync::Mutex::new(()),
        }
    }
}

impl<C: Clone> Kept<C> {
    async fn get_or_make<F, Fut>(&self, make: F) -> RedisResult<C>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = RedisResult<C>>,
    {
        if let Some(conn) = self.current.load_full() {
            return Ok(C::clone(&conn));
        }
        let _making = self.making.lock().await;
        if let Some(conn) = self.current.load_full() {
            return Ok(C::clone(&conn));
        }
        let conn = make().await?;
        self.current.store(Some(Arc::new(conn.clone())));
        Ok(conn)
    }

    fn forget(&self) {
        self.current.store(None);
    }
}

/// One operation's connection, whichever the deployment.
#[derive(Clone)]
pub(crate) enum Conn {
    /// One server.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
    /// The primary Sentinel named.
    Primary(MultiplexedConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
            Conn::Primary(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Primary(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
            Conn::Primary(c) => c.get_db(),
        }
    }
}
