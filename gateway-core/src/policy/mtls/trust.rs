//! Client certificate chains verified against the gateway's CA bundles.

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::UnixTime;
use webpki::{EndEntityCert, KeyUsage};

use crate::context::ClientCertificate;
use crate::policy::client_ca::ClientCaBundles;

/// Most certificates a client may present, leaf included: the leaf and up to two intermediates
/// below a CA of the bundles (OCI's chain depth of 3). Paths are built only from what the
/// client presents, so bounding the presented chain bounds every path.
const MAX_CHAIN_DEPTH: usize = 3;

impl ClientCaBundles {
    /// Checks that `cert` chains to one of the CAs at `now`, is usable for client
    /// authentication (its EKU, when it has one, includes clientAuth) and is no deeper than
    /// [`MAX_CHAIN_DEPTH`]. The error says why not, for the log.
    pub(crate) fn verify(
        &self,
        cert: &ClientCertificate,
        algorithms: &WebPkiSupportedAlgorithms,
        now: UnixTime,
    ) -> Result<(), String> {
        if cert.intermediates().len() + 1 > MAX_CHAIN_DEPTH {
            return Err(format!(
                "the chain has {} certificates; at most {MAX_CHAIN_DEPTH} are accepted",
                cert.intermediates().len() + 1
            ));
        }
        let leaf = EndEntityCert::try_from(cert.leaf())
            .map_err(|e| format!("the certificate cannot be parsed: {e}"))?;
        leaf.verify_for_usage(
            algorithms.all,
            &self.roots.roots,
            cert.intermediates(),
            now,
            KeyUsage::client_auth(),
            None,
            None,
        )
        .map(|_| ())
        .map_err(|e| format!("the certificate is not trusted: {e}"))
    }
}
