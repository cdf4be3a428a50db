//! Sending whole Ethernet frames out of one interface with an AF_PACKET socket. The socket is
//! bound with protocol 0, so it never receives anything.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use color_eyre::eyre::{bail, Result};

pub struct FrameSender {
    fd: OwnedFd,
    iface: String,
}

impl FrameSender {
    /// Opens a sender on `iface` in the calling thread's network namespace.
    pub fn open(iface: &str) -> Result<Self> {
        let ifindex = crate::kernel::probe::ifindex(iface)?;
        // SAFETY: plain socket(2); the fd is owned below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            bail!(
                "AF_PACKET socket on {iface}: {} (needs CAP_NET_RAW)",
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
                &addr as *const libc::sockaddr_ll as *const libc::sockaddr,
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc != 0 {
            bail!(
                "binding AF_PACKET socket to {iface}: {}",
                std::io::Error::last_os_error()
            );
        }
        Ok(FrameSender {
            fd,
            iface: iface.to_string(),
        })
    }

    /// Sends one frame as it is.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        // SAFETY: frame is a valid buffer for the given length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            bail!(
                "sending a {}-byte frame on {}: {}",
                frame.len(),
                self.iface,
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }
}
