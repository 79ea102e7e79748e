//! Calendar quota windows in UTC (`resetPolicy: CALENDAR`).
//!
//! A quota counts the requests of one window: the current minute, hour, day, ISO week (Monday
//! 00:00 UTC to the next Monday) or month (the 1st, 00:00 UTC). OCI does not say which day a
//! week starts on; ISO 8601's Monday is the least surprising choice. A window is identified by
//! its start, which becomes part of the counter's key, so a new window is a new counter: resets
//! need no timer and replicas agree without talking.

use std::time::Duration;

use super::config::QuotaUnit;

const DAY: u64 = 86_400;

/// One quota window, `[start, end)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: u64,
    pub end: u64,
}

impl Window {
    /// The window of `unit` containing `now` (time since the Unix epoch).
    pub fn containing(unit: QuotaUnit, now: Duration) -> Window {
        let s = now.as_secs();
        let fixed = |len: u64| {
            let start = s - s % len;
            Window {
                start,
                end: start + len,
            }
        };
        match unit {
            QuotaUnit::Minute => fixed(60),
            QuotaUnit::Hour => fixed(3_600),
            QuotaUnit::Day => fixed(DAY),
            QuotaUnit::Week => {
                let days = s / DAY;
                // 1970-01-01 was a Thursday: three days after a Monday.
                let monday = days - (days + 3) % 7;
                Window {
                    start: monday * DAY,
                    end: (monday + 7) * DAY,
                }
            }
            QuotaUnit::Month => {
                let days = (s / DAY) as i64;
                let (y, m, _) = civil_from_days(days);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                Window {
                    start: days_from_civil(y, m, 1) as u64 * DAY,
                    end: days_from_civil(ny, nm, 1) as u64 * DAY,
                }
            }
        }
    }

    /// Time from `now` to the end of the window (zero once past it).
    pub fn remaining(&self, now: Duration) -> Duration {
        Duration::from_secs(self.end).saturating_sub(now)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i64, m: u32, d: u32, h: u64, min: u64, s: u64) -> Duration {
        Duration::from_secs(days_from_civil(y, m, d) as u64 * DAY + h * 3600 + min * 60 + s)
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        for z in [
            0, 59, 60, 365, 10_957, 11_016, 11_017, 19_782, 20_000, 50_000,
        ] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn windows_follow_the_utc_calendar() {
        let now = at(2024, 2, 29, 13, 45, 10); // a Thursday, leap day
        assert_eq!(
            Window::containing(QuotaUnit::Minute, now),
            Window {
                start: at(2024, 2, 29, 13, 45, 0).as_secs(),
                end: at(2024, 2, 29, 13, 46, 0).as_secs()
            }
        );
        assert_eq!(
            Window::containing(QuotaUnit::Hour, now).start,
            at(2024, 2, 29, 13, 0, 0).as_secs()
        );
        assert_eq!(
            Window::containing(QuotaUnit::Day, now),
            Window {
                start: at(2024, 2, 29, 0, 0, 0).as_secs(),
                end: at(2024, 3, 1, 0, 0, 0).as_secs()
            }
        );
        assert_eq!(
            Window::containing(QuotaUnit::Week, now),
            Window {
                start: at(2024, 2, 26, 0, 0, 0).as_secs(),
                end: at(2024, 3, 4, 0, 0, 0).as_secs()
            }
        );
        assert_eq!(
            Window::containing(QuotaUnit::Month, now),
            Window {
                start: at(2024, 2, 1, 0, 0, 0).as_secs(),
                end: at(2024, 3, 1, 0, 0, 0).as_secs()
            }
        );
        let december = Window::containing(QuotaUnit::Month, at(2023, 12, 31, 23, 59, 59));
        assert_eq!(december.end, at(2024, 1, 1, 0, 0, 0).as_secs());
        assert_eq!(
            december.remaining(at(2023, 12, 31, 23, 59, 59)),
            Duration::from_secs(1)
        );
        // A Monday starts its own week.
        let monday = at(2024, 3, 4, 0, 0, 0);
        assert_eq!(
            Window::containing(QuotaUnit::Week, monday).start,
            monday.as_secs()
        );
    }
}
