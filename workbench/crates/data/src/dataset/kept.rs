//! The rows the cleaning step keeps, as a mask, for callers that convert the table's values
//! themselves (training: `train::prepare` reads the kept rows' values straight into kernel
//! features instead of copying the table filtered first), and giving a table's rows up once
//! they have been converted (`workbench train` holds the features, not the table, while it fits).

use polars::prelude::DataFrame;

use super::{DataError, LoadedDataset};

impl LoadedDataset {
    /// Per row: kept by the cleaning step ([`LoadedDataset::usable_rows`]); None when every row
    /// is. An error naming the sources and the reasons when no row is left.
    pub fn kept_rows(&self) -> Result<Option<Vec<bool>>, DataError> {
        let keep = self.usable_rows();
        let kept = keep.sum().unwrap_or(0) as usize;
        if kept == 0 {
            let why: Vec<String> = self
                .dropped
                .rows_by_reason
                .iter()
                .map(|r| {
                    let mut why = format!("{} {} (in {})", r.rows, r.reason, r.columns.join(", "));
                    if !r.examples.is_empty() {
                        let first: Vec<String> = r.examples.iter().map(ToString::to_string).collect();
                        why.push_str(&format!(", first at {}", first.join(", ")));
                    }
                    why
                })
                .collect();
            return Err(DataError::file(
                self.sources.join(", "),
                format!("no row survives cleaning: {}", why.join("; ")),
            ));
        }
        if kept == self.rows() {
            return Ok(None);
        }
        Ok(Some(keep.into_iter().map(|k| k == Some(true)).collect()))
    }

    /// The times of `rows` (indices into this table), in that order: what a time split orders.
    /// None when the table has no time column; `Err` naming the first of them without a time
    /// (its file and line, and what its cell holds). Only these rows need one: a row cleaning
    /// drops (`X-1,,,,` appended to a file) does not take the time split away from the rest.
    pub fn times_of(&self, rows: impl Iterator<Item = usize> + Clone) -> Option<Result<Vec<i64>, String>> {
        let ns = self.time_ns.as_deref()?;
        if !self.untimed.is_empty() {
            let untimed = |i: &usize| self.untimed.binary_search(&(*i as u32)).is_ok();
            if let Some(i) = rows.clone().find(untimed) {
                return Some(Err(self.no_time_at(i)));
            }
        }
        Some(Ok(rows.map(|i| ns[i]).collect()))
    }

    /// Why row `i` has no time, naming where it is: ``FILE line N: `Timestamp` is empty``.
    fn no_time_at(&self, i: usize) -> String {
        let place = self.row_place(i);
        let at = match place.line {
            Some(line) => format!("{} line {line}", place.file),
            None => format!("{} row {}", place.file, place.row),
        };
        let column = self.time_column.as_deref().unwrap_or("time");
        let cell = self.frame.column(column).ok().and_then(|c| match c.str() {
            Ok(text) => text.get(i).map(str::to_string),
            Err(_) => c.f64().ok().and_then(|f| f.get(i)).map(|v| v.to_string()),
        });
        match cell.as_deref().map(str::trim) {
            None | Some("") => format!("{at}: `{column}` is empty"),
            Some(text) => format!("{at}: `{column}` holds `{text}`, which is no time"),
        }
    }

    /// Gives the rows up: the table's columns but `keep` (those that exist) and its per-row
    /// views (labels, classes, times, hosts, files) are freed. What is left describes the data:
    /// kind, sources, label and time columns, what cleaning dropped, column health. For a caller
    /// that has taken what it needs from the rows (`train::prepare::prepare_owned`).
    pub fn shed_rows(&mut self, keep: &[&str]) {
        let kept: Vec<_> = self
            .frame
            .get_columns()
            .iter()
            .filter(|c| keep.contains(&c.name().as_str()))
            .cloned()
            .collect();
        self.frame = DataFrame::new(kept).unwrap_or_default();
        self.malicious = Vec::new();
        self.class = Vec::new();
        self.time_ns = None;
        self.untimed = Vec::new();
        self.hosts = None;
        self.row_source = Vec::new();
        self.row_in_file = Vec::new();
        release_free_memory();
    }
}

/// Hands memory the process has freed back to the system. glibc keeps freed blocks in its
/// arenas (the CSV reader's threads allocated the table's columns in arenas of their own), so
/// a freed table would otherwise still count as resident while the model is fitted.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim has no preconditions; it only returns free pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
