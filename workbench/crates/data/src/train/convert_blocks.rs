//! [`super::convert::kernel_values`] for a table given up (`prepare::prepare_owned`, what
//! `workbench train` does): the same feature rows, built so that the table and the features
//! are never both whole in memory. Each column is converted into blocks of rows and freed at
//! once (the table shrinks as the converted values grow), then the rows are assembled block by
//! block, each block of converted values freed as its rows are written (the features grow as
//! the converted values shrink). On the CIC-IDS2017-sized file the table's 35 feature columns
//! are 0.79 GB and the features 0.93 GB: the peak is the larger of the two, not their sum
//! (docs/BENCHMARKS.md, "Training's memory").

use polars::prelude::DataFrame;
use shared::features::{feature_id, FeatureVector, FEATURE_COUNT};

use super::convert::column_values;
use super::Result;
use crate::dataset::detect::column_key;
use crate::dataset::kept::release_free_memory;
use crate::dataset::kernel_map::MappedColumn;
use crate::dataset::kernel_units::{Conversion, DERIVED};

/// Rows per block of converted values (512 KiB of one column).
const BLOCK_ROWS: usize = 1 << 16;

/// Blocks assembled between two returns of freed memory to the system.
const BLOCKS_PER_RELEASE: usize = 4;

/// The rows of `frame` (consumed) as kernel feature vectors over the `mapped` columns, only
/// the rows `keep` marks (all with None): the values [`super::convert::kernel_values`] gives.
pub fn kernel_values_owned(
    mut frame: DataFrame,
    mapped: &[MappedColumn],
    keep: Option<&[bool]>,
) -> Result<Vec<FeatureVector>> {
    let rows = keep.map_or(frame.height(), |k| k.iter().filter(|&&k| k).count());
    let (derived, direct): (Vec<&MappedColumn>, Vec<&MappedColumn>) =
        mapped.iter().partition(|m| !m.derived_from.is_empty());
    // Columns a conversion reads besides its own (a packet count to take the headers off, the
    // protocol the header size depends on) stay until every column is converted.
    let read_by_others: Vec<String> = direct
        .iter()
        .filter_map(|m| match m.convert {
            Conversion::MinusHeaders { packets } => Some(packets.to_string()),
            _ => None,
        })
        .collect();
    let mut headers = None;
    let mut converted: Vec<(usize, Vec<Vec<i64>>)> = Vec::with_capacity(direct.len());
    for (i, m) in direct.iter().enumerate() {
        let values = column_values(&frame, m, &mut headers, mapped)?;
        let mut blocks: Vec<Vec<i64>> = Vec::with_capacity(rows.div_ceil(BLOCK_ROWS));
        let mut block = Vec::with_capacity(BLOCK_ROWS.min(rows));
        for (r, v) in values.into_iter().enumerate() {
            if keep.is_none_or(|k| k[r]) {
                block.push(v);
                if block.len() == BLOCK_ROWS {
                    blocks.push(std::mem::replace(&mut block, Vec::with_capacity(BLOCK_ROWS)));
                }
            }
        }
        if !block.is_empty() {
            blocks.push(block);
        }
        converted.push((m.feature_id, blocks));
        let read_later = direct[i + 1..].iter().any(|n| n.column == m.column)
            || m.convert == Conversion::ProtocolNumber
            || read_by_others.contains(&column_key(&m.column));
        if !read_later {
            // Gone as soon as converted: the table shrinks while the converted values grow.
            let _ = frame.drop_in_place(&m.column);
            release_free_memory();
        }
    }
    drop(frame);
    release_free_memory();
    let mut out: Vec<FeatureVector> = Vec::with_capacity(rows);
    for b in 0..rows.div_ceil(BLOCK_ROWS) {
        let len = BLOCK_ROWS.min(rows - b * BLOCK_ROWS);
        for r in 0..len {
            let mut row = [0i64; FEATURE_COUNT];
            for (f, blocks) in &converted {
                row[*f] = blocks[b][r];
            }
            // Derived features last, in mapping order, from this row's converted values.
            for m in &derived {
                if let Some(d) = DERIVED.iter().find(|d| d.feature == m.feature) {
                    let v = d.value(|name: &str| feature_id(name).map_or(0, |i| row[i]));
                    row[m.feature_id] = v;
                }
            }
            out.push(row);
        }
        for (_, blocks) in &mut converted {
            blocks[b] = Vec::new();
        }
        if b % BLOCKS_PER_RELEASE == BLOCKS_PER_RELEASE - 1 {
            release_free_memory();
        }
    }
    release_free_memory();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::kernel_map::kernel_mapping_for;
    use crate::dataset::DatasetKind;
    use polars::prelude::{Column, NamedFrom, Series};

    /// The blocked conversion of a given-up table gives the rows the borrowed one does, bit for
    /// bit: over block boundaries, with rows left out, with a derived feature, and with UNSW's
    /// header-removing conversion that reads a packet count and the protocol beside its column.
    #[test]
    fn owned_conversion_gives_the_same_rows() {
        let n = BLOCK_ROWS * 2 + 123;
        let col = |name: &str, f: &dyn Fn(usize) -> f64| -> Column {
            Series::new(name.into(), (0..n).map(f).collect::<Vec<f64>>()).into()
        };
        let keep: Vec<bool> = (0..n).map(|i| i % 7 != 3).collect();
        for (kind, frame) in [
            (
                DatasetKind::CicMachineLearning,
                DataFrame::new(vec![
                    col("Flow Duration", &|i| (i * 13 % 1000) as f64 * 1.5),
                    col("Total Fwd Packets", &|i| (i % 50) as f64),
                    col("Total Backward Packets", &|i| (i % 9) as f64),
                    col("Fwd Packet Length Std", &|i| (i % 11) as f64 / 3.0),
                ])
                .expect("frame"),
            ),
            (
                DatasetKind::UnswSets,
                DataFrame::new(vec![
                    col("sbytes", &|i| (i * 40 % 9000) as f64),
                    col("spkts", &|i| (1 + i % 20) as f64),
                    col("dur", &|i| (i % 300) as f64 / 7.0),
                    col("swin", &|i| if i % 3 == 0 { 255.0 } else { 0.0 }),
                ])
                .expect("frame"),
            ),
        ] {
            let names: Vec<String> = frame.get_column_names().iter().map(ToString::to_string).collect();
            let mapped = kernel_mapping_for(kind, &names).mapped;
            assert!(mapped.len() >= 3, "{kind:?}: {mapped:?}");
            for keep in [None, Some(keep.as_slice())] {
                let borrowed = super::super::convert::kernel_values(&frame, &mapped, keep).expect("borrowed");
                let owned = kernel_values_owned(frame.clone(), &mapped, keep).expect("owned");
                assert_eq!(owned.len(), keep.map_or(n, |k| k.iter().filter(|&&k| k).count()));
                assert!(owned == borrowed, "{kind:?}, keep {}", keep.is_some());
            }
        }
    }
}
