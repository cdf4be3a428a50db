//! A table file's layout (its columns, as the loader would name them) without reading its rows:
//! the first line of a CSV, the schema of a Parquet file. The TUI groups the files it is given
//! by layout, so that files of one layout load as one dataset and files of different layouts
//! side by side instead of failing to stack (`source::read_all` needs one set of columns).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use polars::polars_utils::mmap::MemReader;

use super::{detect, sniff, source, DataError};

/// The column names of the table in `path` (a plain CSV/TXT or Parquet file), as the loader
/// names them (a headerless file of a known dataset gets that dataset's names).
pub fn columns(path: &Path) -> Result<Vec<String>, DataError> {
    let name = path.display().to_string();
    let parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if parquet {
        let file = File::open(path).map_err(|e| DataError::file(&name, format!("cannot open: {e}")))?;
        let data = super::parquet_check::map(&file).map_err(|source| DataError::Parquet {
            file: name.clone(),
            source,
        })?;
        // Metadata only, read as `parquet_check` reads it; a damaged footer is an error.
        let meta = crate::contain::contained(|| {
            polars_parquet::parquet::read::read_metadata(&mut MemReader::new(data)).map_err(|e| e.to_string())
        })
        .unwrap_or_else(|panic| Err(format!("damaged data ({panic})")))
        .map_err(|e| DataError::file(&name, format!("not a readable Parquet file: {e}")))?;
        return Ok(meta
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().to_string())
            .collect());
    }
    let file = File::open(path).map_err(|e| DataError::file(&name, format!("cannot open: {e}")))?;
    let mut first = Vec::new();
    BufReader::new(file)
        .read_until(b'\n', &mut first)
        .map_err(|e| DataError::file(&name, format!("cannot read: {e}")))?;
    let line = String::from_utf8_lossy(&first);
    let line = line.trim_end_matches(['\n', '\r']);
    if line.trim().is_empty() {
        return Err(DataError::file(
            name,
            "the first line is empty: no header and no data",
        ));
    }
    let sep = sniff::separator(line).map_err(|source| DataError::Separator {
        file: name.clone(),
        source,
    })?;
    let fields = source::split_fields_by(line, sep);
    let d = detect::detect(&fields, None, &name)?;
    Ok(d.names.unwrap_or_else(|| detect::normalise_names(&fields)))
}

/// What two files must share to stack into one table: their columns compared as the loader
/// compares them (case, spaces and `_` aside), in any order.
pub fn key(columns: &[String]) -> Vec<String> {
    let mut k: Vec<String> = columns.iter().map(|c| detect::column_key(c)).collect();
    k.sort();
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_with_the_same_columns_in_another_order_share_a_layout() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.csv");
        let b = dir.path().join("b.csv");
        let c = dir.path().join("c.csv");
        std::fs::write(&a, "Flow ID, Src IP,Label\nx,1.2.3.4,BENIGN\n").expect("write");
        std::fs::write(&b, "src_ip;flow_id;label\n1.2.3.4;x;BENIGN\n").expect("write");
        std::fs::write(&c, "srcip,label\n1.2.3.4,0\n").expect("write");
        let k = |p: &Path| key(&columns(p).expect("columns"));
        assert_eq!(k(&a), k(&b));
        assert_ne!(k(&a), k(&c));
        assert!(columns(&dir.path().join("missing.csv")).is_err());
    }
}
