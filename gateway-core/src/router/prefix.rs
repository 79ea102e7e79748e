//! [`PrefixRouter`]: picks the deployment whose `pathPrefix` owns a request path.

use super::template::{canonical_prefix, TemplateError};

/// Why a deployment prefix cannot be added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrefixError {
    /// The prefix breaks the `pathPrefix` rules.
    #[error("invalid path prefix: {0}")]
    Invalid(#[from] TemplateError),
    /// Another deployment already has this prefix (compared in canonical spelling).
    #[error("path prefix {0:?} is already used by another deployment")]
    Duplicate(String),
    /// A deployment with prefix `/` must be alone on its gateway (spec section 2.1).
    #[error("a deployment with path prefix '/' must be the only deployment on the gateway")]
    RootNotAlone,
}

/// Deployment selection by longest path prefix at a segment boundary.
///
/// A gateway has at most 20 deployments, so the prefixes are a `Vec` sorted longest first and
/// scanned linearly: the first hit is the longest, and there is nothing to hash or allocate.
#[derive(Debug, Clone)]
pub struct PrefixRouter<T> {
    /// (canonical prefix, value), longest prefix first.
    entries: Vec<(String, T)>,
}

impl<T> Default for PrefixRouter<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> PrefixRouter<T> {
    /// No deployments.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
        }
    }

    /// Adds a deployment. The prefix is validated with
    /// [`validate_path_prefix`](super::validate_path_prefix) and stored in canonical spelling
    /// (escapes as [`normalize_path`](super::normalize_path) writes them), so that it compares
    /// equal to normalised request paths.
    pub fn insert(&mut self, prefix: &str, value: T) -> Result<(), PrefixError> {
        let prefix = canonical_prefix(prefix)?;
        if self.entries.iter().any(|(p, _)| *p == prefix) {
            return Err(PrefixError::Duplicate(prefix));
        }
        if !self.entries.is_empty() && (prefix == "/" || self.entries.iter().any(|(p, _)| p == "/"))
        {
            return Err(PrefixError::RootNotAlone);
        }
        let at = self
            .entries
            .iter()
            .position(|(p, _)| p.len() < prefix.len())
            .unwrap_or(self.entries.len());
        self.entries.insert(at, (prefix, value));
        Ok(())
    }

    /// The deployment owning a normalised request path, and the path relative to it.
    ///
    /// The longest prefix that matches case-sensitively and ends at a segment boundary wins
    /// (`/fn` owns `/fn` and `/fn/x`, not `/fnx`). The remainder always starts with `/`:
    /// `/fn/hello` gives `/hello`, and both `/fn` and `/fn/` give `/`. Prefix `/` owns every
    /// path and returns it whole.
    pub fn find<'p>(&self, path: &'p str) -> Option<(&T, &'p str)> {
        self.entries.iter().find_map(|(prefix, value)| {
            if prefix == "/" {
                return path.starts_with('/').then_some((value, path));
            }
            let rest = path.strip_prefix(prefix.as_str())?;
            if rest.is_empty() {
                Some((value, "/"))
            } else if rest.starts_with('/') {
                Some((value, rest))
            } else {
                None
            }
        })
    }

    /// The (canonical) prefixes with their values, longest first.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &T)> + '_ {
        self.entries.iter().map(|(p, v)| (p.as_str(), v))
    }

    /// The number of deployments.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no deployments.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(prefixes: &[&'static str]) -> PrefixRouter<&'static str> {
        let mut r = PrefixRouter::new();
        for p in prefixes {
            r.insert(p, *p).expect(p);
        }
        r
    }

    #[test]
    fn segment_boundary_and_remainder() {
        let r = router(&["/fn"]);
        assert_eq!(r.find("/fn/hello"), Some((&"/fn", "/hello")));
        assert_eq!(r.find("/fn"), Some((&"/fn", "/")));
        assert_eq!(r.find("/fn/"), Some((&"/fn", "/")));
        assert_eq!(r.find("/fn/a/"), Some((&"/fn", "/a/")));
        assert_eq!(r.find("/fnx"), None);
        assert_eq!(r.find("/fnx/hello"), None);
        assert_eq!(r.find("/FN/hello"), None);
        assert_eq!(r.find("/"), None);
        assert_eq!(r.find("/other"), None);
    }

    #[test]
    fn longest_prefix_wins_whatever_the_insert_order() {
        for order in [
            ["/a", "/a/b", "/a/bc"],
            ["/a/bc", "/a/b", "/a"],
            ["/a/b", "/a", "/a/bc"],
        ] {
            let r = router(&order);
            assert_eq!(r.find("/a/b/c"), Some((&"/a/b", "/c")));
            assert_eq!(r.find("/a/b"), Some((&"/a/b", "/")));
            assert_eq!(r.find("/a/bc"), Some((&"/a/bc", "/")));
            assert_eq!(r.find("/a/bcd"), Some((&"/a", "/bcd")));
            assert_eq!(r.find("/a/x"), Some((&"/a", "/x")));
            assert_eq!(
                r.iter().map(|(p, _)| p.len()).collect::<Vec<_>>(),
                [5, 4, 2]
            );
        }
    }

    #[test]
    fn root_prefix_takes_everything_and_must_be_alone() {
        let r = router(&["/"]);
        assert_eq!(r.find("/"), Some((&"/", "/")));
        assert_eq!(r.find("/x/y/"), Some((&"/", "/x/y/")));

        let mut r = router(&["/"]);
        assert_eq!(r.insert("/v1", "/v1"), Err(PrefixError::RootNotAlone));
        let mut r = router(&["/v1"]);
        assert_eq!(r.insert("/", "/"), Err(PrefixError::RootNotAlone));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn invalid_and_duplicate_prefixes() {
        let mut r = router(&["/v1"]);
        assert_eq!(
            r.insert("/v1", "again"),
            Err(PrefixError::Duplicate("/v1".into()))
        );
        // Same prefix in another spelling is still a duplicate.
        assert_eq!(
            r.insert("/%761", "again"),
            Err(PrefixError::Duplicate("/v1".into()))
        );
        assert!(matches!(r.insert("/v2/", "x"), Err(PrefixError::Invalid(e)) if e.position == 3));
        assert!(matches!(r.insert("v2", "x"), Err(PrefixError::Invalid(_))));
        assert!(matches!(
            r.insert("/{v}", "x"),
            Err(PrefixError::Invalid(_))
        ));
        assert!(matches!(
            r.insert("/a//b", "x"),
            Err(PrefixError::Invalid(_))
        ));
        assert_eq!(r.len(), 1);
    }

    #[test]
    fn prefixes_are_canonicalised() {
        let r = router(&["/caf%c3%a9", "/%41pi"]);
        assert_eq!(r.find("/caf%C3%A9/x"), Some((&"/caf%c3%a9", "/x")));
        assert_eq!(r.find("/Api"), Some((&"/%41pi", "/")));
    }
}
