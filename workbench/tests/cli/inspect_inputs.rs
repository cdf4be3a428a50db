//! Bad and unusual inputs to the loader: each gives one clear line naming the file (never a
//! panic); the cache, zip archives and CIC's broken Web Attack label bytes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use workbench_data::dataset::{self, LoadOptions};

fn data_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data")
        .join(rel)
}

fn opts() -> LoadOptions {
    LoadOptions {
        no_cache: true,
        ..LoadOptions::default()
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write");
    p
}

fn error_of(path: &Path, o: &LoadOptions) -> String {
    match dataset::load(&[path.to_path_buf()], o) {
        Ok(ds) => panic!(
            "{} loaded ({} rows), expected an error",
            path.display(),
            ds.rows()
        ),
        Err(e) => workbench_data::error_chain(&e),
    }
}

#[test]
fn bad_inputs_give_one_line_errors_naming_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let cases: Vec<(PathBuf, LoadOptions, &str)> = vec![
        (write(d, "empty.csv", b""), opts(), "empty (0 bytes)"),
        (
            write(d, "header.csv", b"a,b,label\n"),
            opts(),
            "no data rows (header only)",
        ),
        (
            write(d, "ragged.csv", b"a,b,label\n1,2,x\n3,4,5,y\n"),
            opts(),
            "line 3 has 4 fields, the header has 3",
        ),
        (
            write(d, "short.csv", b"a,b,label\n1,2,x\n3,y\n"),
            opts(),
            "line 3 has 2 fields",
        ),
        (
            write(d, "nolabel.csv", b"a,b,label\n1,2,x\n"),
            LoadOptions {
                label: Some("verdict".into()),
                ..opts()
            },
            "no label column `verdict`",
        ),
        (write(d, "zero.parquet", b""), opts(), "empty (0 bytes)"),
        (
            write(d, "junk.parquet", b"PAR1 not really"),
            opts(),
            "not a readable Parquet file",
        ),
        (
            write(d, "numbers.csv", b"1,2,3\n4,5,6\n"),
            opts(),
            "line 1 looks like data",
        ),
    ];
    for (path, o, expected) in cases {
        let e = error_of(&path, &o);
        assert!(e.starts_with(&path.display().to_string()), "{e}");
        assert!(e.contains(expected), "{}: {e}", path.display());
        assert!(!e.contains('\n'), "one line: {e}");
    }
    // A zip archive with no CSV in it.
    let zpath = d.join("nothing.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&zpath).expect("zip"));
    z.start_file("readme.txt", zip::write::SimpleFileOptions::default())
        .expect("entry");
    z.write_all(b"no data here").expect("write");
    z.finish().expect("finish");
    let e = error_of(&zpath, &opts());
    assert!(
        e.starts_with(&zpath.display().to_string()) && e.contains("no .csv"),
        "{e}"
    );
}

#[test]
fn an_all_nan_column_is_dropped_and_reported_not_the_rows() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let p = write(
        tmp.path(),
        "nan.csv",
        b"a,b,label\n1,NaN,BENIGN\n2,NaN,DoS\n3,,BENIGN\n",
    );
    let ds = dataset::load(&[p], &opts()).expect("loads");
    assert_eq!(ds.rows(), 3);
    assert_eq!(ds.dropped.columns.len(), 1);
    assert_eq!(ds.dropped.columns[0].column, "b");
    assert!(ds.frame.column("b").is_err());
}

#[test]
fn web_attack_labels_with_a_cp1252_dash_are_normalised() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut bytes = b" Flow Duration, Total Fwd Packets, Label\n5,2,BENIGN\n7,3,Web Attack \x96 Brute Force\n8,1,Web Attack \x96 XSS\n".to_vec();
    bytes.extend_from_slice(b"9,4,Web Attack \xe2\x80\x93 Sql Injection\n");
    let p = write(tmp.path(), "web.csv", &bytes);
    let ds = dataset::load(&[p], &opts()).expect("loads");
    assert_eq!(
        ds.class,
        [
            "BENIGN",
            "Web Attack - Brute Force",
            "Web Attack - XSS",
            "Web Attack - Sql Injection"
        ]
    );
    assert_eq!(ds.malicious, [false, true, true, true]);
    assert_eq!(ds.label_column, "Label");
}

#[test]
fn a_zip_archive_reads_like_its_files_and_the_cache_is_used_the_second_time() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let zpath = tmp.path().join("MachineLearningCSV.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&zpath).expect("zip"));
    let deflate =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for f in [
        "friday-ddos-labelled-flows-head300.csv",
        "friday-portscan-attack-rows-1000.csv",
    ] {
        z.start_file(format!("TrafficLabelling/{f}"), deflate)
            .expect("entry");
        z.write_all(&std::fs::read(data_file(&format!("cic-ids2017/{f}"))).expect("read"))
            .expect("write");
    }
    z.finish().expect("finish");
    let o = LoadOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..LoadOptions::default()
    };
    let first = dataset::load(std::slice::from_ref(&zpath), &o).expect("zip loads");
    assert!(!first.from_cache);
    assert_eq!(first.dropped.rows_read, 1_299);
    assert_eq!(first.sources.len(), 2);
    assert!(
        first.sources[0].contains(".zip:TrafficLabelling/"),
        "{:?}",
        first.sources
    );
    let second = dataset::load(std::slice::from_ref(&zpath), &o).expect("cached");
    assert!(second.from_cache);
    assert!(second.frame.equals_missing(&first.frame));
    assert_eq!(
        (second.malicious.clone(), second.dropped.clone()),
        (first.malicious.clone(), first.dropped.clone())
    );
    // A changed source changes the fingerprint: the cache is not read.
    std::fs::write(&zpath, b"").expect("truncate");
    let e = dataset::load(std::slice::from_ref(&zpath), &o).expect_err("broken zip");
    assert!(e.to_string().contains("MachineLearningCSV.zip"), "{e}");
}

#[test]
fn inspect_json_has_the_contract_keys() {
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["inspect", "--no-cache", "--json"])
        .arg(data_file("unsw-nb15/unsw-nb15-training-sample.csv"))
        .output()
        .expect("run workbench");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    for key in ["dataset", "rows", "columns", "dropped", "findings"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(v["rows"], 1000);
    assert_eq!(v["dataset"]["kind"], "unsw_sets");
    for f in v["findings"].as_array().expect("findings") {
        for key in ["id", "severity", "summary", "evidence", "advice"] {
            assert!(f.get(key).is_some(), "finding without {key}: {f}");
        }
    }
    let bad = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["inspect", "--no-cache", "/nonexistent/flows.csv"])
        .output()
        .expect("run workbench");
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("/nonexistent/flows.csv"), "{err}");
}

#[test]
fn bench_load_once_parses_first_then_reads_its_cache() {
    // The child process `workbench bench load` measures: first a parse (the cache is written
    // before the process exits), then a read of that cache, each reported as JSON.
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = data_file("cic-ids2017/friday-ddos-labelled-flows-head300.csv");
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
            .args(["bench", "load-once"])
            .arg(&file)
            .arg("--cache-dir")
            .arg(tmp.path())
            .output()
            .expect("run workbench");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("one JSON document")
    };
    let first = run();
    assert_eq!(
        (first["rows"].as_u64(), first["columns"].as_u64()),
        (Some(299), Some(85))
    );
    assert_eq!(first["from_cache"], false);
    let cache = first["cache_path"].as_str().expect("cache path").to_string();
    assert!(
        std::path::Path::new(&cache).is_file(),
        "{cache} written before exit"
    );
    let second = run();
    assert_eq!(second["from_cache"], true);
    assert_eq!(second["cache_path"].as_str(), Some(cache.as_str()));
    assert_eq!(second["rows"], 299);
}

/// A file rewritten at the same size with its old modification time put back (as `cp -p`,
/// `rsync -t` or unpacking an archive leave it) is parsed again, not served from the cache.
#[test]
fn a_file_changed_behind_its_old_modification_time_is_not_read_from_the_cache() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = tmp.path().join("flows.csv");
    let rows = |label: &str| {
        let mut t = String::from("duration_us,fwd_packets,label\n");
        for i in 0..40 {
            let l = if i < 10 { label } else { "BENIGN" };
            t.push_str(&format!("{},{},{l}\n", 1000 + i, 2 + i % 3));
        }
        t
    };
    std::fs::write(&csv, rows("ATTACK")).expect("write");
    let o = LoadOptions {
        cache_dir: Some(tmp.path().join("cache")),
        ..LoadOptions::default()
    };
    let first = dataset::load(std::slice::from_ref(&csv), &o).expect("loads");
    let second = dataset::load(std::slice::from_ref(&csv), &o).expect("loads");
    assert!(!first.from_cache && second.from_cache);
    assert_eq!(second.malicious.iter().filter(|&&m| m).count(), 10);
    let mtime = std::fs::metadata(&csv).and_then(|m| m.modified()).expect("mtime");
    // The same length: "BENIGN" for "ATTACK" in the first 10 rows.
    std::fs::write(&csv, rows("BENIGN")).expect("rewrite");
    std::fs::File::options()
        .write(true)
        .open(&csv)
        .and_then(|f| f.set_modified(mtime))
        .expect("put the modification time back");
    assert_eq!(
        std::fs::metadata(&csv).and_then(|m| m.modified()).expect("mtime"),
        mtime
    );
    let third = dataset::load(std::slice::from_ref(&csv), &o).expect("loads");
    assert!(!third.from_cache, "a rewritten file is parsed again");
    assert_eq!(third.malicious.iter().filter(|&&m| m).count(), 0);
}
