//! The gateway's counters in the Prometheus text format.

use std::fmt::Write;

use crate::limit::LimitCounters;
use crate::observe::escape;

use super::compile::CompiledGateway;

impl CompiledGateway {
    /// Appends the gateway's metrics to `out` in the Prometheus text exposition format:
    /// requests each deployment's rate limit and usage plans permitted and denied, and how
    /// often their shared store could not be reached (these counters start afresh when a reload
    /// replaces the gateway, as Prometheus counters may); the request bodies held whole and the
    /// requests refused for want of room for theirs (these survive reloads).
    pub fn render_metrics(&self, out: &mut String) {
        self.body_budget.render_metrics(out);
        let families = [
            (
                "RateLimiting",
                "requests decided by the deployment's rateLimiting policy",
            ),
            (
                "UsagePlans",
                "requests decided by the deployment's usage plans",
            ),
        ];
        for (family, help) in families {
            let name = format!("oci_apigateway_{family}Requests");
            let _ = writeln!(out, "# HELP {name} {help}, by outcome");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (_, deployment) in self.deployments.iter() {
                let limiter = match family {
                    "RateLimiting" => deployment.limiters.rate.as_ref().map(|l| l.counters()),
                    _ => deployment.limiters.usage.as_ref().map(|l| l.counters()),
                };
                if let Some(counters) = limiter {
                    write_outcomes(out, &name, &deployment.name, counters);
                }
            }
        }
    }
}

fn write_outcomes(out: &mut String, name: &str, deployment: &str, counters: &LimitCounters) {
    let deployment = escape(deployment);
    for (outcome, value) in [
        ("permitted", counters.permitted()),
        ("denied", counters.denied()),
        ("storeUnavailable", counters.store_unavailable()),
    ] {
        let _ = writeln!(
            out,
            "{name}{{deploymentName=\"{deployment}\",outcome=\"{outcome}\"}} {value}"
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::gateway::Gateway;

    #[test]
    fn limiters_are_reported_per_deployment() {
        let spec = r#"{ "requestPolicies": { "rateLimiting": { "rateInRequestsPerSecond": 5, "rateKey": "TOTAL" } },
            "routes": [ { "path": "/a", "methods": ["GET"],
              "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#;
        let gateway = Gateway::builder()
            .deployment("with \"quotes\"", "/a", spec)
            .compile()
            .expect("valid");
        let mut text = String::new();
        gateway.render_metrics(&mut text);
        assert!(
            text.contains("# TYPE oci_apigateway_RateLimitingRequests counter"),
            "{text}"
        );
        assert!(
            text.contains(
                "oci_apigateway_RateLimitingRequests{deploymentName=\"with \\\"quotes\\\"\",outcome=\"storeUnavailable\"} 0"
            ),
            "{text}"
        );
        assert!(
            !text.contains("oci_apigateway_UsagePlansRequests{"),
            "{text}"
        );
    }
}
