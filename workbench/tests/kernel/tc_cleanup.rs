//! `workbench probe cleanup` after a SIGKILL on the classic tc path: it removes exactly the
//! project's cls_bpf filters (found through the record pinned beside them), the clsact qdiscs
//! the probe added where nothing else uses them, and never a filter another party put on the
//! same interface, even one at the probe's own priority and handle. Its own test binary: the
//! command removes every project namespace and pin, so nothing else may run beside it.
//!
//! The interface with the other party's filters lives in a namespace the test makes without
//! the project's prefix (so that cleanup's namespace removal does not take the evidence with
//! it); both veth ends are inside it, without addresses, and no traffic is sent.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::tc::{filters, has_clsact, program_exists, tc, Foreign};
use crate::common::{lab_id, report, workbench_json, TempDir};
use aya::programs::TcAttachType;
use serde_json::Value;
use workbench_kernel::tc::{TC_HANDLE, TC_PRIORITY};

const PIN_ROOT: &str = "/sys/fs/bpf/ebpf-ml-workbench";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A namespace outside the project's prefix holding veth `<name>a` <-> `<name>b`; removed
/// (with everything on its interfaces) when dropped.
struct OtherNamespace(String);

impl OtherNamespace {
    fn create(name: &str) -> OtherNamespace {
        ip(&["netns", "add", name]);
        let ns = OtherNamespace(name.to_string());
        let (a, b) = (format!("{name}a"), format!("{name}b"));
        ip(&["-n", name, "link", "add", &a, "type", "veth", "peer", "name", &b]);
        ip(&["-n", name, "link", "set", &a, "up"]);
        ip(&["-n", name, "link", "set", &b, "up"]);
        ns
    }
}

impl Drop for OtherNamespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    out.sort();
    out
}

fn first_program_id(line: Option<&String>) -> u64 {
    line.and_then(|l| l.split(" id ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("a filter line with its program id")
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn cleanup_after_sigkill_removes_exactly_the_projects_cls_bpf_filters() {
    crate::common::require_kernel("cleanup_after_sigkill_removes_exactly_the_projects_cls_bpf_filters");
    // `probe cleanup` removes every project lab and pin it can see: the test runs in namespaces
    // of its own, where that is only what it made.
    if !crate::common::on_a_private_machine(
        "tc_cleanup::cleanup_after_sigkill_removes_exactly_the_projects_cls_bpf_filters",
    ) {
        return;
    }
    // 1. A verify through cls_bpf, killed while it holds its lab and filters.
    let id = lab_id("tq");
    let (lab_ns, lab_if) = (format!("ebml-{id}"), format!("ebml-{id}b"));
    let tmp = TempDir::new("ebml-tc-cleanup");
    let model = tmp.path().join("m.ebml");
    let tree = workbench_flow::model::build::syn_count_tree(3).expect("tree");
    workbench_flow::model::file::write(&model, &tree, Value::Null).expect("model file");
    let capture = crate::common::shared_data("pcaps/synflood-spoofed.pcap");
    let mut verify = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["verify", capture.to_str().expect("utf-8"), "--model"])
        .arg(&model)
        .args(["--pps", "300", "--lab-id", &id, "--attach", "tc", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("verify starts");
    let start = Instant::now();
    while !(Path::new(PIN_ROOT)
        .join("v1")
        .join(&lab_if)
        .join("tc_record")
        .exists()
        && Path::new("/run/netns").join(&lab_ns).exists()
        && filters(Some(&lab_ns), &lab_if, "egress").len() == 1)
    {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "verify never attached"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let verify_program = first_program_id(filters(Some(&lab_ns), &lab_if, "ingress").first());
    verify.kill().expect("SIGKILL");
    let _ = verify.wait();

    // 2. The probe on an interface that someone else uses too.
    let other = OtherNamespace::create(&format!("tcc{}", std::process::id() % 100_000));
    let (ns, iface) = (other.0.as_str(), format!("{}b", other.0));
    let attached = workbench_json(&[
        "probe", "attach", "--iface", &iface, "--netns", ns, "--attach", "tc", "--json",
    ]);
    assert_eq!(attached["tc"]["qdisc_created"], true, "{attached:#}");
    let probe_program = attached["program_id"].as_u64().expect("program id");
    let mut foreign = Foreign::load("tq");
    foreign.attach(Some(ns), &iface, TcAttachType::Ingress, 7, 1);
    foreign.attach(Some(ns), &iface, TcAttachType::Egress, 7, 1);
    // Someone deletes our ingress filter by hand and puts theirs at its very priority and handle.
    tc(
        Some(ns),
        &[
            "filter",
            "del",
            "dev",
            &iface,
            "ingress",
            "protocol",
            "all",
            "pref",
            &TC_PRIORITY.to_string(),
            "handle",
            &format!("{TC_HANDLE:#x}"),
            "bpf",
        ],
    );
    foreign.attach(Some(ns), &iface, TcAttachType::Ingress, TC_PRIORITY, TC_HANDLE);

    let cleaned = workbench_json(&["probe", "cleanup", "--json"]);
    let ours = |i: &str, hook: &str| format!("{i} {hook} prio {TC_PRIORITY} handle {TC_HANDLE:#x}");
    let mut expected = vec![
        ours(&lab_if, "ingress"),
        ours(&lab_if, "egress"),
        ours(&iface, "egress"),
    ];
    expected.sort();
    assert_eq!(strings(&cleaned["removed_filters"]), expected, "{cleaned:#}");
    assert_eq!(
        strings(&cleaned["removed_qdiscs"]),
        std::slice::from_ref(&lab_if),
        "{cleaned:#}"
    );
    let notes = strings(&cleaned["notes"]);
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with(&ours(&iface, "ingress")) && n.contains("not the probe's")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("clsact qdisc added by the probe kept: 3 other filter")),
        "{notes:?}"
    );
    assert!(
        strings(&cleaned["removed_namespaces"]).contains(&lab_ns),
        "{cleaned:#}"
    );
    assert!(!Path::new(PIN_ROOT).exists(), "every pin removed");

    // What the other party put there is all still there, and nothing of ours is.
    let (ingress, egress) = (
        filters(Some(ns), &iface, "ingress"),
        filters(Some(ns), &iface, "egress"),
    );
    let theirs = format!(" id {} ", foreign.program_id);
    assert!(
        ingress.len() == 2 && ingress.iter().all(|l| l.contains(&theirs)),
        "{ingress:?}"
    );
    assert!(egress.len() == 1 && egress[0].contains(&theirs), "{egress:?}");
    assert!(has_clsact(Some(ns), &iface));
    let start = Instant::now();
    while program_exists(probe_program) || program_exists(verify_program) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the project's programs were not freed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(program_exists(u64::from(foreign.program_id)));
    report(&format!(
        "kernel test: probe cleanup after SIGKILL removed {} cls_bpf filters and 1 qdisc of the project, \
         left 3 foreign filters (one at prio {TC_PRIORITY} handle {TC_HANDLE:#x}) and their clsact",
        expected.len()
    ));
}
