//! The library's errors are typed (issue 18 item 4): a caller can match the case and reach the
//! cause through `source()`, and the line the binary prints (the chain, `{:#}`) stays the one
//! the messages always had.

use std::io::ErrorKind;
use std::path::PathBuf;
use std::process::Command;

use workbench_data::dataset::{self, DataError, LoadOptions};

#[test]
fn a_missing_csv_is_an_io_error_naming_the_path_with_not_found_as_its_source() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join("flows.csv");
    let opts = LoadOptions {
        no_cache: true,
        ..LoadOptions::default()
    };
    let e = dataset::load(std::slice::from_ref(&path), &opts).expect_err("no such file");
    let DataError::Io { file, action, source } = &e else {
        panic!("expected DataError::Io, got {e:?}")
    };
    assert_eq!(file, &path.display().to_string());
    assert_eq!(*action, "cannot read");
    assert_eq!(source.kind(), ErrorKind::NotFound);
    let cause = std::error::Error::source(&e).expect("a source");
    assert_eq!(
        cause.downcast_ref::<std::io::Error>().map(std::io::Error::kind),
        Some(ErrorKind::NotFound)
    );
    let line = workbench_data::error_chain(&e);
    assert_eq!(
        line,
        format!(
            "{}: cannot read: No such file or directory (os error 2)",
            path.display()
        )
    );
    // The binary prints the same chain, with the fix for the cause.
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["inspect", "--no-cache"])
        .arg(&path)
        .output()
        .expect("run workbench");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.starts_with(&format!("error: {line}")), "{stderr}");
}
