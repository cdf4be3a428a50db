//! Per-row views of a cleaned table that training and the pitfall checks read: malicious or
//! benign, the attack type, the time in ns and the host. Cheap, so recomputed after a cache hit
//! rather than stored.

use std::collections::HashMap;

use polars::prelude::*;

use super::clean::{is_benign, Meta};
use super::{DataError, DatasetKind};

pub struct Derived {
    pub malicious: Vec<bool>,
    pub class: Vec<String>,
    pub time_ns: Option<Vec<i64>>,
    /// The rows the time column gives no time (see [`super::time::ColumnTimes`]).
    pub untimed: Vec<u32>,
    /// How the time column's clock was read.
    pub clock: super::time::Clock,
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
        .map_err(|source| DataError::Table {
            what: "label column",
            source,
        })?;
    let label_text = label.cast(&DataType::String).map_err(|source| DataError::Table {
        what: "label column",
        source,
    })?;
    let label_text = label_text.str().map_err(|source| DataError::Table {
        what: "label column",
        source,
    })?;
    let numeric = label.f64().ok();
    let types = meta.class_column.as_deref().and_then(|c| strings(frame, c));
    // Distinct labels are few: decide benign/malicious once per label text.
    let mut benign: HashMap<&str, bool> = HashMap::new();
    let mut malicious = Vec::with_capacity(frame.height());
    let mut class = Vec::with_capacity(frame.height());
    // Rows of one label come in runs: the previous row's answer saves the hash lookup.
    let mut previous: Option<(&str, bool)> = None;
    for (i, text) in label_text.into_iter().enumerate() {
        let m = match numeric {
            Some(f) => f.get(i).is_some_and(|v| v != 0.0),
            None => {
                let text = text.unwrap_or("");
                match previous {
                    Some((p, m)) if p == text => m,
                    _ => {
                        let m = !*benign.entry(text).or_insert_with(|| is_benign(text));
                        previous = Some((text, m));
                        m
                    }
                }
            }
        };
        malicious.push(m);
        let t = types.as_ref().map(|t| t[i].trim()).unwrap_or_default();
        class.push(match (m, t.is_empty()) {
            (_, false) => t.to_string(),
            (false, true) if types.is_some() => "normal".to_string(),
            _ => text.unwrap_or("").to_string(),
        });
    }
    let cic_clock = meta.kind == DatasetKind::CicTrafficLabelling;
    let (time_ns, untimed, clock) = match meta
        .time_column
        .as_deref()
        .and_then(|c| super::time::times(frame, c, cic_clock))
    {
        Some(t) => (Some(t.ns), t.untimed, t.clock),
        None => (None, Vec::new(), super::time::Clock::AsWritten),
    };
    let hosts = meta.host_column.as_deref().and_then(|c| strings(frame, c));
    Ok(Derived {
        malicious,
        class,
        time_ns,
        untimed,
        clock,
        hosts,
    })
}
