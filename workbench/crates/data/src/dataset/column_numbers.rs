//! Each column's numbers and counts for the cleaning step (`clean::clean`), worked out for all
//! columns at once on every CPU: a column's numbers depend on no other column, and on the
//! 2.8-million-row file this per-column pass was a serial half second after the parallel read
//! (docs/BENCHMARKS.md, "Loading").

use polars::prelude::*;

use super::clean::{parse_number, to_numbers};

/// A column's values as numbers, with what the cleaning step decides from them.
pub(super) struct ColumnNumbers {
    pub numbers: Float64Chunked,
    /// Non-empty values that are not numbers.
    pub failed: usize,
    /// Finite values.
    pub finite: usize,
}

/// What the label column is: numbers (every value present parses), or text.
pub(super) enum LabelNumbers {
    Numbers(Float64Chunked),
    Text,
}

/// The label column's numbers when every value present is one. Labels are nearly always words
/// (`BENIGN`): the first value decides that without parsing 2.8 million of them.
pub(super) fn label_numbers(col: &Column) -> Result<LabelNumbers, PolarsError> {
    if col.dtype() != &DataType::String {
        return Ok(LabelNumbers::Numbers(
            col.cast(&DataType::Float64)?.f64()?.clone(),
        ));
    }
    let text = col.str()?;
    if text
        .iter()
        .flatten()
        .next()
        .is_some_and(|first| parse_number(first).is_none())
    {
        return Ok(LabelNumbers::Text);
    }
    let (numbers, failed) = to_numbers(col, false)?;
    Ok(if failed == 0 && numbers.null_count() == col.null_count() {
        LabelNumbers::Numbers(numbers)
    } else {
        LabelNumbers::Text
    })
}

/// The numbers of every column but those `skip` names, in column order (None where skipped),
/// `12,5` read as 12.5 with `decimal_comma` (see `csv_read::decimal_comma`), on every CPU (`pitfalls::par_map`, as the pitfall detectors' per-column work).
pub(super) fn column_numbers(
    frame: &DataFrame,
    skip: &[&str],
    decimal_comma: bool,
) -> Result<Vec<Option<ColumnNumbers>>, PolarsError> {
    crate::pitfalls::par_map(frame.get_columns(), |col| {
        if skip.contains(&col.name().as_str()) {
            return Ok(None);
        }
        let (numbers, failed) = to_numbers(col, decimal_comma)?;
        let finite = numbers.is_finite().sum().unwrap_or(0) as usize;
        Ok(Some(ColumnNumbers {
            numbers,
            failed,
            finite,
        }))
    })
    .into_iter()
    .collect()
}
