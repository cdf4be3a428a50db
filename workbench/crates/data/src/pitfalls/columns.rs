//! Column-level pitfalls: constant and perfectly correlated columns, values no real flow can
//! have (or that look generated), and which columns the kernel can compute at decision time.

use std::collections::HashMap;

use super::evidence::{
    ColumnRows, ConstantColumns, CorrelatedColumns, CorrelatedPair, Evidence, KernelFeatures, NearConstant,
    RuleRows, SyntheticOrImpossible, UniformColumn,
};
use super::{r4, Col, Finding, Severity, Table, Values};
use crate::dataset::detect::column_key;
use crate::dataset::{kernel_mapping_for, LoadedDataset};

/// Share of the most frequent value, and the number of distinct values.
fn top_share(c: &Col) -> (f64, usize) {
    let mut counts: HashMap<u64, usize> = HashMap::new();
    match &c.values {
        Values::Numeric(x) => x
            .iter()
            .for_each(|v| *counts.entry(v.to_bits()).or_default() += 1),
        Values::Text(x) => x.iter().for_each(|v| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            v.hash(&mut h);
            *counts.entry(h.finish()).or_default() += 1;
        }),
    }
    let n: usize = counts.values().sum();
    let top = counts.values().copied().max().unwrap_or(0);
    (top as f64 / n.max(1) as f64, counts.len())
}

pub fn constant(t: &Table) -> Option<Finding> {
    let mut constant = Vec::new();
    let mut near = Vec::new();
    for c in &t.columns {
        let (share, distinct) = top_share(c);
        if distinct <= 1 {
            constant.push(c.name.clone());
        } else if share >= 0.999 {
            near.push(NearConstant {
                column: c.name.clone(),
                top_value_share: r4(share),
            });
        }
    }
    if constant.is_empty() && near.is_empty() {
        return None;
    }
    Some(Finding {
        id: "constant_columns",
        severity: Severity::Low,
        summary: format!("{} constant and {} near-constant (>= 99.9% one value) columns", constant.len(), near.len()),
        evidence: Evidence::ConstantColumns(ConstantColumns {
            constant,
            near_constant: near,
            sample: None,
        }),
        advice: "Constant columns carry no information (CIC-IDS2017 has several all-zero flag and bulk columns); drop them. A near-constant column can still leak if its rare values all belong to one class: check it in the single-feature table.".into(),
    })
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    if saa == 0.0 || sbb == 0.0 {
        return 0.0;
    }
    sab / (saa * sbb).sqrt()
}

pub fn correlated(t: &Table) -> Option<Finding> {
    // 20,000 rows estimate a correlation to the third decimal; 80 columns make 3,160 pairs.
    let limit = t.rows().min(20_000);
    let cols: Vec<(&str, &[f64])> = t
        .columns
        .iter()
        .filter_map(|c| match &c.values {
            Values::Numeric(x) if !c.identifier && top_share(c).1 > 1 => Some((c.name.as_str(), &x[..limit])),
            _ => None,
        })
        .collect();
    let mut pairs = Vec::new();
    for i in 0..cols.len() {
        for j in i + 1..cols.len() {
            let r = pearson(cols[i].1, cols[j].1);
            if r.abs() >= 0.999 {
                pairs.push(CorrelatedPair {
                    a: cols[i].0.to_string(),
                    b: cols[j].0.to_string(),
                    pearson: r4(r),
                });
            }
        }
    }
    if pairs.is_empty() {
        return None;
    }
    Some(Finding {
        id: "correlated_columns",
        severity: Severity::Low,
        summary: format!("{} pairs of columns are perfectly correlated (|r| >= 0.999)", pairs.len()),
        evidence: Evidence::CorrelatedColumns(CorrelatedColumns {
            pairs_total: pairs.len(),
            pairs: pairs.into_iter().take(30).collect(),
            rows_used: limit,
            sample: None,
        }),
        advice: "Perfectly correlated columns are the same information twice (CIC's duplicated `Fwd Header Length`, subflow = flow counts): keep one, or importance and coefficients split between them.".into(),
    })
}

/// Columns that count something and so must hold whole, non-negative numbers.
fn is_count(name: &str) -> bool {
    let k = column_key(name);
    let counts = ["packet", "pkts", "count", "bytes", "port", "flag", "ttl"]
        .iter()
        .any(|w| k.contains(w));
    let derived = [
        "/s", "mean", "std", "avg", "average", "rate", "ratio", "var", "load", "jit", "iat", "size", "persec",
    ]
    .iter()
    .any(|w| k.contains(w));
    counts && !derived
}

fn numeric<'a>(t: &'a Table, key: &str) -> Option<&'a [f64]> {
    t.columns
        .iter()
        .find(|c| column_key(&c.name) == key)
        .and_then(|c| match &c.values {
            Values::Numeric(x) => Some(x.as_slice()),
            Values::Text(_) => None,
        })
}

/// Largest gap between a column's distribution and the uniform one on its range (Kolmogorov).
fn uniform_distance(x: &[f64]) -> f64 {
    let mut v: Vec<f64> = x.to_vec();
    v.sort_by(f64::total_cmp);
    let (lo, hi) = (v[0], v[v.len() - 1]);
    let n = v.len() as f64;
    v.iter()
        .enumerate()
        .map(|(i, &x)| ((i + 1) as f64 / n - (x - lo) / (hi - lo)).abs())
        .fold(0.0, f64::max)
}

pub fn synthetic(t: &Table) -> Option<Finding> {
    let mut fractional = Vec::new();
    let mut negative = Vec::new();
    let mut uniform = Vec::new();
    for c in t.columns.iter().filter(|c| !c.identifier || is_count(&c.name)) {
        let Values::Numeric(x) = &c.values else { continue };
        if is_count(&c.name) {
            let frac = x.iter().filter(|v| v.fract() != 0.0).count();
            if frac > 0 {
                fractional.push(ColumnRows {
                    column: c.name.clone(),
                    rows: frac,
                });
            }
        }
        let k = column_key(&c.name);
        let must_be_positive =
            is_count(&c.name) || k.contains("duration") || k.contains("length") || k == "dur";
        let neg = x.iter().filter(|&&v| v < 0.0).count();
        if must_be_positive && neg > 0 && !k.contains("win") {
            negative.push(ColumnRows {
                column: c.name.clone(),
                rows: neg,
            });
        }
        let (_, distinct) = top_share(c);
        if distinct >= 100 && x.len() >= 1000 {
            let d = uniform_distance(x);
            if d < 0.01 {
                uniform.push(UniformColumn {
                    column: c.name.clone(),
                    ks_distance_from_uniform: r4(d),
                });
            }
        }
    }
    // A packet carries at least an 8-byte transport header: fewer header bytes than that per
    // packet cannot come from a capture.
    let mut impossible = Vec::new();
    for (packets, header) in [
        ("totalfwdpackets", "fwdheaderlength"),
        ("totalbackwardpackets", "bwdheaderlength"),
        ("fwdpackets", "fwdheaderbytes"),
        ("bwdpackets", "bwdheaderbytes"),
    ] {
        if let (Some(p), Some(h)) = (numeric(t, packets), numeric(t, header)) {
            let bad = p.iter().zip(h).filter(|(p, h)| **h < **p * 8.0).count();
            if bad > 0 {
                impossible.push(RuleRows {
                    rule: format!("{header} < 8 x {packets}"),
                    rows: bad,
                });
            }
        }
    }
    if fractional.is_empty() && negative.is_empty() && uniform.is_empty() && impossible.is_empty() {
        return None;
    }
    let mut what = Vec::new();
    for (n, s) in [
        (fractional.len(), "count columns with fractional values"),
        (negative.len(), "columns with impossible negative values"),
        (impossible.len(), "impossible header/packet combinations"),
        (uniform.len(), "uniformly distributed columns"),
    ] {
        if n > 0 {
            what.push(format!("{n} {s}"));
        }
    }
    Some(Finding {
        id: "synthetic_or_impossible",
        severity: Severity::Medium,
        summary: format!("values no real capture produces: {}", what.join(", ")),
        evidence: Evidence::SyntheticOrImpossible(SyntheticOrImpossible {
            fractional_counts: fractional,
            negative_values: negative,
            impossible_combinations: impossible,
            uniform_columns: uniform,
            sample: None,
        }),
        advice: "Fractional packet counts mean resampled or synthetic rows (SMOTE, averaging); negative lengths and too-small headers are flow-meter bugs (CICFlowMeter, Engelen et al. 2021). Drop or repair such rows and say how many.".into(),
    })
}

pub fn kernel_features(columns: &[String], ds: &LoadedDataset) -> Finding {
    let skip = ds.label_columns();
    let cols: Vec<String> = columns
        .iter()
        .filter(|c| !skip.contains(&c.as_str()))
        .cloned()
        .collect();
    let m = kernel_mapping_for(ds.kind, &cols);
    let derived = m.mapped.iter().filter(|c| !c.derived_from.is_empty()).count();
    let direct = m.mapped.len() - derived;
    Finding {
        id: "kernel_features",
        severity: if m.mapped.is_empty() { Severity::Medium } else { Severity::Info },
        summary: format!(
            "{} of {} columns have a kernel counterpart computable per packet{}; {} do not (end-of-flow, payload, aggregate, identifier or only alike)",
            direct,
            cols.len(),
            if derived > 0 {
                format!(" ({derived} more kernel features computed from them with the probe's formulas)")
            } else {
                String::new()
            },
            m.unmapped.len()
        ),
        evidence: Evidence::KernelFeatures(KernelFeatures {
            mapped: m.mapped,
            unmapped: m.unmapped,
            sample: None,
        }),
        advice: "A model for the probe can only use the mapped columns (each with its unit conversion and how it still differs from the probe's value), and the kernel computes them at packet k of a flow, not at its end: train on `--features kernel` and compare with `--features dataset`, the full-feature score.".into(),
    }
}
