//! Known traffic for the lab: UDP from sockets inside the namespace to sinks on the host end,
//! and crafted TCP segments sent with AF_PACKET. Used by the demo and the kernel tests; every
//! packet goes only between the two ends of the lab's veth pair.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::error::{err, Context, Error, Result};

use super::afpacket::FrameSender;
use super::Lab;
use workbench_flow::craft::{self, Ipv4Endpoints, TcpSegment};

/// A UDP socket on the host end that receives (and optionally echoes) datagrams, so that no
/// ICMP port-unreachable is sent back.
pub struct UdpSink {
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpSink {
    pub fn bind(addr: Ipv4Addr, port: u16, echo: bool) -> Result<Self> {
        let socket =
            UdpSocket::bind(SocketAddrV4::new(addr, port)).context(|| format!("binding {addr}:{port}"))?;
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .context(|| format!("setting a read timeout on {addr}:{port}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let (stop2, received2) = (stop.clone(), received.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !stop2.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buf) {
                    received2.fetch_add(1, Ordering::Relaxed);
                    if echo {
                        let _ = socket.send_to(&buf[..n], from);
                    }
                }
            }
        });
        Ok(UdpSink {
            stop,
            received,
            thread: Some(thread),
        })
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for UdpSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// From inside the namespace: one socket bound to `src_port` sends one datagram per entry of
/// `payload_bytes` to the host end; with `await_echo` it waits for each reply before the next.
pub fn udp_from_netns(
    lab: &Lab,
    src_port: u16,
    dst_port: u16,
    payload_bytes: &[usize],
    await_echo: bool,
) -> Result<()> {
    let (src, dst) = (lab.peer_addr, lab.host_addr);
    lab.run_in_netns(|| -> Result<()> {
        let socket = UdpSocket::bind(SocketAddrV4::new(src, src_port))
            .context(|| format!("binding {src}:{src_port}"))?;
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .context(|| format!("setting a read timeout on {src}:{src_port}"))?;
        let mut buf = [0u8; 2048];
        for (i, &len) in payload_bytes.iter().enumerate() {
            let payload = vec![(i % 251) as u8; len];
            socket
                .send_to(&payload, SocketAddrV4::new(dst, dst_port))
                .context(|| format!("sending datagram {i} from {src}:{src_port} to {dst}:{dst_port}"))?;
            if await_echo {
                let (n, _) = socket
                    .recv_from(&mut buf)
                    .context(|| format!("no echo for datagram {i} from {src}:{src_port}"))?;
                if n != len {
                    return Err(err!(Mismatch, "echo of datagram {i} has {n} bytes, sent {len}"));
                }
            }
        }
        Ok(())
    })?
}

/// From inside the namespace: `count` crafted TCP segments with `flags` from `src_port` to the
/// host end, written straight onto the veth with AF_PACKET.
pub fn tcp_segments_from_netns(lab: &Lab, src_port: u16, dst_port: u16, flags: u8, count: u32) -> Result<()> {
    let ep = Ipv4Endpoints {
        src_mac: lab.peer_mac,
        dst_mac: lab.host_mac,
        src: lab.peer_addr,
        dst: lab.host_addr,
        ttl: 64,
    };
    let iface = lab.peer_if.clone();
    lab.run_in_netns(move || -> Result<()> {
        let sender = FrameSender::open(&iface)?;
        for i in 0..count {
            let frame = craft::ipv4_tcp(
                &ep,
                &TcpSegment {
                    src_port,
                    dst_port,
                    seq: 1000 + i,
                    ack: 0,
                    flags,
                    window: 64240,
                    payload: &[],
                },
            );
            sender.send(&frame)?;
        }
        Ok(())
    })?
}

/// A continuous UDP load of many short flows from inside the namespace to a sink on the host
/// end: flow `i` is a fresh socket bound to source port `src_ports.start() + i % len` that sends
/// [`UdpFlows::payloads`]`(i)` and closes. Used to exercise the probe while something else
/// changes under it (model swaps).
#[derive(Debug, Clone)]
pub struct UdpFlows {
    pub dst_port: u16,
    /// Source ports, cycled; a port is reused (and its flow continues) after a full cycle.
    pub src_ports: std::ops::RangeInclusive<u16>,
    /// Flow `i` sends `1 + i % max_datagrams` datagrams.
    pub max_datagrams: u32,
    /// Payload sizes run between these bounds (inclusive, bytes).
    pub min_payload: usize,
    pub max_payload: usize,
    /// Sends stop after this long even if nobody raises the stop flag.
    pub max_duration: Duration,
    /// Keeps the sender on the CPU it starts on. A veth frame is processed on the CPU that sent
    /// it (netif_rx queues it to that CPU's backlog; RPS is off on lab links), so with one
    /// sending CPU the frames of a flow are processed one after another, never by two CPUs at
    /// once (the probe's per-flow update is not atomic, docs/ARCHITECTURE.md).
    pub pin_cpu: bool,
}

/// What [`UdpFlows::run`] sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UdpFlowsReport {
    pub flows: u64,
    pub datagrams: u64,
    pub elapsed: Duration,
}

impl UdpFlows {
    /// Payload sizes of flow `i` (deterministic, so a check can rebuild what was sent). They
    /// depend on the source port only: when the ports come round again, a flow repeats its
    /// sizes, so its largest, smallest and mean payload stay what one round gave.
    pub fn payloads(&self, flow: u64) -> Vec<usize> {
        let flow = u64::from(self.src_port(flow) - *self.src_ports.start());
        let span = (self.max_payload.saturating_sub(self.min_payload) + 1) as u64;
        let count = 1 + flow % u64::from(self.max_datagrams.max(1));
        (0..count)
            .map(|j| {
                // Two coprime strides so that sizes vary within a flow and between flows.
                let spread = (flow.wrapping_mul(7919) + j.wrapping_mul(104_729)) % span;
                self.min_payload + spread as usize
            })
            .collect()
    }

    /// Source port of flow `i`.
    pub fn src_port(&self, flow: u64) -> u16 {
        let (start, end) = (
            u64::from(*self.src_ports.start()),
            u64::from(*self.src_ports.end()),
        );
        let len = end.saturating_sub(start) + 1;
        (start + flow % len) as u16
    }

    /// Sends flows back to back until `stop` is raised or `max_duration` has passed.
    pub fn run(&self, lab: &Lab, stop: &AtomicBool) -> Result<UdpFlowsReport> {
        let (src, dst) = (lab.peer_addr, lab.host_addr);
        lab.run_in_netns(|| -> Result<UdpFlowsReport> {
            if self.pin_cpu {
                pin_current_thread()?;
            }
            let to = SocketAddrV4::new(dst, self.dst_port);
            let buf = vec![0x5au8; self.max_payload];
            let started = std::time::Instant::now();
            let mut report = UdpFlowsReport::default();
            while !stop.load(Ordering::Relaxed) && started.elapsed() < self.max_duration {
                let port = self.src_port(report.flows);
                let socket = UdpSocket::bind(SocketAddrV4::new(src, port))
                    .context(|| format!("binding {src}:{port} in the lab namespace"))?;
                for len in self.payloads(report.flows) {
                    socket
                        .send_to(&buf[..len], to)
                        .context(|| format!("sending {len} bytes from {src}:{port} to {to}"))?;
                    report.datagrams += 1;
                }
                report.flows += 1;
            }
            report.elapsed = started.elapsed();
            Ok(report)
        })?
    }
}

/// Restricts the calling thread to the CPU it runs on now (always one it may use).
fn pin_current_thread() -> Result<()> {
    // SAFETY: sched_getcpu has no preconditions; a zeroed cpu_set_t is a valid empty set;
    // CPU_SET and sched_setaffinity(0, ..) touch only that set and the calling thread.
    unsafe {
        let cpu = usize::try_from(libc::sched_getcpu()).map_err(|_| Error::last_os("sched_getcpu"))?;
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &raw const set) != 0 {
            return Err(Error::last_os(format!("pinning the sender to CPU {cpu}")));
        }
    }
    Ok(())
}
