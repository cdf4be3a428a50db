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
}

impl<R> Default for PairIndex<R> {
    fn default() -> Self {
        PairIndex {
            rows: HashMap::new(),
            count: 0,
        }
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
        self.rows
            .get_mut(&unordered((f.src_ip, f.src_port), (f.dst_ip, f.dst_port)))
    }
}
