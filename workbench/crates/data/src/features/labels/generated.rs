//! Labels from the generator's own ground-truth file (`workbench gen-pcaps` writes
//! `labels-<variant>.csv`, header `src,sport,dst,dport,proto,first_ts_ns,last_ts_ns,label,
//! scenario,variant`; see sample-pcaps/README.md).
//!
//! A row labels a flow when the endpoints are equal in either direction (as the canonical flow
//! key `shared::FlowKey::of` pairs them), the protocol is equal, and the flow's first packet lies
//! in the row's `[first_ts_ns, last_ts_ns]`. The window has no slack: the generator writes the
//! first and last packet's capture stamps, so a flow of its capture always starts exactly at
//! `first_ts_ns`; a flow outside the window (another capture reusing the 5-tuple) stays
//! unmatched and is counted. An attack's scenario becomes the flow's `attack_type` (the finer
//! class: `portscan_horizontal` vs `portscan_vertical`); a benign flow's `attack_type` is its
//! label, as in CIC-IDS2017, so that the class column lists attacks, not kinds of benign traffic.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;

use super::{invalid, io_at, Result};

use super::cic::{integer, split_csv};
use super::pairs::{PairIndex, Used};
use super::{intern, Assigned, FlowFacts};

/// The columns that make a header the generator's (in any order; `variant` is optional).
const COLUMNS: [&str; 9] = [
    "src",
    "sport",
    "dst",
    "dport",
    "proto",
    "first_ts_ns",
    "last_ts_ns",
    "label",
    "scenario",
];

/// Column positions of `COLUMNS` in the header, if every one is there.
pub fn columns(header: &[String]) -> Option<[usize; 9]> {
    let names: Vec<String> = header
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase())
        .collect();
    let mut at = [0; 9];
    for (slot, want) in at.iter_mut().zip(COLUMNS) {
        *slot = names.iter().position(|n| n == want)?;
    }
    Some(at)
}

#[derive(Clone, Copy, Debug)]
pub struct Row {
    proto: u8,
    first_ns: u64,
    last_ns: u64,
    label: u32,
    scenario: u32,
    used: bool,
}

/// The file's rows by endpoint pair.
pub type GeneratedIndex = PairIndex<Row>;

impl Used for Row {
    fn used(&self) -> bool {
        self.used
    }
}

impl PairIndex<Row> {
    pub fn load(path: &Path, names: &mut Vec<String>) -> Result<GeneratedIndex> {
        let file = path.display().to_string();
        let f = File::open(path).map_err(io_at(&file, "cannot open"))?;
        let mut lines = BufReader::new(f).lines();
        let header = lines
            .next()
            .ok_or_else(|| invalid!("{file}: empty file, expected a CSV header"))?
            .map_err(io_at(format!("{file}:1"), "cannot read"))?;
        let cols = columns(&split_csv(&header)).ok_or_else(|| {
            invalid!(
                "{file}:1: not a generator labels header: expected the columns {}",
                COLUMNS.join(",")
            )
        })?;
        let width = cols.iter().copied().max().unwrap_or(0) + 1;
        let mut index = GeneratedIndex::default();
        for (i, line) in lines.enumerate() {
            let line_no = i + 2;
            let line = line.map_err(io_at(format!("{file}:{line_no}"), "cannot read"))?;
            if line.trim().is_empty() {
                continue;
            }
            let fields = split_csv(&line);
            if fields.len() < width {
                return Err(invalid!(
                    "{file}:{line_no}: {} fields, the header needs at least {width}",
                    fields.len()
                ));
            }
            let get = |c: usize| fields[cols[c]].trim();
            let bad = |c: usize, what: &str| {
                invalid!(
                    "{file}:{line_no}: column `{}`: `{}` is not {what}",
                    COLUMNS[c],
                    get(c)
                )
            };
            let ip = |c: usize| get(c).parse::<IpAddr>().map_err(|_| bad(c, "an IP address"));
            let num = |c: usize, max: i64| {
                integer(get(c))
                    .filter(|v| (0..=max).contains(v))
                    .ok_or_else(|| bad(c, &format!("an integer from 0 to {max}")))
            };
            let src = (ip(0)?, num(1, u16::MAX.into())? as u16);
            let dst = (ip(2)?, num(3, u16::MAX.into())? as u16);
            let proto = num(4, u8::MAX.into())? as u8;
            let first_ns = get(5).parse::<u64>().map_err(|_| bad(5, "nanoseconds"))?;
            let last_ns = get(6).parse::<u64>().map_err(|_| bad(6, "nanoseconds"))?;
            if last_ns < first_ns {
                return Err(invalid!(
                    "{file}:{line_no}: last_ts_ns {last_ns} is before first_ts_ns {first_ns}"
                ));
            }
            if get(7).is_empty() {
                return Err(bad(7, "a label"));
            }
            let row = Row {
                proto,
                first_ns,
                last_ns,
                label: intern(names, get(7)),
                scenario: if crate::dataset::clean::is_benign(get(7)) {
                    intern(names, get(7))
                } else {
                    intern(names, get(8))
                },
                used: false,
            };
            index.note_time(
                i64::try_from(first_ns).unwrap_or(i64::MAX),
                i64::try_from(last_ns).unwrap_or(i64::MAX),
            );
            index.push(src, dst, row);
        }
        Ok(index)
    }

    pub fn label(&mut self, f: &FlowFacts) -> Option<Assigned> {
        let rows = self.between(f)?;
        // The row whose window holds the start, nearest first packet first (the generator never
        // reuses a 5-tuple, but another file may).
        let row = rows
            .iter_mut()
            .filter(|r| r.proto == f.proto && (r.first_ns..=r.last_ns).contains(&f.first_seen_ns))
            .min_by_key(|r| f.first_seen_ns - r.first_ns)?;
        row.used = true;
        Some(Assigned {
            label: row.label,
            attack_type: Some(row.scenario),
        })
    }
}
