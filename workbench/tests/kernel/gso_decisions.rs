//! A GSO super-packet adds its frames to a flow at once (20 frames of one TCP send, as a guest's
//! virtio-net or a local socket's TSO hands them to tc egress): the model must still decide at
//! the decision points among them. Testing the new count alone, a bulk flow went from packet 1
//! to 21 (decided: within 1-32), then 41, 61, ... 2001, none of them a multiple of 16, and its
//! verdict stayed the one from packet 21 however the flow went on (kernel review finding 1).

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::common::{lab_id, report, save_model, workbench_json, DetachOnDrop, TempDir};
use workbench_flow::craft::{self, Ipv4Endpoints, TcpSegment, TCP_ACK, TCP_SYN};
use workbench_flow::model::build;
use workbench_kernel::lab::offload::{self, Offload};
use workbench_kernel::lab::Lab;
use workbench_kernel::{events, probe};

const MSS: u16 = 1448;
const SEGMENTS: u32 = 20;
const SUPER_PACKETS: u32 = 100;

/// `struct virtio_net_hdr`: how the sender describes a super-packet to the kernel.
fn vnet_header(gso: bool) -> [u8; 10] {
    let mut h = [0u8; 10];
    if gso {
        h[0] = 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM
        h[1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
        h[2..4].copy_from_slice(&54u16.to_ne_bytes()); // headers: Ethernet + IPv4 + TCP
        h[4..6].copy_from_slice(&MSS.to_ne_bytes());
        h[6..8].copy_from_slice(&34u16.to_ne_bytes()); // checksum from the TCP header on
        h[8..10].copy_from_slice(&16u16.to_ne_bytes()); // at TCP's checksum field
    }
    h
}

/// An AF_PACKET socket on `iface` whose sends carry a virtio-net header (PACKET_VNET_HDR).
fn vnet_socket(iface: &str) -> OwnedFd {
    // SAFETY: plain socket(2); the fd is owned below.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    assert!(raw >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
    // SAFETY: `raw` is a new fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let on: libc::c_int = 1;
    // SAFETY: setsockopt with a c_int option value of the right size.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_VNET_HDR,
            (&raw const on).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "PACKET_VNET_HDR: {}", std::io::Error::last_os_error());
    let name = std::ffi::CString::new(iface).expect("name");
    // SAFETY: a NUL-terminated name.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(ifindex > 0, "{iface}: no such interface");
    // SAFETY: zeroed sockaddr_ll is a valid value; the fields set below are the ones bind reads.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: bind with a sockaddr_ll of its own size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    assert_eq!(r, 0, "bind to {iface}: {}", std::io::Error::last_os_error());
    fd
}

fn send(fd: &OwnedFd, gso: bool, frame: &[u8]) {
    let mut buf = vnet_header(gso).to_vec();
    buf.extend_from_slice(frame);
    // SAFETY: send(2) of an owned buffer on an owned socket.
    let n = unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
    assert_eq!(n, buf.len() as isize, "send: {}", std::io::Error::last_os_error());
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn a_flow_of_super_packets_is_decided_at_the_decision_points_it_passes() {
    crate::common::require_kernel("a_flow_of_super_packets_is_decided_at_the_decision_points_it_passes");
    let dir = TempDir::new("gso-decisions");
    let model = save_model(dir.path(), "syn3.ebml", &build::syn_count_tree(3).expect("tree"));
    let lab = Lab::create(&lab_id("gsd"), ((std::process::id() + 161) % 200) as u8 + 4).expect("lab");
    // Software GSO after tc egress: the probe at the sending end sees the super-packets.
    offload::set(Some(&lab.netns), &lab.peer_if, Offload::Tso, false).expect("TSO off");
    probe::attach_in(Some(&lab.netns), &lab.peer_if, &probe::AttachOptions::default()).expect("attach");
    let _detach = DetachOnDrop(lab.peer_if.clone());
    // Default decision points: packets 1-32, then every 16th.
    workbench_json(&[
        "deploy",
        model.to_str().expect("utf-8"),
        "--iface",
        &lab.peer_if,
        "--json",
    ]);

    let ep = Ipv4Endpoints {
        src_mac: lab.peer_mac,
        // Nobody's address: the host end drops the frames (PACKET_OTHERHOST) before its IP stack.
        dst_mac: [0x02, 0, 0, 0, 0xee, 0x01],
        src: lab.peer_addr,
        dst: lab.host_addr,
        ttl: 64,
    };
    let iface = lab.peer_if.clone();
    let src_port = 47_000;
    lab.run_in_netns(move || {
        let fd = vnet_socket(&iface);
        let segment = |flags: u8, seq: u32, payload: &[u8]| {
            craft::ipv4_tcp(
                &ep,
                &TcpSegment {
                    src_port,
                    dst_port: 5001,
                    seq,
                    ack: 0,
                    flags,
                    window: 64240,
                    payload,
                },
            )
        };
        send(&fd, false, &segment(TCP_SYN, 1000, &[]));
        let data = vec![0x44u8; usize::from(MSS) * SEGMENTS as usize];
        for i in 0..SUPER_PACKETS {
            send(&fd, true, &segment(TCP_ACK, 1001 + i * data.len() as u32, &data));
        }
    })
    .expect("sender in the namespace");

    let flows = events::raw_flows(&lab.peer_if).expect("the probe's flows");
    let (_, entry) = flows
        .iter()
        .find(|(k, _)| k.port_lo == src_port || k.port_hi == src_port)
        .expect("the flow in the probe's table");
    let packets = entry.state.packets();
    assert_eq!(packets, 1 + SUPER_PACKETS * SEGMENTS, "every frame counted");
    // The last super-packet (1982-2001) passed 2000, a multiple of 16: decided there, at its
    // count after the update. Before, the last decision stayed at packet 21.
    assert_eq!(entry.decided_at_packet, packets, "the last decision point passed");
    report(&format!(
        "kernel test: {SUPER_PACKETS} GSO super-packets of {SEGMENTS} frames: the flow's {packets} packets decided last at packet {}",
        entry.decided_at_packet
    ));
}
