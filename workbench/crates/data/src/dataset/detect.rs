//! Which dataset a file is, from its header (or, without one, from the shape of its first row),
//! with the reason printed to the user; and the standard column names of headerless layouts.

use serde::{Deserialize, Serialize};
use shared::features::FEATURES;

use super::DataError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    /// CIC-IDS2017 MachineLearningCSV: flow features + Label, no identifiers.
    CicMachineLearning,
    /// CIC-IDS2017 GeneratedLabelledFlows / TrafficLabelling: with Flow ID, addresses, Timestamp.
    CicTrafficLabelling,
    /// UNSW-NB15 raw files (UNSW-NB15_1..4.csv, 49 columns, addresses and times).
    UnswRaw,
    /// UNSW-NB15 training/testing sets (no addresses).
    UnswSets,
    /// NSL-KDD (KDDTrain+/KDDTest+: 41 features, label, difficulty).
    NslKdd,
    /// A flow table written by `workbench features` (kernel feature names + label).
    FlowTable,
    /// Any table with a label column.
    Generic,
}

/// The kind's reason when `--kind` named it (a loaded table's `kind_reason` starts with it).
pub(crate) const FORCED: &str = "forced with --kind";

impl DatasetKind {
    /// The name `--kind`, the JSON reports and the model files use (`cic_traffic_labelling`).
    pub fn key(self) -> &'static str {
        // serde's snake_case name; `--kind` takes it with dashes (a unit test holds them together).
        match self {
            DatasetKind::CicMachineLearning => "cic_machine_learning",
            DatasetKind::CicTrafficLabelling => "cic_traffic_labelling",
            DatasetKind::UnswRaw => "unsw_raw",
            DatasetKind::UnswSets => "unsw_sets",
            DatasetKind::NslKdd => "nsl_kdd",
            DatasetKind::FlowTable => "flow_table",
            DatasetKind::Generic => "generic",
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            DatasetKind::CicMachineLearning => "CIC-IDS2017 MachineLearningCSV",
            DatasetKind::CicTrafficLabelling => "CIC-IDS2017 TrafficLabelling",
            DatasetKind::UnswRaw => "UNSW-NB15 raw",
            DatasetKind::UnswSets => "UNSW-NB15 training/testing set",
            DatasetKind::NslKdd => "NSL-KDD",
            DatasetKind::FlowTable => "workbench flow table",
            DatasetKind::Generic => "generic labelled table",
        };
        f.write_str(s)
    }
}

pub const NSL_KDD_NAMES: [&str; 43] = [
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
    "label",
    "difficulty",
];

pub const UNSW_RAW_NAMES: [&str; 49] = [
    "srcip",
    "sport",
    "dstip",
    "dsport",
    "proto",
    "state",
    "dur",
    "sbytes",
    "dbytes",
    "sttl",
    "dttl",
    "sloss",
    "dloss",
    "service",
    "Sload",
    "Dload",
    "Spkts",
    "Dpkts",
    "swin",
    "dwin",
    "stcpb",
    "dtcpb",
    "smeansz",
    "dmeansz",
    "trans_depth",
    "res_bdy_len",
    "Sjit",
    "Djit",
    "Stime",
    "Ltime",
    "Sintpkt",
    "Dintpkt",
    "tcprtt",
    "synack",
    "ackdat",
    "is_sm_ips_ports",
    "ct_state_ttl",
    "ct_flw_http_mthd",
    "is_ftp_login",
    "ct_ftp_cmd",
    "ct_srv_src",
    "ct_srv_dst",
    "ct_dst_ltm",
    "ct_src_ltm",
    "ct_src_dport_ltm",
    "ct_dst_sport_ltm",
    "ct_dst_src_ltm",
    "attack_cat",
    "Label",
];

#[derive(Debug, Clone)]
pub struct Detected {
    pub kind: DatasetKind,
    pub reason: String,
    pub has_header: bool,
    /// Standard names for a headerless layout.
    pub names: Option<Vec<String>>,
}

impl Detected {
    /// The same kind for a further file of the dataset, which may carry a header line or not.
    pub fn for_next_file(&self, fields: &[String]) -> Detected {
        let mut d = self.clone();
        if let Some(names) = &self.names {
            d.has_header = fields.first().map(|f| column_key(f)) == names.first().map(|n| column_key(n));
        }
        d
    }
}

/// How a column name is compared across files: case, spaces and underscores do not count.
pub fn column_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Header names trimmed, inner whitespace collapsed, repeats suffixed `.1`, `.2` (as pandas
/// does, so that CIC's second `Fwd Header Length` keeps a name people recognise).
pub fn normalise_names(fields: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(fields.len());
    for (i, f) in fields.iter().enumerate() {
        let base = f.split_whitespace().collect::<Vec<_>>().join(" ");
        let base = if base.is_empty() {
            format!("column_{}", i + 1)
        } else {
            base
        };
        let mut name = base.clone();
        let mut n = 1;
        while out.iter().any(|o| column_key(o) == column_key(&name)) {
            name = format!("{base}.{n}");
            n += 1;
        }
        out.push(name);
    }
    out
}

fn looks_numeric(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty() && t.parse::<f64>().is_ok()
}

fn looks_ipv4(s: &str) -> bool {
    s.trim().split('.').count() == 4 && s.trim().split('.').all(|p| p.parse::<u8>().is_ok())
}

fn headerless(kind: DatasetKind) -> Option<Vec<String>> {
    let names: &[&str] = match kind {
        DatasetKind::NslKdd => &NSL_KDD_NAMES,
        DatasetKind::UnswRaw => &UNSW_RAW_NAMES,
        _ => return None,
    };
    Some(names.iter().map(std::string::ToString::to_string).collect())
}

/// Kind of a table whose column names are known (a header line, or a Parquet schema).
pub fn detect_named(
    names: &[String],
    forced: Option<DatasetKind>,
    file: &str,
) -> Result<Detected, DataError> {
    let keys: Vec<String> = names.iter().map(|n| column_key(n)).collect();
    let has = |k: &str| keys.iter().any(|x| x == k);
    let kernel_names = FEATURES.iter().filter(|f| has(&column_key(f.name))).count();
    let (kind, reason) = if let Some(k) = forced {
        (k, FORCED.to_string())
    } else if has("flowid") && (has("sourceip") || has("srcip")) && has("flowduration") {
        (
            DatasetKind::CicTrafficLabelling,
            "header has `Flow ID`, `Source IP` and CICFlowMeter columns".to_string(),
        )
    } else if has("flowduration") && (has("totalfwdpackets") || has("totfwdpkts")) {
        // `Tot Fwd Pkts`: the newer CICFlowMeter's names (CIC-IDS2018) and python-cicflowmeter's
        // (`tot_fwd_pkts`, with addresses and no `Flow ID`).
        let identifiers = if has("sourceip") || has("srcip") {
            "addresses but no `Flow ID`"
        } else {
            "no identifiers"
        };
        (
            DatasetKind::CicMachineLearning,
            format!(
                "header has CICFlowMeter columns (`Flow Duration`, ...) and {identifiers} ({} columns)",
                names.len()
            ),
        )
    } else if has("srcip") && has("sttl") && has("stime") {
        (
            DatasetKind::UnswRaw,
            "header has UNSW-NB15 `srcip`, `sttl`, `Stime`".to_string(),
        )
    } else if has("sttl") && has("sbytes") {
        (
            DatasetKind::UnswSets,
            "header has UNSW-NB15 `sttl`, `sbytes` and no addresses".to_string(),
        )
    } else if has("protocoltype") && has("dsthostcount") {
        (
            DatasetKind::NslKdd,
            "header has NSL-KDD `protocol_type`, `dst_host_count`".to_string(),
        )
    } else if kernel_names >= 10 {
        (
            DatasetKind::FlowTable,
            format!("{kernel_names} columns are named after the workbench's kernel features"),
        )
    } else {
        (
            DatasetKind::Generic,
            format!("no known layout among {} columns", names.len()),
        )
    };
    if let Some(std_names) = headerless(kind) {
        if forced.is_some() && names.len() != std_names.len() {
            return Err(DataError::file(
                file,
                format!(
                    "--kind {kind} expects {} columns, the file has {}",
                    std_names.len(),
                    names.len()
                ),
            ));
        }
    }
    Ok(Detected {
        kind,
        reason,
        has_header: true,
        names: None,
    })
}

/// Kind of a CSV from its first line: a header, or a data row of a headerless layout.
pub fn detect(first: &[String], forced: Option<DatasetKind>, file: &str) -> Result<Detected, DataError> {
    let numeric = first.iter().filter(|f| looks_numeric(f)).count();
    // A header has (almost) no numbers; a data row of these datasets is mostly numbers.
    let is_data = numeric * 2 > first.len();
    if let Some(k) = forced {
        if let Some(names) = headerless(k) {
            if first.len() != names.len() {
                return Err(DataError::file(
                    file,
                    format!("line 1 has {} fields, a {k} row has {}", first.len(), names.len()),
                ));
            }
            return Ok(Detected {
                kind: k,
                reason: FORCED.into(),
                has_header: !is_data,
                names: Some(names),
            });
        }
    }
    if !is_data {
        return detect_named(&normalise_names(first), forced, file);
    }
    let proto_like = |s: &str| matches!(s.trim(), "tcp" | "udp" | "icmp");
    let (kind, reason) = if first.len() == 43 && first.get(1).is_some_and(|s| proto_like(s)) {
        (
            DatasetKind::NslKdd,
            "no header; 43 fields with a protocol name in field 2 (41 features, label, difficulty; `difficulty` rates the labelling, so it is never a feature)",
        )
    } else if first.len() == 49
        && first.first().is_some_and(|s| looks_ipv4(s))
        && first.get(2).is_some_and(|s| looks_ipv4(s))
    {
        (
            DatasetKind::UnswRaw,
            "no header; 49 fields starting with two IPv4 addresses (UNSW-NB15_1..4.csv layout)",
        )
    } else {
        return Err(DataError::file(
            file,
            format!(
                "line 1 looks like data, not a header ({} of {} fields are numbers), and its shape matches no known dataset; add a header line or pass --kind",
                numeric,
                first.len()
            ),
        ));
    };
    Ok(Detected {
        kind,
        reason: reason.to_string(),
        has_header: false,
        names: headerless(kind),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_kind_has_the_same_words_in_json_on_the_command_line_and_in_model_files() {
        use clap::ValueEnum;
        for kind in DatasetKind::value_variants() {
            let serde = serde_json::to_value(kind).expect("serialise");
            assert_eq!(serde.as_str(), Some(kind.key()));
            let clap = kind.to_possible_value().expect("clap name");
            assert_eq!(clap.get_name(), kind.key().replace('_', "-"));
        }
    }

    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    #[test]
    fn names_are_trimmed_and_repeats_numbered() {
        let n = normalise_names(&v(" Fwd Header Length, Flow  ID,Fwd Header Length,"));
        assert_eq!(
            n,
            ["Fwd Header Length", "Flow ID", "Fwd Header Length.1", "column_4"]
        );
        assert_eq!(column_key(" Source IP"), column_key("source_ip"));
    }

    #[test]
    fn headerless_layouts_are_recognised_by_shape() {
        let kdd = v("0,udp,private,SF,28,0,0,3,0,0,0,0,0,0,0,0,0,0,0,0,0,0,80,80,0.00,0.00,0.00,0.00,1.00,0.00,0.00,255,80,0.31,0.02,0.31,0.00,0.00,0.00,0.00,0.00,teardrop,16");
        assert_eq!(detect(&kdd, None, "f").expect("kdd").kind, DatasetKind::NslKdd);
        let junk = v("1,2,3");
        let e = detect(&junk, None, "x.csv").expect_err("unknown shape");
        assert!(e.to_string().starts_with("x.csv: line 1"), "{e}");
        let forced = detect(&junk, Some(DatasetKind::NslKdd), "x.csv").expect_err("wrong width");
        assert!(forced.to_string().contains("43"), "{forced}");
    }
}
