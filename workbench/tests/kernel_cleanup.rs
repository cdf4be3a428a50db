//! `workbench probe cleanup` finds what a killed process left behind. Its own test binary: the
//! command removes every project namespace and pin, so nothing else may run beside it.

mod common;

use common::{kernel_tests_enabled, report, workbench_json};
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
fn cleanup_removes_stale_attachments_pins_and_labs() {
    if !kernel_tests_enabled("cleanup_removes_stale_attachments_pins_and_labs") {
        return;
    }
    // `probe cleanup` removes every project namespace and pin on the machine, including those of
    // anything else running beside this test. CI runs alone and sets CI=true; elsewhere the test
    // needs WORKBENCH_GLOBAL_CLEANUP=1.
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    if !ci && std::env::var("WORKBENCH_GLOBAL_CLEANUP").as_deref() != Ok("1") {
        report("SKIPPED cleanup_removes_stale_attachments_pins_and_labs: set WORKBENCH_GLOBAL_CLEANUP=1 (it removes every project lab and pin on this machine)");
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
    let again = common::workbench(&["probe", "attach", "--iface", &lab.host_if]);
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already attached"),
        "the next start names the stale attachment"
    );

    let cleaned = workbench_json(&["probe", "cleanup", "--json"]);
    let pins = cleaned["removed_pins"].as_array().map_or(0, Vec::len);
    assert_eq!(pins, 10, "{cleaned:#}");
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
