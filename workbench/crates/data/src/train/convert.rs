//! Dataset values to the probe's integer feature values: each mapped column through its unit
//! conversion (`dataset::kernel_units`), then the features the probe computes from others,
//! with its formulas.

use super::Result;
use polars::prelude::{DataFrame, DataType};
use shared::features::{feature_id, FeatureVector, FEATURE_COUNT};

use crate::dataset::detect::column_key;
use crate::dataset::kernel_map::MappedColumn;
use crate::dataset::kernel_units::{header_bytes, protocol_number, Conversion, DERIVED};

/// A float as the probe's non-negative integer (NaN and infinities, removed by cleaning, as 0).
fn integer(v: f64) -> i64 {
    if v.is_finite() {
        v.round().clamp(0.0, i64::MAX as f64) as i64
    } else {
        0
    }
}

/// A column as floats (missing as 0).
fn floats(frame: &DataFrame, name: &str) -> Result<Vec<f64>> {
    let col = frame.column(name)?.cast(&DataType::Float64)?;
    Ok(col.f64()?.into_iter().map(|v| v.unwrap_or(0.0)).collect())
}

/// A protocol column (names such as `tcp` or numbers) as IP protocol numbers (unknown as 0).
fn protocols(frame: &DataFrame, name: &str) -> Result<Vec<i64>> {
    let col = frame.column(name)?;
    if col.dtype() == &DataType::String {
        let text = col.str()?;
        return Ok(text
            .into_iter()
            .map(|v| v.and_then(protocol_number).unwrap_or(0))
            .collect());
    }
    Ok(floats(frame, name)?.into_iter().map(integer).collect())
}

/// The column of `frame` whose key is `key`.
fn find(frame: &DataFrame, key: &str) -> Option<String> {
    frame
        .get_column_names()
        .iter()
        .find(|c| column_key(c) == key)
        .map(std::string::ToString::to_string)
}

/// Per row: the header bytes of one packet. From the mapped protocol column when there is one;
/// else (UNSW-NB15's training/testing sets as shared, without `proto`) TCP when the row has a
/// TCP window or sequence number, otherwise UDP-sized.
fn headers_per_packet(frame: &DataFrame, mapped: &[MappedColumn]) -> Result<Vec<i64>> {
    if let Some(p) = mapped.iter().find(|m| m.convert == Conversion::ProtocolNumber) {
        return Ok(protocols(frame, &p.column)?
            .into_iter()
            .map(header_bytes)
            .collect());
    }
    let mut tcp = vec![false; frame.height()];
    for key in ["swin", "dwin", "stcpb", "dtcpb"] {
        if let Some(c) = find(frame, key) {
            for (t, v) in tcp.iter_mut().zip(floats(frame, &c)?) {
                *t |= v > 0.0;
            }
        }
    }
    Ok(tcp
        .into_iter()
        .map(|t| header_bytes(if t { 6 } else { 17 }))
        .collect())
}

/// One mapped column's values in the probe's unit.
pub(super) fn column_values(
    frame: &DataFrame,
    m: &MappedColumn,
    headers: &mut Option<Vec<i64>>,
    mapped: &[MappedColumn],
) -> Result<Vec<i64>> {
    let mut header = |frame: &DataFrame| -> Result<Vec<i64>> {
        if headers.is_none() {
            *headers = Some(headers_per_packet(frame, mapped)?);
        }
        Ok(headers.clone().unwrap_or_default())
    };
    Ok(match m.convert {
        Conversion::Same => floats(frame, &m.column)?.into_iter().map(integer).collect(),
        Conversion::StdSquared => floats(frame, &m.column)?
            .into_iter()
            .map(|v| integer(v * v))
            .collect(),
        Conversion::SecondsToMicros | Conversion::WholeSecondsToMicros => floats(frame, &m.column)?
            .into_iter()
            .map(|v| integer(v * 1e6))
            .collect(),
        Conversion::ProtocolNumber => protocols(frame, &m.column)?,
        Conversion::MinusHeaders { packets } => {
            let h = header(frame)?;
            let counts = match find(frame, packets) {
                Some(c) => floats(frame, &c)?,
                None => vec![0.0; frame.height()],
            };
            floats(frame, &m.column)?
                .into_iter()
                .zip(counts)
                .zip(h)
                .map(|((bytes, n), h)| (integer(bytes) - integer(n) * h).max(0))
                .collect()
        }
        Conversion::MeanMinusHeader => {
            let h = header(frame)?;
            floats(frame, &m.column)?
                .into_iter()
                .zip(h)
                // A direction without packets has mean 0: no header to remove.
                .map(|(mean, h)| if mean > 0.0 { (integer(mean) - h).max(0) } else { 0 })
                .collect()
        }
    })
}

/// The rows of `frame` as kernel feature vectors over the `mapped` columns (derived features
/// last, from the converted values); `keep`: per row, whether it is converted (the rows the
/// cleaning step keeps; None: all), so the table is never copied filtered first.
pub fn kernel_values(
    frame: &DataFrame,
    mapped: &[MappedColumn],
    keep: Option<&[bool]>,
) -> Result<Vec<FeatureVector>> {
    let rows = keep.map_or(frame.height(), |k| k.iter().filter(|&&k| k).count());
    let mut out = vec![[0i64; FEATURE_COUNT] as FeatureVector; rows];
    let mut headers = None;
    let (derived, direct): (Vec<&MappedColumn>, Vec<&MappedColumn>) =
        mapped.iter().partition(|m| !m.derived_from.is_empty());
    for m in direct {
        let values = column_values(frame, m, &mut headers, mapped)?;
        let kept = values
            .into_iter()
            .enumerate()
            .filter(|(r, _)| keep.is_none_or(|k| k[*r]))
            .map(|(_, v)| v);
        for (row, v) in out.iter_mut().zip(kept) {
            row[m.feature_id] = v;
        }
    }
    for m in derived {
        let Some(d) = DERIVED.iter().find(|d| d.feature == m.feature) else {
            continue;
        };
        for row in &mut out {
            let get = |name: &str| feature_id(name).map_or(0, |i| row[i]);
            let v = d.value(get);
            row[m.feature_id] = v;
        }
    }
    Ok(out)
}
