//! Loopback ports for servers the tests start, and addresses where nothing listens.

use std::net::{SocketAddr, TcpListener};

/// A loopback port nothing listens on right now (bound, then released), for a server that
/// must be told its port.
pub fn free_port() -> u16 {
    closed_addr().port()
}

/// A loopback address where nothing listens: connecting to it is refused.
pub fn closed_addr() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
}
