//! A capture of what crosses a lab interface, as tcpdump would take it: an AF_PACKET socket on
//! the interface (inside its namespace) that keeps, for every frame in either direction, its
//! first bytes, its length and the kernel's receive timestamp.
//!
//! The socket sees frames where the kernel's taps are: outgoing frames as the device gets them
//! (after GSO has cut a super-packet), incoming ones after GRO has merged them and after the
//! outermost VLAN tag went to metadata. A test that wants the wire therefore captures where no
//! GRO runs, and does not use this for tagged traffic (tcpdump puts the tag back from
//! PACKET_AUXDATA; this does not).

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use crate::error::{err, Context, Error, Result};

use super::receiver::{open_socket, socket_drops};

/// Bytes kept of each frame: every header the parser reads (two tags, IPv6, TCP with options).
pub const SNAP_BYTES: usize = 256;
const PACKET_OUTGOING: u8 = 4;

/// One captured frame.
#[derive(Clone, Debug)]
pub struct TappedFrame {
    /// The kernel's timestamp (CLOCK_REALTIME, ns).
    pub ts_ns: u64,
    /// Sent by this interface (else received).
    pub outgoing: bool,
    /// The frame's length.
    pub wire_len_bytes: u32,
    /// Its first [`SNAP_BYTES`] bytes.
    pub data: Vec<u8>,
}

/// What a capture holds when it stops.
#[derive(Clone, Debug, Default)]
pub struct Tapped {
    /// In arrival order.
    pub frames: Vec<TappedFrame>,
    /// Frames the socket had no room for (PACKET_STATISTICS): a capture with drops is not the
    /// whole wire.
    pub dropped: u64,
}

/// A running capture; [`FrameTap::finish`] stops it and hands over the frames.
pub struct FrameTap {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<Tapped>>,
}

fn enable_timestamps(fd: &OwnedFd) -> Result<()> {
    let one: libc::c_int = 1;
    // SAFETY: setsockopt with a pointer to a c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_TIMESTAMPNS,
            (&raw const one).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        )
    };
    if rc != 0 {
        return Err(Error::last_os("SO_TIMESTAMPNS"));
    }
    Ok(())
}

/// Receives one frame: `None` on timeout.
fn receive(fd: &OwnedFd, buf: &mut [u8]) -> Option<TappedFrame> {
    // SAFETY: zeroed sockaddr_ll / msghdr / control buffer are valid; every pointer below
    // refers to a live local of the size given.
    unsafe {
        let mut from: libc::sockaddr_ll = std::mem::zeroed();
        let mut control = [0u64; 16];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&raw mut from).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control);
        // MSG_TRUNC: the return value is the frame's real length, not the bytes copied.
        let n = libc::recvmsg(fd.as_raw_fd(), &raw mut msg, libc::MSG_TRUNC);
        if n < 0 {
            return None;
        }
        let mut ts_ns = 0;
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_TIMESTAMPNS {
                let ts: libc::timespec = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                ts_ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
        let kept = (n as usize).min(buf.len());
        Some(TappedFrame {
            ts_ns,
            outgoing: from.sll_pkttype == PACKET_OUTGOING,
            wire_len_bytes: n as u32,
            data: buf[..kept].to_vec(),
        })
    }
}

impl FrameTap {
    /// Starts capturing on `iface` in namespace `netns` (`None`: this process's own); returns
    /// once the socket is bound, so nothing sent afterwards is missed.
    pub fn start(netns: Option<&str>, iface: &str) -> Result<FrameTap> {
        let ns = match netns {
            Some(ns) => {
                let path = format!("/run/netns/{ns}");
                Some(std::fs::File::open(&path).context(|| format!("opening network namespace {path}"))?)
            }
            None => None,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let stop2 = stop.clone();
        let name = iface.to_string();
        let thread = std::thread::spawn(move || -> Tapped {
            let setup = || -> Result<OwnedFd> {
                if let Some(ns) = &ns {
                    // SAFETY: setns on a valid namespace fd affects only this thread.
                    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(Error::last_os("setns"));
                    }
                }
                let fd = open_socket(&name)?;
                enable_timestamps(&fd)?;
                Ok(fd)
            };
            let fd = match setup() {
                Ok(fd) => {
                    let _ = ready_tx.send(Ok(()));
                    fd
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e.within(format!("capturing on {name}"))));
                    return Tapped::default();
                }
            };
            let mut frames = Vec::new();
            let mut buf = vec![0u8; SNAP_BYTES];
            loop {
                match receive(&fd, &mut buf) {
                    Some(f) => frames.push(f),
                    // Timeout: only now may the thread stop, so every queued frame is kept.
                    None if stop2.load(Ordering::Relaxed) => break,
                    None => {}
                }
            }
            Tapped {
                frames,
                dropped: socket_drops(&fd),
            }
        });
        match ready_rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(FrameTap {
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(err!(Thread, "the capture thread for {iface} did not start")),
        }
    }

    /// Stops after the socket's queue is drained and returns what was captured.
    pub fn finish(mut self) -> Result<Tapped> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take() {
            Some(t) => t.join().map_err(|_| err!(Thread, "the capture thread panicked")),
            None => Ok(Tapped::default()),
        }
    }
}

impl Drop for FrameTap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
