//! What the demo tests look for: the SYN flood flows of the committed sample (ground truth from
//! its labels file) among the rows the Live tab shows.

use std::collections::HashSet;
use std::path::PathBuf;

/// The committed sample captures.
pub fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps")
}

/// The SYN flood target (every flood flow goes there, and nothing else does: checked below).
pub const FLOOD_TARGET: &str = "198.51.100.10:80";

/// ("src:sport", "dst:dport") of every `syn_flood` flow in labels-honest.csv.
pub fn flood_flows() -> HashSet<(String, String)> {
    let path = sample_dir().join("labels-honest.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut flood = HashSet::new();
    for line in text.lines().skip(1) {
        let c: Vec<&str> = line.split(',').collect();
        let (src, dst) = (format!("{}:{}", c[0], c[1]), format!("{}:{}", c[2], c[3]));
        assert_eq!(
            c[8] == "syn_flood",
            dst == FLOOD_TARGET,
            "the flood and only the flood goes to {FLOOD_TARGET}: {line}"
        );
        if c[8] == "syn_flood" {
            flood.insert((src, dst));
        }
    }
    assert_eq!(flood.len(), 260, "sample-pcaps/README.md: 260 flood flows");
    flood
}

/// Live table rows on `screen` that show a flood flow flagged malicious.
pub fn flagged_flood_rows(screen: &str, flood: &HashSet<(String, String)>) -> usize {
    screen
        .lines()
        .filter(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            cols.len() >= 7
                && cols.contains(&"malicious")
                && flood.contains(&(cols[0].to_string(), cols[1].to_string()))
        })
        .count()
}
