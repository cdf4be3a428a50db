//! Known traffic for the lab: UDP from sockets inside the namespace to sinks on the host end,
//! and crafted TCP segments sent with AF_PACKET. Used by the demo and the kernel tests; every
//! packet goes only between the two ends of the lab's veth pair.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use color_eyre::eyre::{eyre, Result, WrapErr};

use super::afpacket::FrameSender;
use super::Lab;
use crate::craft::{self, Ipv4Endpoints, TcpSegment};

/// A UDP socket on the host end that receives (and optionally echoes) datagrams, so that no
/// ICMP port-unreachable is sent back.
pub struct UdpSink {
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpSink {
    pub fn bind(addr: Ipv4Addr, port: u16, echo: bool) -> Result<Self> {
        let socket = UdpSocket::bind(SocketAddrV4::new(addr, port))
            .wrap_err_with(|| format!("binding {addr}:{port}"))?;
        socket.set_read_timeout(Some(Duration::from_millis(50)))?;
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
        let socket = UdpSocket::bind(SocketAddrV4::new(src, src_port))?;
        socket.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut buf = [0u8; 2048];
        for (i, &len) in payload_bytes.iter().enumerate() {
            let payload = vec![(i % 251) as u8; len];
            socket.send_to(&payload, SocketAddrV4::new(dst, dst_port))?;
            if await_echo {
                let (n, _) = socket
                    .recv_from(&mut buf)
                    .map_err(|e| eyre!("no echo for datagram {i} from {src}:{src_port}: {e}"))?;
                if n != len {
                    return Err(eyre!("echo of datagram {i} has {n} bytes, sent {len}"));
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
