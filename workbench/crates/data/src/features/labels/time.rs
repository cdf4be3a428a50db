//! Time values in label files: nanoseconds or RFC 3339 in rules, and CIC-IDS2017's local
//! "day/month/year hour:minute" stamps.

use chrono::{DateTime, NaiveDate};

/// A time in a rules file or on the command line that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// chrono's reason is part of the sentence (in parentheses), as the rules-file error shows
    /// it; it is kept as a field, not a source, so that a chain does not print it twice.
    #[error("`{text}` is not an RFC 3339 time such as 2017-07-07T15:56:00Z ({reason})")]
    NotRfc3339 {
        text: String,
        reason: chrono::ParseError,
    },
    #[error("`{0}` is outside 1677..2262")]
    OutOfRange(String),
    #[error("`{0}` is before 1970")]
    Before1970(String),
    #[error("`{0}` is not a UTC offset such as -3, -03:00 or +05:30")]
    NotAnOffset(String),
}

/// An RFC 3339 time (`2017-07-07T15:56:00Z`, `2017-07-07T12:56:00-03:00`) in ns since 1970.
pub fn parse_rfc3339_ns(s: &str) -> Result<u64, TimeError> {
    let t = DateTime::parse_from_rfc3339(s.trim()).map_err(|reason| TimeError::NotRfc3339 {
        text: s.to_string(),
        reason,
    })?;
    let ns = t
        .timestamp_nanos_opt()
        .ok_or_else(|| TimeError::OutOfRange(s.to_string()))?;
    u64::try_from(ns).map_err(|_| TimeError::Before1970(s.to_string()))
}

/// A UTC offset such as `-3`, `-03:00`, `+05:30`, `0`, in seconds.
pub fn parse_utc_offset(s: &str) -> Result<i64, TimeError> {
    let bad = || TimeError::NotAnOffset(s.to_string());
    let t = s.trim();
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'-') => (-1, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    };
    let (h, m) = match rest.split_once(':') {
        Some((h, m)) => (h, m),
        None => (rest, "0"),
    };
    let h: i64 = h.parse().map_err(|_| bad())?;
    let m: i64 = m.parse().map_err(|_| bad())?;
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// A CIC-IDS2017 timestamp read as local time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CicStamp {
    /// Seconds since 1970 of the local wall-clock time (no offset applied yet).
    pub local_s: i64,
    /// 60 for `h:mm`, 1 for `h:mm:ss`: the stamp is the flow start truncated to this.
    pub resolution_s: i64,
    /// A 12-hour clock without AM/PM (`3:56` may be 15:56): the caller tries both.
    pub ambiguous_12h: bool,
}

/// A CIC timestamp that does not parse, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("timestamp `{stamp}` {why} (expected e.g. 7/7/2017 3:56 or 07/07/2017 03:56:12 PM)")]
pub struct StampError {
    pub stamp: String,
    /// `has no time of day`, `is not a valid date and time`, ...
    pub why: &'static str,
}

/// Parses `7/7/2017 3:56`, `07/07/2017 03:56:12 PM`, `2017-07-07 15:56:12`.
///
/// CIC-IDS2017 writes day/month/year (`5/7/2017` is Wednesday 5 July); when the second number
/// is above 12 the order can only be month/day and is read so. The hour of the "GeneratedLabelled
/// Flows" files is on a 12-hour clock without AM/PM, hence [`CicStamp::ambiguous_12h`].
pub fn parse_cic_stamp(s: &str) -> Result<CicStamp, StampError> {
    let bad = |why: &'static str| StampError {
        stamp: s.to_string(),
        why,
    };
    let mut parts = s.split_whitespace();
    let date = parts.next().ok_or_else(|| bad("is empty"))?;
    let clock = parts.next().ok_or_else(|| bad("has no time of day"))?;
    let meridiem = parts.next().map(str::to_ascii_uppercase);
    if parts.next().is_some() {
        return Err(bad("has extra words"));
    }
    let num = |v: &str| v.parse::<u32>().map_err(|_| bad("has a non-numeric field"));
    let (y, mo, d) = if date.contains('-') {
        let f: Vec<&str> = date.split('-').collect();
        if f.len() != 3 {
            return Err(bad("has a malformed date"));
        }
        (num(f[0])?, num(f[1])?, num(f[2])?)
    } else {
        let f: Vec<&str> = date.split('/').collect();
        if f.len() != 3 {
            return Err(bad("has a malformed date"));
        }
        let (a, b, y) = (num(f[0])?, num(f[1])?, num(f[2])?);
        if b > 12 {
            (y, a, b)
        } else {
            (y, b, a)
        }
    };
    let c: Vec<&str> = clock.split(':').collect();
    if c.len() < 2 || c.len() > 3 {
        return Err(bad("has a malformed time of day"));
    }
    let mut h = num(c[0])?;
    let mi = num(c[1])?;
    // Fractions of a second (some exports write them) are dropped: the window is wider anyway.
    let sec = match c.get(2) {
        Some(v) => num(v.split('.').next().unwrap_or(v))?,
        None => 0,
    };
    let ambiguous_12h = match meridiem.as_deref() {
        Some("AM" | "PM") if !(1..=12).contains(&h) => {
            return Err(bad("has an hour outside 1..12 with AM/PM"))
        }
        Some("AM") => {
            h %= 12;
            false
        }
        Some("PM") => {
            h = h % 12 + 12;
            false
        }
        Some(_) => return Err(bad("has something other than AM/PM after the time")),
        None => (1..=12).contains(&h),
    };
    let t = NaiveDate::from_ymd_opt(y as i32, mo, d)
        .and_then(|day| day.and_hms_opt(h, mi, sec))
        .ok_or_else(|| bad("is not a valid date and time"))?;
    Ok(CicStamp {
        local_s: t.and_utc().timestamp(),
        resolution_s: if c.len() == 3 { 1 } else { 60 },
        ambiguous_12h,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cic_stamps_in_their_formats() {
        let minute = parse_cic_stamp("7/7/2017 3:56").expect("minute stamp");
        let expected = NaiveDate::from_ymd_opt(2017, 7, 7)
            .and_then(|d| d.and_hms_opt(3, 56, 0))
            .expect("date")
            .and_utc()
            .timestamp();
        assert_eq!(minute.local_s, expected);
        assert_eq!(minute.resolution_s, 60);
        assert!(minute.ambiguous_12h);
        let pm = parse_cic_stamp("07/07/2017 03:56:12 PM").expect("pm stamp");
        assert_eq!(pm.local_s, expected + 12 * 3600 + 12);
        assert_eq!(pm.resolution_s, 1);
        assert!(!pm.ambiguous_12h);
        // Day/month: 5/7/2017 is the 5th of July.
        let wed = parse_cic_stamp("5/7/2017 13:48").expect("24h stamp");
        assert!(!wed.ambiguous_12h);
        assert_eq!(
            wed.local_s - expected,
            -2 * 86400 + (13 * 60 + 48 - (3 * 60 + 56)) * 60
        );
        // Month/day when the day cannot be a month.
        assert_eq!(
            parse_cic_stamp("7/17/2017 3:56").expect("m/d").local_s,
            expected + 10 * 86400
        );
        assert!(parse_cic_stamp("7/7/2017").is_err());
        assert!(parse_cic_stamp("31/2/2017 3:56").is_err());
        assert!(parse_cic_stamp("7/7/2017 13:56 PM").is_err());
    }

    #[test]
    fn offsets_and_rfc3339() {
        assert_eq!(parse_utc_offset("-3"), Ok(-3 * 3600));
        assert_eq!(parse_utc_offset("+05:30"), Ok(5 * 3600 + 1800));
        assert!(parse_utc_offset("three").is_err());
        assert_eq!(parse_rfc3339_ns("1970-01-01T00:00:01.5Z"), Ok(1_500_000_000));
        assert_eq!(parse_rfc3339_ns("1970-01-01T01:00:00+01:00"), Ok(0));
        assert!(parse_rfc3339_ns("yesterday").is_err());
    }
}
