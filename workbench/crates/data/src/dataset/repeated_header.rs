//! Header lines repeated inside the data: what `cat` of CSV files that each have a header
//! leaves (CIC-IDS2017's day files concatenated by hand). Cleaning drops such a row as
//! `repeated_header`; the time column reads past it (`time::times`).

use polars::prelude::*;

/// Rows that repeat the header line: the label column and at least one other column hold
/// their own names (the label alone could be a class called "Label"). Only the label column
/// is read whole; the other columns only at its hits.
pub(super) fn rows(frame: &DataFrame, label: &str) -> BooleanChunked {
    let rows = frame.height();
    let text_of = |name: &str| frame.column(name).ok().and_then(|c| c.str().ok().cloned());
    let is_own_name = |v: Option<&str>, name: &str| v.is_some_and(|t| t.trim() == name.trim());
    let mut hits = vec![false; rows];
    let Some(labels) = text_of(label) else {
        return BooleanChunked::from_slice("repeated_header".into(), &hits);
    };
    let candidates: Vec<usize> = labels
        .into_iter()
        .enumerate()
        .filter(|(_, v)| is_own_name(*v, label))
        .map(|(i, _)| i)
        .collect();
    if !candidates.is_empty() {
        let others: Vec<(String, StringChunked)> = frame
            .get_column_names()
            .iter()
            .filter(|n| n.as_str() != label)
            .filter_map(|n| Some((n.to_string(), text_of(n)?)))
            .collect();
        for i in candidates {
            hits[i] = others.iter().any(|(n, t)| is_own_name(t.get(i), n));
        }
    }
    BooleanChunked::from_slice("repeated_header".into(), &hits)
}
