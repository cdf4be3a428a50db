//! The Live table's view of a snapshot: which flows pass the filter, in which order, and the
//! score histogram. Computed when a snapshot arrives or sort/filter change, not per frame, so a
//! frame only formats the rows it shows.

use std::cmp::Ordering;

use super::source::{FlowRow, Snapshot};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Score,
    Packets,
    Bytes,
    Age,
    Source,
    Verdict,
}

impl SortKey {
    pub fn next(self) -> Self {
        match self {
            SortKey::Score => SortKey::Packets,
            SortKey::Packets => SortKey::Bytes,
            SortKey::Bytes => SortKey::Age,
            SortKey::Age => SortKey::Source,
            SortKey::Source => SortKey::Verdict,
            SortKey::Verdict => SortKey::Score,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Score => "score",
            SortKey::Packets => "packets",
            SortKey::Bytes => "bytes",
            SortKey::Age => "age",
            SortKey::Source => "source",
            SortKey::Verdict => "verdict",
        }
    }
}

pub fn packets(r: &FlowRow) -> u64 {
    r.record.fwd_packets + r.record.bwd_packets
}

pub fn bytes(r: &FlowRow) -> u64 {
    r.record.fwd_bytes + r.record.bwd_bytes
}

fn verdict_rank(v: &str) -> u8 {
    match v {
        "malicious" => 2,
        "benign" => 1,
        _ => 0,
    }
}

fn compare(key: SortKey, a: &FlowRow, b: &FlowRow) -> Ordering {
    let (ra, rb) = (&a.record, &b.record);
    match key {
        SortKey::Score => ra.score.cmp(&rb.score),
        SortKey::Packets => packets(a).cmp(&packets(b)),
        SortKey::Bytes => bytes(a).cmp(&bytes(b)),
        // Age grows as last_seen shrinks.
        SortKey::Age => rb.last_seen_ns.cmp(&ra.last_seen_ns),
        SortKey::Source => (ra.src, ra.src_port).cmp(&(rb.src, rb.src_port)),
        SortKey::Verdict => verdict_rank(ra.verdict)
            .cmp(&verdict_rank(rb.verdict))
            .then(ra.score.cmp(&rb.score)),
    }
}

/// Case-insensitive substring match on what the row shows (addresses, ports, protocol,
/// verdict, model).
pub fn matches(r: &FlowRow, needle_lower: &str) -> bool {
    if needle_lower.is_empty() {
        return true;
    }
    let f = &r.record;
    let text = format!(
        "{}:{} {}:{} {} {} {}",
        f.src,
        f.src_port,
        f.dst,
        f.dst_port,
        f.proto,
        f.verdict,
        f.model.as_deref().unwrap_or("")
    );
    text.to_lowercase().contains(needle_lower)
}

/// Indices into `snapshot.flows` that pass `filter`, sorted by `key` (descending if `desc`),
/// ties broken by the 5-tuple so the order is stable from one poll to the next.
pub fn compute(snapshot: &Snapshot, key: SortKey, desc: bool, filter: &str) -> Vec<u32> {
    let needle = filter.to_lowercase();
    let mut idx: Vec<u32> = (0..snapshot.flows.len() as u32)
        .filter(|&i| matches(&snapshot.flows[i as usize], &needle))
        .collect();
    let tie = |a: &FlowRow, b: &FlowRow| {
        let (a, b) = (&a.record, &b.record);
        (a.src, a.src_port, a.dst, a.dst_port, a.proto).cmp(&(b.src, b.src_port, b.dst, b.dst_port, b.proto))
    };
    idx.sort_unstable_by(|&i, &j| {
        let (a, b) = (&snapshot.flows[i as usize], &snapshot.flows[j as usize]);
        let o = compare(key, a, b);
        let o = if desc { o.reverse() } else { o };
        o.then_with(|| tie(a, b))
    });
    idx
}

/// Histogram of the active model's scores over decided flows: `bins` equal bins between the
/// lowest and highest score. Returns (counts, low, high).
pub fn histogram(snapshot: &Snapshot, bins: usize) -> (Vec<u64>, i64, i64) {
    if bins == 0 {
        return (Vec::new(), 0, 0);
    }
    let scores = || {
        snapshot
            .flows
            .iter()
            .filter(|r| r.record.verdict != "none")
            .map(|r| r.record.score)
    };
    let (Some(lo), Some(hi)) = (scores().min(), scores().max()) else {
        return (vec![0; bins], 0, 0);
    };
    let mut counts = vec![0u64; bins];
    let width = ((hi - lo) as i128 + 1).max(1);
    for s in scores() {
        let b = (((s - lo) as i128 * bins as i128) / width) as usize;
        if let Some(c) = counts.get_mut(b.min(bins - 1)) {
            *c += 1;
        }
    }
    (counts, lo, hi)
}
