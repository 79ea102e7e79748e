//! The connection limits: how many connections are served at once, in total and per client.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, PoisonError};

use super::stats::ListenerStats;
use super::ConnectionLimits;

/// Which connection limit refused a client.
#[derive(Debug, Clone, Copy)]
pub(super) enum Limit {
    Total,
    PerClient,
}

/// Counts connections in total and per client, for the connection limits.
#[derive(Debug)]
pub(super) struct Capacity {
    max: usize,
    max_per_client: usize,
    stats: Arc<ListenerStats>,
    // Touched once per connection, on accept and on close: never on the request path.
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One claimed connection; released when dropped.
pub(super) struct Slot {
    client: IpAddr,
    stats: Arc<ListenerStats>,
    per_client: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Capacity {
    pub(super) fn new(limits: &ConnectionLimits, stats: Arc<ListenerStats>) -> Self {
        Self {
            max: limits.max_connections,
            max_per_client: limits.max_connections_per_client,
            stats,
            per_client: Arc::default(),
        }
    }

    pub(super) fn claim(&self, ip: IpAddr) -> Result<Slot, Limit> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
