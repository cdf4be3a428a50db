//! Rows of a labels file indexed by their two endpoints in either order (as
//! `shared::FlowKey::of` pairs a flow's two directions), counting the rows read and the rows that
//! labelled a flow: what the CIC and the generator's labels files share. Each file's own index
//! is a `PairIndex` of its row type, with its own `load` and `label`.

use std::collections::HashMap;
use std::net::IpAddr;

use super::FlowFacts;

pub type Endpoint = (IpAddr, u16);

/// A row that remembers whether it labelled a flow (for the report's `*_rows_used`).
pub trait Used {
    fn used(&self) -> bool;
}

pub struct PairIndex<R> {
    rows: HashMap<(Endpoint, Endpoint), Vec<R>>,
    count: u64,
    /// The earliest and latest time the rows name, ns since 1970 UTC (see [`Self::note_time`]).
    span: Option<(i64, i64)>,
    /// Flows looked up whose two endpoints some row has (whatever its time or protocol).
    pair_hits: u64,
}

impl<R> Default for PairIndex<R> {
    fn default() -> Self {
        PairIndex {
            rows: HashMap::new(),
            count: 0,
            span: None,
            pair_hits: 0,
        }
    }
}

impl<R> PairIndex<R> {
    /// Widens the time range the file's rows cover (for the message when no flow matches).
    pub fn note_time(&mut self, lo_ns: i64, hi_ns: i64) {
        self.span = Some(match self.span {
            Some((a, b)) => (a.min(lo_ns), b.max(hi_ns)),
            None => (lo_ns, hi_ns),
        });
    }

    /// The time range the rows cover, ns since 1970 UTC.
    pub fn span(&self) -> Option<(i64, i64)> {
        self.span
    }

    /// Flows whose two endpoints a row has (matched or not on time and protocol).
    pub fn pair_hits(&self) -> u64 {
        self.pair_hits
    }
}

fn unordered(a: Endpoint, b: Endpoint) -> (Endpoint, Endpoint) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl<R: Used> PairIndex<R> {
    pub fn push(&mut self, a: Endpoint, b: Endpoint, row: R) {
        self.rows.entry(unordered(a, b)).or_default().push(row);
        self.count += 1;
    }

    /// Rows read (with an address).
    pub fn rows(&self) -> u64 {
        self.count
    }

    /// Rows that labelled at least one flow.
    pub fn rows_used(&self) -> u64 {
        self.rows.values().flatten().filter(|r| r.used()).count() as u64
    }

    /// The rows between the flow's two endpoints (either direction), if any.
    pub fn between(&mut self, f: &FlowFacts) -> Option<&mut Vec<R>> {
        let rows = self
            .rows
            .get_mut(&unordered((f.src_ip, f.src_port), (f.dst_ip, f.dst_port)));
        self.pair_hits += u64::from(rows.is_some());
        rows
    }
}
