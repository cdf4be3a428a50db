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
    let (numbers, failed) = to_numbers(col)?;
    Ok(if failed == 0 && numbers.null_count() == col.null_count() {
        LabelNumbers::Numbers(numbers)
    } else {
        LabelNumbers::Text
    })
}

/// One column's numbers, None for a column skipped.
type Numbers = Result<Option<ColumnNumbers>, PolarsError>;

/// The numbers of every column but those `skip` names, in column order (None where skipped),
/// computed on up to as many threads as there are CPUs.
pub(super) fn column_numbers(
    frame: &DataFrame,
    skip: &[&str],
) -> Result<Vec<Option<ColumnNumbers>>, PolarsError> {
    let columns = frame.get_columns();
    let one = |col: &Column| -> Numbers {
        if skip.contains(&col.name().as_str()) {
            return Ok(None);
        }
        let (numbers, failed) = to_numbers(col)?;
        let finite = numbers.is_finite().sum().unwrap_or(0) as usize;
        Ok(Some(ColumnNumbers {
            numbers,
            failed,
            finite,
        }))
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 8)
        .min(columns.len().max(1));
    if threads == 1 {
        return columns.iter().map(one).collect();
    }
    // Column i on thread i % threads: the columns are of one length, so the shares are even.
    let mut parts: Vec<Vec<(usize, Numbers)>> = Vec::new();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let one = &one;
                s.spawn(move || {
                    columns
                        .iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .map(|(i, c)| (i, one(c)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for h in handles {
            match h.join() {
                Ok(p) => parts.push(p),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    });
    let mut out: Vec<Option<Numbers>> = (0..columns.len()).map(|_| None).collect();
    for (i, r) in parts.into_iter().flatten() {
        out[i] = Some(r);
    }
    out.into_iter().map(|r| r.unwrap_or(Ok(None))).collect()
}
