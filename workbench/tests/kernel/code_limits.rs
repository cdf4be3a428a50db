//! The code engine's limits in the kernel (issue 14): the largest copy valid models make
//! verifies, and a copy the verifier refuses changes nothing and is reported in one line.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use shared::model::Model;
use workbench_flow::model::bpf_code::Insn;
use workbench_flow::model::build::{self, Node};

use super::code_engine::full_tree;
use crate::common::{report, DetachOnDrop};
use workbench_kernel::code::Engine;
use workbench_kernel::lab::Lab;
use workbench_kernel::models::ProbeModels;
use workbench_kernel::probe::{self, AttachOptions};

/// A complete depth-12 tree whose thresholds are all beyond i32 (each split a 64-bit load): the
/// heaviest tree for the verifier that training can make.
fn heavy_tree(rng: &mut ChaCha8Rng) -> Box<Model> {
    let mut nodes = Vec::new();
    full_tree(12, rng, &mut nodes);
    for n in &mut nodes {
        if let Node::Split { threshold, .. } = n {
            *threshold += 1 << 40;
        }
    }
    build::tree(&nodes, 0).expect("tree")
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_copy_the_verifier_refuses_changes_nothing() {
    use workbench_kernel::code;
    crate::common::require_kernel("a_copy_the_verifier_refuses_changes_nothing");
    let pid = std::process::id();
    let lab = Lab::create(&format!("cr{}", pid % 100_000), (pid % 200) as u8 + 31).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.as_str();
    probe::attach(h, &AttachOptions::default()).expect("attach the probe");
    let dir = workbench_kernel::bpffs::iface_dir(h);
    let mut rng = ChaCha8Rng::seed_from_u64(31);
    let heavy: Vec<Box<Model>> = (0..6).map(|_| heavy_tree(&mut rng)).collect();
    let models = ProbeModels::open(h).expect("open the map of models");
    models.set_intent(workbench_kernel::models::EngineIntent::Set(Engine::Code));
    models.deploy(&heavy[0]).expect("one heavy tree verifies");
    // The largest copy valid models make: six heavy trees in one function (a copy holds six at
    // most), within the verifier's million instructions.
    let all: Vec<&Model> = heavy.iter().map(|m| &**m).collect();
    let before = code::install(&dir, &all, &[]).expect("six heavy trees verify");
    let six = before.verified_instructions.expect("verified instructions");
    assert!(six < 1_000_000, "{six}");
    // A function the verifier refuses (a branch to itself when r3, the slot's model id, is 5:
    // a loop it cannot bound): the copy in place stays, and the error is the verifier's reason
    // in one line. (It returns on the other branch, so the code after its call site stays
    // reachable once the function is inlined.)
    let insn = |code, dst, off, imm| Insn {
        code,
        dst,
        src: 0,
        off,
        imm,
    };
    let refused = [insn(0x15, 3, -1, 5), insn(0xb7, 0, 0, 0), insn(0x95, 0, 0, 0)];
    let e = code::install_raw(&dir, &refused, &refused).expect_err("the verifier must refuse a loop");
    let line = workbench_flow::errors::line(&e);
    assert!(!line.contains('\n'), "one line: {line}");
    assert!(line.contains("verifier refused"), "{line}");
    assert!(
        line.contains("loop") || line.contains("back-edge"),
        "the verifier's own reason: {line}"
    );
    let after = code::status(&dir);
    assert_eq!(
        after.program_id, before.program_id,
        "a refused copy changed the engine"
    );
    assert_eq!(
        after.held, before.held,
        "a refused copy changed what the copy holds"
    );
    report(&format!(
        "kernel test: the largest copy (six complete depth-12 trees, 64-bit thresholds) verified in {six} instructions; a loop was refused and changed nothing ({line})"
    ));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn concurrent_slot_changes_leave_a_copy_that_holds_the_slots_models() {
    use workbench_kernel::code;
    crate::common::require_kernel("concurrent_slot_changes_leave_a_copy_that_holds_the_slots_models");
    let pid = std::process::id();
    let lab = Lab::create(&format!("cc{}", pid % 100_000), (pid % 200) as u8 + 33).expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    let h = lab.host_if.clone();
    probe::attach(&h, &AttachOptions::default()).expect("attach the probe");
    let dir = workbench_kernel::bpffs::iface_dir(&h);
    let mut rng = ChaCha8Rng::seed_from_u64(33);
    let trees: Vec<Box<Model>> = (0..6)
        .map(|_| {
            let mut nodes = Vec::new();
            full_tree(4, &mut rng, &mut nodes);
            build::tree(&nodes, 0).expect("tree")
        })
        .collect();
    let first = ProbeModels::open(&h).expect("open the map of models");
    first.deploy(&trees[0]).expect("deploy");
    first.set_engine(Engine::Code).expect("the code engine");
    // Two writers at once, as the agent and a `deploy` would be: one swaps the active model
    // among three, the other the shadow among three; each change needs a new copy.
    std::thread::scope(|s| {
        for part in [0usize, 1] {
            let (h, trees) = (&h, &trees);
            s.spawn(move || {
                let models = ProbeModels::open(h).expect("open the map of models");
                for i in 0..12 {
                    let m = &trees[part * 3 + i % 3];
                    if part == 0 {
                        models.deploy(m).expect("deploy");
                    } else {
                        models.deploy_shadow(m).expect("deploy the shadow");
                    }
                }
            });
        }
    });
    let slot = |k| first.read_slot(k).expect("read a slot").map(|(_, m)| m);
    let (active, shadow, previous) = (
        slot(shared::abi::SLOT_ACTIVE),
        slot(shared::abi::SLOT_SHADOW),
        slot(shared::abi::SLOT_PREVIOUS),
    );
    let actives: Vec<&Model> = [active.as_deref(), previous.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    let shadows: Vec<&Model> = shadow.as_deref().into_iter().collect();
    assert!(actives.len() == 2 && shadows.len() == 1);
    assert!(
        code::holds(&dir, &actives, &shadows),
        "the copy in place does not hold the slots' models: {:?}",
        code::status(&dir).held
    );
    report("kernel test: 24 slot changes from two writers at once left a copy holding the active, previous and shadow models");
}
