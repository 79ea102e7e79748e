//! Metric families written through prometheus-client's encoder from values read at scrape
//! time.
//!
//! The gateway counts with plain relaxed atomics of its own, so that a request never takes a
//! lock or looks anything up in a registry; the collectors ([`crate::GatewayService`],
//! [`crate::server::ListenerStats`], [`crate::function::FunctionMetrics`]) read them when `/metrics` is
//! scraped and hand the values to these helpers, which leave the text to prometheus-client.

use std::fmt;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeGaugeValue, EncodeLabelSet, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::MetricType;

/// The labels of a family of one series.
pub(crate) const NO_LABELS: [(&str, &str); 0] = [];

/// Writes a counter family: `name` without `_total`, which the encoder appends to each sample.
pub(crate) fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    family(
        encoder,
        name,
        help,
        MetricType::Counter,
        series,
        |sample, value| sample.encode_counter::<NoLabelSet, _, u64>(value, None),
    )
}

/// Writes a gauge family.
pub(crate) fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (L, V)>,
) -> fmt::Result {
    family(
        encoder,
        name,
        help,
        MetricType::Gauge,
        series,
        |sample, value| sample.encode_gauge(value),
    )
}

/// Writes a family's descriptor, then each series with `write`.
pub(crate) fn family<L: EncodeLabelSet, V>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    kind: MetricType,
    series: impl IntoIterator<Item = (L, V)>,
    write: impl Fn(&mut MetricEncoder<'_>, &V) -> fmt::Result,
) -> fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in series {
        write(&mut metric.encode_family(&labels)?, &value)?;
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testing {
    //! Scrape output as a test reads it.

    use std::collections::BTreeMap;

    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::registry::Registry;

    /// The text a registry holding only `collector` is scraped as.
    pub(crate) fn scrape(collector: impl Collector) -> String {
        let mut registry = Registry::default();
        registry.register_collector(Box::new(collector));
        let mut text = String::new();
        encode(&mut text, &registry).expect("encodes");
        text
    }

    /// Each sample of `text`, series (name and labels) to value.
    pub(crate) fn samples(text: &str) -> BTreeMap<String, f64> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (series, value) = l.rsplit_once(' ').expect("a sample line");
                (series.to_owned(), value.parse().expect("a number"))
            })
            .collect()
    }
}
