//! Inputs the fuzz harness (tests/fuzz_parsers.rs) found to crash, kept as regression tests.
//! Each asserts the clear error that replaced the crash.

use std::path::PathBuf;

use crate::common::parquet_seed::valid_parquet;

fn load(path: PathBuf) -> Result<usize, String> {
    let opts = workbench_data::dataset::LoadOptions {
        no_cache: true,
        ..Default::default()
    };
    workbench_data::dataset::load(&[path], &opts)
        .map(|d| d.rows())
        .map_err(|e| workbench_data::error_chain(&e))
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
    let mut first_damaged: Option<Vec<u8>> = None;
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
                if e.contains("damaged data") {
                    damaged += 1;
                    first_damaged.get_or_insert(bytes.clone());
                }
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
    // Through the binary, a contained panic (also one on a polars worker thread) shows as the one
    // error line, with no panic report around it.
    let path = dir.path().join("contained.parquet");
    std::fs::write(&path, first_damaged.expect("one flip reached a contained panic")).expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["inspect", "--no-cache"])
        .arg(&path)
        .env_remove("WORKBENCH_CONFIG")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "one line, no panic report: {stderr}");
    assert!(
        stderr.contains("contained.parquet: not a readable Parquet file: damaged data"),
        "{stderr}"
    );
}

/// Found by the 10-minute fuzz run: a data page header whose `num_values` is negative (-48 after
/// a few flipped bytes) made polars 0.52 ask the allocator for 2^61 bytes and abort the process,
/// which no panic handler can catch. `data::parquet_check` reads the page headers first.
#[test]
fn a_negative_page_count_is_an_error_naming_file_column_and_page_not_an_abort() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_corpus/parquet-page-num-values-negative.parquet");
    let e = load(path).expect_err("refused");
    assert!(e.contains("parquet-page-num-values-negative.parquet"), "{e}");
    assert!(
        e.contains("column [\"Source IP\"], page 1: num_values is -48 (expected a count >= 0)"),
        "{e}"
    );
}

/// The same file read from inside a .zip archive (the in-memory path of the loader).
#[test]
fn a_negative_page_count_inside_a_zip_is_refused_too() {
    use std::io::Write;
    let bytes = std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fuzz_corpus/parquet-page-num-values-negative.parquet"),
    )
    .expect("corpus file");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("d.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
    zip.start_file("flows.parquet", zip::write::SimpleFileOptions::default())
        .expect("entry");
    zip.write_all(&bytes).expect("write");
    zip.finish().expect("finish");
    let e = load(path).expect_err("refused");
    assert!(e.contains("num_values is -48"), "{e}");
}
