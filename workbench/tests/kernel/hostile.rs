//! Hostile frames at the probe, through a veth from a namespace the test creates: every frame is
//! either a flow with its true 5-tuple or an unparsed frame counted by reason, never a misread.

use std::collections::BTreeMap;

use crate::common::poll::{poll, SETTLE};
use crate::common::{report, workbench_json, DetachOnDrop};
use workbench_kernel::lab::afpacket::FrameSender;
use workbench_kernel::lab::hostile::{self, Expect};
use workbench_kernel::lab::Lab;

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn hostile_frames_are_classified_from_real_headers_or_counted_unparsed() {
    crate::common::require_kernel("hostile_frames_are_classified_from_real_headers_or_counted_unparsed");
    let lab = Lab::create(
        &format!("h{}", std::process::id() % 100_000),
        (std::process::id() % 200) as u8 + 5,
    )
    .expect("lab");
    let _detach = DetachOnDrop(lab.host_if.clone());
    workbench_json(&["probe", "attach", "--iface", &lab.host_if, "--json"]);
    // A destination MAC the host end does not own: its stack drops the frames after the probe.
    let frames = hostile::frames(
        lab.peer_mac,
        [0x02, 0, 0, 0, 0, 0x99],
        lab.peer_addr,
        lab.host_addr,
    );
    let iface = lab.peer_if.clone();
    let to_send: Vec<Vec<u8>> = frames.iter().map(|f| f.frame.clone()).collect();
    lab.run_in_netns(move || -> color_eyre::Result<()> {
        let sender = FrameSender::open(&iface)?;
        for f in &to_send {
            sender.send(f)?;
        }
        Ok(())
    })
    .expect("netns")
    .expect("send hostile frames");
    // The frames reach the probe in the host end's softirq, after the sends returned: wait until
    // it has seen every one and each parsed one is in a flow (its packet count is taken first,
    // the flow updated after), so that nothing is read half done.
    let sent = frames.len() as u64;
    let table = poll(
        SETTLE,
        || workbench_json(&["probe", "flows", "--iface", &lab.host_if, "--json"]),
        |t| {
            let stat = |k: &str| t["stats"][k].as_u64().unwrap_or(0);
            let unparsed: u64 = shared::ParseError::ALL.iter().map(|e| stat(e.name())).sum();
            let in_flows: u64 = t["flows"].as_array().map_or(0, |f| {
                f.iter()
                    .map(|f| f["fwd_packets"].as_u64().unwrap_or(0) + f["bwd_packets"].as_u64().unwrap_or(0))
                    .sum()
            });
            stat("packets") == sent && in_flows + unparsed == sent
        },
    );
    let flows = table["flows"].as_array().expect("flows").clone();
    let stat = |k: &str| table["stats"][k].as_u64().unwrap_or(0);
    let find = |proto: &str, sport: u16, dport: u16| {
        flows
            .iter()
            .filter(|f| f["proto"] == proto && f["src_port"] == sport && f["dest_port"] == dport)
            .count()
    };
    let mut expected_unparsed: BTreeMap<&str, u64> = BTreeMap::new();
    let mut expected_flows = 0;
    for f in &frames {
        match f.expect {
            Expect::Flow(proto, sport, dport) => {
                assert_eq!(
                    find(proto, sport, dport),
                    1,
                    "{}: one flow {proto} {sport}->{dport}: {flows:#?}",
                    f.name
                );
                expected_flows += 1;
            }
            Expect::Unparsed(reason) => *expected_unparsed.entry(reason).or_default() += 1,
            Expect::FlowOrUnparsed(proto, sport, dport, reason) => {
                if find(proto, sport, dport) == 1 {
                    expected_flows += 1;
                } else {
                    *expected_unparsed.entry(reason).or_default() += 1;
                }
            }
        }
    }
    for (reason, n) in &expected_unparsed {
        assert_eq!(stat(reason), *n, "unparsed {reason}: {:#}", table["stats"]);
    }
    assert_eq!(
        flows.len(),
        expected_flows,
        "no flow that was not sent: {flows:#?}"
    );
    let unparsed: u64 = shared::ParseError::ALL.iter().map(|e| stat(e.name())).sum();
    assert_eq!(
        stat("packets"),
        stat("parsed") + unparsed,
        "every frame accounted for: {:#}",
        table["stats"]
    );
    assert_eq!(stat("packets"), frames.len() as u64);
    let all_flags = flows
        .iter()
        .find(|f| f["src_port"] == 50_007)
        .expect("all-flags flow");
    assert_eq!(all_flags["fwd_packets"], 1);
    report(&format!(
        "kernel test: {} hostile frames: {expected_flows} flows with their true 5-tuple, unparsed {expected_unparsed:?}",
        frames.len()
    ));
}
