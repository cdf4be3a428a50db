//! `workbench probe cleanup` finds what a killed process left behind. Its own test binary: the
//! command removes every project namespace and pin, so nothing else may run beside it.

use crate::common::{report, workbench_json};
use workbench_kernel::lab::Lab;

fn prog_links(program_id: u64) -> usize {
    let out = std::process::Command::new("bpftool")
        .args(["--json", "link", "show"])
        .output()
        .expect("bpftool");
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    links.as_array().map_or(0, |a| {
        a.iter()
            .filter(|l| l["prog_id"].as_u64() == Some(program_id))
            .count()
    })
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn cleanup_removes_stale_attachments_pins_and_labs() {
    crate::common::require_kernel("cleanup_removes_stale_attachments_pins_and_labs");
    // `probe cleanup` removes every project lab and pin it can see: the test runs in namespaces
    // of its own, where that is only what it made.
    if !crate::common::on_a_private_machine("cleanup::cleanup_removes_stale_attachments_pins_and_labs") {
        return;
    }
    let lab = Lab::create(
        &format!("c{}", std::process::id() % 100_000),
        (std::process::id() % 200) as u8 + 4,
    )
    .expect("lab");
    // The attaching process exits (as a killed one would): the pinned attachment stays.
    let attached = workbench_json(&["probe", "attach", "--iface", &lab.host_if, "--json"]);
    let program_id = attached["program_id"].as_u64().expect("program id");
    assert_eq!(prog_links(program_id), 2);
    let again = crate::common::workbench(&["probe", "attach", "--iface", &lab.host_if]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already attached"),
        "the next start names the stale attachment"
    );

    let cleaned = workbench_json(&["probe", "cleanup", "--json"]);
    let pins = cleaned["removed_pins"].as_array().map_or(0, Vec::len);
    // As `probe detach` removes them (probe.rs): links, program, maps, the code slot.
    assert_eq!(pins, 12, "{cleaned:#}");
    assert!(cleaned["removed_namespaces"]
        .as_array()
        .is_some_and(|a| a.iter().any(|n| n == lab.netns.as_str())));
    assert_eq!(prog_links(program_id), 0, "TCX links gone (bpftool link show)");
    assert!(!std::path::Path::new("/sys/fs/bpf/ebpf-ml-workbench").exists());
    assert!(
        workbench_kernel::lab::project_namespaces().is_empty()
            && workbench_kernel::lab::project_links().is_empty()
    );
    // A second run finds nothing and still succeeds.
    let again = workbench_json(&["probe", "cleanup", "--json"]);
    assert_eq!(again["removed_pins"].as_array().map_or(1, Vec::len), 0);
    report("kernel test: probe cleanup removed a stale attachment, its pins and the lab");
}
