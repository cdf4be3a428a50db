//! Rows of a loaded table as plain floats, for callers that hand them to another tool (the
//! training benchmark writes them for scikit-learn) without using polars themselves.

use polars::prelude::{IdxCa, IdxSize};

use super::LoadedDataset;

impl LoadedDataset {
    /// The numeric columns (all but `skip`) at `rows`, in table order: (names, one vector of
    /// values per column; a missing value is 0). Text columns are left out.
    pub fn numeric_rows(&self, rows: &[usize], skip: &str) -> (Vec<String>, Vec<Vec<f64>>) {
        let take = IdxCa::from_vec("idx".into(), rows.iter().map(|&i| i as IdxSize).collect());
        let mut names = Vec::new();
        let mut columns = Vec::new();
        for c in self.frame.get_columns() {
            if c.name().as_str() == skip {
                continue;
            }
            let Ok(picked) = c.take(&take) else { continue };
            if let Ok(f) = picked.f64() {
                names.push(c.name().to_string());
                columns.push(f.into_iter().map(|v| v.unwrap_or(0.0)).collect());
            }
        }
        (names, columns)
    }
}
