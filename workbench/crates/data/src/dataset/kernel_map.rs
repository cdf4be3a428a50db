//! Which dataset columns the probe can compute at decision time, and which it cannot.
//!
//! A column maps to a kernel feature through `FEATURES[i].cic_column` (CIC-IDS2017 names) or the
//! feature's own name (flow tables). Everything else is listed with the reason it has no kernel
//! counterpart: a value known only when the flow has ended, payload content, an aggregate over
//! other flows, or an identifier.

use serde::Serialize;
use shared::features::FEATURES;

use super::detect::column_key;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MappedColumn {
    pub column: String,
    pub feature_id: usize,
    pub feature: &'static str,
    /// How the kernel value differs (from the feature's doc line).
    pub note: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct UnmappedColumn {
    pub column: String,
    pub why: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct KernelMapping {
    pub mapped: Vec<MappedColumn>,
    pub unmapped: Vec<UnmappedColumn>,
}

/// Why a column has no kernel counterpart, from its name.
fn why_unmapped(column: &str) -> &'static str {
    let k = column_key(column);
    let has = |w: &str| k.contains(w);
    if matches!(
        k.as_str(),
        "flowid"
            | "sourceip"
            | "destinationip"
            | "sourceport"
            | "timestamp"
            | "srcip"
            | "dstip"
            | "sport"
            | "dsport"
            | "stime"
            | "ltime"
            | "id"
            | "srcport"
            | "dstport"
            | "src"
            | "dst"
            | "firsttsns"
            | "lasttsns"
    ) {
        "identifier (address, port, time or row id): not a property of the traffic's behaviour"
    } else if has("idle")
        || has("active")
        || has("subflow")
        || has("bulk")
        || has("std")
        || has("total")
        || has("actdatapkt")
        || has("minsegsize")
        || has("ltime")
        || has("dur")
    {
        "end-of-flow statistic: known only when the flow has ended (or not kept per packet in the kernel)"
    } else if [
        "hot",
        "login",
        "compromised",
        "rootshell",
        "suattempted",
        "numroot",
        "filecreations",
        "shells",
        "accessfiles",
        "outboundcmds",
        "transdepth",
        "resbdylen",
        "httpmthd",
        "ftpcmd",
        "responsebodylen",
    ]
    .iter()
    .any(|w| has(w))
    {
        "payload feature: needs application content the probe does not parse"
    } else if k.starts_with("ct")
        || k.starts_with("dsthost")
        || k.starts_with("srv")
        || k == "count"
        || k.ends_with("rate")
    {
        "aggregate over other connections (a time or connection window), not one flow's state"
    } else {
        "not in the shared kernel feature set"
    }
}

/// Maps dataset columns to kernel feature ids and lists the rest with a reason.
pub fn kernel_mapping(columns: &[String]) -> KernelMapping {
    let mut m = KernelMapping::default();
    for c in columns {
        let k = column_key(c);
        let found = FEATURES
            .iter()
            .enumerate()
            .find(|(_, f)| f.cic_column.is_some_and(|cic| column_key(cic) == k) || column_key(f.name) == k);
        match found {
            Some((id, f)) => m.mapped.push(MappedColumn {
                column: c.clone(),
                feature_id: id,
                feature: f.name,
                note: f.doc,
            }),
            None => m.unmapped.push(UnmappedColumn {
                column: c.clone(),
                why: why_unmapped(c),
            }),
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cic_columns_map_through_the_feature_table() {
        let cols: Vec<String> = [
            " Destination Port",
            "Flow Duration",
            "Fwd Header Length.1",
            "Idle Mean",
            "Source IP",
            "hot",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let m = kernel_mapping(&cols);
        let ids: Vec<usize> = m.mapped.iter().map(|c| c.feature_id).collect();
        assert_eq!(ids, [0, 2]);
        let why: Vec<&str> = m
            .unmapped
            .iter()
            .map(|u| u.why.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(why[0], "not in the shared kernel feature set");
        assert!(why[1].starts_with("end-of-flow"));
        assert!(why[2].starts_with("identifier"));
        assert!(why[3].starts_with("payload"));
    }
}
