//! Timestamps as the services write them: UTC, seven fractional digits (.NET ticks) and `Z`
//! (`2020-09-06T12:18:03.6266667Z`); parsing accepts any RFC 3339 spelling.

use chrono::{DateTime, SecondsFormat, Timelike, Utc};

/// `t` cut to whole .NET ticks (100 ns), so a value a client reads back and sends in a filter
/// compares equal to the stored one.
#[must_use]
pub fn ticks(t: DateTime<Utc>) -> DateTime<Utc> {
    let nanos = t.nanosecond();
    t.with_nanosecond(nanos - nanos % 100).unwrap_or(t)
}

/// `2020-09-06T12:18:03.6266667Z`.
#[must_use]
pub fn format(t: &DateTime<Utc>) -> String {
    let base = t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let stem = base.trim_end_matches('Z');
    // Leap-second nanos (>= 1e9) are clamped: the services never emit them.
    let fraction = (t.nanosecond() % 1_000_000_000) / 100;
    format!("{stem}.{fraction:07}Z")
}

/// A lenient RFC 3339 parser (any fraction length, `Z` or an offset).
#[must_use]
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seven_digit_fractions() {
        let t = parse_time("2020-09-06T12:18:03.62666671Z").unwrap();
        assert_eq!(format(&ticks(t)), "2020-09-06T12:18:03.6266667Z");
        let t = parse_time("2021-04-26T09:37:48Z").unwrap();
        assert_eq!(format(&t), "2021-04-26T09:37:48.0000000Z");
        let t = parse_time("2021-04-26T11:37:48.5+02:00").unwrap();
        assert_eq!(format(&t), "2021-04-26T09:37:48.5000000Z");
    }

    #[test]
    fn formatted_ticks_round_trip() {
        let t = ticks(Utc::now());
        assert_eq!(parse_time(&format(&t)), Some(t));
    }
}
