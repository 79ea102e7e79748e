//! The console's live traffic: the last requests, kept in a bounded ring while somebody has the
//! console open, and nothing at all otherwise.
//!
//! The ring is an [`AccessLog`] whose [`AccessLog::wants`] is true only for a while after the
//! console last asked for traffic, so requests served while nobody watches capture nothing for
//! it (no allocation, no lock). While it is open, each request takes the ring's lock once, to
//! push one entry.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gateway_core::observe::{AccessEntry, AccessLog};
use serde::Serialize;

/// Requests kept for the console.
const CAPACITY: usize = 1000;

/// How long after the console's last poll requests are still recorded.
const WATCH_WINDOW: Duration = Duration::from_secs(15);

/// One request, as the console shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Request {
    /// Increases by one per recorded request; the console asks for those after the last it has.
    seq: u64,
    /// Milliseconds since the Unix epoch, when the response was sent.
    time_ms: u64,
    method: String,
    target: String,
    deployment: String,
    /// The route's public path template, empty when no route matched.
    route: String,
    backend: &'static str,
    status: u16,
    duration_ms: f64,
    /// Time spent in backends, functions and authorizers.
    backend_ms: f64,
    request_id: String,
}

/// The ring of recent requests.
#[derive(Debug)]
pub(crate) struct Traffic {
    ring: Mutex<Ring>,
    /// When the console stops counting as open: nanoseconds after `epoch`.
    watched_until: AtomicU64,
    epoch: Instant,
}

#[derive(Debug, Default)]
struct Ring {
    next_seq: u64,
    requests: VecDeque<Request>,
}

impl Default for Traffic {
    fn default() -> Self {
        Self {
            ring: Mutex::default(),
            watched_until: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl Traffic {
    /// The requests recorded after `after` (a `seq`), oldest first; also marks the console as
    /// open, so that the requests that follow are recorded.
    pub(crate) fn since(&self, after: Option<u64>) -> Vec<Request> {
        let until = self.nanos() + WATCH_WINDOW.as_nanos() as u64;
        self.watched_until.fetch_max(until, Relaxed);
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        ring.requests
            .iter()
            .filter(|r| after.is_none_or(|after| r.seq > after))
            .cloned()
            .collect()
    }

    fn nanos(&self) -> u64 {
        self.epoch.elapsed().as_nanos().min(u128::from(u64::MAX)) as u64
    }
}

impl AccessLog for Traffic {
    fn wants(&self) -> bool {
        self.nanos() < self.watched_until.load(Relaxed)
    }

    fn log(&self, entry: &AccessEntry<'_>) {
        let millis = |d: Duration| d.as_secs_f64() * 1000.0;
        let time_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut request = Request {
            seq: 0,
            time_ms,
            method: entry.method.to_string(),
            target: entry.request_uri.to_owned(),
            deployment: entry.deployment.to_owned(),
            route: entry.route.map(|r| r.path.to_string()).unwrap_or_default(),
            backend: entry.route.map_or("", |r| r.backend),
            status: entry.status,
            duration_ms: millis(entry.request_duration),
            backend_ms: millis(entry.integration_duration),
            request_id: entry.opc_request_id.to_owned(),
        };
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        request.seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.requests.len() == CAPACITY {
            ring.requests.pop_front();
        }
        ring.requests.push_back(request);
    }
}

/// Hands each entry to every log that wants it: the access log and the console's traffic.
#[derive(Debug)]
pub(crate) struct Tee(pub(crate) Vec<std::sync::Arc<dyn AccessLog>>);

impl AccessLog for Tee {
    fn wants(&self) -> bool {
        self.0.iter().any(|log| log.wants())
    }

    fn log(&self, entry: &AccessEntry<'_>) {
        for log in &self.0 {
            if log.wants() {
                log.log(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_wanted_until_the_console_asks() {
        let traffic = Traffic::default();
        assert!(!traffic.wants());
        assert!(traffic.since(None).is_empty());
        assert!(traffic.wants());
    }
}
