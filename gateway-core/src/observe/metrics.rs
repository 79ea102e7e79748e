//! Request metrics named after OCI's (`oci_apigateway_HttpRequests`, `…HttpResponses`,
//! `…Latency`, …) with OCI's dimensions as labels.
//!
//! Every label value comes from the configuration (deployment, route, backend type) or from a
//! bounded set (ten method names, status codes): a client cannot mint new series. Each route
//! owns a fixed-size, lock-free table of series keyed by method and status; the rare
//! combination that finds the table full is counted under `httpStatusCode="other"` rather than
//! growing it. Recording is a handful of relaxed atomic additions.
//!
//! Series outlive reloads: a [`MetricsRegistry`] hands the same [`RouteMetrics`] to a route
//! that is still in the new configuration, so counters only ever grow while the route exists.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::Method;

use super::access::GatewayIdentity;
use crate::routes::RouteInfo;

/// Upper bounds of the latency histograms' buckets, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Series per route for (method, status) and for (method, backend status).
const SERIES_PER_ROUTE: usize = 32;

/// The methods that get their own label value; any other is `OTHER`.
const METHODS: [&str; 10] = [
    "OTHER", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 1,
        Method::HEAD => 2,
        Method::POST => 3,
        Method::PUT => 4,
        Method::PATCH => 5,
        Method::DELETE => 6,
        Method::OPTIONS => 7,
        Method::CONNECT => 8,
        Method::TRACE => 9,
        _ => 0,
    }
}

/// What the response cache did for a request, as OCI's `responseCacheResult` dimension says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheResult {
    /// Served from the cache.
    Hit,
    /// Not in the cache: the backend answered, and the response may have been stored.
    Miss,
    /// The request could not be served from the cache (not `GET`, `HEAD` or `OPTIONS`, carrying
    /// credentials, or the cache unreachable): the backend answered and nothing was stored.
    Bypass,
}

impl CacheResult {
    const ALL: [CacheResult; 3] = [CacheResult::Hit, CacheResult::Miss, CacheResult::Bypass];

    fn label(self) -> &'static str {
        match self {
            CacheResult::Hit => "HIT",
            CacheResult::Miss => "MISS",
            CacheResult::Bypass => "BYPASS",
        }
    }
}

/// A Prometheus histogram of durations: per-bucket counts (made cumulative when rendered),
/// the count and the sum in microseconds.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(i) = LATENCY_BUCKETS.iter().position(|&le| seconds <= le) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (le, bucket) in LATENCY_BUCKETS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {count}");
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{labels}}} {count}");
    }
}

/// What is counted for one (route, method, status).
#[derive(Debug, Default)]
struct ResponseSeries {
    responses: AtomicU64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    latency: Histogram,
    integration: Histogram,
    internal: Histogram,
}

/// A fixed-size map from a small non-zero key to a lazily created value, safe to use from
/// every thread without a lock: a slot is claimed once with a compare-and-swap on its key and
/// never released.
#[derive(Debug)]
struct SlotTable<T> {
    slots: Box<[(AtomicU32, OnceLock<T>)]>,
}

impl<T: Default> SlotTable<T> {
    fn new(size: usize) -> Self {
        Self {
            slots: (0..size)
                .map(|_| (AtomicU32::new(0), OnceLock::new()))
                .collect(),
        }
    }

    /// The value for `key` (non-zero), created on first use; `None` when every slot is taken
    /// by other keys.
    fn get(&self, key: u32) -> Option<&T> {
        for (slot_key, value) in self.slots.iter() {
            let current = slot_key.load(Relaxed);
            let claimed = current == key
                || (current == 0
                    && match slot_key.compare_exchange(0, key, Relaxed, Relaxed) {
                        Ok(_) => true,
                        Err(other) => other == key,
                    });
            if claimed {
                return Some(value.get_or_init(T::default));
            }
        }
        None
    }

    /// Claimed slots, in claim order.
    fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.slots
            .iter()
            .filter_map(|(key, value)| Some((key.load(Relaxed), value.get()?)))
            .filter(|(key, _)| *key != 0)
    }
}

fn series_key(method: usize, status: u16) -> u32 {
    ((method as u32) << 16) | u32::from(status)
}

fn split_key(key: u32) -> (&'static str, u16) {
    (METHODS[(key >> 16) as usize % METHODS.len()], key as u16)
}

/// One route's counters (or those of requests that matched no route).
#[derive(Debug)]
pub struct RouteMetrics {
    /// `deploymentName="…",route="…"`, escaped once.
    labels: String,
    backend_type: &'static str,
    requests: [AtomicU64; METHODS.len()],
    responses: SlotTable<ResponseSeries>,
    /// Counted when the table is full.
    overflow: ResponseSeries,
    backend_responses: SlotTable<AtomicU64>,
    backend_overflow: AtomicU64,
    cache: [AtomicU64; 3],
}

impl RouteMetrics {
    fn new(deployment: &str, route: &str, backend_type: &'static str) -> Self {
        Self {
            labels: format!(
                "deploymentName=\"{}\",route=\"{}\"",
                escape(deployment),
                escape(route)
            ),
            backend_type,
            requests: Default::default(),
            responses: SlotTable::new(SERIES_PER_ROUTE),
            overflow: ResponseSeries::default(),
            backend_responses: SlotTable::new(SERIES_PER_ROUTE),
            backend_overflow: AtomicU64::new(0),
            cache: Default::default(),
        }
    }

    /// A request arrived.
    pub(crate) fn request(&self, method: &Method) {
        self.requests[method_index(method)].fetch_add(1, Relaxed);
    }

    /// A response was sent in full (or the client went away): everything OCI counts per
    /// response.
    pub(crate) fn response(&self, method: &Method, outcome: &Outcome) {
        let series = self
            .responses
            .get(series_key(method_index(method), outcome.status))
            .unwrap_or(&self.overflow);
        series.responses.fetch_add(1, Relaxed);
        series.bytes_sent.fetch_add(outcome.bytes_sent, Relaxed);
        series
            .bytes_received
            .fetch_add(outcome.bytes_received, Relaxed);
        series.latency.observe(outcome.latency);
        series.integration.observe(outcome.integration);
        series
            .internal
            .observe(outcome.latency.saturating_sub(outcome.integration));
        if let Some(status) = outcome.backend_status {
            self.backend_responses
                .get(series_key(method_index(method), status))
                .unwrap_or(&self.backend_overflow)
                .fetch_add(1, Relaxed);
        }
        if let Some(cache) = outcome.cache {
            self.cache[cache as usize].fetch_add(1, Relaxed);
        }
    }
}

/// What one finished exchange measured.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome {
    pub(crate) status: u16,
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    /// First request byte seen by the gateway to the response fully sent.
    pub(crate) latency: Duration,
    /// Time spent waiting for backends, functions and authorizers.
    pub(crate) integration: Duration,
    pub(crate) backend_status: Option<u16>,
    pub(crate) cache: Option<CacheResult>,
}

/// Identifies a route across reloads: the same deployment, template and methods.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct RouteKey {
    deployment: Arc<str>,
    path: String,
    methods: String,
    backend: &'static str,
}

/// Every route's metrics, kept across reloads for the routes that remain.
#[derive(Debug)]
pub struct MetricsRegistry {
    routes: Mutex<BTreeMap<RouteKey, Arc<RouteMetrics>>>,
    unrouted: Arc<RouteMetrics>,
}

impl Default for MetricsRegistry {
    fn default() -> Self {
        Self {
            routes: Mutex::default(),
            unrouted: Arc::new(RouteMetrics::new("", "", "")),
        }
    }
}

impl MetricsRegistry {
    /// The metrics of each of `routes`, the same ones as before for a route that was already
    /// served. Routes no longer in the configuration are forgotten.
    pub(crate) fn bind<'a>(
        &self,
        routes: impl Iterator<Item = &'a RouteInfo>,
    ) -> Vec<Arc<RouteMetrics>> {
        let mut map = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut kept = BTreeMap::new();
        let bound = routes
            .map(|route| {
                let key = RouteKey {
                    deployment: route.deployment.clone(),
                    path: route.template.as_str().to_owned(),
                    methods: route.methods.to_string(),
                    backend: route.backend,
                };
                let metrics = map.remove(&key).unwrap_or_else(|| {
                    Arc::new(RouteMetrics::new(
                        &route.deployment,
                        route.template.as_str(),
                        route.backend,
                    ))
                });
                kept.insert(key, metrics.clone());
                metrics
            })
            .collect();
        *map = kept;
        bound
    }

    /// Requests that matched no deployment or route (404, 400 for a refused path).
    pub(crate) fn unrouted(&self) -> &Arc<RouteMetrics> {
        &self.unrouted
    }

    /// Appends every request metric to `out` in the Prometheus text format.
    pub fn render(&self, out: &mut String) {
        let routes: Vec<Arc<RouteMetrics>> = {
            let map = self
                .routes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::iter::once(self.unrouted.clone())
                .chain(map.values().cloned())
                .collect()
        };
        render_requests(out, &routes);
        render_responses(out, &routes);
        render_backend_responses(out, &routes);
        render_cache(out, &routes);
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn render_requests(out: &mut String, routes: &[Arc<RouteMetrics>]) {
    let name = "oci_apigateway_HttpRequests";
    header(out, name, "counter", "requests received");
    for route in routes {
        for (method, count) in METHODS.iter().zip(&route.requests) {
            let count = count.load(Relaxed);
            if count > 0 {
                let _ = writeln!(
                    out,
                    "{name}{{{},httpMethodType=\"{method}\",backendType=\"{}\"}} {count}",
                    route.labels, route.backend_type
                );
            }
        }
    }
}

/// Every (route, method, status) series with its labels, overflow included.
fn response_series(
    routes: &[Arc<RouteMetrics>],
) -> impl Iterator<Item = (String, &ResponseSeries)> {
    routes.iter().flat_map(|route| {
        let labels = move |method: &str, status: &str, category: &str| {
            format!(
                "{},httpMethodType=\"{method}\",backendType=\"{}\",httpStatusCode=\"{status}\",httpStatusCategory=\"{category}\"",
                route.labels, route.backend_type
            )
        };
        let table = route.responses.iter().map(move |(key, series)| {
            let (method, status) = split_key(key);
            let category = format!("{}xx", status / 100);
            (labels(method, &status.to_string(), &category), series)
        });
        let overflow = (route.overflow.responses.load(Relaxed) > 0)
            .then(|| (labels("OTHER", "other", "other"), &route.overflow));
        table.chain(overflow)
    })
}

/// A metric family rendered from every response series: name, help, and the series' field.
type Family<T> = (&'static str, &'static str, fn(&ResponseSeries) -> &T);

fn render_responses(out: &mut String, routes: &[Arc<RouteMetrics>]) {
    let counters: [Family<AtomicU64>; 3] = [
        ("HttpResponses", "responses sent", |s| &s.responses),
        ("BytesSent", "response body bytes sent to clients", |s| {
            &s.bytes_sent
        }),
        (
            "BytesReceived",
            "request body bytes received from clients",
            |s| &s.bytes_received,
        ),
    ];
    for (metric, help, counter) in counters {
        let name = format!("oci_apigateway_{metric}");
        header(out, &name, "counter", help);
        for (labels, series) in response_series(routes) {
            let _ = writeln!(out, "{name}{{{labels}}} {}", counter(series).load(Relaxed));
        }
    }
    let histograms: [Family<Histogram>; 3] = [
        (
            "Latency",
            "seconds from the request's arrival to the response fully sent",
            |s| &s.latency,
        ),
        (
            "IntegrationLatency",
            "seconds spent waiting for backends, functions and authorizers",
            |s| &s.integration,
        ),
        (
            "InternalLatency",
            "seconds of the gateway's own processing (Latency - IntegrationLatency)",
            |s| &s.internal,
        ),
    ];
    for (metric, help, histogram) in histograms {
        let name = format!("oci_apigateway_{metric}");
        header(out, &name, "histogram", help);
        for (labels, series) in response_series(routes) {
            histogram(series).render(out, &name, &labels);
        }
    }
}

fn render_backend_responses(out: &mut String, routes: &[Arc<RouteMetrics>]) {
    let name = "oci_apigateway_BackendHttpResponses";
    header(out, name, "counter", "responses received from backends");
    for route in routes {
        let table = route
            .backend_responses
            .iter()
            .map(|(key, count)| (split_key(key), count.load(Relaxed)));
        let overflow = (("OTHER", 0), route.backend_overflow.load(Relaxed));
        for ((method, status), count) in table.chain(std::iter::once(overflow)) {
            if count == 0 {
                continue;
            }
            let (status, category) = match status {
                0 => ("other".to_owned(), "other".to_owned()),
                s => (s.to_string(), format!("{}xx", s / 100)),
            };
            let _ = writeln!(
                out,
                "{name}{{{},httpMethodType=\"{method}\",backendType=\"{}\",backendHttpStatusCode=\"{status}\",backendHttpStatusCategory=\"{category}\"}} {count}",
                route.labels, route.backend_type
            );
        }
    }
}

fn render_cache(out: &mut String, routes: &[Arc<RouteMetrics>]) {
    let name = "oci_apigateway_ResponseCacheAction";
    header(out, name, "counter", "response cache outcomes");
    for route in routes {
        for result in CacheResult::ALL {
            let count = route.cache[result as usize].load(Relaxed);
            if count > 0 {
                let _ = writeln!(
                    out,
                    "{name}{{{},responseCacheResult=\"{}\"}} {count}",
                    route.labels,
                    result.label()
                );
            }
        }
    }
}

/// `gateway_info{gateway_id, node} 1`: which gateway and which replica of it these metrics
/// come from, to join other series on (Prometheus' info-metric pattern).
pub fn render_identity(identity: &GatewayIdentity, out: &mut String) {
    let _ = write!(
        out,
        "# HELP gateway_info the gateway (gatewayId) and this replica of it (node)\n\
         # TYPE gateway_info gauge\n\
         gateway_info{{gateway_id=\"{}\",node=\"{}\"}} 1\n",
        escape(&identity.id),
        escape(&identity.node),
    );
}

/// A label value as the text format wants it.
pub(crate) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: u16) -> Outcome {
        Outcome {
            status,
            bytes_sent: 10,
            bytes_received: 3,
            latency: Duration::from_millis(3),
            integration: Duration::from_millis(2),
            backend_status: Some(status),
            cache: Some(CacheResult::Miss),
        }
    }

    #[test]
    fn a_slot_table_gives_each_key_one_value_and_refuses_when_full() {
        let table: SlotTable<AtomicU64> = SlotTable::new(2);
        table.get(7).map(|v| v.fetch_add(1, Relaxed));
        table.get(7).map(|v| v.fetch_add(1, Relaxed));
        table.get(9).map(|v| v.fetch_add(1, Relaxed));
        assert!(table.get(11).is_none());
        let seen: Vec<(u32, u64)> = table.iter().map(|(k, v)| (k, v.load(Relaxed))).collect();
        assert_eq!(seen, [(7, 2), (9, 1)]);
    }

    #[test]
    fn responses_render_with_ocis_dimensions_and_cumulative_buckets() {
        let route = Arc::new(RouteMetrics::new("pets", "/cats/{id}", "HTTP_BACKEND"));
        route.request(&Method::GET);
        route.response(&Method::GET, &outcome(200));
        route.response(&Method::GET, &outcome(200));
        route.response(&Method::from_bytes(b"BREW").expect("method"), &outcome(418));
        let mut text = String::new();
        render_responses(&mut text, std::slice::from_ref(&route));
        render_backend_responses(&mut text, std::slice::from_ref(&route));
        render_cache(&mut text, std::slice::from_ref(&route));
        let labels = "deploymentName=\"pets\",route=\"/cats/{id}\",httpMethodType=\"GET\",backendType=\"HTTP_BACKEND\",httpStatusCode=\"200\",httpStatusCategory=\"2xx\"";
        for line in [
            format!("oci_apigateway_HttpResponses{{{labels}}} 2"),
            format!("oci_apigateway_BytesSent{{{labels}}} 20"),
            format!("oci_apigateway_BytesReceived{{{labels}}} 6"),
            format!("oci_apigateway_Latency_bucket{{{labels},le=\"0.0025\"}} 0"),
            format!("oci_apigateway_Latency_bucket{{{labels},le=\"0.005\"}} 2"),
            format!("oci_apigateway_Latency_bucket{{{labels},le=\"+Inf\"}} 2"),
            format!("oci_apigateway_InternalLatency_bucket{{{labels},le=\"0.001\"}} 2"),
            format!("oci_apigateway_Latency_count{{{labels}}} 2"),
            "oci_apigateway_ResponseCacheAction{deploymentName=\"pets\",route=\"/cats/{id}\",responseCacheResult=\"MISS\"} 3".to_owned(),
        ] {
            assert!(text.contains(&line), "missing {line} in\n{text}");
        }
        assert!(
            text.contains(
                "httpMethodType=\"OTHER\",backendType=\"HTTP_BACKEND\",httpStatusCode=\"418\""
            ),
            "{text}"
        );
        assert!(
            text.contains("backendHttpStatusCode=\"418\",backendHttpStatusCategory=\"4xx\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn a_full_table_counts_under_other_instead_of_growing() {
        let route = RouteMetrics::new("d", "/r", "STOCK_RESPONSE_BACKEND");
        for status in 200..(200 + SERIES_PER_ROUTE as u16 + 5) {
            route.response(&Method::GET, &outcome(status));
        }
        let mut text = String::new();
        render_responses(&mut text, &[Arc::new(route)]);
        let responses: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("oci_apigateway_HttpResponses{"))
            .collect();
        assert_eq!(responses.len(), SERIES_PER_ROUTE + 1, "{text}");
        assert!(
            text.contains("httpStatusCode=\"other\",httpStatusCategory=\"other\"} 5"),
            "{text}"
        );
    }
}
