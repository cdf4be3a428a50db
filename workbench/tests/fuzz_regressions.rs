//! Inputs the fuzz harness (tests/fuzz_parsers.rs) found to crash, kept as regression tests.
//! Each asserts the clear error that replaced the crash.

use std::path::PathBuf;

/// The Parquet file the fuzz target mutates (the same columns; see `valid_parquet` there).
fn valid_parquet() -> Vec<u8> {
    use polars::prelude::*;
    let mut frame = df!(
        "Flow Duration" => [1.0f64, 2.5, 3.0, 400.0],
        "Total Fwd Packets" => [1i64, 2, 3, 4],
        "Source IP" => ["10.0.0.1", "10.0.0.2", "10.0.0.1", "10.0.0.3"],
        "Label" => ["BENIGN", "DDoS", "BENIGN", "DDoS"]
    )
    .expect("frame");
    let mut out = Vec::new();
    ParquetWriter::new(&mut out).finish(&mut frame).expect("parquet");
    out
}

fn load(path: PathBuf) -> Result<usize, String> {
    let opts = workbench::data::LoadOptions {
        no_cache: true,
        ..Default::default()
    };
    workbench::data::load(&[path], &opts)
        .map(|d| d.rows())
        .map_err(|e| e.to_string())
}

/// Found on the first fuzz run: one byte of a page header flipped with 0x81 made polars assert
/// `offset + length <= self.length`. Every single-byte flip of the seed is now an error naming the
/// file, or a table (when the byte was in unused space).
#[test]
fn every_single_byte_flip_of_a_parquet_file_is_an_error_or_a_table() {
    let valid = valid_parquet();
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("flip.parquet");
    let (mut errors, mut tables, mut damaged) = (0, 0, 0);
    for i in 0..valid.len() {
        let mut bytes = valid.clone();
        bytes[i] ^= 0x81;
        std::fs::write(&path, &bytes).expect("write");
        match load(path.clone()) {
            Ok(rows) => {
                assert!(rows <= 4, "byte {i}: {rows} rows from a 4-row file");
                tables += 1;
            }
            Err(e) => {
                assert!(
                    e.contains("flip.parquet"),
                    "byte {i}: the error names the file: {e}"
                );
                damaged += usize::from(e.contains("damaged data"));
                errors += 1;
            }
        }
    }
    assert_eq!(errors + tables, valid.len());
    assert!(
        errors > valid.len() / 2,
        "{errors} errors of {} flips",
        valid.len()
    );
    // At least one flip reaches the assertion that crashed before the fix.
    assert!(damaged >= 1, "{damaged} flips reached a contained reader panic");
    eprintln!(
        "{} flips: {errors} errors ({damaged} contained panics), {tables} tables",
        valid.len()
    );
}
