//! The C export computes what `shared` computes: compiled with the system C compiler (strict
//! C99, warnings as errors), it gives identical scores on 10,000 feature vectors per model kind.

use std::path::Path;
use std::process::{Command, Stdio};

use shared::features::FEATURE_COUNT;
use shared::model::{LogisticTerm, Model, LOG2_FRAC_BITS, SCORE_ONE, TRANSFORM_IDENTITY, TRANSFORM_LOG2};
use workbench_data::train::split::SplitMix64;
use workbench_flow::model::build::{self, Node};

const HARNESS: &str = r#"
#include <stdio.h>
#include <inttypes.h>
#include "ebml_model.h"
int main(void) {
    int64_t x[EBML_FEATURE_COUNT];
    for (;;) {
        int i;
        for (i = 0; i < EBML_FEATURE_COUNT; i++) {
            if (scanf("%" SCNd64, &x[i]) != 1) return 0;
        }
        {
            int64_t s = ebml_score(x);
            printf("%" PRId64 " %d\n", s, ebml_is_malicious(s));
        }
    }
}
"#;

fn vectors(n: usize, seed: u64) -> Vec<[i64; FEATURE_COUNT]> {
    let mut rng = SplitMix64(seed);
    (0..n)
        .map(|_| {
            let mut v = [0i64; FEATURE_COUNT];
            for x in &mut v {
                *x = match rng.next_u64() % 6 {
                    0 => 0,
                    1 => (rng.next_u64() % 16) as i64,
                    2 => (rng.next_u64() % 70_000) as i64,
                    3 => (rng.next_u64() >> 20) as i64,
                    4 => i64::MAX,
                    _ => (rng.next_u64() % 3_000) as i64,
                };
            }
            v
        })
        .collect()
}

fn check(name: &str, model: &Model, dir: &Path) {
    let out = dir.join(name);
    let status = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .arg("export")
        .arg(dir.join(format!("{name}.ebml")))
        .args(["--format", "c", "-o"])
        .arg(&out)
        .status()
        .expect("workbench export runs");
    assert!(status.success());
    std::fs::write(out.join("main.c"), HARNESS).expect("harness");
    let exe = out.join("scores");
    let cc = Command::new("cc")
        .args([
            "-std=c99",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-o",
        ])
        .arg(&exe)
        .arg(out.join("ebml_model.c"))
        .arg(out.join("main.c"))
        .output()
        .expect("the system C compiler (cc) runs");
    assert!(
        cc.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let xs = vectors(10_000, name.len() as u64);
    // The C interface takes the features of the model's layout: 40 unless it reads vlan_id.
    let count = shared::model::codec::layout_of(model).1;
    let mut input = String::new();
    for x in &xs {
        input.push_str(
            &x[..count]
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        );
        input.push('\n');
    }
    // Input from a file: writing 10,000 lines into a pipe while the child fills its stdout
    // pipe would deadlock.
    let input_path = out.join("vectors.txt");
    std::fs::write(&input_path, &input).expect("vectors");
    let output = Command::new(&exe)
        .stdin(std::fs::File::open(&input_path).expect("open vectors"))
        .stdout(Stdio::piped())
        .output()
        .expect("scores");
    let lines: Vec<&str> = std::str::from_utf8(&output.stdout)
        .expect("utf8")
        .lines()
        .collect();
    assert_eq!(lines.len(), xs.len());
    let mut malicious = 0;
    for (x, line) in xs.iter().zip(&lines) {
        let score = model.score(x);
        let verdict = model.is_malicious(score) as i32;
        malicious += verdict;
        assert_eq!(*line, format!("{score} {verdict}"), "{name}: features {x:?}");
    }
    assert!(
        malicious > 0 && malicious < xs.len() as i32,
        "{name}: both verdicts occur ({malicious})"
    );
}

#[test]
fn c_export_gives_identical_scores_on_10000_vectors() {
    let dir = tempfile::tempdir().expect("tmp");
    let tree = build::tree(
        &[
            Node::Split {
                feature: 21,
                threshold: 5,
                left: 1,
                right: 2,
            },
            Node::Split {
                feature: 2,
                threshold: 1_000_000,
                left: 3,
                right: 4,
            },
            Node::Split {
                feature: 15,
                threshold: 20_000,
                left: 5,
                right: 6,
            },
            Node::Leaf { score: 10 },
            Node::Leaf { score: 40_000 },
            Node::Leaf { score: 20_000 },
            Node::Leaf {
                score: SCORE_ONE as i32,
            },
        ],
        SCORE_ONE / 2,
    )
    .expect("tree");
    let terms: Vec<(usize, LogisticTerm)> = (0..FEATURE_COUNT)
        .map(|i| {
            let log = i % 3 != 0;
            (
                i,
                LogisticTerm {
                    weight: ((i as i32 * 7919) % 2001 - 1000) * 977,
                    shift: if log { LOG2_FRAC_BITS as u8 + 3 } else { 20 },
                    transform: if log { TRANSFORM_LOG2 } else { TRANSFORM_IDENTITY },
                    _pad: [0; 2],
                },
            )
        })
        .collect();
    let logistic = build::logistic(&terms, -5 * SCORE_ONE, 0).expect("logistic");
    let leaf = |s| {
        vec![
            Node::Split {
                feature: 4,
                threshold: s,
                left: 1,
                right: 2,
            },
            Node::Leaf { score: 30_000 },
            Node::Leaf { score: 5_000 },
        ]
    };
    let forest = build::forest(&[leaf(3), leaf(900), leaf(70_000)], SCORE_ONE).expect("forest");
    for (name, m) in [("tree", &tree), ("logistic", &logistic), ("forest", &forest)] {
        workbench_flow::model::file::write(
            &dir.path().join(format!("{name}.ebml")),
            m,
            serde_json::Value::Null,
        )
        .expect("write");
        check(name, m, dir.path());
    }
}
