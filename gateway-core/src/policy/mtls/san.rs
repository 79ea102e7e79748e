//! `allowedSans` patterns and the names of a certificate they are compared with.

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// One `allowedSans` entry, lower-cased once at load.
///
/// `*` may stand at the start and/or the end (the loader refuses it elsewhere) and matches one
/// or more characters of any kind, dots included: `*.example.com` accepts `a.example.com` and
/// `a.b.example.com` but not `example.com`; `server.example.*` accepts `server.example.org`.
/// Without `*` the name must be equal. Comparison ignores ASCII case, as SANs are ASCII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SanPattern {
    core: String,
    any_prefix: bool,
    any_suffix: bool,
}

impl SanPattern {
    pub(crate) fn new(pattern: &str) -> Self {
        let lower = pattern.to_ascii_lowercase();
        let (any_prefix, rest) = match lower.strip_prefix('*') {
            Some(rest) => (true, rest),
            None => (false, lower.as_str()),
        };
        let (any_suffix, core) = match rest.strip_suffix('*') {
            Some(core) => (true, core),
            None => (false, rest),
        };
        Self {
            core: core.to_owned(),
            any_prefix,
            any_suffix,
        }
    }

    /// Whether `name` matches.
    pub(crate) fn matches(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let core = self.core.as_str();
        match (self.any_prefix, self.any_suffix) {
            (false, false) => name == core,
            (true, false) => name.len() > core.len() && name.ends_with(core),
            (false, true) => name.len() > core.len() && name.starts_with(core),
            // The core must sit strictly inside, with at least one character on each side.
            (true, true) => name
                .get(1..name.len().saturating_sub(1))
                .is_some_and(|inner| inner.contains(core)),
        }
    }
}

/// The DNS, URI and email SANs of a DER certificate, or why they cannot be read.
pub(crate) fn names(der: &[u8]) -> Result<Vec<String>, String> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| format!("the certificate cannot be parsed: {e}"))?;
    let Some(san) = cert
        .subject_alternative_name()
        .map_err(|e| format!("the subjectAltName extension cannot be read: {e}"))?
    else {
        return Ok(Vec::new());
    };
    Ok(san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(n) | GeneralName::URI(n) | GeneralName::RFC822Name(n) => {
                Some((*n).to_owned())
            }
            _ => None,
        })
        .collect())
}
