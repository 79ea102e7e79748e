//! The accept loop: connection limits, HTTP/1.1 and HTTP/2 (over TLS when configured), the
//! connection's deadlines, graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::conn::ConnTimeouts;
use super::connection::{Connection, Protocols};
use super::stats::ListenerStats;
use super::{ConnectionLimits, Served, ServerBuilder};
use crate::error::GatewayError;

/// What a client over the connection limits is told before the connection closes.
static SERVICE_UNAVAILABLE: LazyLock<Vec<u8>> =
    LazyLock::new(|| GatewayError::TooManyConnections.to_http1_close());

/// The next connection of `listener`. An accept that fails (out of file descriptors, say)
/// is retried after a pause that grows while the failures last (10 ms, doubling to 1 s):
/// retrying at once would spin, and a fixed long pause would keep clients waiting once the cause
/// has passed. One warning per run of failures, not one per retry.
pub async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    let mut backoff = AcceptBackoff::default();
    loop {
        match listener.accept().await {
            Ok(accepted) => {
                if backoff.failures > 0 {
                    debug!(failures = backoff.failures, "accepting connections again");
                }
                return accepted;
            }
            Err(e) => {
                if backoff.failures == 0 {
                    warn!(error = %e, local = ?listener.local_addr().ok(),
                        "accept failed; retrying after pauses growing to 1 s until it succeeds");
                }
                tokio::time::sleep(backoff.next_pause()).await;
            }
        }
    }
}

/// The pauses between accepts that keep failing: 10 ms, doubling up to 1 s. A successful
/// accept starts afresh (each [`accept`] call has its own).
#[derive(Debug, Default)]
struct AcceptBackoff {
    /// Failures in a row so far.
    failures: u32,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    /// The pause after one more failure.
    fn next_pause(&mut self) -> Duration {
        // 2^7 × 10 ms is past the cap already; the shift stays small however long it fails.
        let pause = Self::FIRST
            .saturating_mul(1 << self.failures.min(7))
            .min(Self::MAX);
        self.failures = self.failures.saturating_add(1);
        pause
    }
}

/// Serves `service` on `listener` until `shutdown` resolves, then stops accepting and lets
/// in-flight requests finish for up to `grace`.
pub(super) async fn serve<S: Served>(
    listener: TcpListener,
    service: S,
    setup: ServerBuilder,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> io::Result<()> {
    let protocols = Arc::new(Protocols::new());
    let timeouts = ConnTimeouts {
        header_read: setup.limits.header_read_timeout,
        idle: setup.limits.idle_timeout,
    };
    let capacity = Capacity::new(&setup.limits, setup.stats.clone());
    // Every connection holds a receiver: sending tells them all to finish, and the channel
    // closes once the last has.
    let (closing, _) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            accepted = accept(&listener) => accepted,
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let slot = match capacity.claim(peer.ip()) {
            Ok(slot) => slot,
            Err(limit) => {
                tokio::spawn(refuse(stream, peer, limit, setup.clone()));
                continue;
            }
        };
        let connection = Connection {
            protocols: protocols.clone(),
            service: service.clone(),
            setup: setup.clone(),
            peer,
            timeouts,
            shutdown: closing.subscribe(),
        };
        // TLS: the handshake runs in the connection's own task, so a slow client never holds
        // up the accept loop.
        match setup.tls.clone() {
            None => tokio::spawn(async move {
                connection.serve_plain(stream).await;
                drop(slot);
            }),
            Some(tls) => tokio::spawn(async move {
                match tls.accept(stream).await {
                    Ok((stream, cert)) => connection.serve_tls(stream, cert).await,
                    Err(e) => debug!(%peer, error = %e, "TLS handshake failed"),
                }
                drop(slot);
            }),
        };
    }

    drop(listener);
    info!("shutting down: waiting for in-flight requests");
    let _ = closing.send(());
    tokio::select! {
        () = closing.closed() => info!("all connections closed"),
        () = tokio::time::sleep(grace) => warn!(?grace, "grace period over; closing remaining connections"),
    }
    Ok(())
}

/// Which connection limit refused a client.
#[derive(Debug, Clone, Copy)]
enum Limit {
    Total,
    PerClient,
}

/// Counts connections in total and per client, for the connection limits.
#[derive(Debug)]
struct Capacity {
    max: usize,
    max_per_client: usize,
    stats: Arc<ListenerStats>,
    // Touched once per connection, on accept and on close: never on the request path.
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One claimed connection; released when dropped.
struct Slot {
    client: IpAddr,
    stats: Arc<ListenerStats>,
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Capacity {
    fn new(limits: &ConnectionLimits, stats: Arc<ListenerStats>) -> Self {
        Self {
            max: limits.max_connections,
            max_per_client: limits.max_connections_per_client,
            stats,
            per_client: Arc::default(),
        }
    }

    fn claim(&self, ip: IpAddr) -> Result<Slot, Limit> {
        let client = client_key(ip);
        if self.stats.active.load(Relaxed) >= self.max {
            self.stats.over_capacity.fetch_add(1, Relaxed);
            return Err(Limit::Total);
        }
        let mut per_client = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = per_client.entry(client).or_insert(0);
        if *count >= self.max_per_client {
            self.stats.over_client_capacity.fetch_add(1, Relaxed);
            return Err(Limit::PerClient);
        }
        *count += 1;
        self.stats.active.fetch_add(1, Relaxed);
        Ok(Slot {
            client,
            stats: self.stats.clone(),
            per_client: self.per_client.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.stats.active.fetch_sub(1, Relaxed);
        let mut per_client = self
            .per_client
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = per_client.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                per_client.remove(&self.client);
            }
        }
    }
}

/// The address a per-client limit counts under: IPv4 addresses alone, IPv6 by /64, since one
/// client commonly holds a whole /64.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & (!0u128 << 64);
            IpAddr::V6(bits.into())
        }
    }
}

/// Answers a connection over a limit with 503 and closes it, without waiting on the client
/// for more than a moment. A TLS listener closes it without a handshake: completing one for
/// a client the gateway has no room for would spend what the limit protects.
async fn refuse(mut stream: TcpStream, peer: SocketAddr, limit: Limit, setup: ServerBuilder) {
    let code = GatewayError::TooManyConnections.log_code();
    info!(code, %peer, ?limit, "connection refused: too many connections");
    if let Some(log) = &setup.access_log {
        log.log_refused(peer, 503, code);
    }
    if setup.tls.is_some() {
        return;
    }
    let answer = async {
        stream.write_all(&SERVICE_UNAVAILABLE).await?;
        stream.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answer).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_accepts_pause_10_ms_doubling_to_1_s() {
        let mut backoff = AcceptBackoff::default();
        let pauses: Vec<u128> = (0..10).map(|_| backoff.next_pause().as_millis()).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        backoff.failures = u32::MAX;
        assert_eq!(backoff.next_pause(), AcceptBackoff::MAX);
        assert_eq!(AcceptBackoff::default().next_pause(), AcceptBackoff::FIRST);
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_slash_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().expect("ip");
        let c: IpAddr = "2001:db8:1:3::1".parse().expect("ip");
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let v4: IpAddr = "10.0.0.1".parse().expect("ip");
        assert_eq!(client_key(v4), v4);
    }

    #[test]
    fn a_client_over_its_limit_is_refused_while_others_are_served() {
        let limits = ConnectionLimits {
            max_connections: 3,
            max_connections_per_client: 2,
            ..ConnectionLimits::default()
        };
        let capacity = Capacity::new(&limits, Arc::default());
        let one: IpAddr = "10.0.0.1".parse().expect("ip");
        let two: IpAddr = "10.0.0.2".parse().expect("ip");
        let a = capacity.claim(one).expect("first");
        let _b = capacity.claim(one).expect("second");
        assert!(matches!(capacity.claim(one), Err(Limit::PerClient)));
        let _c = capacity.claim(two).expect("another client");
        assert!(matches!(capacity.claim(two), Err(Limit::Total)));
        drop(a);
        assert!(capacity.claim(two).is_ok());
    }
}
