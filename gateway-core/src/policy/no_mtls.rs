//! `mutualTls` in a gateway built without the `mtls` feature: client certificates cannot be
//! verified, so a specification that asks for the policy fails to load rather than being
//! served without the check.

use std::sync::Arc;

use tower::Layer;

use super::client_ca::ClientCaBundles;
use crate::diagnostics::Diagnostics;
use crate::spec::MutualTlsDetails;

/// Stands in for the `mtls` feature's layer; never built, since [`MutualTlsLayer::compile`]
/// always refuses.
#[derive(Debug, Clone)]
pub(crate) enum MutualTlsLayer {}

impl MutualTlsLayer {
    /// Reports an error at `path`: this build cannot enforce `mutualTls`.
    pub(crate) fn compile(
        _details: &MutualTlsDetails,
        _cas: &Arc<ClientCaBundles>,
        path: &str,
        diags: &mut Diagnostics,
    ) -> Option<MutualTlsLayer> {
        diags
            .error(
                path,
                "mutualTls cannot be enforced: this gateway was built without the `mtls` feature",
            )
            .hint("build gateway-core with its default features (or --features mtls)");
        None
    }
}

impl<S> Layer<S> for MutualTlsLayer {
    type Service = S;

    fn layer(&self, _inner: S) -> S {
        match *self {}
    }
}

#[cfg(test)]
mod tests {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};

    use crate::gateway::Gateway;
    use crate::policy::ClientCaBundles;

    #[test]
    fn a_mutual_tls_policy_is_a_load_error_without_the_mtls_feature() {
        // With a CA loaded, so that the feature is the only thing missing.
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = params
            .self_signed(&KeyPair::generate().expect("key"))
            .expect("CA");
        let mut cas = ClientCaBundles::default();
        cas.add(ca.der().clone()).expect("a trust anchor");
        let spec = r#"{ "requestPolicies": { "mutualTls": { "isVerifiedCertificateRequired": true } },
            "routes": [ { "path": "/a", "methods": ["GET"],
              "backend": { "type": "STOCK_RESPONSE_BACKEND", "status": 200 } } ] }"#;
        let report = Gateway::builder()
            .client_ca(cas)
            .deployment("certs", "/certs", spec)
            .compile()
            .expect_err("never served without the check");
        let text = report.to_string();
        assert!(
            text.contains("error: requestPolicies.mutualTls: mutualTls cannot be enforced: this gateway was built without the `mtls` feature"),
            "{text}"
        );
    }
}
