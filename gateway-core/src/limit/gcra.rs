//! The generic cell rate algorithm (GCRA), the arithmetic shared by every store.
//!
//! The state of a bucket is one number, its *theoretical arrival time* (TAT), in microseconds.
//! A request at `now` is admitted when `max(TAT, now) − now ≤ τ`, and then
//! `TAT ← max(TAT, now) + T`, where `T` is the emission interval (`1 s / rate`) and
//! `τ = T·(burst − 1)` the burst tolerance. One number per key is what makes the algorithm cheap
//! in memory (one `AtomicU64`) and in Redis (one string with a `PX` expiry, updated by one Lua
//! script). The Lua script in [`super::redis`] repeats exactly this arithmetic; keeping it here,
//! as a pure function, lets a property test pin it down for both.
//!
//! The interval is rounded **up** to a whole microsecond, so the admitted rate never exceeds
//! the configured one (rates above 1,000,000 per second behave as 1,000,000).

use std::time::Duration;

/// One rate: `rate` requests per second with bursts of up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    rate: u32,
    burst: u32,
    /// `T`, microseconds between requests at the sustained rate; at least 1.
    interval_us: u64,
    /// `τ = T·(burst − 1)`.
    tolerance_us: u64,
}

/// What GCRA decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcraDecision {
    /// The request fits.
    pub allowed: bool,
    /// The TAT to store when the request is admitted (unchanged when it is not).
    pub new_tat: u64,
    /// Requests that would still be admitted right now, after this one.
    pub remaining: u32,
    /// Microseconds until the bucket is full again (`X-RateLimit-Reset`).
    pub reset_after_us: u64,
    /// Microseconds until a denied request would be admitted; 0 when allowed.
    pub retry_after_us: u64,
}

impl Gcra {
    /// `rate` requests per second, bursts of `burst`; both are raised to at least 1.
    pub fn per_second(rate: u32, burst: u32) -> Self {
        let rate = rate.max(1);
        let burst = burst.max(1);
        let interval_us = 1_000_000u64.div_ceil(u64::from(rate)).max(1);
        Self {
            rate,
            burst,
            interval_us,
            tolerance_us: interval_us.saturating_mul(u64::from(burst - 1)),
        }
    }

    /// The configured requests per second.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The largest number of requests admitted at one instant.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// `T` in microseconds.
    pub fn interval_us(&self) -> u64 {
        self.interval_us
    }

    /// `τ` in microseconds.
    pub fn tolerance_us(&self) -> u64 {
        self.tolerance_us
    }

    /// Decides a request at `now` against a bucket whose stored TAT is `tat` (0 for a bucket
    /// never seen or expired).
    pub fn check(&self, tat: u64, now: u64) -> GcraDecision {
        let tat = tat.max(now);
        let ahead = tat - now;
        if ahead > self.tolerance_us {
            return GcraDecision {
                allowed: false,
                new_tat: tat,
                remaining: 0,
                reset_after_us: ahead,
                retry_after_us: ahead - self.tolerance_us,
            };
        }
        let new_tat = tat.saturating_add(self.interval_us);
        let ahead = new_tat - now;
        // Room left under `τ + T`, in whole intervals.
        let room = (self.tolerance_us + self.interval_us).saturating_sub(ahead) / self.interval_us;
        GcraDecision {
            allowed: true,
            new_tat,
            remaining: u32::try_from(room).unwrap_or(u32::MAX),
            reset_after_us: ahead,
            retry_after_us: 0,
        }
    }

    /// How long a stored TAT stays meaningful after `now`: once it has passed the bucket is
    /// full, exactly as if the key did not exist, so the store may forget it.
    pub fn ttl(tat: u64, now: u64) -> Duration {
        Duration::from_micros(tat.saturating_sub(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_fresh_bucket_admits_exactly_the_burst_at_once() {
        let g = Gcra::per_second(5, 3);
        let mut tat = 0;
        let mut admitted = 0;
        for _ in 0..10 {
            let d = g.check(tat, 1_000);
            if d.allowed {
                admitted += 1;
                tat = d.new_tat;
            }
        }
        assert_eq!(admitted, 3);
    }

    #[test]
    fn remaining_reset_and_retry_after() {
        let g = Gcra::per_second(10, 10); // T = 100 ms
        let first = g.check(0, 0);
        assert!(first.allowed);
        assert_eq!(first.remaining, 9);
        assert_eq!(first.reset_after_us, 100_000);
        let mut tat = first.new_tat;
        for _ in 0..9 {
            tat = g.check(tat, 0).new_tat;
        }
        let denied = g.check(tat, 0);
        assert!(!denied.allowed);
        assert_eq!(denied.remaining, 0);
        assert_eq!(denied.retry_after_us, 100_000);
        assert_eq!(denied.reset_after_us, 1_000_000);
        // After one interval one more request fits.
        let later = g.check(tat, 100_000);
        assert!(later.allowed);
        assert_eq!(later.remaining, 0);
    }

    #[test]
    fn interval_rounds_up_so_the_rate_is_never_exceeded() {
        assert_eq!(Gcra::per_second(3, 1).interval_us(), 333_334);
        assert_eq!(Gcra::per_second(0, 0).interval_us(), 1_000_000);
        assert_eq!(Gcra::per_second(u32::MAX, 1).interval_us(), 1);
    }

    proptest! {
        /// In every window of length W, GCRA admits fewer than `burst + W·rate` requests, for
        /// any arrival pattern.
        #[test]
        fn never_admits_more_than_rate_times_window_plus_burst(
            rate in 1u32..50,
            burst in 1u32..20,
            gaps in prop::collection::vec(0u64..200_000, 1..400),
            window_us in 1u64..3_000_000,
        ) {
            let g = Gcra::per_second(rate, burst);
            let mut now = 0u64;
            let mut tat = 0u64;
            let mut admitted = Vec::new();
            for gap in gaps {
                now += gap;
                let d = g.check(tat, now);
                if d.allowed {
                    tat = d.new_tat;
                    admitted.push(now);
                }
            }
            let bound = f64::from(burst) + f64::from(rate) * window_us as f64 / 1e6;
            for (i, &start) in admitted.iter().enumerate() {
                let in_window = admitted[i..].iter().take_while(|&&t| t < start + window_us).count();
                prop_assert!((in_window as f64) < bound + 1e-9,
                    "{in_window} admitted in {window_us} us at rate {rate} burst {burst}");
            }
        }

        /// Requests spaced by at least the interval are always admitted.
        #[test]
        fn a_client_within_the_rate_is_never_denied(
            rate in 1u32..1000,
            burst in 1u32..20,
            extra in prop::collection::vec(0u64..10_000, 1..200),
        ) {
            let g = Gcra::per_second(rate, burst);
            let mut now = 0u64;
            let mut tat = 0u64;
            for e in extra {
                let d = g.check(tat, now);
                prop_assert!(d.allowed);
                tat = d.new_tat;
                now += g.interval_us() + e;
            }
        }
    }
}
