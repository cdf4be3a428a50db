//! A TCP connection attempt as any client's kernel makes it, shared by benign clients whose
//! service is down, refuses or is only checked, and by connect() port scanners and connection
//! floods: flow by flow the two look the same, which is what a per-flow detector is up against.

use super::session::{endpoints, FlowId, Gen, Host, Tcp, SEC};
use crate::craft::{self, TcpSegment, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN};

/// Ports of common services: where applications connect and where scanners look first.
pub const SERVICE_PORTS: [u16; 10] = [22, 80, 443, 445, 3389, 8080, 3306, 5432, 139, 25];

/// What the far side does with a SYN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Nothing (filtered, or the host is down): the client retransmits.
    Silent,
    /// RST-ACK (closed port).
    Refused,
    /// SYN-ACK: the handshake completes.
    Accepted,
}

impl Answer {
    /// Silent, refused or accepted with the given percentages (the rest accepted).
    pub fn draw(g: &mut Gen, silent_pct: u32, refused_pct: u32) -> Answer {
        let r = g.dur(0, 99) as u32;
        if r < silent_pct {
            Answer::Silent
        } else if r < silent_pct + refused_pct {
            Answer::Refused
        } else {
            Answer::Accepted
        }
    }
}

/// A lone segment outside any [`Tcp`] bookkeeping (probes, retransmitted SYNs, resets).
#[allow(clippy::too_many_arguments)]
pub fn segment(
    g: &mut Gen,
    flow: FlowId,
    t: u64,
    from: (&Host, u16),
    to: (&Host, u16),
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
) {
    let frame = craft::ipv4_tcp(
        &endpoints(from.0, to.0),
        &TcpSegment {
            src_port: from.1,
            dst_port: to.1,
            seq,
            ack,
            flags,
            window,
            payload: &[],
        },
    );
    g.emit(flow, t, frame);
}

/// A connect() from `client` at `t`: the SYN with the client stack's window; unanswered, the
/// same SYN again after 1 s, then 2 s more (Linux's backoff), `retries` times; refused, the
/// RST-ACK one round trip later; accepted, the whole handshake, and the open connection is
/// returned for the caller to use or close.
pub fn connect(
    g: &mut Gen,
    flow: FlowId,
    (client, server): (Host, Host),
    t: u64,
    rtt: u64,
    answer: Answer,
    retries: u32,
) -> Option<Tcp> {
    let mut c = Tcp::new(g, flow, client, server, t, rtt);
    match answer {
        Answer::Accepted => {
            c.handshake(g);
            Some(c)
        }
        Answer::Silent => {
            let (seq, window) = (c.client_seq(), c.client_window());
            let (cp, sp) = (c.cport, c.sport);
            let mut at = t;
            for i in 0..=retries.min(4) {
                if i > 0 {
                    at += SEC << (i - 1);
                }
                segment(g, flow, at, (&client, cp), (&server, sp), seq, 0, TCP_SYN, window);
            }
            None
        }
        Answer::Refused => {
            let (seq, window) = (c.client_seq(), c.client_window());
            let (cp, sp) = (c.cport, c.sport);
            segment(g, flow, t, (&client, cp), (&server, sp), seq, 0, TCP_SYN, window);
            segment(
                g,
                flow,
                t + rtt,
                (&server, sp),
                (&client, cp),
                0,
                seq.wrapping_add(1),
                TCP_RST | TCP_ACK,
                0,
            );
            None
        }
    }
}

/// Ends an open connection from the client's side right away: a RST (what a scanner or an
/// aborting application sends) or an orderly FIN exchange.
pub fn hang_up(g: &mut Gen, c: &mut Tcp, reset: bool) {
    c.t += g.dur(50_000, 2_000_000);
    if reset {
        c.send(g, true, TCP_RST | TCP_ACK, &[]);
    } else {
        c.close(g, true);
    }
}

/// Leaves an open connection idle until the server gives up on it after `idle_ns`: its FIN,
/// and the client's ACK (or RST when the client process is gone).
pub fn server_timeout(g: &mut Gen, c: &mut Tcp, idle_ns: u64) {
    c.t += idle_ns;
    c.send(g, false, TCP_FIN | TCP_ACK, &[]);
    c.t += c.rtt;
    let flags = if g.chance(0.3) { TCP_RST } else { TCP_ACK };
    c.send(g, true, flags, &[]);
}
