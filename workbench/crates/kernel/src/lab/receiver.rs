//! Counting the frames that arrive at a lab interface: an AF_PACKET socket bound to the
//! interface on a thread inside its namespace. It counts what the interface receives (not what
//! it sends) and reads the kernel's drop counter, so a count that falls short says whether the
//! socket or the path lost frames.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::error::{err, Context, Error, Result};

/// `<linux/if_packet.h>`: the packet type of frames the interface itself sent.
const PACKET_OUTGOING: u8 = 4;
const PACKET_STATISTICS: libc::c_int = 6;
/// Receive buffer for bursts: replay can outrun the counting thread for a while.
const RECEIVE_BUFFER_BYTES: libc::c_int = 64 * 1024 * 1024;

#[repr(C)]
#[derive(Default)]
struct TpacketStats {
    packets: u32,
    drops: u32,
}

pub struct FrameCounter {
    stop: Arc<AtomicBool>,
    received: Arc<AtomicU64>,
    dropped: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

pub(super) fn open_socket(iface: &str) -> Result<OwnedFd> {
    let eth_p_all = (libc::ETH_P_ALL as u16).to_be() as libc::c_int;
    // SAFETY: plain socket(2); the fd is owned right away.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, eth_p_all) };
    if raw < 0 {
        return Err(err!(
            Unsupported,
            "AF_PACKET receive socket: {} (needs CAP_NET_RAW)",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: raw is a fresh, valid fd.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let set = |level, name, value: *const libc::c_void, len: usize| {
        // SAFETY: value points at `len` readable bytes.
        unsafe { libc::setsockopt(fd.as_raw_fd(), level, name, value, len as u32) }
    };
    // SO_RCVBUFFORCE passes the rmem_max limit (we are privileged); fall back to the limit.
    let size = RECEIVE_BUFFER_BYTES;
    let p = (&raw const size).cast();
    if set(libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, p, 4) != 0 {
        set(libc::SOL_SOCKET, libc::SO_RCVBUF, p, 4);
    }
    // A short timeout lets the thread notice `stop`.
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 50_000,
    };
    set(
        libc::SOL_SOCKET,
        libc::SO_RCVTIMEO,
        (&raw const timeout).cast(),
        std::mem::size_of::<libc::timeval>(),
    );
    let ifindex = crate::probe::ifindex(iface)?;
    // SAFETY: zeroed sockaddr_ll is valid; we fill the fields bind needs.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = eth_p_all as u16;
    addr.sll_ifindex = ifindex as i32;
    // SAFETY: addr is a valid sockaddr_ll of the size passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if rc != 0 {
        return Err(Error::last_os(format!("binding the receive socket to {iface}")));
    }
    Ok(fd)
}

/// Kernel drops on the socket since the last call (PACKET_STATISTICS resets on read).
pub(super) fn socket_drops(fd: &OwnedFd) -> u64 {
    let mut stats = TpacketStats::default();
    let mut len = std::mem::size_of::<TpacketStats>() as u32;
    // SAFETY: stats is a writable tpacket_stats of the size passed.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            PACKET_STATISTICS,
            (&raw mut stats).cast(),
            &raw mut len,
        )
    };
    if rc == 0 {
        stats.drops as u64
    } else {
        0
    }
}

impl FrameCounter {
    /// Starts counting frames received by `iface` in namespace `netns`; returns once the
    /// socket is bound, so nothing sent afterwards is missed.
    pub fn start(netns: &str, iface: &str) -> Result<FrameCounter> {
        let path = format!("/run/netns/{netns}");
        let ns = std::fs::File::open(&path).context(|| format!("opening network namespace {path}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let received = Arc::new(AtomicU64::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let (stop2, received2, dropped2) = (stop.clone(), received.clone(), dropped.clone());
        let name = iface.to_string();
        let thread = std::thread::spawn(move || {
            // SAFETY: setns on a valid namespace fd affects only this thread.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                let _ = ready_tx.send(Err(Error::last_os(format!("setns into {path}"))));
                return;
            }
            let fd = match open_socket(&name) {
                Ok(fd) => fd,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            let mut buf = vec![0u8; 70_000];
            loop {
                // SAFETY: zeroed sockaddr_ll is valid as an output buffer.
                let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
                let mut from_len = std::mem::size_of::<libc::sockaddr_ll>() as u32;
                // SAFETY: buf and from are writable buffers of the sizes passed.
                let n = unsafe {
                    libc::recvfrom(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                        (&raw mut from).cast(),
                        &raw mut from_len,
                    )
                };
                if n >= 0 {
                    if from.sll_pkttype != PACKET_OUTGOING {
                        received2.fetch_add(1, Ordering::Relaxed);
                    }
                    continue;
                }
                // Timeout (or interruption): only now may the thread stop, so every frame
                // queued before `stop` is counted.
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
            }
            dropped2.fetch_add(socket_drops(&fd), Ordering::Relaxed);
        });
        match ready_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(FrameCounter {
                stop,
                received,
                dropped,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(err!(Thread, "the receive thread for {iface} did not start")),
        }
    }

    /// Frames received so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Stops counting after the socket's queue is drained; returns (received, dropped by the
    /// socket).
    pub fn finish(mut self) -> (u64, u64) {
        self.stop_thread();
        (
            self.received.load(Ordering::Relaxed),
            self.dropped.load(Ordering::Relaxed),
        )
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for FrameCounter {
    fn drop(&mut self) {
        self.stop_thread();
    }
}
