//! Which rows the cleaning step keeps, recomputed from a loaded (or cached) table, and what a
//! command that reads only some columns drops for them (split from clean.rs: the typing and
//! cleaning of a fresh load).

use polars::prelude::*;

use super::clean::{count, definite, duplicate_free, Meta};
use super::{DropReason, Dropped};

/// The rows the cleaning step keeps: every numeric feature finite (of those in `only`, when
/// given, and no text column of `only` empty), a label, and (when asked) not a repeat.
/// Recomputed from the table, so it also holds for a table read from the cache.
pub fn usable_rows(frame: &DataFrame, meta: &Meta, only: Option<&[String]>) -> BooleanChunked {
    let rows = frame.height();
    let mut keep = BooleanChunked::full("keep".into(), true, rows);
    if only.is_some() {
        // A repeated header line is no row of data, whichever columns are read.
        keep = &keep & &!&super::repeated_header::rows(frame, &meta.label_column);
    }
    for col in frame.get_columns() {
        let name = col.name().as_str();
        if name == meta.label_column {
            keep = &keep & &col.is_not_null();
        } else if meta.class_column.as_deref() != Some(name)
            && only.is_none_or(|only| only.iter().any(|c| c == name))
        {
            if let Ok(f) = col.f64() {
                keep = &keep & &definite(f.is_finite());
            } else if only.is_some() {
                // A text column the run reads (`train`'s time column): an empty cell is a
                // missing value too, as `dropped_for` counts it.
                keep = &keep & &col.is_not_null();
            }
        }
    }
    if meta.drop_duplicates {
        let excluded = !&keep;
        keep = &keep & &duplicate_free(frame, &excluded);
    }
    keep
}

/// A drop reason, its rows, and its rows per column.
type Counted = (&'static str, usize, Vec<(String, usize)>);

/// What the cleaning step drops when only `columns` count (`LoadedDataset::cleaning_only`),
/// recounted from the loaded table: a repeated header line, a missing label, then per column in
/// table order a NaN or infinite value, or a missing one (called `unparseable` in a column the
/// load found values that are not numbers in, with those examples; in a text column, an empty
/// cell), then duplicates.
/// `loaded.columns` (columns dropped whole) is kept.
pub fn dropped_for(frame: &DataFrame, meta: &Meta, loaded: &Dropped, columns: &[String]) -> Dropped {
    let rows = frame.height();
    let mut bad = BooleanChunked::full("bad".into(), false, rows);
    // reason -> (rows, column -> rows), in the order first seen.
    let mut counted: Vec<Counted> = Vec::new();
    let mut attribute =
        |bad: &mut BooleanChunked, reason: &'static str, column: &str, mask: BooleanChunked| {
            let mask = definite(mask);
            let new = count(&(&mask & &!&*bad));
            if new == 0 {
                return;
            }
            *bad = &*bad | &mask;
            let i = counted.iter().position(|c| c.0 == reason).unwrap_or_else(|| {
                counted.push((reason, 0, Vec::new()));
                counted.len() - 1
            });
            let entry = &mut counted[i];
            entry.1 += new;
            match entry.2.iter_mut().find(|(c, _)| c == column) {
                Some((_, n)) => *n += new,
                None => entry.2.push((column.to_string(), new)),
            }
        };
    let unparseable = loaded.rows_by_reason.iter().find(|r| r.reason == "unparseable");
    let label = meta.label_column.as_str();
    attribute(
        &mut bad,
        "repeated_header",
        label,
        super::repeated_header::rows(frame, label),
    );
    if let Ok(l) = frame.column(label) {
        attribute(&mut bad, "missing_label", label, l.is_null());
    }
    for col in frame.get_columns() {
        let name = col.name().as_str();
        if name == label || meta.class_column.as_deref() == Some(name) || !columns.iter().any(|c| c == name) {
            continue;
        }
        let Ok(numbers) = col.f64() else {
            // Text (`train`'s time column): an empty cell is a missing value.
            attribute(&mut bad, "missing_value", name, col.is_null());
            continue;
        };
        if numbers.len() - numbers.null_count() > count(&definite(numbers.is_finite())) {
            attribute(
                &mut bad,
                "nan_or_infinity",
                name,
                &definite(numbers.is_nan()) | &definite(numbers.is_infinite()),
            );
        }
        if numbers.null_count() > 0 {
            let not_numbers = unparseable.is_some_and(|u| {
                u.columns.iter().any(|c| c == name) || u.examples.iter().any(|e| e.column == name)
            });
            let reason = if not_numbers {
                "unparseable"
            } else {
                "missing_value"
            };
            attribute(&mut bad, reason, name, numbers.is_null());
        }
    }
    if meta.drop_duplicates {
        let keep = duplicate_free(frame, &bad);
        let dup = &!&keep & &!&bad;
        let n = count(&dup);
        if n > 0 {
            counted.push(("duplicate", n, Vec::new()));
            bad = &bad | &dup;
        }
    }
    let mut rows_by_reason: Vec<DropReason> = counted
        .into_iter()
        .map(|(reason, n, mut cols)| {
            cols.sort_by_key(|c| std::cmp::Reverse(c.1));
            let examples = if reason == "unparseable" {
                unparseable
                    .map(|u| {
                        u.examples
                            .iter()
                            .filter(|e| cols.iter().any(|(c, _)| *c == e.column))
                            .cloned()
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            DropReason {
                reason: reason.to_string(),
                rows: n,
                columns: cols.iter().take(5).map(|(c, _)| c.clone()).collect(),
                column_rows: cols.iter().take(5).map(|(_, n)| *n).collect(),
                examples,
            }
        })
        .collect();
    rows_by_reason.sort_by(|a, b| b.rows.cmp(&a.rows).then(a.reason.cmp(&b.reason)));
    Dropped {
        rows_read: rows,
        rows_dropped: count(&bad),
        rows_by_reason,
        columns: loaded.columns.clone(),
    }
}
