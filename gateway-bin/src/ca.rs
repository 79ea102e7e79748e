//! `[gateway] ca_bundles`: private CAs trusted beside the system's roots for HTTP backends,
//! functions in OCI and identity providers.

use std::path::PathBuf;

use gateway_core::diagnostics::Diagnostics;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

/// The certificates of `[gateway] ca_bundles`, trusted beside the system's roots for HTTP
/// backends, functions in OCI and identity providers. Unreadable files are reported.
pub(crate) fn roots(paths: &[PathBuf], problems: &mut Diagnostics) -> Vec<CertificateDer<'static>> {
    let mut roots = Vec::new();
    for path in paths {
        let read = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|pem| {
                let certs = CertificateDer::pem_slice_iter(&pem)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("not a PEM certificate bundle: {e}"))?;
                if certs.is_empty() {
                    return Err("no PEM certificate in it".to_owned());
                }
                Ok(certs)
            });
        match read {
            Ok(certs) => roots.extend(certs),
            Err(e) => {
                problems.error("gateway.ca_bundles", format!("{}: {e}", path.display()));
            }
        }
    }
    roots
}
