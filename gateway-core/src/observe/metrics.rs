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
//!
//! A scrape reads the atomics and writes them through prometheus-client's encoder
//! ([`MetricsRegistry::encode`]); counters get its `_total` suffix
//! (`oci_apigateway_HttpRequests_total`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use http::Method;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::encode::{counters, family};

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

/// A Prometheus histogram of durations: per-bucket counts, the last one past every bound
/// (`+Inf`), and the sum in microseconds. The count is the buckets' sum, so a scrape never sees
/// a count that disagrees with them.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros().min(u64::MAX as u128) as u64, Relaxed);
    }

    /// Writes the histogram's sample (the encoder makes the bucket counts cumulative).
    fn encode(&self, metric: &mut MetricEncoder<'_>) -> fmt::Result {
        let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .chain([&f64::INFINITY])
            .zip(&self.buckets)
            .map(|(&le, bucket)| (le, bucket.load(Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        metric.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
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

/// The names of a status code's labels and of its category's.
type StatusNames = [&'static str; 2];
const RESPONSE_STATUS: StatusNames = ["httpStatusCode", "httpStatusCategory"];
const BACKEND_STATUS: StatusNames = ["backendHttpStatusCode", "backendHttpStatusCategory"];

/// A status code and its category (`404`, `4xx`); `0` for the series of a full table (`other`).
fn status_labels(names: StatusNames, status: u16) -> [(&'static str, String); 2] {
    let (code, category) = match status {
        0 => ("other".to_owned(), "other".to_owned()),
        s => (s.to_string(), format!("{}xx", s / 100)),
    };
    [(names[0], code), (names[1], category)]
}

/// The labels of a (route, method) series.
type RouteLabels<'a> = [(&'static str, &'a str); 4];

/// The labels of a (route, method, status) series.
type StatusLabels<'a> = (RouteLabels<'a>, [(&'static str, String); 2]);

/// One route's counters (or those of requests that matched no route).
#[derive(Debug)]
pub struct RouteMetrics {
    deployment: String,
    route: String,
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
            deployment: deployment.to_owned(),
            route: route.to_owned(),
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

    fn labels(&self, method: &'static str) -> RouteLabels<'_> {
        [
            ("deploymentName", &self.deployment),
            ("route", &self.route),
            ("httpMethodType", method),
            ("backendType", self.backend_type),
        ]
    }

    fn status_labels(&self, names: StatusNames, key: u32) -> StatusLabels<'_> {
        let (method, status) = split_key(key);
        (self.labels(method), status_labels(names, status))
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
pub(crate) struct RouteKey {
    /// The deployment's name.
    pub(crate) deployment: Arc<str>,
    /// The route's path template, relative to the deployment's prefix.
    pub(crate) path: String,
    /// The methods the route answers, as listed in `Allow`.
    pub(crate) methods: String,
    /// The backend `type`.
    pub(crate) backend: &'static str,
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
    pub(crate) fn bind(&self, routes: impl Iterator<Item = RouteKey>) -> Vec<Arc<RouteMetrics>> {
        let mut map = self
            .routes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut kept = BTreeMap::new();
        let bound = routes
            .map(|key| {
                let metrics = map.remove(&key).unwrap_or_else(|| {
                    Arc::new(RouteMetrics::new(&key.deployment, &key.path, key.backend))
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

    /// Writes every request metric through `encoder`, reading the counters as they are now.
    pub(crate) fn encode(&self, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        let routes: Vec<Arc<RouteMetrics>> = {
            let map = self
                .routes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            std::iter::once(self.unrouted.clone())
                .chain(map.values().cloned())
                .collect()
        };
        encode_routes(encoder, &routes)
    }
}

fn encode_routes(encoder: &mut DescriptorEncoder<'_>, routes: &[Arc<RouteMetrics>]) -> fmt::Result {
    encode_requests(encoder, routes)?;
    encode_responses(encoder, routes)?;
    encode_backend_responses(encoder, routes)?;
    encode_cache(encoder, routes)
}

fn encode_requests(
    encoder: &mut DescriptorEncoder<'_>,
    routes: &[Arc<RouteMetrics>],
) -> fmt::Result {
    let series = routes.iter().flat_map(|route| {
        METHODS
            .iter()
            .zip(&route.requests)
            .map(|(method, count)| (route.labels(method), count.load(Relaxed)))
            .filter(|(_, count)| *count > 0)
    });
    counters(
        encoder,
        "oci_apigateway_HttpRequests",
        "requests received",
        series,
    )
}

/// Every (route, method, status) series with its labels, overflow included.
fn response_series(
    routes: &[Arc<RouteMetrics>],
) -> impl Iterator<Item = (StatusLabels<'_>, &ResponseSeries)> {
    routes.iter().flat_map(|route| {
        let table = route
            .responses
            .iter()
            .map(|(key, series)| (route.status_labels(RESPONSE_STATUS, key), series));
        let overflow = (route.overflow.responses.load(Relaxed) > 0)
            .then(|| (route.status_labels(RESPONSE_STATUS, 0), &route.overflow));
        table.chain(overflow)
    })
}

/// A metric family written from every response series: name, help, and the series' field.
type Family<T> = (&'static str, &'static str, fn(&ResponseSeries) -> &T);

fn encode_responses(
    encoder: &mut DescriptorEncoder<'_>,
    routes: &[Arc<RouteMetrics>],
) -> fmt::Result {
    let totals: [Family<AtomicU64>; 3] = [
        ("oci_apigateway_HttpResponses", "responses sent", |s| {
            &s.responses
        }),
        (
            "oci_apigateway_BytesSent",
            "response body bytes sent to clients",
            |s| &s.bytes_sent,
        ),
        (
            "oci_apigateway_BytesReceived",
            "request body bytes received from clients",
            |s| &s.bytes_received,
        ),
    ];
    for (name, help, counter) in totals {
        let series = response_series(routes).map(|(labels, s)| (labels, counter(s).load(Relaxed)));
        counters(encoder, name, help, series)?;
    }
    let histograms: [Family<Histogram>; 3] = [
        (
            "oci_apigateway_Latency",
            "seconds from the request's arrival to the response fully sent",
            |s| &s.latency,
        ),
        (
            "oci_apigateway_IntegrationLatency",
            "seconds spent waiting for backends, functions and authorizers",
            |s| &s.integration,
        ),
        (
            "oci_apigateway_InternalLatency",
            "seconds of the gateway's own processing (Latency - IntegrationLatency)",
            |s| &s.internal,
        ),
    ];
    for (name, help, histogram) in histograms {
        let series = response_series(routes).map(|(labels, s)| (labels, histogram(s)));
        family(
            encoder,
            name,
            help,
            MetricType::Histogram,
            series,
            |metric, h| h.encode(metric),
        )?;
    }
    Ok(())
}

fn encode_backend_responses(
    encoder: &mut DescriptorEncoder<'_>,
    routes: &[Arc<RouteMetrics>],
) -> fmt::Result {
    let series = routes.iter().flat_map(|route| {
        let table = route
            .backend_responses
            .iter()
            .map(|(key, count)| (key, count.load(Relaxed)));
        // Key 0: method OTHER, status 0, `other`.
        let overflow = (0, route.backend_overflow.load(Relaxed));
        table
            .chain([overflow])
            .filter(|(_, count)| *count > 0)
            .map(|(key, count)| (route.status_labels(BACKEND_STATUS, key), count))
    });
    counters(
        encoder,
        "oci_apigateway_BackendHttpResponses",
        "responses received from backends",
        series,
    )
}

fn encode_cache(encoder: &mut DescriptorEncoder<'_>, routes: &[Arc<RouteMetrics>]) -> fmt::Result {
    let series = routes.iter().flat_map(|route| {
        CacheResult::ALL
            .into_iter()
            .map(|result| {
                let labels = [
                    ("deploymentName", route.deployment.as_str()),
                    ("route", &route.route),
                    ("responseCacheResult", result.label()),
                ];
                (labels, route.cache[result as usize].load(Relaxed))
            })
            .filter(|(_, count)| *count > 0)
    });
    counters(
        encoder,
        "oci_apigateway_ResponseCacheAction",
        "response cache outcomes",
        series,
    )
}

#[cfg(test)]
mod tests {
    use prometheus_client::collector::Collector;

    use super::*;
    use crate::observe::encode::testing::{samples, scrape};

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

    /// Routes scraped on their own.
    #[derive(Debug)]
    struct Routes(Vec<Arc<RouteMetrics>>);

    impl Collector for Routes {
        fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
            encode_routes(&mut encoder, &self.0)
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
    fn responses_are_scraped_with_ocis_dimensions_and_cumulative_buckets() {
        let route = Arc::new(RouteMetrics::new("pets", "/cats/{id}", "HTTP_BACKEND"));
        route.request(&Method::GET);
        route.response(&Method::GET, &outcome(200));
        route.response(&Method::GET, &outcome(200));
        route.response(&Method::from_bytes(b"BREW").expect("method"), &outcome(418));
        route.response(
            &Method::GET,
            &Outcome {
                latency: Duration::from_secs(11),
                ..outcome(200)
            },
        );
        let text = scrape(Routes(vec![route]));
        let samples = samples(&text);
        let route = "deploymentName=\"pets\",route=\"/cats/{id}\"";
        let labels = format!("{route},httpMethodType=\"GET\",backendType=\"HTTP_BACKEND\",httpStatusCode=\"200\",httpStatusCategory=\"2xx\"");
        let brew = format!("{route},httpMethodType=\"OTHER\",backendType=\"HTTP_BACKEND\"");
        for (series, value) in [
            (format!("oci_apigateway_HttpRequests_total{{{route},httpMethodType=\"GET\",backendType=\"HTTP_BACKEND\"}}"), 1.0),
            (format!("oci_apigateway_HttpResponses_total{{{labels}}}"), 3.0),
            (format!("oci_apigateway_BytesSent_total{{{labels}}}"), 30.0),
            (format!("oci_apigateway_BytesReceived_total{{{labels}}}"), 9.0),
            (format!("oci_apigateway_Latency_bucket{{le=\"0.0025\",{labels}}}"), 0.0),
            (format!("oci_apigateway_Latency_bucket{{le=\"0.005\",{labels}}}"), 2.0),
            (format!("oci_apigateway_Latency_bucket{{le=\"10.0\",{labels}}}"), 2.0),
            (format!("oci_apigateway_Latency_bucket{{le=\"+Inf\",{labels}}}"), 3.0),
            (format!("oci_apigateway_Latency_count{{{labels}}}"), 3.0),
            (format!("oci_apigateway_Latency_sum{{{labels}}}"), 11.006),
            (format!("oci_apigateway_InternalLatency_bucket{{le=\"0.001\",{labels}}}"), 2.0),
            (format!("oci_apigateway_HttpResponses_total{{{brew},httpStatusCode=\"418\",httpStatusCategory=\"4xx\"}}"), 1.0),
            (format!("oci_apigateway_BackendHttpResponses_total{{{brew},backendHttpStatusCode=\"418\",backendHttpStatusCategory=\"4xx\"}}"), 1.0),
            (format!("oci_apigateway_ResponseCacheAction_total{{{route},responseCacheResult=\"MISS\"}}"), 4.0),
        ] {
            assert_eq!(samples.get(&series), Some(&value), "{series} in\n{text}");
        }
        assert!(
            text.contains("# TYPE oci_apigateway_Latency histogram\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE oci_apigateway_HttpRequests counter\n"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let route = Arc::new(RouteMetrics::new("say \"hi\"\\", "/a\nb", "HTTP_BACKEND"));
        route.request(&Method::GET);
        let text = scrape(Routes(vec![route]));
        assert!(
            text.contains("oci_apigateway_HttpRequests_total{deploymentName=\"say \\\"hi\\\"\\\\\",route=\"/a\\nb\","),
            "{text}"
        );
    }

    #[test]
    fn a_full_table_counts_under_other_instead_of_growing() {
        let route = RouteMetrics::new("d", "/r", "STOCK_RESPONSE_BACKEND");
        for status in 200..(200 + SERIES_PER_ROUTE as u16 + 5) {
            route.response(&Method::GET, &outcome(status));
        }
        let text = scrape(Routes(vec![Arc::new(route)]));
        let samples = samples(&text);
        let responses: Vec<&String> = samples
            .keys()
            .filter(|series| series.starts_with("oci_apigateway_HttpResponses_total{"))
            .collect();
        assert_eq!(responses.len(), SERIES_PER_ROUTE + 1, "{text}");
        let other = "oci_apigateway_HttpResponses_total{deploymentName=\"d\",route=\"/r\",httpMethodType=\"OTHER\",backendType=\"STOCK_RESPONSE_BACKEND\",httpStatusCode=\"other\",httpStatusCategory=\"other\"}";
        assert_eq!(samples.get(other), Some(&5.0), "{text}");
    }
}
