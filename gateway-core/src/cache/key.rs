//! Response-cache keys (reference 4.9): the request URL without its query string, the method,
//! the deployment, and the values of the route's `cacheKeyAdditions`.
//!
//! The parts are hashed with SHA-256, each length-prefixed so that no two different requests
//! can spell the same input (`/a` + `bc` vs `/ab` + `c`), and an absent addition is told apart
//! from an empty one. The digest is fixed-size whatever the request (a key for Redis and a map
//! key in memory), and client-chosen values cannot aim collisions at another client's entry.

use std::fmt;

use http::Method;
use sha2::{Digest, Sha256};

/// The SHA-256 of a request's cache-relevant parts.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key of `method path` on `deployment` with these addition values, in order.
    pub fn compute<'a>(
        deployment: &str,
        method: &Method,
        path: &str,
        additions: impl IntoIterator<Item = Option<&'a str>>,
    ) -> Self {
        let mut h = Sha256::new();
        h.update(b"gw-response-cache-v1");
        for part in [deployment, method.as_str(), path] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        for value in additions {
            match value {
                Some(v) => {
                    h.update([1]);
                    h.update((v.len() as u64).to_be_bytes());
                    h.update(v.as_bytes());
                }
                None => h.update([0]),
            }
        }
        CacheKey(h.finalize().into())
    }

    /// The raw 32-byte digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Lower-case hex, as used in Redis keys.
impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_part_counts_and_parts_do_not_run_together() {
        let base = CacheKey::compute("d", &Method::GET, "/a", [Some("x")]);
        assert_eq!(
            base,
            CacheKey::compute("d", &Method::GET, "/a", [Some("x")])
        );
        assert_ne!(
            base,
            CacheKey::compute("e", &Method::GET, "/a", [Some("x")])
        );
        assert_ne!(
            base,
            CacheKey::compute("d", &Method::HEAD, "/a", [Some("x")])
        );
        assert_ne!(
            base,
            CacheKey::compute("d", &Method::GET, "/b", [Some("x")])
        );
        assert_ne!(
            base,
            CacheKey::compute("d", &Method::GET, "/a", [Some("y")])
        );
        assert_ne!(
            CacheKey::compute("d", &Method::GET, "/a", [Some("")]),
            CacheKey::compute("d", &Method::GET, "/a", [None])
        );
        assert_ne!(
            CacheKey::compute("d", &Method::GET, "/ab", [Some("c")]),
            CacheKey::compute("d", &Method::GET, "/a", [Some("bc")])
        );
        assert_eq!(base.to_string().len(), 64);
    }
}
