//! Typing and cleaning, in one reported step: which columns are numbers, which rows go and why,
//! and the label mapped to malicious/benign with the attack type beside it.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use polars::chunked_array::cast::CastOptions;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::column_numbers::{column_numbers, label_numbers, ColumnNumbers, LabelNumbers};
use super::detect::{column_key, DatasetKind};
use super::row_lines::RowLines;
use super::source::RawData;
use super::{BadValue, DataError, DropReason, Dropped, DroppedColumn, LoadOptions};

/// What the loader learnt about the table (stored next to the cached Parquet).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    pub kind: DatasetKind,
    pub kind_reason: String,
    pub label_column: String,
    pub class_column: Option<String>,
    pub time_column: Option<String>,
    pub host_column: Option<String>,
    /// What the cleaning step before training removes (the loaded table keeps every row).
    pub dropped: Dropped,
    /// Missing, NaN and infinite values per column of the loaded table.
    pub health: Vec<ColumnHealth>,
    /// Whether cleaning also removes exact duplicate rows.
    pub drop_duplicates: bool,
    /// Rows of each source file, in the order of the sources (the table stacks them).
    #[serde(default)]
    pub file_rows: Vec<usize>,
    /// Per source: the line each data row starts on (None for Parquet), to name a row's line.
    #[serde(default)]
    pub row_lines: Vec<Option<RowLines>>,
}

/// A column's damaged values, as the TUI's Data tab shows them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ColumnHealth {
    pub column: String,
    /// `numeric` or `text`.
    pub dtype: String,
    /// Empty fields (and, in a numeric column, values that are not numbers).
    pub missing: usize,
    pub nan: usize,
    pub infinite: usize,
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
/// Rust's parser takes `Infinity`, `inf` and `NaN` in any case and with a sign itself, so only
/// the hex form needs handling (no lower-cased copy per value: this runs on every text value).
pub fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok().map(|v| v as f64);
    }
    t.parse().ok()
}

/// Names a label column goes by, in order of preference (without `--label`).
pub const LABEL_NAMES: [&str; 6] = ["label", "target", "class", "attack_cat", "attack", "y"];
/// Names of the attack-type column beside a label (UNSW-NB15's, `workbench features --labels`').
pub const CLASS_NAMES: [&str; 2] = ["attack_cat", "attack_type"];
/// Names of the timestamp column the time split orders by, in order of preference.
pub const TIME_NAMES: [&str; 6] = ["Timestamp", "Stime", "first_ts_ns", "first_seen_ns", "time", "ts"];
/// Names of the source-address column the host split groups by, in order of preference.
pub const HOST_NAMES: [&str; 5] = ["Source IP", "srcip", "src_ip", "src", "saddr"];

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
    // UNSW-NB15 calls the finer class `attack_cat`; `workbench features --labels` writes
    // `attack_type`. Either is the label's own detail, never a feature (it would "leak").
    let class = find(frame, &CLASS_NAMES);
    if let Some(l) = &opts.label {
        let found = find(frame, &[l.as_str()]).ok_or_else(|| {
            let names: Vec<String> = frame
                .get_column_names()
                .iter()
                .map(std::string::ToString::to_string)
                .collect();
            DataError::file(
                &files,
                format!("no label column `{l}`; the columns are: {}", names.join(", ")),
            )
        })?;
        let class = class.filter(|c| *c != found);
        return Ok((found, class));
    }
    let label = find(frame, &LABEL_NAMES).ok_or_else(|| {
        DataError::file(
            &files,
            "no label column (looked for label, target, class, attack_cat); pass --label COL",
        )
    })?;
    Ok((label.clone(), class.filter(|c| *c != label)))
}

/// Numbers of a text column, with the polars cast first (fast) and the lenient parser only for
/// the values it refused (with `decimal_comma`, `12,5` as 12.5: a `;`-separated file read as
/// text). Returns the numbers and how many non-empty values stayed unparsed.
pub(super) fn to_numbers(col: &Column, decimal_comma: bool) -> Result<(Float64Chunked, usize), PolarsError> {
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
                let v = parse_number(s).or_else(|| {
                    (decimal_comma && s.contains(','))
                        .then(|| parse_number(&s.replace(',', ".")))
                        .flatten()
                });
                failed += usize::from(v.is_none() && !s.trim().is_empty());
                v
            }
        })
        .collect();
    Ok((values.with_name(col.name().clone()), failed))
}

pub(super) fn count(mask: &BooleanChunked) -> usize {
    mask.sum().unwrap_or(0) as usize
}

/// A mask with nulls read as false.
pub(super) fn definite(mask: BooleanChunked) -> BooleanChunked {
    if mask.null_count() == 0 {
        mask
    } else {
        mask.fill_null_with_values(false).unwrap_or(mask)
    }
}

/// Types the columns, counts each column's missing/NaN/infinite values, and works out which
/// rows the cleaning step before training will remove and why. Every row stays in the table;
/// [`crate::dataset::LoadedDataset::cleaned`] removes them. Column masks are combined with polars'
/// bitmap kernels, so 2.8 million rows x 79 columns take no per-value loop here.
pub fn clean(raw: RawData, opts: &LoadOptions) -> Result<Cleaned, DataError> {
    let files = raw.sources.join(", ");
    let err = |e: PolarsError| DataError::polars(&files, "", e);
    let frame = &raw.frame;
    let rows = frame.height();
    let (label_column, class_column) = label_columns(frame, &raw, opts)?;
    let time_column = find(frame, &TIME_NAMES);
    let host_column = find(frame, &HOST_NAMES);

    // Rows already given a reason (the first column that offends, in column order, names it).
    let mut bad = BooleanChunked::full("bad".into(), false, rows);
    let mut counted: HashMap<&'static str, (usize, HashMap<usize, usize>)> = HashMap::new();
    let mut attribute = |bad: &mut BooleanChunked, reason: &'static str, ci: usize, mask: BooleanChunked| {
        let mask = definite(mask);
        let new = count(&(&mask & &!&*bad));
        if new > 0 {
            let e = counted.entry(reason).or_default();
            e.0 += new;
            *e.1.entry(ci).or_default() += new;
            *bad = &*bad | &mask;
        }
    };
    // The first unparseable values, with their file and line (in row order per column).
    let mut examples: Vec<BadValue> = Vec::new();
    let mut dropped_columns = Vec::new();
    let mut health = Vec::new();
    let mut out_cols: Vec<Column> = Vec::new();
    // Columns kept as text because most values are not numbers, with the first such value.
    let mut text_columns: Vec<BadValue> = Vec::new();
    // Header lines repeated inside the data (`cat` of files with headers) come first, so that
    // they are named as what they are, not as a row of unparseable values.
    if let Ok(label_index) = frame.try_get_column_index(&label_column) {
        attribute(
            &mut bad,
            "repeated_header",
            label_index,
            super::repeated_header::rows(frame, &label_column),
        );
    }
    let mut skip = vec![label_column.as_str()];
    skip.extend(class_column.as_deref());
    let all_numbers = column_numbers(frame, &skip, raw.decimal_comma).map_err(err)?;
    for ((ci, col), numbers) in frame.get_columns().iter().enumerate().zip(all_numbers) {
        let name = col.name().to_string();
        let is_label = name == label_column;
        if class_column.as_deref() == Some(name.as_str()) {
            let c = text_column(col, true).map_err(err)?;
            health.push(text_health(&c));
            out_cols.push(c);
            continue;
        }
        if is_label {
            let c: Column = match label_numbers(col).map_err(err)? {
                LabelNumbers::Numbers(numbers) => numbers.into_series().into(),
                LabelNumbers::Text => text_column(col, true).map_err(err)?,
            };
            attribute(&mut bad, "missing_label", ci, c.is_null());
            health.push(text_health(&c));
            out_cols.push(c);
            continue;
        }
        let non_null = rows - col.null_count();
        let Some(ColumnNumbers {
            numbers,
            failed,
            finite,
        }) = numbers
        else {
            continue;
        };
        if non_null == 0 || (failed == 0 && finite == 0) {
            // One bad column must not empty the table: drop the column, keep the rows.
            dropped_columns.push(DroppedColumn {
                column: name,
                reason: "every value is empty, NaN or Infinity".into(),
            });
            continue;
        }
        if failed * 2 > non_null {
            // Mostly not numbers: kept as text (a category). The first value that is not a
            // number, for the error if a kernel feature maps to this column.
            if let Ok(text) = col.str() {
                if let Some(row) = text
                    .into_iter()
                    .zip(&numbers)
                    .position(|(t, n)| n.is_none() && t.is_some_and(|t| !t.trim().is_empty()))
                {
                    let value = text.get(row).unwrap_or_default().to_string();
                    text_columns.push(bad_value(&raw, row, &name, value));
                }
            }
            let c = text_column(col, false).map_err(err)?;
            health.push(text_health(&c));
            out_cols.push(c);
            continue;
        }
        // Most columns have neither: one is_finite pass above decides, no masks built.
        let (mut nan_count, mut infinite_count) = (0, 0);
        if numbers.len() - numbers.null_count() > finite {
            let nan = definite(numbers.is_nan());
            let infinite = definite(numbers.is_infinite());
            (nan_count, infinite_count) = (count(&nan), count(&infinite));
            attribute(&mut bad, "nan_or_infinity", ci, &nan | &infinite);
        }
        if numbers.null_count() > 0 {
            let null = numbers.is_null();
            // A null where the text had something is a value that is not a number.
            let text_present: BooleanChunked = match col.str() {
                Ok(t) => t
                    .into_iter()
                    .map(|v| v.is_some_and(|s| !s.trim().is_empty()))
                    .collect(),
                Err(_) => BooleanChunked::full("p".into(), false, rows),
            };
            let unparseable = definite(&null & &text_present);
            if examples.len() < MAX_EXAMPLES {
                let fresh = &unparseable & &!&bad;
                if let Ok(text) = col.str() {
                    for row in fresh
                        .into_iter()
                        .enumerate()
                        .filter(|(_, b)| *b == Some(true))
                        .map(|(i, _)| i)
                    {
                        if examples.len() >= MAX_EXAMPLES {
                            break;
                        }
                        let value = text.get(row).unwrap_or_default().to_string();
                        examples.push(bad_value(&raw, row, &name, value));
                    }
                }
            }
            attribute(&mut bad, "unparseable", ci, unparseable);
            attribute(&mut bad, "missing_value", ci, &null & &!&text_present);
        }
        health.push(ColumnHealth {
            column: name,
            dtype: "numeric".into(),
            missing: numbers.null_count(),
            nan: nan_count,
            infinite: infinite_count,
        });
        out_cols.push(numbers.into_series().into());
    }
    let cleaned = DataFrame::new(out_cols).map_err(err)?;
    mapped_text_is_an_error(raw.detected.kind, &cleaned, &text_columns, raw.decimal_comma)?;
    if opts.drop_duplicates {
        let keep = duplicate_free(&cleaned, &bad);
        let dup = &!&keep & &!&bad;
        let n = count(&dup);
        if n > 0 {
            counted.insert("duplicate", (n, HashMap::new()));
            bad = &bad | &dup;
        }
    }
    let names: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    let mut rows_by_reason: Vec<DropReason> = counted
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
                examples: if reason == "unparseable" {
                    std::mem::take(&mut examples)
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    rows_by_reason.sort_by(|a, b| b.rows.cmp(&a.rows).then(a.reason.cmp(&b.reason)));
    let dropped = Dropped {
        rows_read: rows,
        rows_dropped: count(&bad),
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
            health,
            drop_duplicates: opts.drop_duplicates,
            file_rows: raw.file_rows.clone(),
            row_lines: raw.row_lines.clone(),
        },
        frame: cleaned,
    })
}

/// A column a kernel feature is read from must hold numbers: kept as text, its values would
/// become 0 in every row (a model trained on zeros, scored as if nothing were wrong). An error
/// naming the file, line, column and value instead. A protocol column may hold names (`tcp`):
/// those are converted to numbers.
fn mapped_text_is_an_error(
    kind: DatasetKind,
    frame: &DataFrame,
    text_columns: &[BadValue],
    decimal_comma: bool,
) -> Result<(), DataError> {
    if text_columns.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = frame
        .get_column_names()
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    let mapping = super::kernel_map::kernel_mapping_for(kind, &names);
    let bad: Vec<(&BadValue, &str)> = mapping
        .mapped
        .iter()
        .filter(|m| m.derived_from.is_empty())
        .filter(|m| m.convert != super::kernel_units::Conversion::ProtocolNumber)
        .filter_map(|m| {
            text_columns
                .iter()
                .find(|b| b.column == m.column)
                .map(|b| (b, m.feature))
        })
        .collect();
    let Some((first, feature)) = bad.first() else {
        return Ok(());
    };
    let others: Vec<String> = bad
        .iter()
        .skip(1)
        .map(|(b, _)| format!("`{}`", b.column))
        .collect();
    let comma = first.value.contains(',') && first.value.chars().any(|c| c.is_ascii_digit());
    let hint = if comma && !decimal_comma {
        "; numbers written with a decimal comma (`12,5`) are read as such only in a `;`-separated \
         file: save the table with `;` between fields, or with decimal points"
    } else {
        "; give this column as numbers, or rename it so it is not read as a kernel feature"
    };
    Err(DataError::file(
        &first.file,
        format!(
            "{}column `{}` is read as kernel feature {feature} but holds text, not numbers (`{}`); \
             it would be 0 in every row{}{hint}",
            first
                .line
                .map_or_else(|| format!("row {}: ", first.row), |l| format!("line {l}: ")),
            first.column,
            first.value,
            if others.is_empty() {
                String::new()
            } else {
                format!(" (so do {})", others.join(", "))
            },
        ),
    ))
}

/// Offending values named with their place (see [`DropReason::examples`]).
const MAX_EXAMPLES: usize = 3;

/// Row `row` of the stacked table as a file, line and row of that file.
fn bad_value(raw: &RawData, row: usize, column: &str, value: String) -> BadValue {
    let mut start = 0;
    for (i, &n) in raw.file_rows.iter().enumerate() {
        if row < start + n {
            let in_file = row - start;
            return BadValue {
                file: raw.sources.get(i).cloned().unwrap_or_default(),
                line: super::row_lines::line_of(&raw.row_lines, i, in_file),
                row: in_file + 1,
                column: column.to_string(),
                value,
            };
        }
        start += n;
    }
    BadValue {
        file: raw.sources.join(", "),
        line: None,
        row: row + 1,
        column: column.to_string(),
        value,
    }
}

fn text_health(c: &Column) -> ColumnHealth {
    ColumnHealth {
        column: c.name().to_string(),
        dtype: if c.dtype().is_primitive_numeric() {
            "numeric"
        } else {
            "text"
        }
        .into(),
        missing: c.null_count(),
        nan: 0,
        infinite: 0,
    }
}

/// Per row: not a repeat of an earlier row that is not itself `excluded` (first copy kept).
pub(super) fn duplicate_free(frame: &DataFrame, excluded: &BooleanChunked) -> BooleanChunked {
    let hashes = row_hashes(frame, &[]);
    let mut seen = std::collections::HashSet::new();
    hashes
        .into_iter()
        .zip(excluded)
        .map(|(h, ex)| ex == Some(true) || seen.insert(h))
        .collect()
}

/// A text column, trimmed; labels also normalised (see [`normalise_label`]), each distinct
/// label once (a label column has a handful of values over millions of rows).
fn text_column(col: &Column, label: bool) -> Result<Column, PolarsError> {
    let c = col.cast(&DataType::String)?;
    let text = c.str()?;
    let values: StringChunked = if label {
        let mut memo: PlHashMap<&str, Option<String>> = PlHashMap::new();
        for v in text.into_iter().flatten() {
            memo.entry(v)
                .or_insert_with(|| Some(normalise_label(v)).filter(|s| !s.is_empty()));
        }
        text.into_iter()
            .map(|v| v.and_then(|v| memo.get(v).and_then(|n| n.as_deref())))
            .collect()
    } else {
        text.into_iter().map(|v| v.map(str::trim)).collect()
    };
    Ok(values.with_name(col.name().clone()).into_series().into())
}

/// One hash per row over every column but `exclude` (duplicates, label noise, train/test twins).
pub fn row_hashes(frame: &DataFrame, exclude: &[&str]) -> Vec<u64> {
    let mut hashers: Vec<std::collections::hash_map::DefaultHasher> =
        vec![std::collections::hash_map::DefaultHasher::default(); frame.height()];
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
