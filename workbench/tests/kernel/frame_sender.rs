//! The lab's frame sender (`FrameSender::send_batch`, what `replay --top-speed` and the kernel
//! tests send with): a batch larger than one sendmmsg call takes (1024 messages) goes out whole,
//! every frame once.

use crate::common::{lab_id, report, rx_packets};
use workbench_flow::craft::{self, Ipv4Endpoints};
use workbench_kernel::lab::afpacket::FrameSender;
use workbench_kernel::lab::Lab;

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_batch_past_one_sendmmsg_call_goes_out_whole() {
    crate::common::require_kernel("a_batch_past_one_sendmmsg_call_goes_out_whole");
    let pid = std::process::id();
    let lab = Lab::create(&lab_id("fs"), ((pid + 192) % 200) as u8 + 4).expect("lab");
    let ep = Ipv4Endpoints {
        src_mac: lab.host_mac,
        dst_mac: [0x02, 0xeb, 0x4d, 0x4c, 0xff, 0x97],
        src: lab.host_addr,
        dst: lab.peer_addr,
        ttl: 64,
    };
    let frames: Vec<Vec<u8>> = (0..2500u16)
        .map(|i| craft::ipv4_udp(&ep, 30_000 + i % 100, 9_404, &[i as u8; 20]))
        .collect();
    let sender = FrameSender::open(&lab.host_if).expect("sender");
    let before = rx_packets(&lab.netns, &lab.peer_if);
    let results = sender.send_batch(&frames);
    let received = rx_packets(&lab.netns, &lab.peer_if) - before;
    let refused: Vec<(usize, String)> = results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.as_ref().map(|e| (i, e.to_string())))
        .collect();
    report(&format!(
        "frame sender: {} frames in one batch, {} refused, {received} received",
        frames.len(),
        refused.len()
    ));
    assert_eq!(results.len(), frames.len());
    // Before the cap, frames 1024 and 2048 read as refused (and were never sent).
    assert!(refused.is_empty(), "{refused:?}");
    // Other traffic on the link (the kernel's own) may add to the counter, never take from it.
    assert!(received >= 2500, "{received} received");
}
