//! The function runtime's metrics: processes by state, the queue, cold starts.

use std::fmt::Write;

use crate::function::RegisteredFunction;

use super::escape;

/// Appends the runtime metrics of every function that runs processes to `out`, in the
/// Prometheus text format, labelled with the function's `functionId` and `functionName`.
pub fn render_function_metrics<'a>(
    functions: impl IntoIterator<Item = &'a RegisteredFunction>,
    out: &mut String,
) {
    let mut rows: Vec<_> = functions
        .into_iter()
        .filter_map(|f| {
            let stats = f.invoker.runtime_stats()?;
            let labels = format!(
                "functionId=\"{}\",functionName=\"{}\"",
                escape(&f.id),
                escape(&f.name)
            );
            Some((labels, stats))
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let _ = writeln!(
        out,
        "# HELP gateway_function_processes function processes by state\n# TYPE gateway_function_processes gauge"
    );
    for (labels, stats) in &rows {
        for (state, count) in [
            ("idle", stats.idle),
            ("busy", stats.busy),
            ("starting", stats.starting),
        ] {
            let _ = writeln!(
                out,
                "gateway_function_processes{{{labels},state=\"{state}\"}} {count}"
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP gateway_function_queue_length calls waiting for a function process\n# TYPE gateway_function_queue_length gauge"
    );
    for (labels, stats) in &rows {
        let _ = writeln!(
            out,
            "gateway_function_queue_length{{{labels}}} {}",
            stats.queued
        );
    }
    let _ = writeln!(
        out,
        "# HELP gateway_function_cold_start_seconds time from spawning a function process to its socket accepting calls\n# TYPE gateway_function_cold_start_seconds summary"
    );
    for (labels, stats) in &rows {
        let _ = writeln!(
            out,
            "gateway_function_cold_start_seconds_sum{{{labels}}} {}\ngateway_function_cold_start_seconds_count{{{labels}}} {}",
            stats.cold_start_seconds, stats.cold_starts
        );
    }
}
