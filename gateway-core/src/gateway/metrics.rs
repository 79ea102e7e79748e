//! The gateway's metrics, collected at scrape time for prometheus-client.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use crate::limit::LimitCounters;
use crate::observe::encode::counters;

use super::compile::{CompiledDeployment, CompiledGateway};
use super::GatewayService;

/// Everything the gateway counts, read when scraped: the request metrics (which survive
/// reloads), and the counters of the configuration served at that moment.
///
/// ```
/// # fn scrape(gateway: gateway_core::GatewayService) -> Result<String, std::fmt::Error> {
/// let mut registry = prometheus_client::registry::Registry::default();
/// registry.register_collector(Box::new(gateway));
/// let mut text = String::new();
/// prometheus_client::encoding::text::encode(&mut text, &registry)?;
/// # Ok(text)
/// # }
/// ```
impl Collector for GatewayService {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        self.observer().metrics.encode(&mut encoder)?;
        self.current().encode_metrics(&mut encoder)
    }
}

impl CompiledGateway {
    /// Writes the requests each deployment's rate limit and usage plans permitted and denied,
    /// and how often their shared store could not be reached (these counters start afresh
    /// when a reload replaces the gateway, as Prometheus counters may); the request bodies held
    /// whole and the requests refused for want of room for theirs (these survive reloads).
    fn encode_metrics(&self, encoder: &mut DescriptorEncoder<'_>) -> fmt::Result {
        self.body_budget.encode_metrics(encoder)?;
        let families: [(&str, &str, LimiterOf); 2] = [
            (
                "oci_apigateway_RateLimitingRequests",
                "requests decided by the deployment's rateLimiting policy, by outcome",
                |d| Some(d.limiters.rate.as_ref()?.counters()),
            ),
            (
                "oci_apigateway_UsagePlansRequests",
                "requests decided by the deployment's usage plans, by outcome",
                |d| Some(d.limiters.usage.as_ref()?.counters()),
            ),
        ];
        for (name, help, limiter_of) in families {
            let limiters = self
                .deployments
                .iter()
                .filter_map(|(_, d)| Some((&*d.name, limiter_of(d)?)));
            limiter_outcomes(encoder, name, help, limiters)?;
        }
        Ok(())
    }
}

/// One of a deployment's limiters' counters, if it has that limiter.
type LimiterOf = fn(&CompiledDeployment) -> Option<&LimitCounters>;

fn limiter_outcomes<'a>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    limiters: impl Iterator<Item = (&'a str, &'a LimitCounters)>,
) -> fmt::Result {
    let series = limiters.flat_map(|(deployment, counters)| {
        [
            ("permitted", counters.permitted()),
            ("denied", counters.denied()),
            ("storeUnavailable", counters.store_unavailable()),
        ]
        .map(|(outcome, value)| {
            let labels = [("deploymentName", deployment), ("outcome", outcome)];
            (labels, value)
        })
    });
    counters(encoder, name, help, series)
}

#[cfg(test)]
mod tests {
    use crate::gateway::{Gateway, GatewayService};
    use crate::observe::encode::testing::{samples, scrape};

    #[test]
    fn limiters_are_reported_per_deployment() {
        let spec = r#"{ "requestPolicies": { "rateLimiting": { "rateInRequestsPerSecond": 5, "rateKey": "TOTAL" } },
            "routes": [ { "path": "/a", "methods": ["GET"],
              "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#;
        let gateway = Gateway::builder()
            .deployment("with \"quotes\"", "/a", spec)
            .compile()
            .expect("valid");
        let text = scrape(GatewayService::new(gateway));
        assert!(
            text.contains("# TYPE oci_apigateway_RateLimitingRequests counter\n"),
            "{text}"
        );
        let samples = samples(&text);
        for outcome in ["permitted", "denied", "storeUnavailable"] {
            let series = format!("oci_apigateway_RateLimitingRequests_total{{deploymentName=\"with \\\"quotes\\\"\",outcome=\"{outcome}\"}}");
            assert_eq!(samples.get(&series), Some(&0.0), "{series} in\n{text}");
        }
        assert!(
            !text.contains("oci_apigateway_UsagePlansRequests_total{"),
            "{text}"
        );
    }
}
