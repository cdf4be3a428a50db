//! A host's own traffic: TCP sends as GSO super-packets at tc egress and arrives as GRO
//! super-packets at tc ingress, yet the probe must count what the wire carried. Lab: the
//! namespace end sends large writes to a server at the root-namespace end. Both ends have TSO
//! off and GSO on, so the stack cuts its super-packets in software right after tc egress, where
//! a TSO NIC would cut them in hardware (a veth with TSO on cuts nothing: its peer would get the
//! super-packet, and no wire would exist to compare with).
//!
//! - GSO: probe at the sending end (egress sees the super-packets), GRO off at the receiving
//!   end, capture there: the receiving end's AF_PACKET tap holds the frames as they crossed.
//! - GRO: GRO on at the receiving end, probe there (ingress sees merged super-packets), capture
//!   at the sending end, whose tap sees its frames after GSO cut them.
//!
//! Client and server run on whichever CPUs the scheduler picks: the receiver's ACKs leave from
//! both CPUs, and the probe's per-flow lock keeps every one of them (before the lock, about 1 run
//! in 20 ended one ACK short, so this test pinned both ends to one CPU). Per flow, every count and byte total of the probe must
//! equal the capture's (parsed and accumulated by the same shared code); the timing features
//! are printed beside the capture's (the probe sees a batch at one instant: docs/FEATURES.md).

use std::io::{Read, Write};
use std::net::{SocketAddrV4, TcpListener, TcpStream};

use crate::common::{report, DetachOnDrop};
use shared::abi::ProbeConfig;
use shared::features::{feature_id, FlowState};
use shared::packet::{parse_ethernet, FrameBytes};
use shared::FlowKey;
use workbench_flow::twin::Twin;
use workbench_kernel::lab::offload::{self, Offload};
use workbench_kernel::lab::tap::{FrameTap, Tapped};
use workbench_kernel::lab::Lab;
use workbench_kernel::{events, flows, probe};

const WRITE_BYTES: usize = 64 * 1024;
const WRITES: usize = 96;

/// The capture's flows, computed by the shared parser and flow update with the capture's stamps.
fn capture_flows(tapped: &Tapped) -> Twin {
    let mut twin = Twin::new(ProbeConfig::default(), None, None);
    for f in &tapped.frames {
        let frame = FrameBytes {
            data: &f.data,
            wire_len_bytes: f.wire_len_bytes,
        };
        if let Ok(p) = parse_ethernet(&frame) {
            twin.packet(&p, f.ts_ns);
        }
    }
    twin
}

/// SO_LINGER: closing `conn` waits (10 s at most) until the peer has acknowledged its FIN.
fn linger(conn: &TcpStream) {
    use std::os::fd::AsRawFd;
    let value = libc::linger {
        l_onoff: 1,
        l_linger: 10,
    };
    // SAFETY: setsockopt on an open socket with a pointer to a linger value of the size given.
    let rc = unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const value).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
}

/// Sends WRITES x WRITE_BYTES from the namespace end to a server at the host end; returns the
/// bytes the server read, once every frame of the exchange has crossed the veth.
fn bulk_transfer(lab: &Lab, port: u16) -> u64 {
    let listener = TcpListener::bind(SocketAddrV4::new(lab.host_addr, port)).expect("listen at the host end");
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        linger(&conn);
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) => panic!("server read: {e}"),
            }
        }
        // The close sends the server's FIN and, lingering, returns once the client's ACK of it
        // (the exchange's last frame) went through the host end's ingress: its probe or
        // capture has it before this thread ends.
        drop(conn);
        total
    });
    let to = SocketAddrV4::new(lab.host_addr, port);
    lab.run_in_netns(move || {
        let mut conn = TcpStream::connect(to).expect("connect from the namespace");
        let chunk = vec![0x5au8; WRITE_BYTES];
        for _ in 0..WRITES {
            conn.write_all(&chunk).expect("write");
        }
        conn.shutdown(std::net::Shutdown::Write).expect("shutdown");
        // Wait for the server's FIN, so the whole exchange is over before anyone counts.
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
    })
    .expect("client in the namespace");
    server.join().expect("server thread")
}

/// veth drop counters of `iface` (rx, tx), for the failure message.
fn drops(netns: Option<&str>, iface: &str) -> String {
    let mut args = vec!["-s", "-j"];
    if let Some(ns) = netns {
        args.extend(["-n", ns]);
    }
    args.extend(["link", "show", "dev", iface]);
    let out = std::process::Command::new("ip")
        .args(&args)
        .output()
        .expect("ip runs");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let s = &v[0]["stats64"];
    format!(
        "{iface}: rx dropped {}, tx dropped {}",
        s["rx"]["dropped"], s["tx"]["dropped"]
    )
}

struct Case<'a> {
    name: &'a str,
    /// (namespace, interface) of the probe and of the capture.
    probe: (Option<&'a str>, &'a str),
    capture: (Option<&'a str>, &'a str),
    gro_at_receiver: bool,
}

fn run(lab: &Lab, case: &Case, port: u16) {
    offload::set(None, &lab.host_if, Offload::Gro, case.gro_at_receiver).expect("GRO at the receiving end");
    offload::set(Some(&lab.netns), &lab.peer_if, Offload::Gro, false).expect("GRO off at the sender");
    let (probe_ns, probe_if) = case.probe;
    probe::attach_in(probe_ns, probe_if, &probe::AttachOptions::default()).expect("attach the probe");
    let _detach = DetachOnDrop(probe_if.to_string());
    let tap = FrameTap::start(case.capture.0, case.capture.1).expect("capture");
    // Returns once the last frame went through the host end (where the probe or the capture
    // is): the namespace end's were sent before the client's last read returned. The capture
    // reads its socket's queue to the end before it stops.
    let received = bulk_transfer(lab, port);
    let tapped = tap.finish().expect("capture stops");
    assert_eq!(
        received,
        (WRITES * WRITE_BYTES) as u64,
        "{}: the transfer completed",
        case.name
    );
    assert_eq!(
        tapped.dropped, 0,
        "{}: the capture socket dropped frames",
        case.name
    );

    let wire = capture_flows(&tapped);
    let kernel = events::raw_flows(probe_if).expect("the probe's flows");
    let stats = flows::read_stats(probe_if).expect("the probe's statistics");
    let is_transfer = |k: &FlowKey| k.port_lo == port || k.port_hi == port;
    let (key, k) = kernel
        .iter()
        .find(|(k, _)| is_transfer(k))
        .unwrap_or_else(|| panic!("{}: the transfer's flow is not in the probe's table", case.name));
    let w = wire
        .flows
        .get(key)
        .unwrap_or_else(|| panic!("{}: the transfer's flow is not in the capture", case.name));
    let (ks, ws) = (&k.state, &w.state);
    let counts = |s: &FlowState| {
        (
            (s.fwd_packets, s.bwd_packets),
            (s.fwd_frame_bytes, s.bwd_frame_bytes),
            (s.fwd_payload_bytes, s.bwd_payload_bytes),
            (s.fwd_header_bytes, s.bwd_header_bytes),
            (s.fwd_payload_sumsq, s.bwd_payload_sumsq),
            (s.fwd_len_min, s.fwd_len_max, s.bwd_len_min, s.bwd_len_max),
            (
                s.syn_count,
                s.fin_count,
                s.rst_count,
                s.psh_count,
                s.ack_count,
                s.urg_count,
            ),
        )
    };
    let context = || {
        format!(
            "{}: probe {:?}\ncapture {:?}\n{}\n{}",
            case.name,
            counts(ks),
            counts(ws),
            drops(Some(&lab.netns), &lab.peer_if),
            drops(None, &lab.host_if)
        )
    };
    assert_eq!(counts(ks), counts(ws), "{}", context());
    assert_eq!(k.initiator_is_lo, w.initiator_is_lo, "{}", context());
    let (kv, wv) = (ks.features(), ws.features());
    let f = |name: &str| feature_id(name).expect(name);
    for name in [
        "fwd_len_mean",
        "bwd_len_mean",
        "pkt_len_mean",
        "avg_frame_bytes",
        "down_up_ratio",
        "fwd_len_var",
    ] {
        assert_eq!(kv[f(name)], wv[f(name)], "{name}: {}", context());
    }
    // Super-packets did happen: the probe ran on fewer buffers than there were frames.
    let frames = u64::from(ks.packets());
    let buffers = stats["parsed"];
    assert!(
        buffers < frames,
        "{}: the probe parsed {buffers} buffers for {frames} frames: no super-packet reached it",
        case.name
    );
    // What the probe cannot see: the gaps between the frames of one buffer (it counts them as
    // 0). The capture's gaps between consecutive data frames of the transfer, in ns.
    let data_stamps: Vec<u64> = tapped
        .frames
        .iter()
        .filter_map(|t| {
            let frame = FrameBytes {
                data: &t.data,
                wire_len_bytes: t.wire_len_bytes,
            };
            let p = parse_ethernet(&frame).ok()?;
            (p.dst_port == port && p.payload_bytes > 0).then_some(t.ts_ns)
        })
        .collect();
    let mut gaps: Vec<u64> = data_stamps
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .collect();
    gaps.sort_unstable();
    let pct = |q: usize| gaps.get(gaps.len() * q / 100).copied().unwrap_or(0);
    let timing = [
        "duration_us",
        "iat_mean_us",
        "iat_min_us",
        "iat_max_us",
        "packets_per_s",
        "bytes_per_s",
    ]
    .map(|n| format!("{n} {} (capture {})", kv[f(n)], wv[f(n)]))
    .join(", ");
    report(&format!(
        "{}: {frames} frames on the wire ({} from the sender, {} back) in {buffers} buffers at tc, {:.1} frames per buffer; \
         probe = capture for packets, frame bytes ({} + {}), payload bytes, header bytes, sizes and flags; timing: {timing}; \
         the capture's gaps between data frames: p10 {} ns, median {} ns, p90 {} ns ({} of the {} gaps fall inside a buffer and read 0 at tc)",
        case.name,
        ks.fwd_packets,
        ks.bwd_packets,
        frames as f64 / buffers as f64,
        ks.fwd_frame_bytes,
        ks.bwd_frame_bytes,
        pct(10),
        pct(50),
        pct(90),
        frames.saturating_sub(buffers),
        frames.saturating_sub(1)
    ));
}

#[test]
#[cfg_attr(
    not(feature = "kernel-tests"),
    ignore = "kernel test: needs root; run with --features kernel-tests (cargo xtask test does)"
)]
fn gso_and_gro_super_packets_count_as_the_frames_on_the_wire() {
    crate::common::require_kernel("gso_and_gro_super_packets_count_as_the_frames_on_the_wire");
    let pid = std::process::id();
    let lab = Lab::create(&format!("g{}", pid % 100_000), (pid % 200) as u8 + 1).expect("lab");
    for (ns, iface) in [
        (Some(lab.netns.as_str()), lab.peer_if.as_str()),
        (None, lab.host_if.as_str()),
    ] {
        offload::set(ns, iface, Offload::Tso, false).expect("TSO off");
        offload::set(ns, iface, Offload::Gso, true).expect("GSO on");
    }
    let ns = Some(lab.netns.as_str());
    run(
        &lab,
        &Case {
            name: "GSO at the sender's egress",
            probe: (ns, &lab.peer_if),
            capture: (None, &lab.host_if),
            gro_at_receiver: false,
        },
        9301,
    );
    run(
        &lab,
        &Case {
            name: "GRO at the receiver's ingress",
            probe: (None, &lab.host_if),
            capture: (ns, &lab.peer_if),
            gro_at_receiver: true,
        },
        9302,
    );
}
