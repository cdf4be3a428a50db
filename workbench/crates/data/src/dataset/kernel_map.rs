//! Which dataset columns the probe can compute at decision time, and which it cannot.
//!
//! A column maps to a kernel feature through `FEATURES[i].cic_column` (CIC-IDS2017 names) or the
//! feature's own name (flow tables). Everything else is listed with the reason it has no kernel
//! counterpart: a value known only when the flow has ended, payload content, an aggregate over
//! other flows, or an identifier.

use serde::Serialize;
use shared::features::{feature_id, FEATURES};

use super::detect::{column_key, DatasetKind};
use super::kernel_units::{self, Conversion, DERIVED, LOOK_ALIKE};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MappedColumn {
    /// The dataset column (for a derived feature: its formula over kernel features).
    pub column: String,
    pub feature_id: usize,
    pub feature: &'static str,
    /// How the kernel value differs (the dataset's own note, or the feature's doc line).
    pub note: &'static str,
    /// How the dataset value is turned into the probe's unit, in words.
    pub conversion: &'static str,
    #[serde(skip)]
    pub convert: Conversion,
    /// A feature computed with the probe's formula from these mapped dataset columns.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<String>,
}

impl MappedColumn {
    /// The columns of the table (`columns`: its names) this feature is read from: its own
    /// column, or a derived feature's inputs, and the packet count a `MinusHeaders` conversion
    /// takes the headers off with.
    pub fn input_columns(&self, columns: &[String]) -> Vec<String> {
        let mut inputs = if self.derived_from.is_empty() {
            vec![self.column.clone()]
        } else {
            self.derived_from.clone()
        };
        if let Conversion::MinusHeaders { packets } = self.convert {
            inputs.extend(columns.iter().filter(|c| column_key(c) == packets).cloned());
        }
        inputs
    }
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
            | "vlan"
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

/// Maps dataset columns to kernel feature ids and lists the rest with a reason, by the
/// feature table's names only (CIC-IDS2017 columns and flow tables); see
/// [`kernel_mapping_for`] for the dataset-aware mapping training uses.
pub fn kernel_mapping(columns: &[String]) -> KernelMapping {
    kernel_mapping_for(DatasetKind::Generic, columns)
}

/// Other spellings of the CIC-IDS2017 columns the feature table names, each with its
/// CIC-IDS2017 name: the newer CICFlowMeter's (CICFlowMeter-V4, the CIC-IDS2018 and
/// CIC-DDoS2019 exports: `Tot Fwd Pkts`, `Flow Byts/s`, `FIN Flag Cnt`, ...) and
/// python-cicflowmeter's snake case (`tot_fwd_pkts`, `flow_byts_s`, `fin_flag_cnt`, ...).
/// Compared by [`column_key`] (case, spaces and underscores do not count), so `Tot Fwd Pkts`
/// also covers `tot_fwd_pkts`; only the names whose `/` became `_` are listed twice. Columns
/// spelt as in CIC-IDS2017 in every version (`Protocol`, `Flow Duration`, `Flow IAT Mean`,
/// `Down/Up Ratio`) and `Dst Port` (the feature `dst_port`'s own name) need no entry.
pub const CIC_ALIASES: &[(&str, &str)] = &[
    ("Tot Fwd Pkts", "Total Fwd Packets"),
    ("Tot Bwd Pkts", "Total Backward Packets"),
    ("TotLen Fwd Pkts", "Total Length of Fwd Packets"),
    ("TotLen Bwd Pkts", "Total Length of Bwd Packets"),
    ("Fwd Pkt Len Max", "Fwd Packet Length Max"),
    ("Fwd Pkt Len Min", "Fwd Packet Length Min"),
    ("Fwd Pkt Len Mean", "Fwd Packet Length Mean"),
    ("Fwd Pkt Len Std", "Fwd Packet Length Std"),
    ("Bwd Pkt Len Max", "Bwd Packet Length Max"),
    ("Bwd Pkt Len Min", "Bwd Packet Length Min"),
    ("Bwd Pkt Len Mean", "Bwd Packet Length Mean"),
    ("Bwd Pkt Len Std", "Bwd Packet Length Std"),
    ("Flow Byts/s", "Flow Bytes/s"),
    ("flow_byts_s", "Flow Bytes/s"),
    ("Flow Pkts/s", "Flow Packets/s"),
    ("flow_pkts_s", "Flow Packets/s"),
    ("FIN Flag Cnt", "FIN Flag Count"),
    ("SYN Flag Cnt", "SYN Flag Count"),
    ("RST Flag Cnt", "RST Flag Count"),
    ("PSH Flag Cnt", "PSH Flag Count"),
    ("ACK Flag Cnt", "ACK Flag Count"),
    ("URG Flag Cnt", "URG Flag Count"),
    ("Init Fwd Win Byts", "Init_Win_bytes_forward"),
    ("Init Bwd Win Byts", "Init_Win_bytes_backward"),
    ("Fwd Header Len", "Fwd Header Length"),
    ("Bwd Header Len", "Bwd Header Length"),
    ("Pkt Len Min", "Min Packet Length"),
    ("Pkt Len Max", "Max Packet Length"),
    ("Pkt Len Mean", "Packet Length Mean"),
    ("down_up_ratio", "Down/Up Ratio"),
    ("Pkt Size Avg", "Average Packet Size"),
    ("Fwd Pkts/s", "Fwd Packets/s"),
    ("fwd_pkts_s", "Fwd Packets/s"),
    ("Bwd Pkts/s", "Bwd Packets/s"),
    ("bwd_pkts_s", "Bwd Packets/s"),
];

/// The CIC-IDS2017 name's key for a column spelt another CICFlowMeter way ([`CIC_ALIASES`]),
/// else the column's own key.
pub fn cic_key(column: &str) -> String {
    let k = column_key(column);
    CIC_ALIASES
        .iter()
        .find(|(alias, _)| column_key(alias) == k)
        .map_or(k, |(_, cic)| column_key(cic))
}

/// The feature-table mapping of one column (CIC-IDS2017 names, their other CICFlowMeter
/// spellings, or the feature's own name).
fn by_feature_table(c: &str) -> Option<MappedColumn> {
    let k = cic_key(c);
    let (id, f) = FEATURES
        .iter()
        .enumerate()
        .find(|(_, f)| f.cic_column.is_some_and(|cic| column_key(cic) == k) || column_key(f.name) == k)?;
    let convert = if f.unit == "bytes^2" && c.to_ascii_lowercase().contains("std") {
        Conversion::StdSquared
    } else {
        Conversion::Same
    };
    Some(MappedColumn {
        column: c.to_string(),
        feature_id: id,
        feature: f.name,
        note: f.doc,
        conversion: convert.describe(),
        convert,
        derived_from: Vec::new(),
    })
}

/// Maps dataset columns to kernel features: the dataset's own unit mappings (UNSW-NB15,
/// NSL-KDD: `kernel_units`) first, then the feature table's names, then the features the probe
/// computes from mapped ones (CIC's `packets` = fwd + bwd); every other column is listed with
/// the reason it has no kernel counterpart.
pub fn kernel_mapping_for(kind: DatasetKind, columns: &[String]) -> KernelMapping {
    let mut m = KernelMapping::default();
    let table = kernel_units::table_for(kind);
    for c in columns {
        let k = column_key(c);
        let own = table.iter().find(|u| u.key == k).and_then(|u| {
            let id = feature_id(u.feature)?;
            Some(MappedColumn {
                column: c.clone(),
                feature_id: id,
                feature: FEATURES[id].name,
                note: u.note,
                conversion: u.conversion.describe(),
                convert: u.conversion,
                derived_from: Vec::new(),
            })
        });
        match own.or_else(|| by_feature_table(c)) {
            Some(mapped) => m.mapped.push(mapped),
            None => m.unmapped.push(UnmappedColumn {
                column: c.clone(),
                why: LOOK_ALIKE
                    .iter()
                    .find(|(key, _)| *key == k)
                    .map_or_else(|| why_unmapped(c), |(_, why)| *why),
            }),
        }
    }
    for d in DERIVED {
        let mapped_column = |f: &str| m.mapped.iter().find(|x| x.feature == f);
        if mapped_column(d.feature).is_some() {
            continue;
        }
        let Some(inputs) = d
            .inputs
            .iter()
            .map(|f| mapped_column(f))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let coarse = inputs
            .iter()
            .any(|x| x.convert == Conversion::WholeSecondsToMicros);
        if d.needs_fine_duration && coarse {
            continue;
        }
        let Some(id) = feature_id(d.feature) else { continue };
        let mut from: Vec<String> = inputs.iter().map(|x| x.column.clone()).collect();
        from.dedup();
        m.mapped.push(MappedColumn {
            column: d.formula.split(" (").next().unwrap_or(d.formula).to_string(),
            feature_id: id,
            feature: FEATURES[id].name,
            note:
                "computed from the mapped columns with the probe's formula, so at the end of the connection",
            conversion: d.formula,
            convert: Conversion::Same,
            derived_from: from,
        });
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
        .map(std::string::ToString::to_string)
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
