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
pub fn parse_timestamp(s: &str) -> Option<i64> {
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
    let mut hour = *t.first()? as i64;
    if pm == Some(true) && hour < 12 {
        hour += 12;
    } else if pm == Some(false) && hour == 12 {
        hour = 0;
    }
    let minute = *t.get(1)? as i64;
    let second = t.get(2).copied().unwrap_or(0.0);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hour > 23 || minute > 59 {
        return None;
    }
    let whole = (days_from_civil(y, m, d) * 86_400 + hour * 3600 + minute * 60) as f64 + second;
    Some((whole * 1e9) as i64)
}

/// The time column as nanoseconds per row, or None if any value cannot be read as a time.
pub fn times(frame: &DataFrame, name: &str) -> Option<Vec<i64>> {
    let col = frame.column(name).ok()?;
    if let Ok(f) = col.f64() {
        let values: Vec<f64> = f.into_iter().collect::<Option<_>>()?;
        let max = values.iter().copied().fold(0.0, f64::max);
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
        return Some(values.iter().map(|v| (v * scale) as i64).collect());
    }
    col.str()
        .ok()?
        .into_iter()
        .map(|v| v.and_then(parse_timestamp))
        .collect()
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
        assert_eq!(parse_timestamp("BENIGN"), None);
    }
}
