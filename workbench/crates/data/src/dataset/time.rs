//! Time columns to nanoseconds: CIC's `5/7/2017 9:48` (day/month/year, as CICFlowMeter writes
//! it), ISO `2017-07-05 09:48:00`, and numeric epoch seconds, milliseconds or nanoseconds.

use polars::prelude::*;

use super::detect::column_key;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// One timestamp as written by CICFlowMeter or in ISO form; None if it is neither.
#[cfg(test)]
fn parse_timestamp(s: &str) -> Option<i64> {
    parse_stamp(s).map(|t| t.ns)
}

/// A parsed timestamp and what its clock said: the hour as written and whether AM/PM was.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stamp {
    ns: i64,
    hour_written: i64,
    meridiem: bool,
}

fn parse_stamp(s: &str) -> Option<Stamp> {
    let s = s.trim();
    let (date, rest) = s.split_once([' ', 'T'])?;
    let mut parts = rest.split_whitespace();
    let clock = parts.next()?;
    let pm = parts.next().map(|p| p.eq_ignore_ascii_case("pm"));
    let (y, m, d) = if date.contains('-') {
        let v: Vec<i64> = date.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        (*v.first()?, *v.get(1)?, *v.get(2)?)
    } else {
        let v: Vec<i64> = date.split('/').map(|p| p.parse().ok()).collect::<Option<_>>()?;
        (*v.get(2)?, *v.get(1)?, *v.first()?)
    };
    let t: Vec<f64> = clock.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let hour_written = *t.first()? as i64;
    let mut hour = hour_written;
    if pm == Some(true) && hour < 12 {
        hour += 12;
    } else if pm == Some(false) && hour == 12 {
        hour = 0;
    }
    let minute = *t.get(1)? as i64;
    let second = t.get(2).copied().unwrap_or(0.0);
    // Years a capture can have: a mutated or garbled year (a million, negative) is no time, and
    // would overflow the nanoseconds.
    if !(1970..=2200).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        || !(0.0..61.0).contains(&second)
    {
        return None;
    }
    let whole = (days_from_civil(y, m, d) * 86_400 + hour * 3600 + minute * 60) as f64 + second;
    Some(Stamp {
        ns: (whole * 1e9) as i64,
        hour_written,
        meridiem: pm.is_some(),
    })
}

/// How a text time column's clock was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// As written (24-hour, or AM/PM given).
    AsWritten,
    /// CIC-IDS2017's 12-hour clock without AM/PM: hours 1-7 are afternoon.
    CicWorkday,
}

impl Clock {
    /// What the user is told when the clock was not read as written.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Clock::AsWritten => None,
            Clock::CicWorkday => Some(
                "its Timestamp is on a 12-hour clock without AM/PM (3:15 is 15:15), read on CIC-IDS2017's working day (captures ran about 8:30-17:30): hours 1-7 as 13:00-19:59, 8-12 as morning and noon",
            ),
        }
    }
}

/// CIC-IDS2017's files write the hour on a 12-hour clock without AM/PM (the Friday DDoS of
/// 15:56 is `7/7/2017 3:56`), so read as written an afternoon sorts before the morning and a
/// time split trains on the later attacks. The captures ran in working hours, so when no stamp
/// of the column says AM/PM or has an hour above 12 (a 24-hour file), hours 1-7 are afternoon.
fn resolve_workday(stamps: &mut [Stamp]) -> Clock {
    if stamps
        .iter()
        .any(|t| t.meridiem || !(1..=12).contains(&t.hour_written))
    {
        return Clock::AsWritten;
    }
    for t in stamps.iter_mut().filter(|t| t.hour_written <= 7) {
        t.ns += 12 * 3600 * 1_000_000_000;
    }
    Clock::CicWorkday
}

/// A time column read per row.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnTimes {
    /// Per row, nanoseconds on the column's clock; a row of `untimed` holds a neighbour's time
    /// (a placeholder, never to be ordered by: [`crate::dataset::LoadedDataset::times_of`]).
    pub ns: Vec<i64>,
    /// The rows whose cell is empty or no time, ascending. Cleaning drops a row for an empty
    /// time when the time column counts (`train`'s cleaning narrowed to the columns it reads);
    /// only the rows a run keeps need a time, so one empty cell no longer makes the whole
    /// column no time.
    pub untimed: Vec<u32>,
    /// How the clock was read.
    pub clock: Clock,
}

/// Per row, nanoseconds: `times` in row order, except at the rows `gaps` (ascending: no time, or
/// a repeated header line), which take the time of the row before them (after, at the top) as
/// a placeholder. No per-row copy of the column beyond the result (2.8 million rows load).
fn with_placeholders(rows: usize, times: impl Iterator<Item = i64>, gaps: &[u32], first: i64) -> Vec<i64> {
    let mut ns = Vec::with_capacity(rows);
    let mut times = times;
    let mut gaps = gaps.iter().peekable();
    let mut last = first;
    for i in 0..rows {
        if gaps.next_if(|&&g| g as usize == i).is_none() {
            last = times.next().unwrap_or(last);
        }
        ns.push(last);
    }
    ns
}

/// The time column as nanoseconds per row, with the rows it gives no time (an empty cell, text
/// that is no time) and how its clock was read; None when no value of it reads as a time.
/// `cic_clock`: the table is a CIC-IDS2017 file ([`resolve_workday`]). A value that is the
/// column's own name is a repeated header line (what `cat` of CSV files with headers leaves;
/// cleaning drops the row as `repeated_header`): it takes the time of the row before it (after
/// it, at the top), and is not counted as untimed.
pub fn times(frame: &DataFrame, name: &str, cic_clock: bool) -> Option<ColumnTimes> {
    let col = frame.column(name).ok()?;
    let mut untimed: Vec<u32> = Vec::new();
    if let Ok(f) = col.f64() {
        let (mut first, mut max) = (None, 0.0f64);
        for (i, v) in f.into_iter().enumerate() {
            match v.filter(|v| v.is_finite()) {
                Some(v) => {
                    first.get_or_insert(v);
                    max = max.max(v);
                }
                None => untimed.push(i as u32),
            }
        }
        let first = first?;
        // The unit from the name where it says, else from the magnitude (epoch 2000-2100).
        let scale = if column_key(name).ends_with("ns") || max > 1e17 {
            1.0
        } else if max > 1e14 {
            1e3
        } else if max > 1e11 {
            1e6
        } else {
            1e9
        };
        let read = f
            .into_iter()
            .flatten()
            .filter(|v| v.is_finite())
            .map(|v| (v * scale) as i64);
        return Some(ColumnTimes {
            ns: with_placeholders(f.len(), read, &untimed, (first * scale) as i64),
            untimed,
            clock: Clock::AsWritten,
        });
    }
    let header = name.trim();
    // The stamps read, in row order; `gaps`: the rows without one (header lines and `untimed`).
    let mut stamps: Vec<Stamp> = Vec::with_capacity(col.len());
    let mut gaps: Vec<u32> = Vec::new();
    for (i, v) in col.str().ok()?.into_iter().enumerate() {
        match v {
            Some(text) if text.trim() == header => gaps.push(i as u32),
            v => match v.and_then(parse_stamp) {
                Some(t) => stamps.push(t),
                None => {
                    gaps.push(i as u32);
                    untimed.push(i as u32);
                }
            },
        }
    }
    if stamps.is_empty() {
        return None;
    }
    let clock = if cic_clock {
        resolve_workday(&mut stamps)
    } else {
        Clock::AsWritten
    };
    let first = stamps[0].ns;
    Some(ColumnTimes {
        ns: with_placeholders(col.len(), stamps.iter().map(|t| t.ns), &gaps, first),
        untimed,
        clock,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cic_and_iso_timestamps_agree() {
        let cic = parse_timestamp("5/7/2017 9:48").expect("cic");
        let iso = parse_timestamp("2017-07-05 09:48:00").expect("iso");
        assert_eq!(cic, iso);
        assert_eq!(cic, 1_499_248_080 * 1_000_000_000);
        assert_eq!(
            parse_timestamp("7/7/2017 3:56:12 PM"),
            parse_timestamp("2017-07-07 15:56:12")
        );
        assert_eq!(parse_timestamp("13/13/2017 9:48"), None);
        // Out of any capture's range, or a clock that is not one: no time (and no overflow).
        for bad in [
            "5/7/9999999999 9:48",
            "5/7/-2017 9:48",
            "5/7/2017 -5:30",
            "5/7/2017 9:-1",
            "5/7/2017 9:48:1e300",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        assert_eq!(parse_timestamp("BENIGN"), None);
    }

    fn column(values: &[&str]) -> DataFrame {
        DataFrame::new(vec![Column::new("Timestamp".into(), values)]).expect("frame")
    }

    #[test]
    fn a_cic_afternoon_without_pm_sorts_after_the_morning() {
        // The Wednesday file's order: 9:48 in the morning, then 3:15, which was 15:15.
        let frame = column(&["5/7/2017 9:48", "5/7/2017 12:05", "5/7/2017 3:15"]);
        let ColumnTimes { ns, clock, .. } = times(&frame, "Timestamp", true).expect("times");
        assert_eq!(clock, Clock::CicWorkday);
        assert!(clock.note().is_some());
        assert_eq!(ns[2], parse_timestamp("2017-07-05 15:15:00").expect("iso"));
        assert!(ns[0] < ns[1] && ns[1] < ns[2], "{ns:?}");
        // Another table's 3:15 is read as written.
        let ColumnTimes { ns: plain, clock, .. } = times(&frame, "Timestamp", false).expect("times");
        assert_eq!(clock, Clock::AsWritten);
        assert!(plain[2] < plain[0]);
    }

    #[test]
    fn a_repeated_header_line_takes_a_neighbours_time_and_the_column_stays() {
        // `cat` of two day files: the second file's header is a row.
        let frame = column(&[" Timestamp", "5/7/2017 9:48", "Timestamp", "5/7/2017 3:15"]);
        let ColumnTimes { ns, untimed, clock } =
            times(&frame, "Timestamp", true).expect("the column is still a time");
        assert_eq!(
            clock,
            Clock::CicWorkday,
            "the header's text does not decide the clock"
        );
        assert_eq!(ns.len(), 4);
        assert_eq!((ns[0], ns[2]), (ns[1], ns[1]));
        assert_eq!(ns[3], parse_timestamp("2017-07-05 15:15:00").expect("iso"));
        assert!(untimed.is_empty(), "a header line is no row without a time");
        // A column where nothing reads as a time is no time column.
        assert_eq!(times(&column(&["Timestamp"]), "Timestamp", true), None);
        assert_eq!(times(&column(&["later", "sooner"]), "Timestamp", true), None);
    }

    #[test]
    fn an_empty_or_unreadable_cell_is_a_row_without_a_time_not_a_column_without_one() {
        let frame = DataFrame::new(vec![Column::new(
            "Timestamp".into(),
            &[
                None,
                Some("5/7/2017 9:48"),
                None,
                Some("later"),
                Some("5/7/2017 3:15"),
            ],
        )])
        .expect("frame");
        let t = times(&frame, "Timestamp", true).expect("still a time column");
        assert_eq!(t.untimed, [0, 2, 3]);
        assert_eq!(
            t.clock,
            Clock::CicWorkday,
            "the clock is read from the stamps there are"
        );
        let morning = parse_timestamp("2017-07-05 09:48:00").expect("iso");
        // Placeholders: the time before (after it, at the top).
        assert_eq!(t.ns[..4], [morning; 4]);
        assert_eq!(t.ns[4], parse_timestamp("2017-07-05 15:15:00").expect("iso"));
        // Numbers alike: a missing or NaN value is a row without a time.
        let frame = DataFrame::new(vec![Column::new(
            "first_seen_ns".into(),
            &[Some(5.0), None, Some(f64::NAN), Some(9.0)],
        )])
        .expect("frame");
        let t = times(&frame, "first_seen_ns", false).expect("numbers");
        assert_eq!((t.ns, t.untimed), (vec![5, 5, 5, 9], vec![1, 2]));
    }

    #[test]
    fn a_cic_column_on_a_24_hour_clock_or_with_am_pm_is_read_as_written() {
        for values in [
            &["5/7/2017 9:48", "5/7/2017 15:15", "5/7/2017 3:15"][..],
            &["5/7/2017 9:48 AM", "5/7/2017 3:15 AM"][..],
        ] {
            let ColumnTimes { ns, clock, .. } = times(&column(values), "Timestamp", true).expect("times");
            assert_eq!(clock, Clock::AsWritten, "{values:?}");
            let last = values.len() - 1;
            assert_eq!(ns[last], parse_timestamp(values[last]).expect("stamp"));
        }
    }
}
