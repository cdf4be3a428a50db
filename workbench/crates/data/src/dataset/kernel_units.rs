//! The columns of UNSW-NB15 and NSL-KDD that mean what a kernel feature means, in another unit
//! and at another time, with the conversion to the probe's unit and a note of how the values
//! still differ; the columns that only look alike, with the reason they stay unmapped; and the
//! kernel features computed from mapped ones with the probe's own formula (CIC-IDS2017's
//! `packets` = `Total Fwd Packets` + `Total Backward Packets`, UNSW-NB15's rates from `dur`).
//!
//! Every mapped value is an end-of-connection value (Argus for UNSW-NB15, Bro for NSL-KDD's
//! DARPA traffic), where the probe decides at packets 1-32 and every 16th: `train` says so, and
//! `workbench skew` measures it.

use serde::Serialize;

use super::detect::DatasetKind;

/// How a dataset value becomes the probe's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conversion {
    /// The same quantity in the same unit.
    Same,
    /// CIC-IDS2017 gives a sample standard deviation where the probe keeps a variance: squared.
    StdSquared,
    /// Seconds (fractional) to microseconds.
    SecondsToMicros,
    /// Whole seconds to microseconds (NSL-KDD: sub-second durations are 0).
    WholeSecondsToMicros,
    /// A protocol name (tcp, udp, icmp, ...) or number to the IP protocol number.
    ProtocolNumber,
    /// IP-level bytes of a direction (Argus) minus the IP and transport headers of its packets
    /// (the packet count in the named column).
    MinusHeaders { packets: &'static str },
    /// Mean IP packet size of a direction (Argus) minus one packet's headers.
    MeanMinusHeader,
}

impl Conversion {
    /// In words, for `feature_mapping` and the docs.
    pub fn describe(self) -> &'static str {
        match self {
            Conversion::Same => "as is",
            Conversion::StdSquared => "squared (standard deviation to variance)",
            Conversion::SecondsToMicros => "seconds x 1,000,000 (to microseconds)",
            Conversion::WholeSecondsToMicros => "whole seconds x 1,000,000 (to microseconds)",
            Conversion::ProtocolNumber => "protocol name to IP protocol number (tcp 6, udp 17, icmp 1, ...)",
            Conversion::MinusHeaders { .. } => {
                "minus 40 bytes per TCP packet, 28 per UDP or ICMP packet, 20 otherwise (the IPv4 and transport headers)"
            }
            Conversion::MeanMinusHeader => "minus one packet's IPv4 and transport headers (40 TCP, 28 UDP/ICMP, 20 other)",
        }
    }
}

/// A dataset column with a kernel counterpart.
pub struct UnitMapping {
    /// `column_key` of the dataset's column name.
    pub key: &'static str,
    pub feature: &'static str,
    pub conversion: Conversion,
    /// How the converted value still differs from the probe's.
    pub note: &'static str,
}

const fn m(
    key: &'static str,
    feature: &'static str,
    conversion: Conversion,
    note: &'static str,
) -> UnitMapping {
    UnitMapping {
        key,
        feature,
        conversion,
        note,
    }
}

const ARGUS_END: &str = "Argus's value for the whole connection, the probe's so far at the decision point";

/// UNSW-NB15, raw files (`Spkts`, `smeansz`) and training/testing sets (`spkts`, `smean`).
pub const UNSW: &[UnitMapping] = &[
    m(
        "dur",
        "duration_us",
        Conversion::SecondsToMicros,
        "first to last packet of the whole connection (Argus, seconds); the probe: first to latest packet so far",
    ),
    m("proto", "proto", Conversion::ProtocolNumber, "same protocol; Argus also lists non-IP (arp) and protocols the probe does not parse"),
    m("spkts", "fwd_packets", Conversion::Same, ARGUS_END),
    m("dpkts", "bwd_packets", Conversion::Same, ARGUS_END),
    m(
        "sbytes",
        "fwd_payload_bytes",
        Conversion::MinusHeaders { packets: "spkts" },
        "Argus counts transaction bytes with each packet's IP and transport headers; with the headers removed, TCP options (up to 40 bytes per packet) remain in it; whole connection",
    ),
    m(
        "dbytes",
        "bwd_payload_bytes",
        Conversion::MinusHeaders { packets: "dpkts" },
        "Argus counts transaction bytes with each packet's IP and transport headers; with the headers removed, TCP options (up to 40 bytes per packet) remain in it; whole connection",
    ),
    m(
        "sttl",
        "fwd_ttl",
        Conversion::Same,
        "source-to-destination TTL (Argus); the probe: TTL of the initiator's first packet. UNSW-NB15's attack hosts have their own TTLs: a host artefact",
    ),
    m("dttl", "bwd_ttl", Conversion::Same, "destination-to-source TTL (Argus); the probe: TTL of the first reply"),
    m(
        "smeansz",
        "fwd_len_mean",
        Conversion::MeanMinusHeader,
        "mean IP packet size of the direction (Argus), headers removed (TCP options remain); the probe: integer mean payload so far",
    ),
    m(
        "smean",
        "fwd_len_mean",
        Conversion::MeanMinusHeader,
        "mean IP packet size of the direction (Argus), headers removed (TCP options remain); the probe: integer mean payload so far",
    ),
    m(
        "dmeansz",
        "bwd_len_mean",
        Conversion::MeanMinusHeader,
        "mean IP packet size of the direction (Argus), headers removed (TCP options remain); the probe: integer mean payload so far",
    ),
    m(
        "dmean",
        "bwd_len_mean",
        Conversion::MeanMinusHeader,
        "mean IP packet size of the direction (Argus), headers removed (TCP options remain); the probe: integer mean payload so far",
    ),
];

/// NSL-KDD (DARPA 1998 connections summarised by Bro).
pub const NSL_KDD: &[UnitMapping] = &[
    m(
        "duration",
        "duration_us",
        Conversion::WholeSecondsToMicros,
        "whole seconds of the whole connection (most rows 0); the probe: microseconds so far",
    ),
    m(
        "protocoltype",
        "proto",
        Conversion::ProtocolNumber,
        "same protocol",
    ),
    m(
        "srcbytes",
        "fwd_payload_bytes",
        Conversion::Same,
        "data bytes from source to destination for the whole connection; the probe: payload bytes so far",
    ),
    m(
        "dstbytes",
        "bwd_payload_bytes",
        Conversion::Same,
        "data bytes from destination to source for the whole connection; the probe: payload bytes so far",
    ),
    m(
        "urgent",
        "urg_count",
        Conversion::Same,
        "urgent packets of the whole connection; the probe: packets with URG so far",
    ),
];

/// Columns of these datasets that only look like a kernel feature, and why they stay unmapped.
pub const LOOK_ALIKE: &[(&str, &str)] = &[
    ("swin", "Argus's TCP window advertisement is 0 or 255 in UNSW-NB15 (one byte), not the 16-bit window of the initiator's first packet the probe reads (fwd_init_window): only looks alike"),
    ("dwin", "Argus's TCP window advertisement is 0 or 255 in UNSW-NB15 (one byte), not the 16-bit window of the first reply the probe reads (bwd_init_window): only looks alike"),
    ("stcpb", "TCP initial sequence number: random per connection, describes nothing"),
    ("dtcpb", "TCP initial sequence number: random per connection, describes nothing"),
    ("synack", "SYN to SYN-ACK time: no probe feature keeps it (at packet 2 of a TCP flow, duration_us is this time)"),
    ("ackdat", "SYN-ACK to ACK time: no probe feature keeps it"),
    ("tcprtt", "synack + ackdat: no probe feature keeps it"),
    ("sintpkt", "mean inter-packet time of one direction (milliseconds); the probe keeps the flow's, both directions together (iat_mean_us): only looks alike"),
    ("dintpkt", "mean inter-packet time of one direction (milliseconds); the probe keeps the flow's, both directions together (iat_mean_us): only looks alike"),
    ("sinpkt", "mean inter-packet time of one direction (milliseconds); the probe keeps the flow's, both directions together (iat_mean_us): only looks alike"),
    ("dinpkt", "mean inter-packet time of one direction (milliseconds); the probe keeps the flow's, both directions together (iat_mean_us): only looks alike"),
    ("sjit", "jitter of one direction: the probe keeps no jitter"),
    ("djit", "jitter of one direction: the probe keeps no jitter"),
    ("sload", "IP bits per second of one direction; the probe keeps payload bytes per second of both directions (bytes_per_s): only looks alike"),
    ("dload", "IP bits per second of one direction; the probe keeps payload bytes per second of both directions (bytes_per_s): only looks alike"),
    ("sloss", "retransmitted or dropped packets (Argus's TCP analysis): the probe does not follow sequence numbers"),
    ("dloss", "retransmitted or dropped packets (Argus's TCP analysis): the probe does not follow sequence numbers"),
    ("state", "Argus's connection state (FIN, CON, INT, ...): the probe counts flags per packet, not a state"),
    ("flag", "Bro's connection status (SF, S0, REJ, ...): the probe counts flags per packet, not a status"),
    ("service", "the application protocol found by inspecting the connection (http, dns, ...): needs the payload or a port table"),
    ("rate", "a packet rate over an undocumented interval (the UNSW-NB15 training/testing sets only)"),
    ("issmipsports", "whether source and destination address and port are equal: a comparison of identifiers"),
    ("land", "whether source and destination address and port are equal: a comparison of identifiers"),
    ("wrongfragment", "wrong IP fragments: the probe does not reassemble fragments"),
    ("difficulty", "NSL-KDD's difficulty: how many of 21 classifiers labelled the row right, a property of the labelling, not of traffic"),
];

/// The dataset's own unit mappings (CIC-IDS2017 and flow tables use the feature table's names).
pub fn table_for(kind: DatasetKind) -> &'static [UnitMapping] {
    match kind {
        DatasetKind::UnswRaw | DatasetKind::UnswSets => UNSW,
        DatasetKind::NslKdd => NSL_KDD,
        _ => &[],
    }
}

/// A kernel feature the probe computes from others, computed the same way from mapped columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Derived {
    pub feature: &'static str,
    /// The kernel features it is computed from.
    pub inputs: &'static [&'static str],
    /// Only with a duration of sub-second resolution (not NSL-KDD's whole seconds).
    pub needs_fine_duration: bool,
    pub formula: &'static str,
}

pub const DERIVED: &[Derived] = &[
    Derived {
        feature: "packets",
        inputs: &["fwd_packets", "bwd_packets"],
        needs_fine_duration: false,
        formula: "fwd_packets + bwd_packets",
    },
    Derived {
        feature: "down_up_ratio",
        inputs: &["fwd_packets", "bwd_packets"],
        needs_fine_duration: false,
        formula: "bwd_packets / fwd_packets (integer division, 0 without forward packets)",
    },
    Derived {
        feature: "pkt_len_mean",
        inputs: &[
            "fwd_payload_bytes",
            "bwd_payload_bytes",
            "fwd_packets",
            "bwd_packets",
        ],
        needs_fine_duration: false,
        formula: "(fwd_payload_bytes + bwd_payload_bytes) / packets (integer)",
    },
    Derived {
        feature: "packets_per_s",
        inputs: &["fwd_packets", "bwd_packets", "duration_us"],
        needs_fine_duration: true,
        formula: "packets x 1,000,000 / duration_us (0 while the duration is 0)",
    },
    Derived {
        feature: "fwd_packets_per_s",
        inputs: &["fwd_packets", "duration_us"],
        needs_fine_duration: true,
        formula: "fwd_packets x 1,000,000 / duration_us",
    },
    Derived {
        feature: "bwd_packets_per_s",
        inputs: &["bwd_packets", "duration_us"],
        needs_fine_duration: true,
        formula: "bwd_packets x 1,000,000 / duration_us",
    },
    Derived {
        feature: "bytes_per_s",
        inputs: &["fwd_payload_bytes", "bwd_payload_bytes", "duration_us"],
        needs_fine_duration: true,
        formula: "(fwd_payload_bytes + bwd_payload_bytes) x 1,000,000 / duration_us",
    },
    Derived {
        feature: "iat_mean_us",
        inputs: &["fwd_packets", "bwd_packets", "duration_us"],
        needs_fine_duration: true,
        formula: "duration_us / (packets - 1)",
    },
];

/// The probe's integer division (0 for a zero divisor).
fn div(a: i64, b: i64) -> i64 {
    if b <= 0 {
        0
    } else {
        a / b
    }
}

/// `amount` per second over `duration_us`, as the probe computes it.
fn per_second(amount: i64, duration_us: i64) -> i64 {
    div(amount.clamp(0, 1 << 40) * 1_000_000, duration_us)
}

impl Derived {
    /// The value from the row's input features (`get` by kernel feature name).
    pub fn value(&self, get: impl Fn(&str) -> i64) -> i64 {
        let packets = || get("fwd_packets").saturating_add(get("bwd_packets"));
        let payload = || get("fwd_payload_bytes").saturating_add(get("bwd_payload_bytes"));
        match self.feature {
            "packets" => packets(),
            "down_up_ratio" => div(get("bwd_packets"), get("fwd_packets")),
            "pkt_len_mean" => div(payload(), packets()),
            "packets_per_s" => per_second(packets(), get("duration_us")),
            "fwd_packets_per_s" => per_second(get("fwd_packets"), get("duration_us")),
            "bwd_packets_per_s" => per_second(get("bwd_packets"), get("duration_us")),
            "bytes_per_s" => per_second(payload(), get("duration_us")),
            "iat_mean_us" => div(get("duration_us"), packets().saturating_sub(1)),
            _ => 0,
        }
    }
}

/// IPv4 and transport header bytes of one packet of IP protocol `proto` (0: unknown, taken as
/// UDP-sized).
pub fn header_bytes(proto: i64) -> i64 {
    match proto {
        6 => 40,
        17 | 1 | 0 => 28,
        _ => 20,
    }
}

/// The IP protocol number of a protocol name (or a number written as text).
pub fn protocol_number(name: &str) -> Option<i64> {
    let n = name.trim().to_ascii_lowercase();
    if let Ok(v) = n.parse::<f64>() {
        return (v.is_finite() && v >= 0.0).then_some(v as i64);
    }
    Some(match n.as_str() {
        "icmp" => 1,
        "igmp" => 2,
        "ggp" => 3,
        "ipnip" | "ipip" | "ipv4" => 4,
        "tcp" => 6,
        "egp" => 8,
        "igp" => 9,
        "udp" => 17,
        "rdp" => 27,
        "ipv6" => 41,
        "ipv6-route" => 43,
        "ipv6-frag" => 44,
        "rsvp" => 46,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "ipv6-icmp" | "icmpv6" => 58,
        "ipv6-no" => 59,
        "ipv6-opts" => 60,
        "eigrp" => 88,
        "ospf" => 89,
        "pim" => 103,
        "vrrp" => 112,
        "l2tp" => 115,
        "sctp" => 132,
        "udplite" => 136,
        _ => return None,
    })
}

/// The mapping tables of `docs/FEATURES.md` ("Other datasets"), generated from the tables above
/// (a test checks that the document holds exactly this text).
#[cfg(test)]
pub fn markdown_tables() -> String {
    let esc = |s: &str| s.replace('|', "\\|");
    let mut s = String::new();
    for (name, table) in [("UNSW-NB15", UNSW), ("NSL-KDD", NSL_KDD)] {
        s.push_str(&format!(
            "{name}:\n\n| column (key) | kernel feature | conversion | how it still differs |\n|---|---|---|---|\n"
        ));
        for u in table {
            s.push_str(&format!(
                "| `{}` | `{}` | {} | {} |\n",
                u.key,
                u.feature,
                esc(u.conversion.describe()),
                esc(u.note)
            ));
        }
        s.push('\n');
    }
    s.push_str("Derived with the probe's formula when the inputs are mapped and the feature is not (any dataset):\n\n| kernel feature | formula | needs |\n|---|---|---|\n");
    for d in DERIVED {
        s.push_str(&format!(
            "| `{}` | {} | {}{} |\n",
            d.feature,
            esc(d.formula),
            d.inputs.join(", "),
            if d.needs_fine_duration {
                "; a duration finer than whole seconds (not NSL-KDD's)"
            } else {
                ""
            }
        ));
    }
    s.push_str("\nColumns that only look alike, unmapped:\n\n| column (key) | why |\n|---|---|\n");
    for (key, why) in LOOK_ALIKE {
        s.push_str(&format!("| `{key}` | {} |\n", esc(why)));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- dataset-mapping:begin -->\n";
    const END: &str = "<!-- dataset-mapping:end -->";

    /// docs/FEATURES.md holds the generated tables. `WORKBENCH_BLESS_DOCS=1` rewrites them.
    #[test]
    fn docs_mapping_tables_match_the_code() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../docs/FEATURES.md");
        let doc = std::fs::read_to_string(&path).expect("docs/FEATURES.md");
        let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
        let end = doc.find(END).expect("end marker");
        let tables = markdown_tables();
        if std::env::var_os("WORKBENCH_BLESS_DOCS").is_some() {
            let new = format!("{}{tables}{}", &doc[..start], &doc[end..]);
            std::fs::write(&path, new).expect("write docs");
            return;
        }
        assert_eq!(&doc[start..end], tables, "docs/FEATURES.md is out of date");
    }

    #[test]
    fn derived_features_follow_the_probe_formulas() {
        let row = |name: &str| match name {
            "fwd_packets" => 3,
            "bwd_packets" => 2,
            "fwd_payload_bytes" => 100,
            "bwd_payload_bytes" => 50,
            "duration_us" => 500_000,
            _ => 0,
        };
        let value = |f: &str| {
            DERIVED
                .iter()
                .find(|d| d.feature == f)
                .map(|d| d.value(row))
                .expect("derived")
        };
        assert_eq!(value("packets"), 5);
        assert_eq!(value("down_up_ratio"), 0);
        assert_eq!(value("pkt_len_mean"), 30);
        assert_eq!(value("packets_per_s"), 10);
        assert_eq!(value("bytes_per_s"), 300);
        assert_eq!(value("iat_mean_us"), 125_000);
        assert_eq!(protocol_number("TCP"), Some(6));
        assert_eq!(protocol_number("17"), Some(17));
        assert_eq!(protocol_number("arp"), None);
        assert_eq!(header_bytes(6), 40);
    }
}
