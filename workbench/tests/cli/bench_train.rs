//! `workbench bench train` on a small table: the rows are kernel features at decision points of
//! generated captures, with as many distinct rows as asked for, split by flow into both sides,
//! written to a CSV both fitters read. Fit times are never asserted (they depend on the machine).

use crate::common::report;
use serde_json::Value;

#[test]
fn bench_train_fits_a_table_of_distinct_decision_point_rows() {
    let out = crate::common::workbench(&["bench", "train", "--rows", "4000", "--seed", "3", "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench train failed: {stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let t = &doc["table"];
    let n = |v: &Value| v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"));
    let (rows, distinct) = (n(&t["rows"]), n(&t["distinct_rows"]));
    assert!(distinct >= 4000, "asked for 4,000 distinct rows: {t}");
    assert!(rows >= distinct, "{t}");
    assert_eq!(n(&t["rows_train"]) + n(&t["rows_test"]), rows, "{t}");
    assert_eq!((n(&t["first_seed"]), t["variant"].as_str()), (3, Some("honest")));
    let test_share = n(&t["rows_test"]) as f64 / rows as f64;
    assert!(
        (0.15..0.45).contains(&test_share),
        "about 30% of the flows test: {t}"
    );
    let share = t["malicious_share"].as_f64().expect("malicious_share");
    assert!((0.1..0.9).contains(&share), "both classes: {t}");
    assert_eq!(n(&doc["features"]), 40);

    // The file both sides read: a header of 40 features, label, is_test; one line per row.
    let path = t["path"].as_str().expect("path");
    let text = std::fs::read_to_string(path).expect("the table is written");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    assert_eq!(header.len(), 42);
    assert_eq!(
        (header[0], header[40], header[41]),
        ("dst_port", "label", "is_test")
    );
    assert_eq!(lines.count() as u64, rows);

    // Our tree is held to depth 12 and scores on the test side; the rows overlap, so not 1.0
    // for certain is not asserted at this size, only that it learned something.
    let tree = &doc["hist_tree"];
    assert!(n(&tree["depth"]) <= 12, "{tree}");
    let acc = tree["accuracy"].as_f64().expect("accuracy");
    assert!(
        acc > share.max(1.0 - share) && acc <= 1.0,
        "better than the majority class: {tree}"
    );
    match doc["sklearn"].as_object() {
        Some(sk) => {
            assert!(
                sk["tree"]["depth"].as_u64().is_some_and(|d| d <= 12),
                "{}",
                sk["tree"]
            );
            // Fewer than 1,000,000 distinct rows: not the table the issue asks to measure on.
            assert_eq!(doc["measures_training"], Value::Bool(false));
            report(&format!(
                "bench_train: {rows} rows, {distinct} distinct; tree accuracy ours {acc:.4}, scikit-learn {:.4} at depth {}",
                sk["tree"]["accuracy"].as_f64().unwrap_or(f64::NAN),
                sk["tree"]["depth"]
            ));
        }
        None => report(&format!("bench_train: scikit-learn skipped: {}", doc["notes"])),
    }
}

#[test]
fn bench_train_refuses_zero_rows_in_one_line() {
    let out = crate::common::workbench(&["bench", "train", "--rows", "0", "--json"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--rows must be at least 1"), "{stderr}");
}
