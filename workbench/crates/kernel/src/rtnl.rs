//! The few rtnetlink requests of the classic tc path that aya 0.13.1 does not offer: listing the
//! qdiscs and filters of an interface (with each cls_bpf filter's program id) and deleting the
//! clsact qdisc. aya does the rest: `tc::qdisc_add_clsact`, attaching a direct-action cls_bpf
//! filter (`TcAttachOptions::Netlink`) and deleting one (`SchedClassifierLink::attached`); its
//! filter dump is crate-private and matches by program name only, which cannot tell our filter
//! from another program of the same name.
//!
//! Messages are built and parsed by hand (struct layouts from include/uapi/linux/rtnetlink.h and
//! pkt_sched.h/pkt_cls.h); the socket belongs to the calling thread's network namespace, so a
//! caller inside `lab::netns::run_in` sees that namespace's interfaces.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::{fail, Error, Result};

const NLMSG_HDR_BYTES: usize = 16;
const TCMSG_BYTES: usize = 20;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
/// In an NLMSG_ERROR reply: the original request is not echoed in full.
const NLM_F_CAPPED: u16 = 0x100;
/// In an NLMSG_ERROR reply: extended-ack attributes follow.
const NLM_F_ACK_TLVS: u16 = 0x200;
const NLMSGERR_ATTR_MSG: u16 = 1;
const RTM_DELQDISC: u16 = 37;
const RTM_GETQDISC: u16 = 38;
const RTM_NEWQDISC: u16 = 36;
const RTM_NEWTFILTER: u16 = 44;
const RTM_GETTFILTER: u16 = 46;
const TCA_KIND: u16 = 1;
const TCA_OPTIONS: u16 = 2;
const TCA_BPF_NAME: u16 = 7;
const TCA_BPF_FLAGS: u16 = 8;
const TCA_BPF_ID: u16 = 11;
const TCA_BPF_FLAG_ACT_DIRECT: u32 = 1;
const NLA_TYPE_MASK: u16 = 0x3fff;

/// `TC_H_CLSACT` (= `TC_H_INGRESS`): the parent of the clsact (or ingress) qdisc.
pub const TC_H_CLSACT: u32 = 0xFFFF_FFF1;
/// The handle of the clsact (or ingress) qdisc, `ffff:`.
pub const CLSACT_HANDLE: u32 = 0xFFFF_0000;
/// Parents of filters at clsact's ingress and egress hooks (`TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_*)`).
pub const PARENT_INGRESS: u32 = 0xFFFF_FFF2;
pub const PARENT_EGRESS: u32 = 0xFFFF_FFF3;

/// A qdisc of an interface, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qdisc {
    pub handle: u32,
    pub parent: u32,
    pub kind: String,
}

/// A tc filter at one hook, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub priority: u16,
    pub handle: u32,
    pub kind: String,
    /// For cls_bpf filters: the id of the program (TCA_BPF_ID, Linux 4.13+).
    pub bpf_id: Option<u32>,
    pub bpf_name: Option<String>,
    pub direct_action: bool,
}

struct Socket(OwnedFd);

impl Socket {
    fn open() -> Result<Socket> {
        // SAFETY: plain socket(2); the fd is owned from here on.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(Error::last_os("opening a netlink socket"));
        }
        // SAFETY: the kernel just returned this fd to us.
        let sock = Socket(unsafe { OwnedFd::from_raw_fd(fd) });
        // Extended acks carry the kernel's one-line reason ("Exclusivity flag on, ...").
        let one: libc::c_int = 1;
        // SAFETY: setsockopt with a valid int option; failure only loses the reason text.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_NETLINK,
                libc::NETLINK_EXT_ACK,
                (&raw const one).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        Ok(sock)
    }

    fn send(&self, msg: &[u8]) -> Result<()> {
        // SAFETY: sockaddr_nl is plain data; zeroed is "the kernel" (pid 0).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: msg and addr are valid for the lengths passed.
        let rc = unsafe {
            libc::sendto(
                self.0.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&raw const addr).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(Error::last_os("sending a netlink request"));
        }
        Ok(())
    }

    /// Receives the replies to one request: the payloads of messages of type `want` until
    /// NLMSG_DONE (a dump) or the acknowledgement (NLMSG_ERROR with error 0). The inner error is
    /// the kernel's refusal, the outer one a failure to talk to it.
    fn replies(&self, want: u16, what: &str) -> Result<Result<Vec<Vec<u8>>, NetlinkError>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: buf is valid for its length.
            let n = unsafe { libc::recv(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(Error::io(format!("{what}: receiving the netlink reply"), e));
            }
            let mut rest = &buf[..n as usize];
            if rest.is_empty() {
                return Ok(Ok(out));
            }
            while rest.len() >= NLMSG_HDR_BYTES {
                let len = u32_at(rest, 0) as usize;
                if len < NLMSG_HDR_BYTES || len > rest.len() {
                    fail!(
                        Mismatch,
                        "{what}: malformed netlink message ({len} bytes of {} left)",
                        rest.len()
                    );
                }
                let (kind, flags) = (u16_at(rest, 4), u16_at(rest, 6));
                let payload = &rest[NLMSG_HDR_BYTES..len];
                match kind {
                    NLMSG_DONE => return Ok(Ok(out)),
                    NLMSG_ERROR => {
                        let errno = payload
                            .get(..4)
                            .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                        if errno == 0 {
                            return Ok(Ok(out));
                        }
                        return Ok(Err(NetlinkError {
                            errno: -errno,
                            reason: ack_message(payload, flags),
                        }));
                    }
                    k if k == want => out.push(payload.to_vec()),
                    _ => {}
                }
                rest = &rest[align4(len).min(rest.len())..];
            }
        }
    }
}

/// A request refused by the kernel: errno and, when the kernel gave one, its reason.
#[derive(Debug)]
pub struct NetlinkError {
    pub errno: i32,
    pub reason: Option<String>,
}

impl std::error::Error for NetlinkError {}

impl std::fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.errno))?;
        if let Some(r) = &self.reason {
            write!(f, " ({r})")?;
        }
        Ok(())
    }
}

/// The extended-ack message of an NLMSG_ERROR payload, if any.
fn ack_message(payload: &[u8], flags: u16) -> Option<String> {
    if flags & NLM_F_ACK_TLVS == 0 {
        return None;
    }
    // errno, then the request's header (and its payload unless capped), then attributes.
    let echoed = payload.get(4..4 + NLMSG_HDR_BYTES)?;
    let skip = if flags & NLM_F_CAPPED != 0 {
        NLMSG_HDR_BYTES
    } else {
        u32_at(echoed, 0) as usize
    };
    let attrs = payload.get(4 + align4(skip)..)?;
    let msg = attributes(attrs)
        .into_iter()
        .find(|(t, _)| *t == NLMSGERR_ATTR_MSG)?
        .1;
    Some(String::from_utf8_lossy(msg).trim_end_matches('\0').to_string())
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The attributes in `b` as (type, payload); a truncated tail is ignored.
fn attributes(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16_at(b, 0) as usize;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((u16_at(b, 2) & NLA_TYPE_MASK, &b[4..len]));
        b = &b[align4(len).min(b.len())..];
    }
    out
}

fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

/// A request of `kind` with a tcmsg body and no attributes.
fn tc_request(kind: u16, flags: u16, ifindex: u32, handle: u32, parent: u32) -> Vec<u8> {
    let len = NLMSG_HDR_BYTES + TCMSG_BYTES;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
    m.extend_from_slice(&1u32.to_ne_bytes()); // sequence
    m.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
    m.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    m.extend_from_slice(&(ifindex as i32).to_ne_bytes());
    m.extend_from_slice(&handle.to_ne_bytes());
    m.extend_from_slice(&parent.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // info
    m
}

/// The qdiscs of interface `ifindex` (the dump lists every interface's; we keep ours).
pub fn qdiscs(ifindex: u32) -> Result<Vec<Qdisc>> {
    let sock = Socket::open()?;
    sock.send(&tc_request(RTM_GETQDISC, NLM_F_DUMP, 0, 0, 0))?;
    let mut out = Vec::new();
    let replies = sock
        .replies(RTM_NEWQDISC, "listing qdiscs")?
        .map_err(|source| Error::Netlink {
            what: "listing qdiscs".into(),
            source,
        })?;
    for msg in replies {
        if msg.len() < TCMSG_BYTES || u32_at(&msg, 4) != ifindex {
            continue;
        }
        let kind = attributes(&msg[TCMSG_BYTES..])
            .into_iter()
            .find(|(t, _)| *t == TCA_KIND)
            .map(|(_, v)| c_string(v))
            .unwrap_or_default();
        out.push(Qdisc {
            handle: u32_at(&msg, 8),
            parent: u32_at(&msg, 12),
            kind,
        });
    }
    Ok(out)
}

/// The qdisc at clsact's place (`ffff:` under `TC_H_CLSACT`): clsact, or the older `ingress`.
pub fn clsact_slot(ifindex: u32) -> Result<Option<Qdisc>> {
    Ok(qdiscs(ifindex)?
        .into_iter()
        .find(|q| q.parent == TC_H_CLSACT && q.handle == CLSACT_HANDLE))
}

/// The filters of interface `ifindex` at hook `parent` ([`PARENT_INGRESS`], [`PARENT_EGRESS`]).
/// An interface without a clsact qdisc has none (the kernel answers EINVAL/ENOENT there).
pub fn filters(ifindex: u32, parent: u32) -> Result<Vec<Filter>> {
    let sock = Socket::open()?;
    sock.send(&tc_request(RTM_GETTFILTER, NLM_F_DUMP, ifindex, 0, parent))?;
    let replies = match sock.replies(RTM_NEWTFILTER, "listing tc filters")? {
        Ok(r) => r,
        // No qdisc to hold filters: nothing to list (the refusal is the kernel's way to say so).
        Err(_) if clsact_slot(ifindex)?.is_none() => return Ok(Vec::new()),
        Err(source) => {
            return Err(Error::Netlink {
                what: format!("listing the tc filters of interface {ifindex}"),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for msg in replies {
        if msg.len() < TCMSG_BYTES {
            continue;
        }
        let info = u32_at(&msg, 16);
        let mut filter = Filter {
            priority: (info >> 16) as u16,
            handle: u32_at(&msg, 8),
            kind: String::new(),
            bpf_id: None,
            bpf_name: None,
            direct_action: false,
        };
        for (t, v) in attributes(&msg[TCMSG_BYTES..]) {
            match t {
                TCA_KIND => filter.kind = c_string(v),
                TCA_OPTIONS => {
                    for (o, w) in attributes(v) {
                        match o {
                            TCA_BPF_ID if w.len() >= 4 => filter.bpf_id = Some(u32_at(w, 0)),
                            TCA_BPF_NAME => filter.bpf_name = Some(c_string(w)),
                            TCA_BPF_FLAGS if w.len() >= 4 => {
                                filter.direct_action = u32_at(w, 0) & TCA_BPF_FLAG_ACT_DIRECT != 0;
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        // A dump also lists one entry per priority without a handle (the chain head): skip it.
        if filter.handle != 0 {
            out.push(filter);
        }
    }
    Ok(out)
}

/// Deletes the clsact qdisc of `ifindex` (and with it any filter still on it). False: there was
/// none.
pub fn delete_clsact(ifindex: u32) -> Result<bool> {
    let sock = Socket::open()?;
    sock.send(&tc_request(
        RTM_DELQDISC,
        NLM_F_ACK,
        ifindex,
        CLSACT_HANDLE,
        TC_H_CLSACT,
    ))?;
    match sock.replies(RTM_NEWQDISC, "deleting the clsact qdisc")? {
        Ok(_) => Ok(true),
        Err(e) if e.errno == libc::ENOENT || e.errno == libc::EINVAL => Ok(false),
        Err(source) => Err(Error::Netlink {
            what: format!("deleting the clsact qdisc of interface {ifindex}"),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(t: u16, v: &[u8]) -> Vec<u8> {
        let mut a = Vec::new();
        a.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        a.extend_from_slice(&t.to_ne_bytes());
        a.extend_from_slice(v);
        a.resize(align4(a.len()), 0);
        a
    }

    #[test]
    fn attributes_are_split_with_alignment_and_a_truncated_tail_is_ignored() {
        let mut b = attr(TCA_KIND, b"bpf\0");
        b.extend(attr(TCA_BPF_ID, &7u32.to_ne_bytes()));
        b.extend(attr(TCA_BPF_NAME, b"workbench_tc\0"));
        b.extend_from_slice(&[200, 0, 1]);
        let a = attributes(&b);
        assert_eq!(a.len(), 3);
        assert_eq!(c_string(a[0].1), "bpf");
        assert_eq!(u32_at(a[1].1, 0), 7);
        assert_eq!(c_string(a[2].1), "workbench_tc");
    }

    #[test]
    fn the_kernels_reason_is_read_from_an_extended_ack() {
        // errno, the echoed request header (capped), then NLMSGERR_ATTR_MSG.
        let mut payload = (-17i32).to_ne_bytes().to_vec();
        payload.extend(tc_request(RTM_NEWQDISC, 0, 3, 0, 0)[..NLMSG_HDR_BYTES].iter());
        payload.extend(attr(NLMSGERR_ATTR_MSG, b"Exclusivity flag on, cannot modify\0"));
        assert_eq!(
            ack_message(&payload, NLM_F_ACK_TLVS | NLM_F_CAPPED).as_deref(),
            Some("Exclusivity flag on, cannot modify")
        );
        assert_eq!(ack_message(&payload, 0), None);
        let e = NetlinkError {
            errno: 17,
            reason: Some("x".into()),
        };
        assert!(e.to_string().contains("File exists") && e.to_string().ends_with("(x)"));
    }

    #[test]
    fn a_request_has_the_tcmsg_layout() {
        let m = tc_request(RTM_DELQDISC, NLM_F_ACK, 9, CLSACT_HANDLE, TC_H_CLSACT);
        assert_eq!(m.len(), 36);
        assert_eq!(u32_at(&m, 0), 36);
        assert_eq!(u16_at(&m, 4), RTM_DELQDISC);
        assert_eq!(u16_at(&m, 6), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(u32_at(&m, 20), 9);
        assert_eq!(u32_at(&m, 24), CLSACT_HANDLE);
        assert_eq!(u32_at(&m, 28), TC_H_CLSACT);
    }
}
