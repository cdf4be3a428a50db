//! "Bring your own CSV": real CIC-IDS2017 rows saved the ways a SOC analyst's tools save them (a
//! European spreadsheet's `;` and decimal comma, blanks in columns no model reads, a UTF-8 or
//! UTF-16 byte-order mark, the newer CICFlowMeter's and python-cicflowmeter's column names),
//! each written to a temporary folder from the files in `../shared/data`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{shared_data, workbench, workbench_json};

/// The three Friday files (299 benign, 1,000 DDoS and 1,000 PortScan rows, 85 columns) as one
/// table: the header of the first, then every data row; 2,299 rows.
fn friday_lines() -> (String, Vec<String>) {
    let mut header = String::new();
    let mut rows = Vec::new();
    for (i, name) in [
        "friday-ddos-labelled-flows-head300.csv",
        "friday-ddos-attack-rows-1000.csv",
        "friday-portscan-attack-rows-1000.csv",
    ]
    .iter()
    .enumerate()
    {
        let bytes = std::fs::read(shared_data(&format!("cic-ids2017/{name}"))).expect("read");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let mut lines = text.lines().map(|l| l.trim_end_matches('\r').to_string());
        let first = lines.next().expect("header");
        if i == 0 {
            header = first;
        }
        rows.extend(lines.filter(|l| !l.is_empty()));
    }
    assert_eq!(rows.len(), 2_299);
    (header, rows)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

/// The Friday rows with `sep` between fields and every number's point made a comma (`8,67`), as
/// a spreadsheet in a decimal-comma locale saves them (addresses stay as they are).
fn european(sep: &str) -> String {
    let (header, rows) = friday_lines();
    let mut out = header.split(',').collect::<Vec<_>>().join(sep) + "\n";
    for row in rows {
        let fields: Vec<String> = row
            .split(',')
            .map(|f| {
                if f.parse::<f64>().is_ok() {
                    f.replace('.', ",")
                } else {
                    f.to_string()
                }
            })
            .collect();
        out += &(fields.join(sep) + "\n");
    }
    out
}

fn plain() -> String {
    let (header, rows) = friday_lines();
    header + "\n" + &rows.join("\n") + "\n"
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("path")
}

/// `workbench train DATA --model tree --no-cache --json -o OUT`.
fn train_json(data: &Path) -> Value {
    let out = data.with_extension("ebml");
    workbench_json(&[
        "train",
        path_str(data),
        "--model",
        "tree",
        "--no-cache",
        "--json",
        "-o",
        path_str(&out),
    ])
}

fn inspect_json(data: &Path) -> Value {
    workbench_json(&["inspect", path_str(data), "--no-cache", "--json"])
}

/// Columns of the `kernel_features` finding's `mapped` list.
fn mapped(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["id"] == "kernel_features"))
        .and_then(|f| f["evidence"]["mapped"].as_array())
        .map(|m| {
            m.iter()
                .map(|c| c["feature"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_semicolon_csv_with_decimal_commas_trains_the_same_model_as_the_original() {
    let dir = tempfile::tempdir().expect("tempdir");
    let original = write(dir.path(), "friday.csv", plain().as_bytes());
    let euro = write(dir.path(), "friday-eu.csv", european(";").as_bytes());
    let (a, b) = (train_json(&original), train_json(&euro));
    // Read as text, the 11 decimal columns became 0 in every row: another model.
    assert_eq!(a["rows"], b["rows"]);
    assert_eq!(a["feature_mapping"], b["feature_mapping"]);
    assert!(a["model_id"].is_string(), "{a}");
    assert_eq!(
        a["model_id"], b["model_id"],
        "same rows, same numbers, same model"
    );
    assert_eq!(a["dropped"], b["dropped"]);
}

#[test]
fn a_kernel_feature_column_of_text_is_an_error_naming_file_column_and_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Tab-separated with decimal commas: commas are not decimal points there.
    let data = write(dir.path(), "friday-eu.tsv", european("\t").as_bytes());
    let out_model = dir.path().join("m.ebml");
    let out = workbench(&[
        "train",
        path_str(&data),
        "--model",
        "tree",
        "--no-cache",
        "-o",
        path_str(&out_model),
    ]);
    assert!(!out.status.success(), "trained on text");
    assert!(!out_model.exists());
    let err = String::from_utf8_lossy(&out.stderr);
    for words in [
        "friday-eu.tsv: line ",
        "column `Fwd Packet Length Mean` is read as kernel feature fwd_len_mean but holds text",
        "decimal comma",
    ] {
        assert!(err.contains(words), "{words:?} not in: {err}");
    }
    // The value itself, as written in the file.
    assert!(
        err.contains(",5`") || err.contains(",6666"),
        "no example value: {err}"
    );
}

#[test]
fn blanks_in_columns_the_model_never_reads_drop_no_row() {
    let (header, rows) = friday_lines();
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let unread: Vec<usize> = names
        .iter()
        .enumerate()
        .filter(|(_, n)| ["Idle", "Active", "Bulk"].iter().any(|w| n.contains(w)))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(unread.len(), 14);
    let iat_max = names
        .iter()
        .position(|n| *n == "Flow IAT Max")
        .expect("Flow IAT Max");
    let mut text = header.clone() + "\n";
    let mut blank_iat = 0;
    for (r, row) in rows.iter().enumerate() {
        let mut fields: Vec<&str> = row.split(',').collect();
        if r % 14 != 0 {
            for &i in &unread {
                fields[i] = "";
            }
        }
        if r % 300 == 5 {
            fields[iat_max] = "";
            blank_iat += 1;
        }
        text += &(fields.join(",") + "\n");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = write(dir.path(), "blanks.csv", text.as_bytes());
    let json = train_json(&data);
    // The one infinite Flow Bytes/s row and the blank Flow IAT Max rows; not the 2,136 rows
    // with blank Idle/Active/Bulk values.
    assert_eq!(json["rows"], 2_299 - blank_iat - 1, "{}", json["dropped"]);
    assert_eq!(json["dropped"]["rows_dropped"], blank_iat + 1);
    let out = workbench(&[
        "train",
        path_str(&data),
        "--model",
        "tree",
        "--no-cache",
        "-o",
        path_str(&dir.path().join("text.ebml")),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = format!(
        "{} of 2299 rows dropped: missing values in Flow IAT Max ({blank_iat} rows); NaN or Infinity in Flow Bytes/s (1 row)",
        blank_iat + 1
    );
    assert!(stdout.contains(&line), "{line:?} not in:\n{stdout}");
}

#[test]
fn a_utf8_byte_order_mark_is_no_part_of_the_first_column_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(plain().as_bytes());
    let data = write(dir.path(), "bom.csv", &bytes);
    let report = inspect_json(&data);
    assert_eq!(
        report["dataset"]["kind"], "cic_traffic_labelling",
        "{}",
        report["dataset"]
    );
    assert_eq!(
        report["columns"][0]["name"], "Flow ID",
        "{}",
        report["columns"][0]
    );
}

#[test]
fn a_utf16_file_is_named_as_such_with_the_way_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Excel's "Unicode Text": UTF-16 little-endian with a byte-order mark, tab-separated.
    let text = plain().replace(',', "\t");
    let mut le = vec![0xFF, 0xFE];
    le.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
    let mut be = vec![0xFE, 0xFF];
    be.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
    // No byte-order mark: the NUL bytes between the characters.
    let bare: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    for (name, bytes) in [("le.txt", le), ("be.txt", be), ("bare.csv", bare)] {
        let data = write(dir.path(), name, &bytes);
        let out = workbench(&["inspect", path_str(&data), "--no-cache"]);
        assert!(!out.status.success(), "{name} read");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!(
                "{name}: is UTF-16; save it as UTF-8 (CSV UTF-8 in Excel, or `iconv -f UTF-16 -t UTF-8`)"
            )),
            "{name}: {err}"
        );
        assert!(!err.contains("fields"), "{err}");
    }
}

/// CIC-IDS2017's names of the kernel-feature columns, in the newer CICFlowMeter's spelling
/// (CIC-IDS2018's exports).
const CIC_2018: &[(&str, &str)] = &[
    ("Destination Port", "Dst Port"),
    ("Total Fwd Packets", "Tot Fwd Pkts"),
    ("Total Backward Packets", "Tot Bwd Pkts"),
    ("Total Length of Fwd Packets", "TotLen Fwd Pkts"),
    ("Total Length of Bwd Packets", "TotLen Bwd Pkts"),
    ("Fwd Packet Length Max", "Fwd Pkt Len Max"),
    ("Fwd Packet Length Min", "Fwd Pkt Len Min"),
    ("Fwd Packet Length Mean", "Fwd Pkt Len Mean"),
    ("Fwd Packet Length Std", "Fwd Pkt Len Std"),
    ("Bwd Packet Length Max", "Bwd Pkt Len Max"),
    ("Bwd Packet Length Min", "Bwd Pkt Len Min"),
    ("Bwd Packet Length Mean", "Bwd Pkt Len Mean"),
    ("Bwd Packet Length Std", "Bwd Pkt Len Std"),
    ("Flow Bytes/s", "Flow Byts/s"),
    ("Flow Packets/s", "Flow Pkts/s"),
    ("FIN Flag Count", "FIN Flag Cnt"),
    ("SYN Flag Count", "SYN Flag Cnt"),
    ("RST Flag Count", "RST Flag Cnt"),
    ("PSH Flag Count", "PSH Flag Cnt"),
    ("ACK Flag Count", "ACK Flag Cnt"),
    ("URG Flag Count", "URG Flag Cnt"),
    ("Init_Win_bytes_forward", "Init Fwd Win Byts"),
    ("Init_Win_bytes_backward", "Init Bwd Win Byts"),
    ("Fwd Header Length", "Fwd Header Len"),
    ("Bwd Header Length", "Bwd Header Len"),
    ("Min Packet Length", "Pkt Len Min"),
    ("Max Packet Length", "Pkt Len Max"),
    ("Packet Length Mean", "Pkt Len Mean"),
    ("Average Packet Size", "Pkt Size Avg"),
    ("Fwd Packets/s", "Fwd Pkts/s"),
    ("Bwd Packets/s", "Bwd Pkts/s"),
];

/// python-cicflowmeter's name for a CIC-IDS2018 name: lower case, `/` and spaces as `_`
/// (`Flow Byts/s` is `flow_byts_s`, `Tot Fwd Pkts` `tot_fwd_pkts`).
fn snake(name: &str) -> String {
    name.to_ascii_lowercase().replace(['/', ' '], "_")
}

/// A real CIC file with its header renamed by `rename` (each name trimmed first).
fn renamed(source: &str, dir: &Path, name: &str, rename: impl Fn(&str) -> String) -> PathBuf {
    let text = String::from_utf8_lossy(&std::fs::read(shared_data(source)).expect("read")).into_owned();
    let (header, rest) = text.split_once('\n').expect("header line");
    let header: Vec<String> = header
        .trim_end_matches('\r')
        .split(',')
        .map(|n| rename(n.trim()))
        .collect();
    write(dir, name, format!("{}\n{rest}", header.join(",")).as_bytes())
}

fn cic_2018(name: &str) -> String {
    CIC_2018
        .iter()
        .find(|(cic, _)| *cic == name)
        .map_or(name, |(_, new)| new)
        .to_string()
}

#[test]
fn newer_cicflowmeter_and_python_cicflowmeter_names_map_like_cic_ids2017() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The MachineLearningCSV sample (no identifiers, no Destination Port) and the labelled
    // flows (identifiers, Destination Port).
    for (source, kind) in [
        (
            "cic-ids2017/machine-learning-csv-sample.csv",
            "cic_machine_learning",
        ),
        (
            "cic-ids2017/friday-ddos-labelled-flows-head300.csv",
            "cic_traffic_labelling",
        ),
    ] {
        let original = inspect_json(&shared_data(source));
        let want = mapped(&original);
        assert!(want.len() >= 30, "{source}: {want:?}");
        assert_eq!(original["dataset"]["kind"], kind);
        let ids_2018 = |n: &str| match n {
            "Source IP" => "Src IP".to_string(),
            "Destination IP" => "Dst IP".to_string(),
            "Source Port" => "Src Port".to_string(),
            other => cic_2018(other),
        };
        let v2018 = renamed(source, dir.path(), "cic2018.csv", ids_2018);
        let python = renamed(source, dir.path(), "python.csv", |n| snake(&ids_2018(n)));
        for (file, words) in [(v2018, "CIC-IDS2018"), (python, "python-cicflowmeter")] {
            let report = inspect_json(&file);
            assert_eq!(report["dataset"]["kind"], kind, "{words} names of {source}");
            assert_eq!(mapped(&report), want, "{words} names of {source}");
        }
    }
}
