//! The Live table's view of a snapshot: which flows pass the filter, in which order, and the
//! score histogram. Computed when a snapshot arrives or sort/filter change, not per frame, so a
//! frame only formats the rows it shows.

use super::source::{FlowRow, Snapshot};
use shared::model::SCORE_ONE;

/// How the Live table is ordered and filtered (the UI publishes it to the poller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewSpec {
    pub sort: SortKey,
    pub desc: bool,
    pub filter: String,
}

impl Default for ViewSpec {
    fn default() -> Self {
        ViewSpec {
            sort: SortKey::Score,
            desc: true,
            filter: String::new(),
        }
    }
}

/// What the UI derives from a snapshot, computed on the poller thread so that a new snapshot
/// of 100k flows costs the UI thread nothing but a pointer swap.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    pub spec: ViewSpec,
    pub view: Vec<u32>,
    pub histogram: (Vec<u64>, i64, i64),
    pub flagged: usize,
    pub shadow_disagreements: u64,
}

pub const HISTOGRAM_BINS: usize = 16;

pub fn prepare(snapshot: &Snapshot, spec: &ViewSpec) -> Prepared {
    let flows = &snapshot.flows;
    Prepared {
        spec: spec.clone(),
        view: compute(snapshot, spec.sort, spec.desc, &spec.filter),
        histogram: histogram(snapshot, HISTOGRAM_BINS),
        flagged: flows.iter().filter(|f| f.record.verdict == "malicious").count(),
        shadow_disagreements: flows.iter().map(|f| f.record.shadow_disagreements as u64).sum(),
    }
}

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

/// A stable order among equal keys: a hash of the 5-tuple (cheap to compare, unlike the
/// addresses themselves), so rows do not jump around between polls.
fn tie(r: &FlowRow) -> u64 {
    let f = &r.record;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |v: u128| {
        h ^= v as u64 ^ (v >> 64) as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    mix(ip(f.src));
    mix(ip(f.dst));
    mix(((f.src_port as u128) << 16) | f.dst_port as u128);
    mix(f.proto.len() as u128 ^ f.proto.as_bytes().first().copied().unwrap_or(0) as u128);
    h
}

fn ip(a: std::net::IpAddr) -> u128 {
    match a {
        std::net::IpAddr::V4(v4) => u32::from(v4) as u128,
        std::net::IpAddr::V6(v6) => u128::from(v6),
    }
}

/// The sort key of a row as one integer pair, so 100k rows sort in a few milliseconds.
fn key_of(key: SortKey, r: &FlowRow) -> (i128, u64) {
    let f = &r.record;
    let t = tie(r);
    match key {
        SortKey::Score => (f.score as i128, t),
        SortKey::Packets => (packets(r) as i128, t),
        SortKey::Bytes => (bytes(r) as i128, t),
        // Age grows as last_seen shrinks.
        SortKey::Age => (-(f.last_seen_ns as i128), t),
        // The lowest address bit of IPv6 is given up to fit the port beside it.
        SortKey::Source => ((ip(f.src) >> 1) as i128, ((f.src_port as u64) << 48) | (t >> 16)),
        SortKey::Verdict => (((verdict_rank(f.verdict) as i128) << 64) + f.score as i128, t),
    }
}

/// Case-insensitive substring match on what the row shows (addresses, ports, protocol,
/// verdict, model). `buf` is reused across rows: no allocation per row.
pub fn matches(buf: &mut String, r: &FlowRow, needle_lower: &str) -> bool {
    use std::fmt::Write;
    if needle_lower.is_empty() {
        return true;
    }
    let f = &r.record;
    buf.clear();
    let _ = write!(
        buf,
        "{}:{} {}:{} {} {} {}",
        f.src,
        f.src_port,
        f.dst,
        f.dst_port,
        f.proto,
        f.verdict,
        f.model.as_deref().unwrap_or("")
    );
    buf.make_ascii_lowercase();
    buf.contains(needle_lower)
}

/// Indices into `snapshot.flows` that pass `filter`, sorted by `key` (descending if `desc`),
/// ties in a fixed order so the table is stable from one poll to the next.
pub fn compute(snapshot: &Snapshot, key: SortKey, desc: bool, filter: &str) -> Vec<u32> {
    let needle = filter.to_lowercase();
    let mut buf = String::with_capacity(96);
    let mut keyed: Vec<(i128, u64, u32)> = snapshot
        .flows
        .iter()
        .enumerate()
        .filter(|(_, r)| matches(&mut buf, r, &needle))
        .map(|(i, r)| {
            let (k, t) = key_of(key, r);
            (k, t, i as u32)
        })
        .collect();
    if desc {
        keyed.sort_unstable_by(|a, b| b.cmp(a));
    } else {
        keyed.sort_unstable();
    }
    keyed.into_iter().map(|(_, _, i)| i).collect()
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
            // P(malicious) x 2^16: the bins of a tree's and a logistic model's flows share a scale.
            .map(|r| {
                r.record
                    .probability
                    .map_or(r.record.score, |p| (p * SCORE_ONE as f64).round() as i64)
            })
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
