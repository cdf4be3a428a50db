//! The kernel commands with stdout closed before they write (`| head` after head quit): each ends
//! quietly with status 141, and what it made or removed is exactly what it makes or removes with
//! stdout open: the output is lost, the work and the cleanup are not (issue 18 item 9).

use std::path::Path;

use crate::common::{assert_quiet_on_a_closed_pipe, lab_id, workbench, LabCleanup, TempDir};

const PIN_ROOT: &str = "/sys/fs/bpf/ebpf-ml-workbench";

fn netns_exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn kernel_commands_end_quietly_on_a_closed_stdout_and_still_do_their_work() {
    crate::common::require_kernel("kernel_commands_end_quietly_on_a_closed_stdout_and_still_do_their_work");
    let id = lab_id("bp");
    let (ns, recv) = (format!("ebml-{id}"), format!("ebml-{id}b"));
    let _cleanup = LabCleanup::new(&id);
    let pins = Path::new(PIN_ROOT).join("v1").join(&recv);

    assert_quiet_on_a_closed_pipe(&["lab", "up", "--id", &id, "--json"]);
    assert!(netns_exists(&ns), "lab up made {ns} though its output was lost");
    assert_quiet_on_a_closed_pipe(&["probe", "attach", "--iface", &recv, "--netns", &ns, "--json"]);
    assert!(pins.exists(), "probe attach pinned {}", pins.display());
    for args in [
        vec!["probe", "flows", "--iface", &recv],
        vec!["probe", "flows", "--iface", &recv, "--json"],
        vec!["probe", "status", "--iface", &recv],
        vec!["probe", "status", "--iface", &recv, "--json"],
    ] {
        assert_quiet_on_a_closed_pipe(&args);
    }
    assert_quiet_on_a_closed_pipe(&["probe", "detach", "--iface", &recv, "--json"]);
    assert!(!pins.exists(), "probe detach removed {}", pins.display());
    assert_quiet_on_a_closed_pipe(&["lab", "down", "--id", &id, "--json"]);
    assert!(!netns_exists(&ns), "lab down removed {ns}");

    // Commands that make and remove their own objects: nothing of theirs is left.
    let dir = TempDir::new("pipe-kernel");
    let model = dir.path().join("tree.ebml");
    let table = dir.path().join("honest.csv");
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-pcaps");
    let pcap = samples.join("honest.pcap");
    let labels = samples.join("labels-honest.csv");
    let s = |p: &Path| p.to_str().expect("utf-8").to_string();
    for args in [
        vec![
            "features".to_string(),
            s(&pcap),
            "--labels".into(),
            s(&labels),
            "-o".into(),
            s(&table),
        ],
        vec![
            "train".into(),
            s(&table),
            "--model".into(),
            "tree".into(),
            "-o".into(),
            s(&model),
        ],
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = workbench(&args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let verify_lab = lab_id("bv");
    let _verify_cleanup = LabCleanup::new(&verify_lab);
    assert_quiet_on_a_closed_pipe(&[
        "verify",
        &s(&pcap),
        "--model",
        &s(&model),
        "--lab-id",
        &verify_lab,
        "--json",
    ]);
    assert!(
        !netns_exists(&format!("ebml-{verify_lab}")),
        "verify removed its lab"
    );
    assert_quiet_on_a_closed_pipe(&["bench", "probe", "--repeat", "5", "--json"]);
    let left: Vec<String> = std::fs::read_dir(PIN_ROOT)
        .map(|d| {
            d.filter_map(std::result::Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("bench-"))
                .collect()
        })
        .unwrap_or_default();
    // Other tests may run `bench probe` at the same time: only a dead owner's pins would be a leak.
    for name in left {
        let pid = name.trim_start_matches("bench-");
        assert!(
            Path::new("/proc").join(pid).exists(),
            "{name}: pins of a finished `bench probe` left behind"
        );
    }
}
