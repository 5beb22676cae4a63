//! Beijing time (UTC+8, no daylight saving), in which the platform, the ledger and the
//! result files all speak: the zone, and the stamps the tool writes.

use chrono::{DateTime, Datelike as _, FixedOffset, Timelike as _, Utc};

/// China Standard Time, UTC+8 all year.
pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

/// The Beijing day of `at` (`2026-11-26`): the day the platform counts calls in.
pub fn beijing_day(at: DateTime<Utc>) -> String {
    at.with_timezone(&beijing()).format("%Y-%m-%d").to_string()
}

/// `2026-11-26T05:39:27.123+08:00`: the `finished_at` of results and ledger lines.
pub fn stamp(at: DateTime<Utc>) -> String {
    let local = at.with_timezone(&beijing());
    let year = local.year();
    let nanos = local.nanosecond();
    // Written digit by digit (every outcome of a run gets one); chrono's general
    // formatter for what that cannot write: years of other than four digits, a leap
    // second.
    if !(1000..=9999).contains(&year) || nanos >= 1_000_000_000 {
        return local.to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
    }
    let mut out = String::with_capacity(29);
    let mut digits = |n: u32, width: u32, then: char| {
        for place in (0..width).rev() {
            out.push(char::from(b'0' + (n / 10u32.pow(place) % 10) as u8));
        }
        out.push(then);
    };
    digits(year as u32, 4, '-');
    digits(local.month(), 2, '-');
    digits(local.day(), 2, 'T');
    digits(local.hour(), 2, ':');
    digits(local.minute(), 2, ':');
    digits(local.second(), 2, '.');
    digits(nanos / 1_000_000, 3, '+');
    out.push_str("08:00");
    out
}

/// Log lines' time: Beijing time, like everything else the tool writes.
#[derive(Debug, Clone, Copy, Default)]
pub struct BeijingTime;

impl tracing_subscriber::fmt::time::FormatTime for BeijingTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        w.write_str(&now_stamp())
    }
}

/// `stamp` of the present moment.
pub fn now_stamp() -> String {
    stamp(Utc::now())
}

/// `20261126T053927-4711`: the start of this process in Beijing time and its pid,
/// which names a run in the ledger.
pub fn run_stamp() -> String {
    format!(
        "{}-{}",
        Utc::now().with_timezone(&beijing()).format("%Y%m%dT%H%M%S"),
        std::process::id()
    )
}

/// How long from `at` until the next 00:00 Beijing time, when daily quotas reset.
pub fn until_beijing_midnight(at: DateTime<Utc>) -> std::time::Duration {
    let local = at.with_timezone(&beijing());
    let next = (local.date_naive() + chrono::Days::new(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists");
    (next - local.naive_local()).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone as _;

    #[test]
    fn daily_quotas_reset_at_beijing_midnight() {
        // 2024-01-01 22:30 Beijing is 14:30 UTC.
        let at = Utc
            .with_ymd_and_hms(2024, 1, 1, 14, 30, 0)
            .single()
            .expect("valid");
        assert_eq!(
            until_beijing_midnight(at),
            std::time::Duration::from_secs(90 * 60)
        );
        // 16:00 UTC is 00:00 Beijing: a whole day to the next reset.
        let midnight = Utc
            .with_ymd_and_hms(2024, 1, 1, 16, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(
            until_beijing_midnight(midnight),
            std::time::Duration::from_secs(86_400)
        );
    }

    #[test]
    fn stamps_are_beijing_time_with_milliseconds() {
        let utc = Utc
            .with_ymd_and_hms(2023, 12, 31, 16, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(stamp(utc), "2024-01-01T00:00:00.000+08:00");
    }

    proptest::proptest! {
        #[test]
        fn stamps_are_what_chrono_writes(millis in -70_000_000_000_000i64..300_000_000_000_000) {
            let at = DateTime::from_timestamp_millis(millis).expect("in range");
            let chrono = at
                .with_timezone(&beijing())
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, false);
            proptest::prop_assert_eq!(stamp(at), chrono);
        }
    }
}
