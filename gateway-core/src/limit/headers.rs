//! The rate-limit response headers.
//!
//! The gateway sends the widely understood `X-RateLimit-*` trio (GitHub, tower_governor, most
//! API gateways) rather than the IETF draft's `RateLimit-*` fields, whose syntax changed between
//! drafts (separate fields, then one structured `RateLimit` field with `RateLimit-Policy`).
//! Values are integers:
//!
//! * `X-RateLimit-Limit` — requests admitted at once from a full bucket (the burst, which is
//!   the per-second rate unless configured otherwise);
//! * `X-RateLimit-Remaining` — requests that would still be admitted right now;
//! * `X-RateLimit-Reset` — **seconds from now** (rounded up) until the bucket is full again,
//!   the draft's delta-seconds meaning rather than an epoch timestamp, so client clocks do not
//!   matter;
//! * `Retry-After` — on 429 only, whole seconds (rounded up, at least 1) until a retry can
//!   succeed.

use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::gcra::GcraDecision;

/// `X-RateLimit-Limit`.
pub static X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
/// `X-RateLimit-Remaining`.
pub static X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
/// `X-RateLimit-Reset`.
pub static X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The values of the three `X-RateLimit-*` headers for one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateHeaders {
    /// `X-RateLimit-Limit`: the burst, requests admitted at once from a full bucket.
    pub limit: u32,
    /// `X-RateLimit-Remaining`: requests that would still be admitted right now.
    pub remaining: u32,
    /// `X-RateLimit-Reset`: whole seconds, rounded up, until the bucket is full again.
    pub reset_secs: u64,
}

impl RateHeaders {
    /// The headers for a bucket of burst `limit` after `decision`.
    pub fn new(limit: u32, decision: &GcraDecision) -> Self {
        Self {
            limit,
            remaining: decision.remaining,
            reset_secs: ceil_secs(Duration::from_micros(decision.reset_after_us)),
        }
    }

    /// Sets the three headers on `headers`, replacing any already there.
    pub fn apply(&self, headers: &mut HeaderMap) {
        headers.insert(X_RATELIMIT_LIMIT.clone(), HeaderValue::from(self.limit));
        headers.insert(
            X_RATELIMIT_REMAINING.clone(),
            HeaderValue::from(self.remaining),
        );
        headers.insert(
            X_RATELIMIT_RESET.clone(),
            HeaderValue::from(self.reset_secs),
        );
    }
}

/// `Retry-After` for a wait of `after`: whole seconds, rounded up and at least 1, since a
/// client told 0 retries at once.
pub(crate) fn retry_after_value(after: Duration) -> HeaderValue {
    HeaderValue::from(ceil_secs(after).max(1))
}

/// Whole seconds, rounded up.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::ZERO), 0);
        assert_eq!(retry_after_value(Duration::ZERO), "1");
        assert_eq!(retry_after_value(Duration::from_millis(1500)), "2");
    }
}
