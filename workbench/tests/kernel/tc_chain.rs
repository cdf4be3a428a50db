//! The probe is transparent to what comes after it on the hook: for every packet it does not
//! drop it returns TC_ACT_UNSPEC (TCX_NEXT), so another party's tc filter behind it still runs,
//! whether the probe hooks in as a classic cls_bpf filter or as a TCX link (after which the
//! classic filters run). Returning TC_ACT_OK (TCX_PASS) ended the chain there and the other
//! filter never saw a packet. The other filter's runs are read from the kernel's BPF statistics,
//! switched on through a file descriptor for the test's duration only. Traffic only between the
//! ends of the test's own veth pair.

use std::process::Command;

use crate::common::tc::{has_clsact, tc, Foreign};
use crate::common::{lab_id, report, workbench_json, DetachOnDrop};
use aya::programs::TcAttachType;
use serde_json::Value;
use workbench_flow::craft::TCP_SYN;
use workbench_kernel::lab::{traffic, Lab};
use workbench_kernel::tc::TC_PRIORITY;

/// How often the kernel ran program `id` since statistics were switched on.
fn run_count(id: u32) -> u64 {
    let out = Command::new("bpftool")
        .args(["-j", "prog", "show", "id", &id.to_string()])
        .output()
        .expect("bpftool runs");
    let v: Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    v["run_cnt"].as_u64().unwrap_or(0)
}

/// Forward packets of the flow from `src_port` as the probe counted them (5 s at most).
fn probe_saw(iface: &str, src_port: u16, packets: u64) -> bool {
    let fwd = |f: &Value| f["fwd_packets"].as_u64().unwrap_or(0);
    fwd(&crate::common::flow_from(iface, src_port, |f| fwd(f) >= packets)) >= packets
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn filters_after_the_probe_still_see_every_packet() {
    crate::common::require_kernel("filters_after_the_probe_still_see_every_packet");
    crate::common::require_tool(
        "filters_after_the_probe_still_see_every_packet",
        "bpftool",
        "bpftool",
    );
    // Statistics stay on while this fd is open (BPF_ENABLE_STATS), not a global sysctl left set.
    let _stats = aya::sys::enable_stats(aya::sys::Stats::RunTime).expect("BPF_ENABLE_STATS");
    for (n, attach) in ["tc", "tcx"].into_iter().enumerate() {
        let lab = Lab::create(
            &lab_id(&format!("c{n}")),
            ((std::process::id() + 40 + n as u32) % 200) as u8 + 4,
        )
        .expect("lab namespace and veth");
        let _detach = DetachOnDrop(lab.host_if.clone());
        let h = lab.host_if.as_str();
        let attached = workbench_json(&["probe", "attach", "--iface", h, "--attach", attach, "--json"]);
        assert_eq!(attached["attach_mode"], attach, "{attached:#}");
        if !has_clsact(None, h) {
            tc(None, &["qdisc", "add", "dev", h, "clsact"]);
        }
        // Someone else's filter, one priority after ours (classic filters run after TCX).
        let mut foreign = Foreign::load(&format!("chain{n}"));
        foreign.attach(None, h, TcAttachType::Ingress, TC_PRIORITY + 1, 1);
        let before = run_count(foreign.program_id);

        let port = 46_001 + n as u16;
        traffic::tcp_segments_from_netns(&lab, port, 9, TCP_SYN, 5).expect("syn");
        assert!(
            probe_saw(h, port, 5),
            "{attach}: the probe did not count the 5 packets"
        );
        let after = run_count(foreign.program_id);
        assert!(
            after >= before + 5,
            "{attach}: the filter after the probe ran {} times for 5 packets the probe passed",
            after - before
        );
        report(&format!(
            "kernel test ({attach}): the filter after the probe ran for all {} packets it passed on",
            after - before
        ));
    }
}
