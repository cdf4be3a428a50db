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

/// The reviewer's case: l, then t, then t again must leave t active and l the rollback target
/// (before the fix the third deploy made t its own rollback target and the rollback a silent
/// no-op); the same for a shadow deployed twice and a shadow promoted over itself; and a
/// previous slot holding the active model (as those versions left it) is refused a rollback.
#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn deploying_the_model_in_its_slot_again_keeps_the_rollback_target() {
    crate::common::require_kernel("deploying_the_model_in_its_slot_again_keeps_the_rollback_target");
    let lab = lab_id("fys");
    let _cleanup = LabCleanup::new(&lab);
    let (ns, iface) = (format!("ebml-{lab}"), format!("ebml-{lab}b"));
    workbench_json(&["lab", "up", "--id", &lab, "--json"]);
    workbench_json(&["probe", "attach", "--iface", &iface, "--netns", &ns, "--json"]);
    let h = iface.as_str();
    let dir = TempDir::new("same-slot");
    let l = build::syn_count_tree(3).expect("tree");
    let t = build::tree(&[Node::Leaf { score: 1 }], SCORE_ONE / 2).expect("tree");
    let (l_file, t_file) = (
        save_model(dir.path(), "l.ebml", &l),
        save_model(dir.path(), "t.ebml", &t),
    );
    let path = |p: &PathBuf| p.to_str().expect("utf-8").to_string();

    let status = deploy(&[&path(&l_file), "--iface", h]);
    assert_eq!(status["unchanged"], false, "{status:#}");
    let status = deploy(&[&path(&t_file), "--iface", h]);
    assert_eq!(slots(&status), (id(&t).into(), Value::Null, id(&l).into()));
    // t again: nothing changes, and the JSON and the text say so.
    let status = deploy(&[&path(&t_file), "--iface", h]);
    assert_eq!(status["unchanged"], true, "{status:#}");
    assert_eq!(slots(&status), (id(&t).into(), Value::Null, id(&l).into()));
    let text = workbench(&["deploy", &path(&t_file), "--iface", h]);
    assert!(text.status.success());
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!(
            "model {} is the active model already: nothing changed",
            id(&t)
        )),
        "{text}"
    );
    // So the rollback restores l.
    let status = deploy(&["--rollback", "--iface", h]);
    assert_eq!(slots(&status), (id(&l).into(), Value::Null, id(&t).into()));
    let status = deploy(&["--rollback", "--iface", h]);
    assert_eq!(slots(&status), (id(&t).into(), Value::Null, id(&l).into()));

    // The shadow slot: the same model twice is one deploy.
    let status = deploy(&[&path(&l_file), "--iface", h, "--shadow"]);
    assert_eq!(status["unchanged"], false, "{status:#}");
    let status = deploy(&[&path(&l_file), "--iface", h, "--shadow"]);
    assert_eq!(status["unchanged"], true, "{status:#}");
    assert_eq!(slots(&status), (id(&t).into(), id(&l).into(), id(&l).into()));
    // A shadow that is the active model, promoted: it leaves the shadow slot, and the rollback
    // target stays (it would otherwise become the active model itself).
    deploy(&["--clear-shadow", "--iface", h]);
    let status = deploy(&[&path(&t_file), "--iface", h, "--shadow"]);
    assert_eq!(slots(&status), (id(&t).into(), id(&t).into(), id(&l).into()));
    let status = deploy(&["--promote-shadow", "--iface", h]);
    assert_eq!(slots(&status), (id(&t).into(), Value::Null, id(&l).into()));

    // A previous slot that holds the active model (what the third deploy used to leave):
    // nothing different to restore, refused in one line, exit non-zero, nothing changed.
    {
        use std::os::fd::AsFd;
        use workbench_kernel::{bpffs, sys};
        let dir = bpffs::iface_dir(h);
        let outer = sys::obj_get(&dir.join(workbench_kernel::models::PIN_MODELS)).expect("models");
        let active = sys::obj_get(&dir.join(workbench_kernel::models::SLOT_PINS[0])).expect("active");
        let fd = u32::try_from(std::os::fd::AsRawFd::as_raw_fd(&active)).expect("fd");
        sys::map_update(
            outer.as_fd(),
            &shared::abi::SLOT_PREVIOUS.to_ne_bytes(),
            &fd.to_ne_bytes(),
            "the old state",
        )
        .expect("previous = active");
    }
    let status = workbench_json(&["probe", "status", "--iface", h, "--json"]);
    assert_eq!(slots(&status), (id(&t).into(), Value::Null, id(&t).into()));
    let e = refused(&["--rollback", "--iface", h]);
    assert!(
        e.contains(&format!(
            "nothing to roll back to on {h}: the previous model {} is the active model",
            id(&t)
        )),
        "{e}"
    );
    let status = workbench_json(&["probe", "status", "--iface", h, "--json"]);
    assert_eq!(slots(&status), (id(&t).into(), Value::Null, id(&t).into()));
    workbench_json(&["probe", "detach", "--iface", h, "--netns", &ns, "--json"]);
    crate::common::report(&format!(
        "model slots on {h}: the model in its slot again changed nothing; rollback to itself refused"
    ));
}
