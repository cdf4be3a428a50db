//! Labels from a CIC-IDS2017 "GeneratedLabelledFlows" / "TrafficLabelling" CSV.
//!
//! A CIC row labels a flow when
//! - the endpoints are the same in either direction (CICFlowMeter's own orientation is not always
//!   the initiator's), and the protocol is equal when the file says it (column `Protocol`, else the
//!   last field of `Flow ID`), and
//! - the flow's first packet lies in the row's time window `[T - W, T + R + W]`: `T` is the row's
//!   `Timestamp` read as local time at UTC offset `O` (CIC-IDS2017 was recorded in New Brunswick,
//!   ADT, so `O` = -03:00 by default), `R` its resolution (60 s for `3:56`, 1 s with seconds), `W`
//!   the window (default 120 s). Stamps on a 12-hour clock without AM/PM are tried at both hours.
//!
//! When several rows qualify (CICFlowMeter splits long flows at its timeout), the one whose
//! window centre is nearest to the flow's start wins. Header names are trimmed (the files have
//! leading spaces) and compared without case; integers written as `6.0` are accepted; rows without
//! a source address (the blank rows some CIC files contain) are skipped; invalid UTF-8 (the
//! "Web Attack" labels of the Thursday file) is replaced, not fatal.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;

use super::{invalid, io_at, Result};

use super::pairs::{PairIndex, Used};
use super::time::parse_cic_stamp;
use super::{intern, Assigned, FlowFacts};

/// How CIC timestamps are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CicOptions {
    /// The UTC offset of the stamps' local time, in seconds.
    pub utc_offset_s: i64,
    /// Slack on either side of a row's time window, in seconds.
    pub window_s: i64,
}

impl Default for CicOptions {
    fn default() -> Self {
        CicOptions {
            utc_offset_s: -3 * 3600,
            window_s: 120,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct CicRow {
    /// Window in ns since 1970 (UTC) for the row's stamp; `alt_ns` is the same window 12 h later
    /// for an ambiguous 12-hour stamp.
    lo_ns: i64,
    hi_ns: i64,
    alt_ns: Option<i64>,
    proto: Option<u8>,
    label: u32,
    used: bool,
}

/// The file's rows by endpoint pair.
pub type CicIndex = PairIndex<CicRow>;

impl Used for CicRow {
    fn used(&self) -> bool {
        self.used
    }
}

/// Splits one CSV line; fields may be double-quoted (pandas quotes when it must).
pub(super) fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// An integer that may be written as a float (`6.0`).
pub(super) fn integer(s: &str) -> Option<i64> {
    let s = s.trim();
    s.parse::<i64>().ok().or_else(|| {
        let f = s.parse::<f64>().ok()?;
        (f.fract() == 0.0 && f.abs() < 1e15).then_some(f as i64)
    })
}

struct Columns {
    src_ip: usize,
    src_port: usize,
    dst_ip: usize,
    dst_port: usize,
    timestamp: usize,
    label: usize,
    protocol: Option<usize>,
    flow_id: Option<usize>,
}

impl Columns {
    fn find(file: &str, header: &[String]) -> Result<Columns> {
        let names: Vec<String> = header
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
            .collect();
        let find = |alts: &[&str]| names.iter().position(|n| alts.contains(&n.as_str()));
        let need = |alts: &[&str]| {
            find(alts).ok_or_else(|| {
                invalid!(
                    "{file}:1: no `{}` column: expected a CIC-IDS2017 labelled-flows header \
                     (Source IP, Source Port, Destination IP, Destination Port, Timestamp, Label)",
                    alts[0]
                )
            })
        };
        Ok(Columns {
            src_ip: need(&["source ip", "src ip"])?,
            src_port: need(&["source port", "src port"])?,
            dst_ip: need(&["destination ip", "dst ip"])?,
            dst_port: need(&["destination port", "dst port"])?,
            timestamp: need(&["timestamp"])?,
            label: need(&["label"])?,
            protocol: find(&["protocol"]),
            flow_id: find(&["flow id"]),
        })
    }
}

impl PairIndex<CicRow> {
    pub fn load(path: &Path, opts: &CicOptions, names: &mut Vec<String>) -> Result<CicIndex> {
        let file = path.display().to_string();
        let f = File::open(path).map_err(io_at(&file, "cannot open"))?;
        let mut reader = BufReader::new(f);
        let mut buf = Vec::new();
        let mut next_line = |buf: &mut Vec<u8>| -> Result<Option<String>> {
            buf.clear();
            let n = reader
                .read_until(b'\n', buf)
                .map_err(io_at(&file, "cannot read"))?;
            Ok((n > 0).then(|| {
                String::from_utf8_lossy(buf)
                    .trim_end_matches(['\r', '\n'])
                    .to_string()
            }))
        };
        let header =
            next_line(&mut buf)?.ok_or_else(|| invalid!("{file}: empty file, expected a CSV header"))?;
        let cols = Columns::find(&file, &split_csv(&header))?;
        let width = [
            cols.src_ip,
            cols.src_port,
            cols.dst_ip,
            cols.dst_port,
            cols.timestamp,
            cols.label,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let mut index = CicIndex::default();
        let mut line_no = 1;
        while let Some(line) = next_line(&mut buf)? {
            line_no += 1;
            let fields = split_csv(&line);
            let get = |i: usize| fields.get(i).map_or("", |s| s.trim());
            if get(cols.src_ip).is_empty() {
                continue;
            }
            let at = |what: &str, value: &str| {
                invalid!("{file}:{line_no}: column `{what}`: `{value}` is not valid")
            };
            if fields.len() <= width {
                return Err(invalid!(
                    "{file}:{line_no}: {} fields, the header needs at least {}",
                    fields.len(),
                    width + 1
                ));
            }
            let ip = |i: usize, what: &str| get(i).parse::<IpAddr>().map_err(|_| at(what, get(i)));
            let port = |i: usize, what: &str| {
                integer(get(i))
                    .and_then(|p| u16::try_from(p).ok())
                    .ok_or_else(|| at(what, get(i)))
            };
            let src = (ip(cols.src_ip, "Source IP")?, port(cols.src_port, "Source Port")?);
            let dst = (
                ip(cols.dst_ip, "Destination IP")?,
                port(cols.dst_port, "Destination Port")?,
            );
            let proto = match cols.protocol {
                Some(i) => Some(
                    integer(get(i))
                        .and_then(|p| u8::try_from(p).ok())
                        .ok_or_else(|| at("Protocol", get(i)))?,
                ),
                None => cols
                    .flow_id
                    .and_then(|i| get(i).rsplit('-').next().and_then(integer))
                    .and_then(|p| u8::try_from(p).ok()),
            };
            let stamp =
                parse_cic_stamp(get(cols.timestamp)).map_err(|source| super::LabelsError::Timestamp {
                    place: format!("{file}:{line_no}"),
                    source,
                })?;
            let t_ns = (stamp.local_s - opts.utc_offset_s).saturating_mul(1_000_000_000);
            let w_ns = opts.window_s.saturating_mul(1_000_000_000);
            let label = get(cols.label);
            let row = CicRow {
                lo_ns: t_ns.saturating_sub(w_ns),
                hi_ns: t_ns
                    .saturating_add(stamp.resolution_s * 1_000_000_000)
                    .saturating_add(w_ns),
                alt_ns: stamp.ambiguous_12h.then_some(12 * 3600 * 1_000_000_000),
                proto,
                label: intern(names, label),
                used: false,
            };
            index.note_time(t_ns, t_ns.saturating_add(stamp.resolution_s * 1_000_000_000));
            index.push(src, dst, row);
        }
        Ok(index)
    }

    pub fn label(&mut self, f: &FlowFacts) -> Option<Assigned> {
        let rows = self.between(f)?;
        let t = i64::try_from(f.first_seen_ns).unwrap_or(i64::MAX);
        let mut best: Option<(i64, usize)> = None;
        for (i, r) in rows.iter().enumerate() {
            if r.proto.is_some_and(|p| p != f.proto) {
                continue;
            }
            for shift in [Some(0), r.alt_ns].into_iter().flatten() {
                let (lo, hi) = (r.lo_ns.saturating_add(shift), r.hi_ns.saturating_add(shift));
                if (lo..=hi).contains(&t) {
                    let distance = (t - (lo / 2 + hi / 2)).abs();
                    if best.is_none_or(|(d, _)| distance < d) {
                        best = Some((distance, i));
                    }
                }
            }
        }
        let (_, i) = best?;
        let row = rows.get_mut(i)?;
        row.used = true;
        Some(Assigned {
            label: row.label,
            attack_type: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_and_integers() {
        assert_eq!(split_csv(r#"a, b,"c,d","e""f""#), vec!["a", " b", "c,d", "e\"f"]);
        assert_eq!(integer("6.0"), Some(6));
        assert_eq!(integer(" 80"), Some(80));
        assert_eq!(integer("6.5"), None);
    }
}
