//! What a server's own limits did to its connections, for `/metrics`.

use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::observe::encode::{counters, gauges, NO_LABELS};

/// Connections refused, cut off or closed by a server's own limits, for `/metrics`.
#[derive(Debug, Default)]
pub struct ListenerStats {
    pub(super) active: AtomicUsize,
    pub(super) over_capacity: AtomicU64,
    pub(super) over_client_capacity: AtomicU64,
    pub(super) head_timeouts: AtomicU64,
    pub(super) heads_too_large: AtomicU64,
    pub(super) idle_closed: AtomicU64,
}

/// Read when `/metrics` is scraped.
impl Collector for ListenerStats {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let encoder = &mut encoder;
        gauges(
            encoder,
            "gateway_connections_active",
            "client connections being served",
            [(NO_LABELS, self.active.load(Relaxed))],
        )?;
        counters(
            encoder,
            "gateway_connections_rejected",
            "connections answered 503 because a connection limit was reached",
            [
                ("max_connections", &self.over_capacity),
                ("max_connections_per_client", &self.over_client_capacity),
            ]
            .map(|(limit, count)| ([("limit", limit)], count.load(Relaxed))),
        )?;
        counters(
            encoder,
            "gateway_request_heads_refused",
            "request heads refused before routing: 408 too slow, 431 too large",
            [("408", &self.head_timeouts), ("431", &self.heads_too_large)]
                .map(|(status, count)| ([("httpStatusCode", status)], count.load(Relaxed))),
        )?;
        counters(
            encoder,
            "gateway_idle_connections_closed",
            "keep-alive connections closed after the idle timeout",
            [(NO_LABELS, self.idle_closed.load(Relaxed))],
        )
    }
}
