//! Per-flow features, updated one packet at a time with integer arithmetic only.
//!
//! [`FlowState::update`] runs in the probe on every packet and in userspace on every packet of a
//! capture; [`FlowState::features`] derives the feature vector a model reads at packet k. Both are
//! the same code on both sides, so a model is trained on exactly what the kernel computes.
//!
//! CICFlowMeter computes its columns once, at the end of a flow; we compute at packet k of the
//! flow (the decision point). A CIC column and our feature therefore agree only when the decision
//! is taken at the flow's last packet. "Packet length" is the transport payload length, as in
//! CICFlowMeter. Each feature's doc line in [`FEATURES`] names its CIC-IDS2017 counterpart.

use crate::packet::ParsedPacket;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_PSH: u8 = 0x08;
pub const TCP_ACK: u8 = 0x10;
pub const TCP_URG: u8 = 0x20;

/// Incremental state of one flow. Direction-aware: forward is from the initiator.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FlowState {
    pub first_ts_ns: u64,
    pub last_ts_ns: u64,
    pub fwd_frame_bytes: u64,
    pub bwd_frame_bytes: u64,
    pub fwd_payload_bytes: u64,
    pub bwd_payload_bytes: u64,
    pub fwd_payload_sumsq: u64,
    pub bwd_payload_sumsq: u64,
    pub fwd_header_bytes: u64,
    pub bwd_header_bytes: u64,
    pub iat_min_ns: u64,
    pub iat_max_ns: u64,
    pub fwd_packets: u32,
    pub bwd_packets: u32,
    pub fwd_len_min: u32,
    pub fwd_len_max: u32,
    pub bwd_len_min: u32,
    pub bwd_len_max: u32,
    pub fin_count: u16,
    pub syn_count: u16,
    pub rst_count: u16,
    pub psh_count: u16,
    pub ack_count: u16,
    pub urg_count: u16,
    pub fwd_init_window: u16,
    pub bwd_init_window: u16,
    pub dst_port: u16,
    pub proto: u8,
    pub fwd_ttl: u8,
    pub bwd_ttl: u8,
    pub _pad: u8,
    /// VLAN id of the initiator's first packet (its outermost tag; 0 untagged).
    pub vlan_id: u16,
}
const _: () = assert!(core::mem::size_of::<FlowState>() == 144);

impl FlowState {
    /// State after the first packet of a flow, sent by its initiator.
    #[inline(always)]
    pub fn start(p: &ParsedPacket, ts_ns: u64) -> Self {
        let mut s = FlowState::default();
        s.restart(p, ts_ns);
        s
    }

    /// [`FlowState::start`] in place (the probe has no stack room for a second copy).
    #[inline(always)]
    pub fn restart(&mut self, p: &ParsedPacket, ts_ns: u64) {
        crate::zero_words(self);
        self.first_ts_ns = ts_ns;
        self.last_ts_ns = ts_ns;
        self.iat_min_ns = u64::MAX;
        self.fwd_len_min = u32::MAX;
        self.bwd_len_min = u32::MAX;
        self.dst_port = p.dst_port;
        self.proto = p.proto;
        self.vlan_id = p.vlan_id;
        self.update(p, true, ts_ns);
    }

    pub fn packets(&self) -> u32 {
        self.fwd_packets.saturating_add(self.bwd_packets)
    }
}

/// Number of features; feature ids are 0..FEATURE_COUNT.
pub const FEATURE_COUNT: usize = 41;

/// The id of `vlan_id`, the VLAN id of the flow's first packet.
pub const VLAN_ID_FEATURE: usize = 40;

/// Features that say where a capture was taken rather than what the traffic does (the VLAN id
/// of a trunk or SPAN port): never in a default feature set; a feature table or model gets them
/// only when they are asked for by name.
pub const OPT_IN_FEATURES: u64 = 1 << VLAN_ID_FEATURE;

/// Every feature a default feature set holds.
pub const DEFAULT_FEATURES: u64 = ALL_FEATURES & !OPT_IN_FEATURES;

/// Feature `id` is one of the [`OPT_IN_FEATURES`].
pub fn is_opt_in(id: usize) -> bool {
    id < FEATURE_COUNT && OPT_IN_FEATURES & (1 << id) != 0
}

/// The feature vector at packet k. Every value is a non-negative integer in the unit its name
/// says (`_us`, `_bytes`, `per_s`), clamped to `i64` range.
pub type FeatureVector = [i64; FEATURE_COUNT];

/// The feature mask with every feature's bit set.
pub const ALL_FEATURES: u64 = (1u64 << FEATURE_COUNT) - 1;

#[inline(always)]
fn div(a: u64, b: u64) -> u64 {
    // BPF division by zero yields 0; Rust's would be a panic path the verifier rejects.
    a.checked_div(b).unwrap_or(0)
}

/// Population variance (integer) of `n` values with sum `sum` and sum of squares `sumsq`.
///
/// Variance rather than CIC's standard deviation: a square root needs a loop of compare steps,
/// LLVM turns every branchless formulation back into branches (BPF has no conditional move),
/// and the verifier then walks 2^16 paths per root. Variance orders flows exactly as the
/// standard deviation does, so a tree split on std <= t is the split variance <= t^2.
#[inline(always)]
fn variance(sum: u64, sumsq: u64, n: u32) -> u64 {
    if n < 2 {
        return 0;
    }
    let mean = div(sum, n as u64).min(0xffff_ffff);
    // mean < 2^32, so mean * mean fits in u64.
    div(sumsq, n as u64).saturating_sub(mean * mean)
}

/// `x / 1000`, exactly, with a multiply instead of a 64-bit division where `x < 2^34` (17 s in
/// ns): x / 1000 = (x >> 3) / 125, and for y = x >> 3 < 2^31, y / 125 = (y * m) >> 39 with
/// m = ceil(2^39 / 125) = 4,398,046,512 (m * 125 - 2^39 = 112, so the error term
/// 112 * y / (125 * 2^39) < 0.0035 never carries past the remainder's 124/125; y * m < 2^64).
/// Larger values divide. BPF has no multiply-high, so LLVM leaves every udiv by a constant a
/// division; they were a large part of the features' cost. Tested against `/` in `tests.rs`.
#[inline(always)]
pub fn div1000(x: u64) -> u64 {
    if x < (1 << 34) {
        ((x >> 3) * 4_398_046_512) >> 39
    } else {
        x / 1000
    }
}

/// Rate per second of `amount` over `duration_us`, without a 128-bit multiply.
#[inline(always)]
fn per_second(amount: u64, duration_us: u64) -> u64 {
    div(amount.min(1 << 40) * 1_000_000, duration_us)
}

/// Features computed only when a model reads them (each divides); the others are a load or two.
#[cfg(test)]
const DIVIDING_FEATURES: u64 = (1 << 9) | (1 << 10) | (0b111_1111 << 13) | (0b1_1111 << 34);

/// Features that read the flow's duration (computed once, see `features_masked_into`).
const DURATION_FEATURES: u64 = (1 << 2) | (1 << 15) | (1 << 16) | (1 << 17) | (1 << 37) | (1 << 38);

/// Where a model reads features from: a flow's state (computed on demand, in the probe) or a
/// precomputed vector (userspace, training).
pub trait FeatureSource {
    /// Feature `id`; ids at or above [`FEATURE_COUNT`] read as 0.
    fn feature(&self, id: usize) -> i64;
}

impl FeatureSource for FeatureVector {
    #[inline(always)]
    fn feature(&self, id: usize) -> i64 {
        self.get(id).copied().unwrap_or(0)
    }
}

impl FlowState {
    /// The feature vector at this point of the flow, written into `out`: every feature.
    #[inline(always)]
    pub fn features_into(&self, out: &mut FeatureVector) {
        self.features_masked_into(out, &ALL_FEATURES);
    }

    /// The features whose bit is set in `*mask` (bit i = feature id i), written into `out`, and
    /// the cheap ones (a field or two, no division) always; every other entry of `out` is left as
    /// it was. The probe passes the union of its models' `feature_mask`s, which `codec::decode`
    /// proves equal to the features a model reads, so a score never depends on an entry that
    /// was left alone (and the twin runs the same code).
    ///
    /// Straight-line code, one guard per feature that divides (a guard costs about what a
    /// feature of one load and one store does). The mask is read afresh (volatile) for every
    /// guard, so no register carries what an earlier guard learnt about it, and nothing computed
    /// inside a guarded block is live after it: the verifier's paths merge after every feature.
    /// (Earlier attempts, a mask test shared by LLVM across blocks or a `match` on the feature
    /// id inside the tree walk, each exploded the verifier; see docs/MODEL_ENGINE.md.)
    #[inline(always)]
    pub fn features_masked_into(&self, out: &mut FeatureVector, mask: &u64) {
        // Every feature reads the fields it needs afresh (volatile) and stores its value
        // (volatile): LLVM may then not keep values shared by several features in registers.
        // Shared registers carry different value ranges on the two sides of every branch (a
        // division guard, a min), so the verifier could merge no paths and would walk 2^k of
        // them; with nothing live between features, paths merge after each one.
        macro_rules! ld {
            ($field:ident) => {
                // SAFETY: a field of `self`, a valid reference.
                unsafe { core::ptr::read_volatile(&self.$field) }
            };
        }
        let out: *mut i64 = out.as_mut_ptr();
        // The duration in us is computed once, into feature 2's slot, when any feature that
        // needs it is wanted; those features read it back from there (volatile, as any field).
        // SAFETY: valid references.
        if unsafe { core::ptr::read_volatile(mask) } & DURATION_FEATURES != 0 {
            let duration_ns = ld!(last_ts_ns).saturating_sub(ld!(first_ts_ns));
            // < 2^54, in i64 range.
            unsafe { core::ptr::write_volatile(out.add(2), div1000(duration_ns) as i64) };
        }
        // SAFETY: a valid reference.
        let duration_us = || unsafe { core::ptr::read_volatile(out.add(2)) } as u64;
        let packets = || ld!(fwd_packets) as u64 + ld!(bwd_packets) as u64;
        let payload = || ld!(fwd_payload_bytes).wrapping_add(ld!(bwd_payload_bytes));
        let min_or_zero = |v: u32| if v == u32::MAX { 0 } else { v as u64 };
        macro_rules! features {
            ($($id:literal $kind:ident => $value:expr,)*) => {
                $( features!(@ $kind $id, $value); )*
            };
            // A load or two and a store: cheaper than the guard that would skip it.
            (@ always $id:literal, $value:expr) => {{
                let v = ($value as u64).min(i64::MAX as u64) as i64;
                const { assert!($id < FEATURE_COUNT) };
                // SAFETY: `out` points to FEATURE_COUNT values and $id < FEATURE_COUNT.
                unsafe { core::ptr::write_volatile(out.add($id), v) };
            }};
            // A division or more: only when a model reads it.
            (@ masked $id:literal, $value:expr) => {
                // SAFETY: a valid reference.
                if unsafe { core::ptr::read_volatile(mask) } & (1u64 << $id) != 0 {
                    features!(@ always $id, $value);
                }
            };
        }
        features! {
            0 always => ld!(dst_port) as u64,
            1 always => ld!(proto) as u64,
            3 always => ld!(fwd_packets) as u64,
            4 always => ld!(bwd_packets) as u64,
            5 always => ld!(fwd_payload_bytes),
            6 always => ld!(bwd_payload_bytes),
            7 always => ld!(fwd_len_max) as u64,
            8 always => min_or_zero(ld!(fwd_len_min)),
            9 masked => div(ld!(fwd_payload_bytes), ld!(fwd_packets) as u64),
            10 masked => variance(ld!(fwd_payload_bytes), ld!(fwd_payload_sumsq), ld!(fwd_packets)),
            11 always => ld!(bwd_len_max) as u64,
            12 always => min_or_zero(ld!(bwd_len_min)),
            13 masked => div(ld!(bwd_payload_bytes), ld!(bwd_packets) as u64),
            14 masked => variance(ld!(bwd_payload_bytes), ld!(bwd_payload_sumsq), ld!(bwd_packets)),
            15 masked => per_second(payload(), duration_us()),
            16 masked => per_second(packets(), duration_us()),
            17 masked => div(duration_us(), packets().saturating_sub(1)),
            18 masked => div1000(ld!(iat_max_ns)),
            19 masked => if ld!(iat_min_ns) == u64::MAX { 0 } else { div1000(ld!(iat_min_ns)) },
            20 always => ld!(fin_count) as u64,
            21 always => ld!(syn_count) as u64,
            22 always => ld!(rst_count) as u64,
            23 always => ld!(psh_count) as u64,
            24 always => ld!(ack_count) as u64,
            25 always => ld!(urg_count) as u64,
            26 always => ld!(fwd_init_window) as u64,
            27 always => ld!(bwd_init_window) as u64,
            28 always => ld!(fwd_header_bytes),
            29 always => ld!(bwd_header_bytes),
            30 always => ld!(fwd_ttl) as u64,
            31 always => ld!(bwd_ttl) as u64,
            // A direction without packets() keeps u32::MAX, so it never wins the min.
            32 always => min_or_zero(ld!(fwd_len_min).min(ld!(bwd_len_min))),
            33 always => (ld!(fwd_len_max) as u64).max(ld!(bwd_len_max) as u64),
            34 masked => div(payload(), packets()),
            35 masked => div(ld!(bwd_packets) as u64, ld!(fwd_packets) as u64),
            36 masked => div(ld!(fwd_frame_bytes).wrapping_add(ld!(bwd_frame_bytes)), packets()),
            37 masked => per_second(ld!(fwd_packets) as u64, duration_us()),
            38 masked => per_second(ld!(bwd_packets) as u64, duration_us()),
            39 always => packets(),
            40 always => ld!(vlan_id) as u64,
        }
    }

    /// The whole feature vector (userspace: training data, the twin, reports).
    pub fn features(&self) -> FeatureVector {
        let mut out = [0i64; FEATURE_COUNT];
        self.features_into(&mut out);
        out
    }
}

/// Describes one feature: stable id (its index), name, unit and CIC-IDS2017 counterpart.
#[derive(Clone, Copy, Debug)]
pub struct FeatureInfo {
    pub name: &'static str,
    pub unit: &'static str,
    /// CIC-IDS2017 column (header without leading space) this feature corresponds to, if any.
    pub cic_column: Option<&'static str>,
    pub doc: &'static str,
}

const fn f(
    name: &'static str,
    unit: &'static str,
    cic: Option<&'static str>,
    doc: &'static str,
) -> FeatureInfo {
    FeatureInfo {
        name,
        unit,
        cic_column: cic,
        doc,
    }
}

/// The feature table, indexed by feature id.
pub const FEATURES: [FeatureInfo; FEATURE_COUNT] = [
    f(
        "dst_port",
        "port",
        Some("Destination Port"),
        "destination port of the initiator's first packet; same as CIC",
    ),
    f(
        "proto",
        "ip protocol",
        Some("Protocol"),
        "IP protocol number; same as CIC",
    ),
    f(
        "duration_us",
        "us",
        Some("Flow Duration"),
        "first to latest packet so far; CIC: first to last packet of the flow",
    ),
    f(
        "fwd_packets",
        "packets",
        Some("Total Fwd Packets"),
        "packets from the initiator so far",
    ),
    f(
        "bwd_packets",
        "packets",
        Some("Total Backward Packets"),
        "packets to the initiator so far",
    ),
    f(
        "fwd_payload_bytes",
        "bytes",
        Some("Total Length of Fwd Packets"),
        "transport payload bytes from the initiator so far",
    ),
    f(
        "bwd_payload_bytes",
        "bytes",
        Some("Total Length of Bwd Packets"),
        "transport payload bytes to the initiator so far",
    ),
    f(
        "fwd_len_max",
        "bytes",
        Some("Fwd Packet Length Max"),
        "largest forward payload so far",
    ),
    f(
        "fwd_len_min",
        "bytes",
        Some("Fwd Packet Length Min"),
        "smallest forward payload so far (0 if none)",
    ),
    f(
        "fwd_len_mean",
        "bytes",
        Some("Fwd Packet Length Mean"),
        "integer mean of forward payloads; CIC: float",
    ),
    f(
        "fwd_len_var",
        "bytes^2",
        Some("Fwd Packet Length Std"),
        "integer population variance of forward payloads; CIC: sample std (compare std^2)",
    ),
    f(
        "bwd_len_max",
        "bytes",
        Some("Bwd Packet Length Max"),
        "largest backward payload so far",
    ),
    f(
        "bwd_len_min",
        "bytes",
        Some("Bwd Packet Length Min"),
        "smallest backward payload so far (0 if none)",
    ),
    f(
        "bwd_len_mean",
        "bytes",
        Some("Bwd Packet Length Mean"),
        "integer mean of backward payloads",
    ),
    f(
        "bwd_len_var",
        "bytes^2",
        Some("Bwd Packet Length Std"),
        "integer population variance of backward payloads (compare std^2)",
    ),
    f(
        "bytes_per_s",
        "bytes/s",
        Some("Flow Bytes/s"),
        "payload bytes per second so far (0 while duration is 0; CIC writes Infinity)",
    ),
    f(
        "packets_per_s",
        "packets/s",
        Some("Flow Packets/s"),
        "packets per second so far (0 while duration is 0)",
    ),
    f(
        "iat_mean_us",
        "us",
        Some("Flow IAT Mean"),
        "mean inter-arrival time, duration / (packets - 1)",
    ),
    f(
        "iat_max_us",
        "us",
        Some("Flow IAT Max"),
        "largest inter-arrival time so far",
    ),
    f(
        "iat_min_us",
        "us",
        Some("Flow IAT Min"),
        "smallest inter-arrival time so far (0 with one packet)",
    ),
    f(
        "fin_count",
        "packets",
        Some("FIN Flag Count"),
        "packets with FIN, both directions",
    ),
    f(
        "syn_count",
        "packets",
        Some("SYN Flag Count"),
        "packets with SYN, both directions",
    ),
    f("rst_count", "packets", Some("RST Flag Count"), "packets with RST"),
    f("psh_count", "packets", Some("PSH Flag Count"), "packets with PSH"),
    f("ack_count", "packets", Some("ACK Flag Count"), "packets with ACK"),
    f("urg_count", "packets", Some("URG Flag Count"), "packets with URG"),
    f(
        "fwd_init_window",
        "bytes",
        Some("Init_Win_bytes_forward"),
        "TCP window of the initiator's first packet (0 for UDP; CIC: -1)",
    ),
    f(
        "bwd_init_window",
        "bytes",
        Some("Init_Win_bytes_backward"),
        "TCP window of the first reply (0 until one is seen; CIC: -1)",
    ),
    f(
        "fwd_header_bytes",
        "bytes",
        Some("Fwd Header Length"),
        "IP + transport header bytes from the initiator (CIC counts transport only)",
    ),
    f(
        "bwd_header_bytes",
        "bytes",
        Some("Bwd Header Length"),
        "IP + transport header bytes to the initiator",
    ),
    f(
        "fwd_ttl",
        "hops",
        None,
        "TTL / hop limit of the initiator's first packet: identifies hosts, a pitfall feature",
    ),
    f("bwd_ttl", "hops", None, "TTL / hop limit of the first reply"),
    f(
        "pkt_len_min",
        "bytes",
        Some("Min Packet Length"),
        "smallest payload in either direction",
    ),
    f(
        "pkt_len_max",
        "bytes",
        Some("Max Packet Length"),
        "largest payload in either direction",
    ),
    f(
        "pkt_len_mean",
        "bytes",
        Some("Packet Length Mean"),
        "mean payload over both directions",
    ),
    f(
        "down_up_ratio",
        "ratio",
        Some("Down/Up Ratio"),
        "backward / forward packets, integer division",
    ),
    f(
        "avg_frame_bytes",
        "bytes",
        Some("Average Packet Size"),
        "mean frame size (link header included; CIC: payload based)",
    ),
    f(
        "fwd_packets_per_s",
        "packets/s",
        Some("Fwd Packets/s"),
        "forward packets per second so far",
    ),
    f(
        "bwd_packets_per_s",
        "packets/s",
        Some("Bwd Packets/s"),
        "backward packets per second so far",
    ),
    f(
        "packets",
        "packets",
        None,
        "packets so far in both directions: the decision point k itself",
    ),
    f(
        "vlan_id",
        "vlan id",
        None,
        "VLAN id of the initiator's first packet (outermost tag, 0 untagged): where the capture \
         was taken, a host artefact; opt-in, only when named in --features",
    ),
];

/// The largest value feature `id` can take. Every feature is computed as a non-negative
/// integer (`features_masked_into`), so its range is `0..=feature_max(id)`: the field type's
/// maximum for the features read from a `u8` or `u16` field, `i64::MAX` for the others (ids out
/// of range too). The compiled logistic model relies on both bounds (`bpf_code`: no clamp below
/// 0, none to `i32::MAX` for a feature that cannot exceed it); tested on extreme and random
/// flow states.
pub const fn feature_max(id: usize) -> i64 {
    match id {
        // proto, fwd_ttl, bwd_ttl
        1 | 30 | 31 => u8::MAX as i64,
        // dst_port, the six flag counts, the two initial windows, vlan_id
        0 | 20..=27 | 40 => u16::MAX as i64,
        _ => i64::MAX,
    }
}

/// The id of the feature named `name`.
pub fn feature_id(name: &str) -> Option<usize> {
    FEATURES.iter().position(|f| f.name == name)
}

#[cfg(test)]
mod tests;
mod update;
