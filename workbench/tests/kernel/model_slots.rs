//! The model slots in the real kernel, the cases the main model test does not reach: promoting
//! the shadow, rolling back with no previous model, and a model the kernel side refuses, which
//! must leave the active model and the rollback target as they were (issue 18 item 6).

use std::path::PathBuf;

use crate::common::{lab_id, save_model, workbench, workbench_json, LabCleanup, TempDir};
use serde_json::Value;
use shared::model::{Model, SCORE_ONE};
use workbench_flow::model::build::{self, Node};
use workbench_kernel::models::ProbeModels;

fn id(m: &Model) -> String {
    workbench_flow::model::id_string(m.header.model_id)
}

/// (active, shadow, previous) model ids of a status report, null where a slot is empty.
fn slots(status: &Value) -> (Value, Value, Value) {
    (
        status["active"]["model"].clone(),
        status["shadow"]["model"].clone(),
        status["previous"]["model"].clone(),
    )
}

fn deploy(args: &[&str]) -> Value {
    let mut all = vec!["deploy"];
    all.extend_from_slice(args);
    all.push("--json");
    workbench_json(&all)
}

/// A deploy that must fail: its one stderr line.
fn refused(args: &[&str]) -> String {
    let mut all = vec!["deploy"];
    all.extend_from_slice(args);
    let out = workbench(&all);
    assert!(!out.status.success(), "deploy {args:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn promote_shadow_rollback_without_previous_and_a_refused_install() {
    crate::common::require_kernel("promote_shadow_rollback_without_previous_and_a_refused_install");
    let lab = lab_id("ms");
    let _cleanup = LabCleanup::new(&lab);
    let (ns, iface) = (format!("ebml-{lab}"), format!("ebml-{lab}b"));
    workbench_json(&["lab", "up", "--id", &lab, "--json"]);
    workbench_json(&["probe", "attach", "--iface", &iface, "--netns", &ns, "--json"]);
    let h = iface.as_str();
    let dir = TempDir::new("slots");
    let a = build::syn_count_tree(3).expect("tree");
    let b = build::tree(&[Node::Leaf { score: 1 }], SCORE_ONE / 2).expect("tree");
    let c = build::syn_count_tree(5).expect("tree");
    let (a_file, b_file, c_file) = (
        save_model(dir.path(), "a.ebml", &a),
        save_model(dir.path(), "b.ebml", &b),
        save_model(dir.path(), "c.ebml", &c),
    );
    let path = |p: &PathBuf| p.to_str().expect("utf-8").to_string();

    // Nothing deployed yet: no rollback target, no shadow, and the refusals change nothing.
    let e = refused(&["--rollback", "--iface", h]);
    assert!(
        e.contains(&format!("no previous model on {h} to roll back to")),
        "{e}"
    );
    let e = refused(&["--promote-shadow", "--iface", h]);
    assert!(e.contains(&format!("no shadow model on {h} to promote")), "{e}");
    let status = workbench_json(&["probe", "status", "--iface", h, "--json"]);
    assert_eq!(slots(&status), (Value::Null, Value::Null, Value::Null));

    // The first model has no rollback target either.
    let status = deploy(&[&path(&a_file), "--iface", h]);
    assert_eq!(slots(&status), (id(&a).into(), Value::Null, Value::Null));
    let e = refused(&["--rollback", "--iface", h]);
    assert!(e.contains("no previous model"), "{e}");

    // Shadow B beside A, then promoted: B acts, A is the rollback target, no shadow is left.
    let status = deploy(&[&path(&b_file), "--iface", h, "--shadow"]);
    assert_eq!(slots(&status), (id(&a).into(), id(&b).into(), Value::Null));
    let status = deploy(&["--promote-shadow", "--iface", h]);
    assert_eq!(slots(&status), (id(&b).into(), Value::Null, id(&a).into()));
    let e = refused(&["--promote-shadow", "--iface", h]);
    assert!(e.contains("no shadow model"), "{e}");

    // A model the kernel side refuses (its feature mask does not cover what it reads): active
    // and previous stay B and A. Before the fix, the rollback target was overwritten first.
    let mut bad = build::syn_count_tree(4).expect("tree");
    bad.header.feature_mask = 1 << 3;
    let slots_before = slots(&workbench_json(&["probe", "status", "--iface", h, "--json"]));
    let err = ProbeModels::open(h)
        .expect("open the probe's models")
        .deploy(&bad)
        .expect_err("a model reading outside its mask is refused");
    assert!(err.to_string().contains("feature mask"), "{err}");
    let status = workbench_json(&["probe", "status", "--iface", h, "--json"]);
    assert_eq!(slots(&status), slots_before);
    assert_eq!(slots(&status), (id(&b).into(), Value::Null, id(&a).into()));

    // And the rollback still goes to A; a second one comes back to B.
    let status = deploy(&["--rollback", "--iface", h]);
    assert_eq!(slots(&status), (id(&a).into(), Value::Null, id(&b).into()));
    let status = deploy(&["--rollback", "--iface", h]);
    assert_eq!(slots(&status), (id(&b).into(), Value::Null, id(&a).into()));

    // A good deploy after all that: C acts, B is the rollback target.
    let status = deploy(&[&path(&c_file), "--iface", h]);
    assert_eq!(slots(&status), (id(&c).into(), Value::Null, id(&b).into()));
    crate::common::report(&format!(
        "model slots on {h}: promote, rollbacks and a refused install kept active/previous as expected"
    ));
}
