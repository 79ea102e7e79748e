//! Problems found while loading a specification or a configuration.
//!
//! Loading never stops at the first problem: every check pushes a [`Diagnostic`] into a
//! [`Diagnostics`] list and goes on, so a user sees everything that is wrong in one run.
//! Each diagnostic names the place with a JSON path (`routes[3].backend.type`), says what is
//! wrong, and, where one exists, how to fix it.

use std::fmt;

/// How serious a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing, does not stop the deployment (an OCI limit exceeded, a doc-spelling alias).
    Warning,
    /// The deployment cannot be served as written.
    Error,
}

/// What kind of problem a diagnostic reports; lets tools and `--strict` tell them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Malformed or invalid input.
    Invalid,
    /// One of OCI's documented service limits is exceeded; `--strict` makes it an error.
    Limit,
    /// A documented doc-spelling alias was used instead of the SDK spelling.
    Alias,
    /// A policy or backend this build does not enforce yet.
    Unsupported,
    /// IAM policies do not let the gateway invoke a function a route uses.
    Permission,
    /// A route names a function nothing here is bound to (a specification served without a
    /// config that declares its functions).
    UnboundFunction,
    /// Something an imported API description asks for that the deployment does not do yet
    /// (an authentication scheme): to configure by hand.
    Configure,
}

/// One problem, located by a JSON path into the document it came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// Whether the problem stops the deployment.
    pub severity: Severity,
    /// What kind of problem it is.
    pub kind: Kind,
    /// JSON path such as `routes[3].backend.type`; empty for the document itself.
    pub path: String,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it, when there is a likely fix; set with [`Diagnostic::hint()`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// Everything but the severity: `path: message (hint: …)`, the path `(document)` when the
    /// problem is the whole document.
    pub fn details(&self) -> String {
        let path = if self.path.is_empty() {
            "(document)"
        } else {
            &self.path
        };
        match &self.hint {
            Some(hint) => format!("{path}: {} (hint: {hint})", self.message),
            None => format!("{path}: {}", self.message),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Warning => "warning",
            Severity::Error => "error",
        };
        write!(f, "{level}: {}", self.details())
    }
}

/// An ordered collection of diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Diagnostics(Vec<Diagnostic>);

impl Diagnostics {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records an error of kind [`Kind::Invalid`].
    pub fn error(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Error, Kind::Invalid, path, message)
    }

    /// Records a warning of the given kind.
    pub fn warning(
        &mut self,
        kind: Kind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(Severity::Warning, kind, path, message)
    }

    /// Records a diagnostic and returns it, so a hint can be attached:
    /// `diags.error(path, "…").hint("…")`.
    pub fn push(
        &mut self,
        severity: Severity,
        kind: Kind,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.0.push(Diagnostic {
            severity,
            kind,
            path: path.into(),
            message: message.into(),
            hint: None,
        });
        let last = self.0.len() - 1;
        &mut self.0[last]
    }

    /// Appends every diagnostic of `other`, prefixing each path with `prefix` (joined with `.`).
    pub fn extend_prefixed(&mut self, prefix: &str, other: Diagnostics) {
        for mut d in other.0 {
            d.path = join_path(prefix, &d.path);
            self.0.push(d);
        }
    }

    /// Appends every diagnostic of `other`, paths unchanged.
    pub fn extend(&mut self, other: Diagnostics) {
        self.0.extend(other.0);
    }

    /// Turns every [`Kind::Limit`] warning into an error (`--strict`).
    pub fn make_limits_errors(&mut self) {
        for d in &mut self.0 {
            if d.kind == Kind::Limit {
                d.severity = Severity::Error;
            }
        }
    }

    /// Whether any diagnostic is an error, i.e. the input cannot be served as written.
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    /// The errors, in the order they were recorded.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Error)
    }

    /// The warnings, in the order they were recorded.
    pub fn warnings(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(|d| d.severity == Severity::Warning)
    }

    /// The diagnostics of `kind`, errors and warnings alike, in the order they were recorded.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter().filter(move |d| d.kind == kind)
    }

    /// Every diagnostic, in the order it was recorded.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// The number of diagnostics, errors and warnings together.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The diagnostics as a vector, in the order they were recorded.
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.0
    }
}

impl Diagnostic {
    /// Attaches a fix hint.
    pub fn hint(&mut self, hint: impl Into<String>) -> &mut Self {
        self.hint = Some(hint.into());
        self
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Joins two JSON path fragments: `join_path("routes[1]", "backend.type")` is
/// `routes[1].backend.type`, and an index fragment is glued on without a dot.
pub fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) if rest.starts_with('[') => format!("{prefix}{rest}"),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

/// The closest candidate to `input` by edit distance, when it is close enough to be a likely
/// typo; used for "did you mean" hints.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (levenshtein(&input_lower, &c.to_ascii_lowercase()), c))
        .filter(|(d, c)| *d <= (c.len().max(input.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_and_renders_with_paths_and_hints() {
        let mut d = Diagnostics::new();
        d.error("routes[3].backend.type", "unknown backend type \"HTTP\"")
            .hint("expected one of HTTP_BACKEND, ORACLE_FUNCTIONS_BACKEND");
        d.warning(Kind::Limit, "routes", "51 routes; OCI allows at most 50");
        assert!(d.has_errors());
        assert_eq!(d.errors().count(), 1);
        assert_eq!(
            d.to_string(),
            "error: routes[3].backend.type: unknown backend type \"HTTP\" (hint: expected one of HTTP_BACKEND, ORACLE_FUNCTIONS_BACKEND)\n\
             warning: routes: 51 routes; OCI allows at most 50\n"
        );
    }

    #[test]
    fn strict_turns_limits_into_errors_only() {
        let mut d = Diagnostics::new();
        d.warning(Kind::Limit, "routes", "too many");
        d.warning(Kind::Alias, "x", "alias");
        d.make_limits_errors();
        assert_eq!(d.errors().count(), 1);
        assert_eq!(d.warnings().count(), 1);
    }

    #[test]
    fn prefixes_join_with_dots_and_brackets() {
        assert_eq!(
            join_path("routes[1]", "backend.type"),
            "routes[1].backend.type"
        );
        assert_eq!(join_path("routes", "[1]"), "routes[1]");
        assert_eq!(join_path("", "routes"), "routes");
        assert_eq!(join_path("a", ""), "a");
    }

    #[test]
    fn suggests_near_misses_only() {
        let c = ["HTTP_BACKEND", "STOCK_RESPONSE_BACKEND"];
        assert_eq!(did_you_mean("HTTP_BACKEDN", c), Some("HTTP_BACKEND"));
        assert_eq!(did_you_mean("http_backend", c), Some("HTTP_BACKEND"));
        assert_eq!(did_you_mean("SOMETHING_ELSE_ENTIRELY", c), None);
    }
}
