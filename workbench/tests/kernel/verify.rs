//! Kernel parity: `workbench verify` replays real captures into the probe (inside a namespace
//! pair the command creates) and compares every flow, bit for bit, with the userspace twin;
//! once with the probe attached as the kernel chooses (TCX here) and once forced through the
//! classic path (`--attach tc`: cls_bpf filters, as on kernels before 6.6), one after the other.

use std::path::{Path, PathBuf};

use crate::common::{report, stdout_json, workbench, TempDir};
use serde_json::Value;
use shared::features::{feature_id, FEATURE_COUNT};
use shared::model::{LogisticTerm, Model, LOG2_FRAC_BITS, SCORE_ONE, TRANSFORM_IDENTITY, TRANSFORM_LOG2};
use workbench_flow::model::build::{self, Node};
use workbench_flow::model::file;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/data/pcaps")
        .join(name)
}

fn f(name: &str) -> usize {
    feature_id(name).expect(name)
}

/// A tree over time, count and flag features, so that timestamps matter to the verdicts.
fn tree() -> Box<Model> {
    build::tree(
        &[
            Node::Split {
                feature: f("syn_count"),
                threshold: 0,
                left: 1,
                right: 2,
            },
            Node::Split {
                feature: f("iat_mean_us"),
                threshold: 20_000,
                left: 3,
                right: 4,
            },
            Node::Split {
                feature: f("bwd_packets"),
                threshold: 0,
                left: 5,
                right: 6,
            },
            Node::Leaf { score: 40_000 },
            Node::Split {
                feature: f("bytes_per_s"),
                threshold: 5_000,
                left: 7,
                right: 8,
            },
            Node::Leaf { score: 60_000 },
            Node::Split {
                feature: f("duration_us"),
                threshold: 1_000_000,
                left: 9,
                right: 10,
            },
            Node::Leaf { score: 10_000 },
            Node::Leaf { score: 35_000 },
            Node::Leaf { score: 20_000 },
            Node::Leaf { score: 50_000 },
        ],
        SCORE_ONE / 2,
    )
    .expect("valid tree")
}

/// All 40 features, half through the integer log2 transform.
fn logistic() -> Box<Model> {
    let terms: Vec<(usize, LogisticTerm)> = (0..FEATURE_COUNT)
        .map(|i| {
            let log = i % 2 == 0;
            let weight = ((i as i32 * 7919) % 2001 - 1000) * 64 + 17;
            let term = LogisticTerm {
                weight,
                shift: if log { LOG2_FRAC_BITS as u8 } else { 12 },
                transform: if log { TRANSFORM_LOG2 } else { TRANSFORM_IDENTITY },
                _pad: [0; 2],
            };
            (i, term)
        })
        .collect();
    build::logistic(&terms, -3 * SCORE_ONE, 0).expect("valid logistic")
}

fn verify(pcap: &Path, model: &Path, lab: &str, attach: &str) -> Value {
    let out = workbench(&[
        "verify",
        pcap.to_str().expect("utf8"),
        "--model",
        model.to_str().expect("utf8"),
        "--lab-id",
        lab,
        "--attach",
        attach,
        "--json",
    ]);
    let v = stdout_json("verify", &out);
    assert!(
        out.status.success(),
        "verify failed: {}\n{v:#}",
        String::from_utf8_lossy(&out.stderr)
    );
    v
}

/// The two runs take turns: each replays at 20,000 packets a second and the kernel must see
/// every frame.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn kernel_and_userspace_agree_bit_for_bit_on_real_captures() {
    crate::common::require_kernel("kernel_and_userspace_agree_bit_for_bit_on_real_captures");
    parity_on_real_captures("auto", "v");
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn kernel_and_userspace_agree_bit_for_bit_through_cls_bpf() {
    crate::common::require_kernel("kernel_and_userspace_agree_bit_for_bit_through_cls_bpf");
    parity_on_real_captures("tc", "w");
}

/// verify with the probe attached by `attach` (auto, tc), in labs `<tag><pid><model>`.
fn parity_on_real_captures(attach: &str, tag: &str) {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = TempDir::new("verify");
    let models = [("tree", tree()), ("logistic", logistic())];
    let paths: Vec<(String, PathBuf)> = models
        .iter()
        .map(|(name, m)| {
            let p = dir.path().join(format!("{name}.ebml"));
            file::write(&p, m, Value::Null).expect("write model");
            (name.to_string(), p)
        })
        .collect();
    let id = std::process::id() % 10_000;
    for pcap in [
        "mixed-demo.pcap",
        "synflood-spoofed.pcap",
        "portscan-1-10000.pcapng",
    ] {
        for (name, model) in &paths {
            let v = verify(&data(pcap), model, &format!("{tag}{id}{}", &name[..1]), attach);
            if attach == "tc" {
                assert_eq!(v["attach_mode"], "tc", "{pcap} {name}: {v:#}");
            }
            let (flows, compared, identical) = (
                v["flows"].as_u64().unwrap_or(0),
                v["compared"].as_u64(),
                v["identical"].as_u64(),
            );
            assert!(flows > 0 && compared == Some(flows), "{pcap} {name}: {v:#}");
            assert_eq!(identical, compared, "{pcap} {name}: {:#}", v["mismatches"]);
            assert_eq!(v["parse_mismatches"], 0);
            assert!(v["kernel_records"].as_u64().unwrap_or(0) > 0);
            report(&format!(
                "kernel parity ({}): {pcap} with the {name} model: {identical:?} of {flows} flows identical ({} malicious), {} packets",
                v["attach_mode"].as_str().unwrap_or("?"), v["malicious_flows"], v["kernel_records"]
            ));
        }
    }
}
