//! Calendar quota windows in UTC (`resetPolicy: CALENDAR`).
//!
//! A quota counts the requests of one window: the current minute, hour, day, ISO week (Monday
//! 00:00 UTC to the next Monday) or month (the 1st, 00:00 UTC). OCI does not say which day a
//! week starts on; ISO 8601's Monday is the least surprising choice. A window is identified by
//! its start, which becomes part of the counter's key, so a new window is a new counter: resets
//! need no timer and replicas agree without talking.

use std::time::Duration;

use time::{Date, Month, OffsetDateTime};

use super::config::QuotaUnit;

const DAY: u64 = 86_400;

/// One quota window, `[start, end)` in Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// The first second of the window.
    pub start: u64,
    /// The first second after the window: the start of the next one.
    pub end: u64,
}

impl Window {
    /// The window of `unit` containing `now` (time since the Unix epoch).
    pub(crate) fn containing(unit: QuotaUnit, now: Duration) -> Window {
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
            // Past the year 9999 (not a date `time` represents) a month is thirty days.
            QuotaUnit::Month => month(s).unwrap_or_else(|| fixed(30 * DAY)),
        }
    }

    /// Time from `now` to the end of the window (zero once past it).
    pub(crate) fn remaining(&self, now: Duration) -> Duration {
        Duration::from_secs(self.end).saturating_sub(now)
    }
}

/// The calendar month (UTC) containing the Unix time `s`.
fn month(s: u64) -> Option<Window> {
    let date = OffsetDateTime::from_unix_timestamp(i64::try_from(s).ok()?)
        .ok()?
        .date();
    let first = date.replace_day(1).ok()?;
    let next = match first.month() {
        Month::December => Date::from_calendar_date(first.year() + 1, Month::January, 1),
        month => Date::from_calendar_date(first.year(), month.next(), 1),
    }
    .ok()?;
    let unix = |d: Date| u64::try_from(d.midnight().assume_utc().unix_timestamp()).ok();
    Some(Window {
        start: unix(first)?,
        end: unix(next)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u8, d: u8, h: u64, min: u64, s: u64) -> Duration {
        let month = Month::try_from(m).expect("month");
        let date = Date::from_calendar_date(y, month, d).expect("date");
        let midnight = u64::try_from(date.midnight().assume_utc().unix_timestamp()).expect("1970+");
        Duration::from_secs(midnight + h * 3600 + min * 60 + s)
    }

    #[test]
    fn far_future_months_do_not_panic() {
        let far = Duration::from_secs(1 << 50);
        let window = Window::containing(QuotaUnit::Month, far);
        assert!(window.start <= far.as_secs() && far.as_secs() < window.end);
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
