//! The function runtime's metrics: processes by state, the queue, cold starts.

use std::fmt;
use std::sync::{Mutex, PoisonError};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::{RegisteredFunction, RuntimeStats};
use crate::observe::encode::{family, gauges};

/// A collector of the runtime metrics of every function that runs processes, labelled with the
/// function's `functionId` and `functionName`, read from the processes' pools when scraped.
///
/// It reports on the functions last given to [`FunctionMetrics::set`]: the set being served
/// changes on reload and may sit behind an async lock, which a scrape (synchronous) cannot
/// wait for; whoever serves `/metrics` hands over the current set just before encoding.
#[derive(Debug, Default)]
pub struct FunctionMetrics {
    functions: Mutex<Vec<RegisteredFunction>>,
}

impl FunctionMetrics {
    /// The functions to report on from now on.
    pub fn set<'a>(&self, functions: impl IntoIterator<Item = &'a RegisteredFunction>) {
        *self
            .functions
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = functions.into_iter().cloned().collect();
    }
}

impl Collector for FunctionMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        let mut rows: Vec<([(&str, &str); 2], RuntimeStats)> = Vec::new();
        let functions = self
            .functions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for function in functions.iter() {
            if let Some(stats) = function.invoker.runtime_stats() {
                let labels = [
                    ("functionId", &*function.id),
                    ("functionName", function.name.as_str()),
                ];
                rows.push((labels, stats));
            }
        }
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let by_state = rows.iter().flat_map(|(labels, stats)| {
            [
                ("idle", stats.idle),
                ("busy", stats.busy),
                ("starting", stats.starting),
            ]
            .map(|(state, count)| ((*labels, [("state", state)]), count))
        });
        gauges(
            &mut encoder,
            "gateway_function_processes",
            "function processes by state",
            by_state,
        )?;
        gauges(
            &mut encoder,
            "gateway_function_queue_length",
            "calls waiting for a function process",
            rows.iter().map(|(labels, stats)| (*labels, stats.queued)),
        )?;
        // A histogram of one bucket: prometheus-client has no summary type, and the pools keep
        // only the count and the sum, which is what `_count` and `_sum` carry either way.
        family(
            &mut encoder,
            "gateway_function_cold_start_seconds",
            "time from spawning a function process to its socket accepting calls",
            MetricType::Histogram,
            rows.iter().map(|(labels, stats)| (*labels, *stats)),
            |metric, stats| {
                metric.encode_histogram::<NoLabelSet>(
                    stats.cold_start_seconds,
                    stats.cold_starts,
                    &[(f64::INFINITY, stats.cold_starts)],
                    None,
                )
            },
        )
    }
}
