//! Time sources for limits, injectable so tests can step through seconds and calendar months
//! without sleeping.
//!
//! Two readings are needed and kept apart on purpose: GCRA arithmetic wants a clock that never
//! goes backwards (a wall-clock step back would freeze a bucket), while quota windows reset on
//! UTC calendar boundaries and so need wall-clock time.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where limits read the time.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// Microseconds on a monotonic clock with an arbitrary origin.
    fn monotonic_micros(&self) -> u64;
    /// Wall-clock time since the Unix epoch (UTC).
    fn unix_time(&self) -> Duration;
}

/// The real clocks: [`Instant`] and [`SystemTime`].
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: Instant,
}

impl SystemClock {
    /// A clock whose monotonic origin is now.
    pub fn new() -> Self {
        Self {
            origin: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn monotonic_micros(&self) -> u64 {
        // Saturates after 584,000 years of uptime.
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn unix_time(&self) -> Duration {
        // A clock set before 1970 reads as the epoch rather than failing a request.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
    }
}

/// A clock that moves only when told: one counter of microseconds since the Unix epoch that
/// serves as both readings. For tests and simulations.
#[derive(Debug, Default)]
pub struct ManualClock {
    micros: AtomicU64,
}

impl ManualClock {
    /// A clock reading `unix` since the epoch.
    pub fn at(unix: Duration) -> Self {
        Self {
            micros: AtomicU64::new(u64::try_from(unix.as_micros()).unwrap_or(u64::MAX)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_micros()).unwrap_or(u64::MAX);
        self.micros.fetch_add(by, Ordering::SeqCst);
    }

    /// Sets the clock to `unix` since the epoch (forward only is meaningful for GCRA).
    pub fn set(&self, unix: Duration) {
        let unix = u64::try_from(unix.as_micros()).unwrap_or(u64::MAX);
        self.micros.store(unix, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn monotonic_micros(&self) -> u64 {
        self.micros.load(Ordering::SeqCst)
    }

    fn unix_time(&self) -> Duration {
        Duration::from_micros(self.micros.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(Duration::from_secs(10));
        assert_eq!(clock.monotonic_micros(), 10_000_000);
        clock.advance(Duration::from_millis(1));
        assert_eq!(clock.monotonic_micros(), 10_001_000);
        assert_eq!(clock.unix_time(), Duration::from_micros(10_001_000));
    }

    #[test]
    fn system_clock_is_monotonic() {
        let clock = SystemClock::new();
        let a = clock.monotonic_micros();
        let b = clock.monotonic_micros();
        assert!(b >= a);
        assert!(clock.unix_time() > Duration::from_secs(1_600_000_000));
    }
}
