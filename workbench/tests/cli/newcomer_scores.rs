//! Issue 20 item 3 without the kernel: `model show` in words (kind, size, features, threshold as
//! P(malicious), training data, split, metrics) for a tree and a logistic model, and the Live
//! tab's score column in 0..1 for a logistic model (the twin scores as the probe does; the kernel
//! test `score_scale` checks `probe flows --json` and `live --jsonl` after a hot swap).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use workbench_tui::action::{Action, Tab};
use workbench_tui::app::App;
use workbench_tui::sim::SimSource;
use workbench_tui::source::Source;

use crate::common::workbench;

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

fn run(args: &[&str]) -> String {
    let out = workbench(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The honest sample's feature table, and a tree and a logistic model trained on it (the
/// logistic one flags at P >= 0.8).
fn models(dir: &Path) -> (PathBuf, PathBuf) {
    let sample = |f: &str| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../sample-pcaps")
            .join(f)
    };
    let table = dir.join("honest.csv");
    run(&[
        "features",
        s(&sample("honest.pcap")),
        "--labels",
        s(&sample("labels-honest.csv")),
        "-o",
        s(&table),
    ]);
    let (tree, logistic) = (dir.join("tree.ebml"), dir.join("logistic.ebml"));
    run(&[
        "train",
        s(&table),
        "--model",
        "tree",
        "--no-cache",
        "-o",
        s(&tree),
    ]);
    run(&[
        "train",
        s(&table),
        "--model",
        "logistic",
        "--threshold",
        "0.8",
        "--no-cache",
        "-o",
        s(&logistic),
    ]);
    (tree, logistic)
}

#[test]
fn model_show_describes_the_model_in_words() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (tree, logistic) = models(tmp.path());
    let t = run(&["model", "show", s(&tree)]);
    let first = t.lines().next().expect("a first line");
    assert!(
        first.contains(": decision tree of ") && first.contains(" nodes on "),
        "{t}"
    );
    // The threshold it was trained with, then the leaves' floor the probe compares (a tree's
    // compiled threshold is its lowest flagging leaf: 1.0000 for a tree trained at 0.5 reads
    // wrong as "the threshold").
    assert!(
        t.contains("decides: malicious at P(malicious) >= 0.5000 (trained with --threshold 0.5); the leaves it flags score at least ")
            && t.contains(" (fixed point "),
        "{t}"
    );
    let l = run(&["model", "show", s(&logistic)]);
    assert!(l.contains("logistic regression: one weight per feature"), "{l}");
    assert!(!l.contains("0 nodes") && !l.contains("threshold 0\n"), "{l}");
    // The threshold given to train comes back on the same scale (through the logit and back).
    assert!(
        l.contains("malicious at P(malicious) >= 0.8000 (logit 1.386; trained with --threshold 0.8)"),
        "{l}"
    );
    for text in [&t, &l] {
        assert!(
            text.contains("trained on: 1860 rows of ") && text.contains("(workbench flow table)"),
            "{text}"
        );
        assert!(text.contains("values taken at end of flow"), "{text}");
        assert!(
            text.contains("  split: time (the most honest split this data allows)"),
            "{text}"
        );
        assert!(
            text.contains("  test side (") && text.contains("attacks found"),
            "{text}"
        );
        assert!(text.contains("  features ("), "{text}");
        // No raw JSON, no Rust names.
        assert!(
            !text.contains("FlowTable") && !text.contains("provenance") && !text.contains('{'),
            "{text}"
        );
    }
    // --json keeps the raw integer and adds the probability.
    let v: serde_json::Value =
        serde_json::from_str(&run(&["model", "show", s(&logistic), "--json"])).expect("json");
    let raw = v["threshold"].as_i64().expect("raw threshold");
    assert_eq!(raw, (0.8f64 / 0.2).ln().mul_add(65_536.0, 0.0).round() as i64);
    let p = v["threshold_probability"]
        .as_f64()
        .expect("threshold_probability");
    assert!((p - 0.8).abs() < 1e-4, "{p}");
}

#[test]
fn live_scores_of_a_logistic_model_are_probabilities() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, logistic) = models(tmp.path());
    let pcap = tmp.path().join("ten-flows.pcap");
    crate::common::capfile::write_udp_flows(&pcap, |i| vec![i as u8; 40]);
    let mut sim = SimSource::new(&pcap, Some(&logistic)).expect("simulation");
    std::thread::sleep(Duration::from_millis(600));
    let snapshot = sim.poll().expect("poll");
    let model = snapshot.active_model.clone().expect("model");
    assert_eq!(model.header.kind, shared::model::KIND_LOGISTIC);
    let decided: Vec<_> = snapshot
        .flows
        .iter()
        .filter(|f| f.record.verdict != "none")
        .collect();
    assert_eq!(decided.len(), 10, "every flow decided");
    for f in &decided {
        let p = f.record.probability.expect("a probability");
        let logit = f.record.score as f64 / 65_536.0;
        assert!((0.0..=1.0).contains(&p), "{p}");
        assert!(
            (p - 1.0 / (1.0 + (-logit).exp())).abs() < 1e-12,
            "P {p} is not sigmoid({logit})"
        );
    }
    // The Live tab shows those probabilities, not the logits.
    let shown: Vec<String> = decided
        .iter()
        .map(|f| format!("{:.2}", f.record.probability.expect("p")))
        .collect();
    let logits: Vec<String> = decided
        .iter()
        .map(|f| format!("{:.2}", f.record.score as f64 / 65_536.0))
        .filter(|l| l.starts_with('-'))
        .collect();
    let mut app = App::new(snapshot, (120, 36));
    app.update(Action::GoTab(Tab::Live));
    let mut term = Terminal::new(TestBackend::new(120, 36)).expect("terminal");
    term.draw(|f| workbench_tui::ui::render(f, &app)).expect("draw");
    let screen = term.backend().to_string();
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains(":53")).collect();
    assert!(!rows.is_empty(), "{screen}");
    for row in &rows {
        assert!(
            shown.iter().any(|p| row.contains(p.as_str())),
            "no probability in {row}\n{screen}"
        );
    }

    let logits_shown = logits.iter().any(|l| rows.iter().any(|r| r.contains(l.as_str())));
    assert!(!logits_shown, "a negative logit is on screen:\n{screen}");
    assert!(
        screen.contains(" thr 0.80"),
        "threshold not on the P scale:\n{screen}"
    );
}
