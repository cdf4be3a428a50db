//! Which kernel features a model is trained on: `--features kernel` (every dataset column with a
//! probe counterpart, but the opt-in host artefacts such as `vlan_id`) or a comma list (which
//! may hold `kernel`, e.g. `kernel,vlan_id`), each name checked against the probe's features and
//! the dataset's columns, so that a typo or a column lost in cleaning is named, not silently
//! skipped.

use super::{bail, Result};
use shared::features::{feature_id, is_opt_in, FEATURES};

use crate::dataset::kernel_map::{kernel_mapping_for, MappedColumn};
use crate::dataset::{DatasetKind, DroppedColumn};

/// The dataset facts the selection needs.
pub struct Columns<'a> {
    /// The data files, for messages.
    pub file: &'a str,
    /// The dataset's kind (UNSW-NB15 and NSL-KDD have mappings of their own).
    pub kind: DatasetKind,
    /// Columns of the cleaned table.
    pub columns: &'a [String],
    /// Label and attack-type columns: never features.
    pub label_columns: &'a [&'a str],
    /// Columns cleaning removed, with why.
    pub dropped: &'a [DroppedColumn],
}

fn kernel_names() -> String {
    FEATURES.iter().map(|f| f.name).collect::<Vec<_>>().join(", ")
}

/// The kernel feature a `--features` name stands for: a feature name, or a dataset column that
/// maps to one (CIC-IDS2017 names such as `Total Fwd Packets`).
fn resolve(name: &str, mapped: &[MappedColumn]) -> Option<usize> {
    feature_id(name).or_else(|| mapped.iter().find(|m| m.column == name).map(|m| m.feature_id))
}

/// Why the features in `ids` have no column: dropped by cleaning (named with the reason), or
/// absent from the dataset.
fn missing_error(c: &Columns, ids: &[usize]) -> String {
    let dropped = kernel_mapping_for(
        c.kind,
        &c.dropped.iter().map(|d| d.column.clone()).collect::<Vec<_>>(),
    );
    let mut parts = Vec::new();
    let mut absent = Vec::new();
    for &id in ids {
        match dropped.mapped.iter().find(|m| m.feature_id == id) {
            Some(m) => {
                let why = c
                    .dropped
                    .iter()
                    .find(|d| d.column == m.column)
                    .map_or("", |d| d.reason.as_str());
                parts.push(format!(
                    "column `{}` (kernel feature {}) was dropped when cleaning: {why}",
                    m.column, FEATURES[id].name
                ));
            }
            None => absent.push(FEATURES[id].name),
        }
    }
    if !absent.is_empty() {
        parts.push(format!(
            "no column for kernel feature(s) {} (the columns are: {})",
            absent.join(", "),
            c.columns.join(", ")
        ));
    }
    format!("{}: {}", c.file, parts.join("; "))
}

/// The mapped columns to train on, one per kernel feature, in feature order.
pub fn select(spec: &str, c: &Columns) -> Result<Vec<MappedColumn>> {
    let mut mapped = kernel_mapping_for(c.kind, c.columns).mapped;
    mapped.retain(|m| {
        !c.label_columns.contains(&m.column.as_str())
            && !m
                .derived_from
                .iter()
                .any(|d| c.label_columns.contains(&d.as_str()))
    });
    if spec.trim() == "kernel" {
        // Opt-in features (the VLAN id) only when named: `kernel,vlan_id`.
        mapped.retain(|m| !is_opt_in(m.feature_id));
        if mapped.is_empty() {
            let dropped = kernel_mapping_for(
                c.kind,
                &c.dropped.iter().map(|d| d.column.clone()).collect::<Vec<_>>(),
            );
            if !dropped.mapped.is_empty() {
                let ids: Vec<usize> = dropped.mapped.iter().map(|m| m.feature_id).collect();
                bail!("no kernel feature left to train on: {}", missing_error(c, &ids));
            }
            bail!(
                "no column of {} maps to a kernel feature; see `workbench inspect` for the mapping table",
                c.file
            );
        }
    } else {
        let mut ids = Vec::new();
        for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if name == "kernel" {
                ids.extend(mapped.iter().map(|m| m.feature_id).filter(|&id| !is_opt_in(id)));
                continue;
            }
            match resolve(name, &mapped) {
                Some(id) => ids.push(id),
                None => {
                    let here: Vec<String> = mapped
                        .iter()
                        .filter(|m| m.derived_from.is_empty())
                        .map(|m| format!("{} ({})", m.column, m.feature))
                        .collect();
                    bail!(
                        "--features: `{name}` is not a kernel feature (nor a column of {} that maps to \
                         one); the columns of {} that map to kernel features are: {}; the {} kernel \
                         features are: {}",
                        c.file,
                        c.file,
                        if here.is_empty() {
                            "none".to_string()
                        } else {
                            here.join(", ")
                        },
                        FEATURES.len(),
                        kernel_names()
                    )
                }
            }
        }
        if ids.is_empty() {
            bail!(
                "--features: no feature named; give `kernel` or a comma list of: {}",
                kernel_names()
            );
        }
        let missing: Vec<usize> = ids
            .iter()
            .copied()
            .filter(|&id| !mapped.iter().any(|m| m.feature_id == id))
            .collect();
        if !missing.is_empty() {
            bail!("--features: {}", missing_error(c, &missing));
        }
        mapped.retain(|m| ids.contains(&m.feature_id));
    }
    mapped.sort_by_key(|m| m.feature_id);
    mapped.dedup_by_key(|m| m.feature_id);
    Ok(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(names: &[&str]) -> Vec<String> {
        names.iter().map(std::string::ToString::to_string).collect()
    }

    #[test]
    fn names_resolve_to_features_and_bad_ones_are_named() {
        let columns = cols(&["src_ip", "syn_count", "Total Fwd Packets", "label"]);
        let dropped = vec![DroppedColumn {
            column: "fwd_ttl".into(),
            reason: "every value is empty, NaN or Infinity".into(),
        }];
        let c = Columns {
            file: "t.csv",
            kind: DatasetKind::Generic,
            columns: &columns,
            label_columns: &["label"],
            dropped: &dropped,
        };
        let all = select("kernel", &c).expect("kernel");
        assert_eq!(
            all.iter().map(|m| m.feature).collect::<Vec<_>>(),
            vec!["fwd_packets", "syn_count"]
        );
        let one = select("Total Fwd Packets", &c).expect("a CIC column name");
        assert_eq!(one[0].feature, "fwd_packets");
        let e = select("syn_count,syn_cnt", &c).expect_err("typo").to_string();
        assert!(
            e.contains("`syn_cnt`") && e.contains("the 41 kernel features are: ") && e.contains("fwd_ttl"),
            "{e}"
        );
        let e = select("fwd_ttl", &c).expect_err("dropped").to_string();
        assert!(e.contains("t.csv: column `fwd_ttl`") && e.contains("NaN"), "{e}");
        let e = select("bwd_ttl", &c).expect_err("absent").to_string();
        assert!(e.contains("no column for kernel feature(s) bwd_ttl"), "{e}");
    }

    #[test]
    fn the_vlan_id_is_used_only_when_named() {
        let columns = cols(&["syn_count", "vlan_id", "label"]);
        let c = Columns {
            file: "t.csv",
            kind: DatasetKind::Generic,
            columns: &columns,
            label_columns: &["label"],
            dropped: &[],
        };
        let names = |spec: &str| {
            select(spec, &c)
                .expect(spec)
                .iter()
                .map(|m| m.feature)
                .collect::<Vec<_>>()
        };
        assert_eq!(names("kernel"), vec!["syn_count"]);
        assert_eq!(names("kernel,vlan_id"), vec!["syn_count", "vlan_id"]);
        assert_eq!(names("vlan_id"), vec!["vlan_id"]);
    }
}
