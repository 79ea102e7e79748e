//! Per-request evaluation: lookups through [`VarSource`], no allocation but the output string.

use super::{Part, Table, VarRef, VarSource};

impl VarRef {
    /// The variable's value from `src`; absent or unknown → `None`.
    pub fn value<'a>(&self, src: &'a (impl VarSource + ?Sized)) -> Option<&'a str> {
        // Parsing guarantees a key for every table that takes one.
        let key = self.key.as_deref().unwrap_or_default();
        match self.table {
            Table::Path => src.path_param(key),
            Table::Query => src.query_param(key),
            Table::Headers => src.header(key),
            Table::Auth => src.auth(key),
            Table::Host => src.host(),
            Table::Subdomain => subdomain(src.host()?, key),
            Table::Cert => src.cert(key),
            Table::UsagePlan => src.usage_plan(key),
            Table::Body => src.body(),
        }
    }
}

/// `request.subdomain[suffix]`: what precedes `.suffix` in the host, compared
/// case-insensitively after dropping any `:port`. `None` when the host does not end in
/// `.suffix` (including when it *is* the suffix), since there is no subdomain to report.
pub(super) fn subdomain<'a>(host: &'a str, suffix: &str) -> Option<&'a str> {
    let host = strip_port(host);
    let cut = host.len().checked_sub(suffix.len())?;
    if !host.as_bytes()[cut..].eq_ignore_ascii_case(suffix.as_bytes()) {
        return None;
    }
    // `get` rather than indexing: `cut` is a char boundary whenever the bytes matched, but
    // saying so costs nothing and can never panic.
    let lead = host.get(..cut)?.strip_suffix('.')?;
    (!lead.is_empty()).then_some(lead)
}

/// Drops a trailing `:port` from a host (`example.com:8443`, `[::1]:80`), leaving a bare IPv6
/// literal such as `::1` alone.
pub(super) fn strip_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port))
            if port.bytes().all(|b| b.is_ascii_digit())
                && (!name.contains(':') || name.ends_with(']')) =>
        {
            name
        }
        _ => host,
    }
}

pub(super) fn rendered_len(parts: &[Part], src: &(impl VarSource + ?Sized)) -> usize {
    parts
        .iter()
        .map(|part| match part {
            Part::Literal(text) => text.len(),
            Part::Var(var) => var.value(src).map_or(0, str::len),
        })
        .sum()
}

pub(super) fn render_into(parts: &[Part], src: &(impl VarSource + ?Sized), out: &mut String) {
    for part in parts {
        match part {
            Part::Literal(text) => out.push_str(text),
            Part::Var(var) => out.push_str(var.value(src).unwrap_or_default()),
        }
    }
}
