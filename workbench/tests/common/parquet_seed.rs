//! The small valid Parquet table that the Parquet fuzz target mutates and its regression tests
//! start from. Included by `#[path]` from those two tests only (not through `common`), so the
//! other test binaries do not compile a Parquet writer.

/// Numbers, text and a label over four rows.
pub fn valid_parquet() -> Vec<u8> {
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
