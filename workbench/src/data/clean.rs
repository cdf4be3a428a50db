//! Typing and cleaning, in one reported step: which columns are numbers, which rows go and why,
//! and the label mapped to malicious/benign with the attack type beside it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use polars::chunked_array::cast::CastOptions;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::detect::{column_key, DatasetKind};
use super::source::RawData;
use super::{DataError, DropReason, Dropped, DroppedColumn, LoadOptions};

/// What the loader learnt about the table (stored next to the cached Parquet).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub kind: DatasetKind,
    pub kind_reason: String,
    pub label_column: String,
    pub class_column: Option<String>,
    pub time_column: Option<String>,
    pub host_column: Option<String>,
    pub dropped: Dropped,
}

pub struct Cleaned {
    pub frame: DataFrame,
    pub meta: Meta,
}

/// CIC's Web Attack labels carry a cp1252 en dash (0x96) that lossy UTF-8 turns into U+FFFD;
/// both that and a real dash become "-", and runs of spaces one space.
pub fn normalise_label(s: &str) -> String {
    let replaced: String = s
        .chars()
        .map(|c| {
            if matches!(c, '\u{FFFD}' | '\u{2013}' | '\u{2014}') {
                '-'
            } else {
                c
            }
        })
        .collect();
    replaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn is_benign(label: &str) -> bool {
    matches!(
        label.trim().to_ascii_lowercase().as_str(),
        "benign" | "normal" | "normal." | "0" | "0.0" | "false"
    )
}

/// A number as the datasets write them: `6.0`, `Infinity`, `NaN`, and UNSW's hex ports `0xc0a8`.
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    match t.to_ascii_lowercase().as_str() {
        "infinity" | "+infinity" | "inf" => Some(f64::INFINITY),
        "-infinity" | "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => t.parse().ok(),
    }
}

fn find(frame: &DataFrame, wanted: &[&str]) -> Option<String> {
    for w in wanted {
        if let Some(c) = frame
            .get_columns()
            .iter()
            .find(|c| column_key(c.name()) == column_key(w))
        {
            return Some(c.name().to_string());
        }
    }
    None
}

/// The label column the user named or the layout implies, and the attack-type column if separate.
fn label_columns(
    frame: &DataFrame,
    raw: &RawData,
    opts: &LoadOptions,
) -> Result<(String, Option<String>), DataError> {
    let files = raw.sources.join(", ");
    let class = find(frame, &["attack_cat"]);
    if let Some(l) = &opts.label {
        let found = find(frame, &[l.as_str()]).ok_or_else(|| {
            let names: Vec<String> = frame.get_column_names().iter().map(|s| s.to_string()).collect();
            DataError::file(
                &files,
                format!("no label column `{l}`; the columns are: {}", names.join(", ")),
            )
        })?;
        let class = class.filter(|c| *c != found);
        return Ok((found, class));
    }
    let label = find(frame, &["label", "target", "class", "attack_cat", "attack", "y"]).ok_or_else(|| {
        DataError::file(
            &files,
            "no label column (looked for label, target, class, attack_cat); pass --label COL",
        )
    })?;
    Ok((label.clone(), class.filter(|c| *c != label)))
}

/// Numbers of a text column, with the polars cast first (fast) and the lenient parser only for
/// the values it refused. Returns the numbers and how many non-empty values stayed unparsed.
fn to_numbers(col: &Column) -> Result<(Float64Chunked, usize), PolarsError> {
    if col.dtype() != &DataType::String {
        return Ok((col.cast(&DataType::Float64)?.f64()?.clone(), 0));
    }
    let fast = col.cast_with_options(&DataType::Float64, CastOptions::NonStrict)?;
    let fast = fast.f64()?.clone();
    if fast.null_count() == col.null_count() {
        return Ok((fast, 0));
    }
    let text = col.str()?;
    let mut failed = 0;
    let values: Float64Chunked = text
        .into_iter()
        .zip(&fast)
        .map(|(s, f)| match (s, f) {
            (_, Some(v)) => Some(v),
            (None, None) => None,
            (Some(s), None) => {
                let v = parse_number(s);
                failed += usize::from(v.is_none() && !s.trim().is_empty());
                v
            }
        })
        .collect();
    Ok((values.with_name(col.name().clone()), failed))
}

pub fn clean(raw: RawData, opts: &LoadOptions) -> Result<Cleaned, DataError> {
    let files = raw.sources.join(", ");
    let err = |e: PolarsError| DataError::file(&files, e.to_string());
    let frame = &raw.frame;
    let rows = frame.height();
    let (label_column, class_column) = label_columns(frame, &raw, opts)?;
    let time_column = find(
        frame,
        &["Timestamp", "Stime", "first_ts_ns", "first_seen_ns", "time", "ts"],
    );
    let host_column = find(frame, &["Source IP", "srcip", "src_ip", "src", "saddr"]);

    let mut reason_of_row: Vec<Option<(&'static str, usize)>> = vec![None; rows];
    let mut dropped_columns = Vec::new();
    let mut out_cols: Vec<Column> = Vec::new();
    for (ci, col) in frame.get_columns().iter().enumerate() {
        let name = col.name().to_string();
        let is_label = name == label_column;
        if class_column.as_deref() == Some(name.as_str()) {
            out_cols.push(text_column(col, true).map_err(err)?);
            continue;
        }
        let non_null = rows - col.null_count();
        let (numbers, failed) = to_numbers(col).map_err(err)?;
        let finite = numbers.into_iter().flatten().filter(|v| v.is_finite()).count();
        if is_label {
            if failed == 0 && numbers.null_count() == col.null_count() {
                out_cols.push(numbers.into_series().into());
            } else {
                out_cols.push(text_column(col, true).map_err(err)?);
            }
            let label = out_cols
                .last()
                .ok_or_else(|| DataError::Other("internal: label".into()))?;
            for (r, missing) in label.is_null().into_iter().enumerate() {
                if missing == Some(true) {
                    reason_of_row[r].get_or_insert(("missing_label", ci));
                }
            }
            continue;
        }
        if non_null == 0 || (failed == 0 && finite == 0) {
            // One bad column must not empty the table: drop the column, keep the rows.
            dropped_columns.push(DroppedColumn {
                column: name,
                reason: "every value is empty, NaN or Infinity".into(),
            });
            continue;
        }
        if failed * 2 > non_null {
            out_cols.push(text_column(col, false).map_err(err)?);
            continue;
        }
        let text = col.str().ok();
        for (r, v) in numbers.into_iter().enumerate() {
            let reason = match v {
                Some(v) if v.is_finite() => continue,
                Some(_) => "nan_or_infinity",
                None => match text.and_then(|t| t.get(r)) {
                    Some(s) if !s.trim().is_empty() => "unparseable",
                    _ => "missing_value",
                },
            };
            reason_of_row[r].get_or_insert((reason, ci));
        }
        out_cols.push(numbers.into_series().into());
    }
    let mut cleaned = DataFrame::new(out_cols).map_err(err)?;
    if opts.drop_duplicates {
        let hashes = row_hashes(&cleaned, &[]);
        let mut seen = std::collections::HashSet::new();
        for (r, h) in hashes.into_iter().enumerate() {
            if reason_of_row[r].is_none() && !seen.insert(h) {
                reason_of_row[r] = Some(("duplicate", usize::MAX));
            }
        }
    }
    let names: Vec<String> = frame.get_column_names().iter().map(|s| s.to_string()).collect();
    let mut by_reason: HashMap<&str, (usize, HashMap<usize, usize>)> = HashMap::new();
    for (reason, ci) in reason_of_row.iter().flatten() {
        let e = by_reason.entry(*reason).or_default();
        e.0 += 1;
        *e.1.entry(*ci).or_default() += 1;
    }
    let mut rows_by_reason: Vec<DropReason> = by_reason
        .into_iter()
        .map(|(reason, (n, cols))| {
            let mut cols: Vec<(usize, usize)> = cols.into_iter().collect();
            cols.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            DropReason {
                reason: reason.to_string(),
                rows: n,
                columns: cols
                    .iter()
                    .filter_map(|(c, _)| names.get(*c).cloned())
                    .take(5)
                    .collect(),
                column_rows: cols
                    .iter()
                    .filter(|(c, _)| names.get(*c).is_some())
                    .map(|(_, n)| *n)
                    .take(5)
                    .collect(),
            }
        })
        .collect();
    rows_by_reason.sort_by(|a, b| b.rows.cmp(&a.rows).then(a.reason.cmp(&b.reason)));
    let keep: BooleanChunked = reason_of_row.iter().map(|r| r.is_none()).collect();
    cleaned = cleaned.filter(&keep).map_err(err)?;
    if cleaned.height() == 0 {
        let why: Vec<String> = rows_by_reason
            .iter()
            .map(|r| format!("{} {} (in {})", r.rows, r.reason, r.columns.join(", ")))
            .collect();
        return Err(DataError::file(
            files,
            format!("no row survives cleaning: {}", why.join("; ")),
        ));
    }
    let dropped = Dropped {
        rows_read: rows,
        rows_dropped: rows - cleaned.height(),
        rows_by_reason,
        columns: dropped_columns,
    };
    let present = |c: Option<String>| c.filter(|c| cleaned.column(c).is_ok());
    Ok(Cleaned {
        meta: Meta {
            kind: raw.detected.kind,
            kind_reason: raw.detected.reason.clone(),
            label_column,
            class_column,
            time_column: present(time_column),
            host_column: present(host_column),
            dropped,
        },
        frame: cleaned,
    })
}

/// A text column, trimmed; labels also normalised (see [`normalise_label`]).
fn text_column(col: &Column, label: bool) -> Result<Column, PolarsError> {
    let c = col.cast(&DataType::String)?;
    let values: StringChunked = c
        .str()?
        .into_iter()
        .map(|v| {
            v.map(|s| {
                if label {
                    normalise_label(s)
                } else {
                    s.trim().to_string()
                }
            })
            .filter(|s| !s.is_empty() || !label)
        })
        .collect();
    Ok(values.with_name(col.name().clone()).into_series().into())
}

/// One hash per row over every column but `exclude` (duplicates, label noise, train/test twins).
pub fn row_hashes(frame: &DataFrame, exclude: &[&str]) -> Vec<u64> {
    let mut hashers: Vec<std::collections::hash_map::DefaultHasher> =
        vec![Default::default(); frame.height()];
    for col in frame.get_columns() {
        if exclude.contains(&col.name().as_str()) {
            continue;
        }
        if let Ok(f) = col.f64() {
            for (h, v) in hashers.iter_mut().zip(f) {
                v.map(f64::to_bits).hash(h);
            }
        } else if let Ok(s) = col.str() {
            for (h, v) in hashers.iter_mut().zip(s) {
                v.hash(h);
            }
        }
    }
    hashers.into_iter().map(|h| h.finish()).collect()
}

pub struct Derived {
    pub malicious: Vec<bool>,
    pub class: Vec<String>,
    pub time_ns: Option<Vec<i64>>,
    pub hosts: Option<Vec<String>>,
}

fn strings(frame: &DataFrame, name: &str) -> Option<Vec<String>> {
    let c = frame.column(name).ok()?.cast(&DataType::String).ok()?;
    let s = c.str().ok()?;
    Some(s.into_iter().map(|v| v.unwrap_or("").to_string()).collect())
}

/// Per-row views of the label, attack type, time and host (cheap; recomputed after a cache hit).
pub fn derive(frame: &DataFrame, meta: &Meta) -> Result<Derived, DataError> {
    let label = frame
        .column(&meta.label_column)
        .map_err(|e| DataError::Other(format!("label column: {e}")))?;
    let malicious: Vec<bool> = if let Ok(f) = label.f64() {
        f.into_iter().map(|v| v.is_some_and(|v| v != 0.0)).collect()
    } else {
        strings(frame, &meta.label_column)
            .unwrap_or_default()
            .iter()
            .map(|l| !is_benign(l))
            .collect()
    };
    let labels = strings(frame, &meta.label_column).unwrap_or_default();
    let types = meta.class_column.as_deref().and_then(|c| strings(frame, c));
    let class = malicious
        .iter()
        .enumerate()
        .map(|(i, &m)| {
            let t = types
                .as_ref()
                .map(|t| t[i].trim().to_string())
                .unwrap_or_default();
            match (m, t.is_empty()) {
                (_, false) => t,
                (false, true) if types.is_some() => "normal".to_string(),
                _ => labels.get(i).cloned().unwrap_or_default(),
            }
        })
        .collect();
    let time_ns = meta
        .time_column
        .as_deref()
        .and_then(|c| super::time::times(frame, c));
    let hosts = meta.host_column.as_deref().and_then(|c| strings(frame, c));
    Ok(Derived {
        malicious,
        class,
        time_ns,
        hosts,
    })
}
