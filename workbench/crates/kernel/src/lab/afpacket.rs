//! Sending whole Ethernet frames out of one interface with an AF_PACKET socket. The socket is
//! bound with protocol 0, so it never receives anything.
//!
//! Constants of `<linux/if_packet.h>` are spelled out here because not every libc crate
//! version exports them on every target.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{fail, Error, Result};

pub struct FrameSender {
    fd: OwnedFd,
    iface: String,
}

/// Messages one sendmmsg(2) call takes at most (UIO_MAXIOV).
const SENDMMSG_MAX: usize = 1024;

impl FrameSender {
    /// Opens a sender on `iface` in the calling thread's network namespace.
    pub fn open(iface: &str) -> Result<Self> {
        let ifindex = crate::probe::ifindex(iface)?;
        // SAFETY: plain socket(2); the fd is owned below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            fail!(
                Unsupported,
                "AF_PACKET socket on {iface}: {} (needs CAP_NET_RAW; run as root)",
                std::io::Error::last_os_error()
            );
        }
        // SAFETY: raw is a fresh, valid fd.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: zeroed sockaddr_ll is valid; we fill the fields bind needs.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = libc::AF_PACKET as u16;
        addr.sll_ifindex = ifindex as i32;
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&raw const addr).cast::<libc::sockaddr>(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            return Err(Error::last_os(format!("binding AF_PACKET socket to {iface}")));
        }
        Ok(FrameSender {
            fd,
            iface: iface.to_string(),
        })
    }

    /// Hands frames straight to the driver, skipping the queueing discipline (for top-speed
    /// replay: on a veth the qdisc only adds a lock and a queue that can drop).
    pub fn bypass_qdisc(&self) -> Result<()> {
        const PACKET_QDISC_BYPASS: libc::c_int = 20;
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a pointer to a c_int of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                PACKET_QDISC_BYPASS,
                (&raw const one).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        if rc != 0 {
            return Err(Error::last_os(format!("PACKET_QDISC_BYPASS on {}", self.iface)));
        }
        Ok(())
    }

    /// Sends a batch of frames with one sendmmsg(2) call per run of successes. Returns, per
    /// frame, `None` when it was sent or the error that refused it; a refused frame does not
    /// stop the frames after it, and is tried once, like every frame.
    pub fn send_batch(&self, frames: &[Vec<u8>]) -> Vec<Option<std::io::Error>> {
        let mut iovecs: Vec<libc::iovec> = frames
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.as_ptr() as *mut libc::c_void,
                iov_len: f.len(),
            })
            .collect();
        // SAFETY: a zeroed msghdr is valid (no name, no control data); each points at one iovec.
        let mut msgs: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .map(|iov| {
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_iov = std::ptr::from_mut::<libc::iovec>(iov);
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        let mut results = Vec::with_capacity(frames.len());
        let mut at = 0;
        while at < msgs.len() {
            // The kernel takes at most UIO_MAXIOV messages a call and returns that many with no
            // error: a call of more would read as a refusal of the first one past the limit.
            let end = (at + SENDMMSG_MAX).min(msgs.len());
            let rest = &mut msgs[at..end];
            let asked = rest.len();
            // SAFETY: rest points at valid mmsghdrs whose iovecs borrow live frames.
            let n = unsafe { libc::sendmmsg(self.fd.as_raw_fd(), rest.as_mut_ptr(), asked as u32, 0) };
            if n < 0 {
                // The first frame of the run was refused: record why and go on after it.
                results.push(Some(std::io::Error::last_os_error()));
                at += 1;
            } else if n == 0 {
                // Cannot happen with a non-empty batch; never loop on it.
                results.push(Some(std::io::Error::other("sendmmsg sent nothing")));
                at += 1;
            } else {
                results.extend((0..n).map(|_| None));
                at += n as usize;
                if (n as usize) < asked {
                    // The frame after the last one sent was tried and refused, and sendmmsg
                    // drops its error. Not sent again to learn it: a frame that a tc program or
                    // qdisc dropped (ENOBUFS) would go through them a second time.
                    results.push(Some(std::io::Error::other(
                        "refused by the kernel after the frames before it in the same sendmmsg call \
                         were sent (sendmmsg does not say why: ENOBUFS when a tc program or qdisc \
                         dropped it, EMSGSIZE when it is longer than the link's MTU, ...)",
                    )));
                    at += 1;
                }
            }
        }
        results
    }

    /// Sends one frame as it is.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        // SAFETY: frame is a valid buffer for the given length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(Error::last_os(format!(
                "sending a {}-byte frame on {}",
                frame.len(),
                self.iface
            )));
        }
        Ok(())
    }
}
