//! Timestamps: one fixed-width RFC 3339 UTC format, so stored times sort as text and parse back.

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// The instant as stored and returned: `2026-12-04T15:49:55.123456Z` (always microseconds, always `Z`).
pub fn format(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn now() -> String {
    format(Utc::now())
}

/// Which end of a day a date-only filter value stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayBound {
    /// `2026-12-04` means from 00:00:00 of that day.
    Start,
    /// `2026-12-04` means up to the end of that day (inclusive).
    End,
}

/// Parses a filter value: a full RFC 3339 date-time (any offset, normalised to UTC) or a plain
/// `YYYY-MM-DD` date, which covers the whole day. Returns the stored-format string to compare with.
pub fn parse_filter(value: &str, bound: DayBound) -> Option<String> {
    let value = value.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(value) {
        return Some(format(at.with_timezone(&Utc)));
    }
    let date = NaiveDate::parse_from_str(value, "%Y-%m-%d").ok()?;
    let at = match bound {
        DayBound::Start => date.and_hms_micro_opt(0, 0, 0, 0)?,
        DayBound::End => date.and_hms_micro_opt(23, 59, 59, 999_999)?,
    };
    Some(format(at.and_utc()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_format_is_fixed_width_utc() {
        let at = DateTime::parse_from_rfc3339("2026-12-04T16:49:55+01:00").unwrap();
        assert_eq!(format(at.with_timezone(&Utc)), "2026-12-04T15:49:55.000000Z");
    }

    #[test]
    fn filter_values() {
        assert_eq!(parse_filter("2026-12-04", DayBound::Start).as_deref(), Some("2026-12-04T00:00:00.000000Z"));
        assert_eq!(parse_filter("2026-12-04", DayBound::End).as_deref(), Some("2026-12-04T23:59:59.999999Z"));
        assert_eq!(
            parse_filter("2026-12-04T10:00:00-02:00", DayBound::Start).as_deref(),
            Some("2026-12-04T12:00:00.000000Z")
        );
        for bad in ["", "yesterday", "2026-13-01", "2026-12-04T25:00:00Z", "12/04/2026"] {
            assert_eq!(parse_filter(bad, DayBound::Start), None, "{bad}");
        }
    }
}
