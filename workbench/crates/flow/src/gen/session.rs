//! The generator's building blocks: hosts, the frame and flow ledger, and a TCP connection that
//! keeps sequence numbers, acknowledgements and timing consistent in both directions.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;

use super::{FlowLabel, Label, TimedFrame};
use crate::craft::{self, Ipv4Endpoints, TcpSegment, TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN};

/// Largest TCP payload per segment: 1500-byte MTU, 20-byte IPv4 and TCP headers, no options.
pub const MSS: usize = 1460;

pub const MS: u64 = 1_000_000;
pub const SEC: u64 = 1_000_000_000;

/// One endpoint as the capture point sees it: its address and the TTL its packets arrive with
/// (initial TTL of its OS minus the hops to the capture point).
#[derive(Clone, Copy, Debug)]
pub struct Host {
    pub ip: Ipv4Addr,
    pub ttl: u8,
}

/// Locally administered MAC derived from the address, so each host keeps one MAC throughout.
fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn endpoints(from: &Host, to: &Host) -> Ipv4Endpoints {
    Ipv4Endpoints {
        src_mac: mac_of(from.ip),
        dst_mac: mac_of(to.ip),
        src: from.ip,
        dst: to.ip,
        ttl: from.ttl,
    }
}

/// Index of a flow in the ledger.
#[derive(Clone, Copy, Debug)]
pub struct FlowId(usize);

/// Canonical (order-free) 5-tuple, to keep every generated flow distinct: the capture's reader
/// groups packets by 5-tuple without timeouts, so a reused tuple would merge two labelled flows.
type TupleKey = ((u32, u16), (u32, u16), u8);

fn tuple_key(a: Ipv4Addr, ap: u16, b: Ipv4Addr, bp: u16, proto: u8) -> TupleKey {
    let x = (u32::from(a), ap);
    let y = (u32::from(b), bp);
    if x <= y {
        (x, y, proto)
    } else {
        (y, x, proto)
    }
}

/// Frames and flows generated so far, and the random stream everything draws from.
pub struct Gen {
    pub rng: ChaCha8Rng,
    pub frames: Vec<TimedFrame>,
    pub flows: Vec<FlowLabel>,
    used: HashSet<TupleKey>,
}

impl Gen {
    pub fn new(rng: ChaCha8Rng) -> Self {
        Gen {
            rng,
            frames: Vec::new(),
            flows: Vec::new(),
            used: HashSet::new(),
        }
    }

    /// Registers a flow with a fixed source port; `None` when that 5-tuple is already taken.
    pub fn flow(
        &mut self,
        src: &Host,
        sport: u16,
        dst: &Host,
        dport: u16,
        proto: u8,
        label: Label,
    ) -> Option<FlowId> {
        if !self.used.insert(tuple_key(src.ip, sport, dst.ip, dport, proto)) {
            return None;
        }
        self.flows.push(FlowLabel {
            src: src.ip,
            sport,
            dst: dst.ip,
            dport,
            proto,
            first_ts_ns: u64::MAX,
            last_ts_ns: 0,
            label,
        });
        Some(FlowId(self.flows.len() - 1))
    }

    /// Registers a flow from a random ephemeral source port (the Linux default range) that no
    /// other flow between these endpoints uses; `None` only if every port is taken.
    pub fn ephemeral_flow(
        &mut self,
        src: &Host,
        dst: &Host,
        dport: u16,
        proto: u8,
        label: Label,
    ) -> Option<FlowId> {
        for _ in 0..64 {
            let sport = self.rng.random_range(32768..=60999);
            if let Some(id) = self.flow(src, sport, dst, dport, proto, label) {
                return Some(id);
            }
        }
        (1024..=u16::MAX).find_map(|p| self.flow(src, p, dst, dport, proto, label))
    }

    /// Opens a flow from a free ephemeral port of `src` and returns it with that port (what a
    /// client socket gets from its kernel).
    pub fn open_ephemeral(
        &mut self,
        src: &Host,
        dst: &Host,
        dport: u16,
        proto: u8,
        label: Label,
    ) -> Option<(FlowId, u16)> {
        let flow = self.ephemeral_flow(src, dst, dport, proto, label)?;
        Some((flow, self.sport(flow)))
    }

    /// The source port a flow was registered with.
    pub fn sport(&self, flow: FlowId) -> u16 {
        self.flows.get(flow.0).map(|f| f.sport).unwrap_or_default()
    }

    /// Adds one frame of `flow` seen at `ts_ns`; the capture stores microseconds, so the stamp
    /// is truncated to them here and the labels agree with what a reader sees.
    pub fn emit(&mut self, flow: FlowId, ts_ns: u64, data: Vec<u8>) {
        let ts_ns = ts_ns / 1000 * 1000;
        if let Some(f) = self.flows.get_mut(flow.0) {
            f.first_ts_ns = f.first_ts_ns.min(ts_ns);
            f.last_ts_ns = f.last_ts_ns.max(ts_ns);
        }
        self.frames.push(TimedFrame { ts_ns, data });
    }

    pub fn udp(&mut self, flow: FlowId, ts_ns: u64, from: (&Host, u16), to: (&Host, u16), payload: &[u8]) {
        let frame = craft::ipv4_udp(&endpoints(from.0, to.0), from.1, to.1, payload);
        self.emit(flow, ts_ns, frame);
    }

    /// `n` pseudo-random bytes (encrypted-looking payload).
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    /// Uniform duration in `lo..=hi` nanoseconds.
    pub fn dur(&mut self, lo: u64, hi: u64) -> u64 {
        self.rng.random_range(lo..=hi.max(lo))
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }
}

/// One TCP connection between a client (the initiator) and a server, with its own clock `t`.
/// The capture point sits next to the client: a server's answer appears one round trip after
/// the client's packet.
pub struct Tcp {
    pub flow: FlowId,
    pub client: Host,
    pub server: Host,
    pub cport: u16,
    pub sport: u16,
    cseq: u32,
    sseq: u32,
    cwin: u16,
    swin: u16,
    pub rtt: u64,
    pub t: u64,
}

impl Tcp {
    pub fn new(g: &mut Gen, flow: FlowId, client: Host, server: Host, t: u64, rtt: u64) -> Self {
        let (cport, sport) = g
            .flows
            .get(flow.0)
            .map(|f| (f.sport, f.dport))
            .unwrap_or_default();
        Tcp {
            flow,
            client,
            server,
            cport,
            sport,
            cseq: g.rng.next_u32(),
            sseq: g.rng.next_u32(),
            // Initial windows of the usual stacks (Linux 64240, Windows 64240/65535, BSD 65535).
            cwin: [64240, 65535, 29200][g.rng.random_range(0..3)],
            swin: [65160, 28960, 65535][g.rng.random_range(0..3)],
            rtt,
            t,
        }
    }

    /// The client's next sequence number (its SYN's, before the handshake).
    pub fn client_seq(&self) -> u32 {
        self.cseq
    }

    /// The window the client's stack advertises.
    pub fn client_window(&self) -> u16 {
        self.cwin
    }

    /// Sends one segment now, from the client or the server; SYN and FIN take a sequence number.
    pub fn send(&mut self, g: &mut Gen, from_client: bool, flags: u8, payload: &[u8]) {
        let (from, to, fport, tport, seq, ack, win) = if from_client {
            (
                &self.client,
                &self.server,
                self.cport,
                self.sport,
                self.cseq,
                self.sseq,
                self.cwin,
            )
        } else {
            (
                &self.server,
                &self.client,
                self.sport,
                self.cport,
                self.sseq,
                self.cseq,
                self.swin,
            )
        };
        let frame = craft::ipv4_tcp(
            &endpoints(from, to),
            &TcpSegment {
                src_port: fport,
                dst_port: tport,
                seq,
                ack: if flags & TCP_ACK != 0 { ack } else { 0 },
                flags,
                window: win,
                payload,
            },
        );
        g.emit(self.flow, self.t, frame);
        let advance = payload.len() as u32 + u32::from(flags & (TCP_SYN | TCP_FIN) != 0);
        if from_client {
            self.cseq = self.cseq.wrapping_add(advance);
        } else {
            self.sseq = self.sseq.wrapping_add(advance);
        }
    }

    /// A connection opened with the three-way handshake at `t` (the session start every TCP
    /// scenario shares).
    pub fn open(g: &mut Gen, flow: FlowId, client: Host, server: Host, t: u64, rtt: u64) -> Self {
        let mut c = Tcp::new(g, flow, client, server, t, rtt);
        c.handshake(g);
        c
    }

    /// SYN, SYN-ACK one round trip later, ACK.
    pub fn handshake(&mut self, g: &mut Gen) {
        self.send(g, true, TCP_SYN, &[]);
        self.t += self.rtt;
        self.send(g, false, TCP_SYN | TCP_ACK, &[]);
        self.t += g.dur(20_000, 200_000);
        self.send(g, true, TCP_ACK, &[]);
    }

    /// Sends `data` in MSS-sized segments back to back; the receiver acknowledges every second
    /// segment (delayed ACK) and the last one. Returns with the clock after the final ACK.
    pub fn transfer(&mut self, g: &mut Gen, from_client: bool, data: &[u8]) {
        let chunks: Vec<&[u8]> = data.chunks(MSS).collect();
        let n = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let last = i + 1 == n;
            let flags = if last { TCP_PSH | TCP_ACK } else { TCP_ACK };
            self.send(g, from_client, flags, chunk);
            if i % 2 == 1 || last {
                // The receiver's ACK: immediate at the capture point when the client receives,
                // one round trip later when the server does.
                self.t += if from_client {
                    self.rtt
                } else {
                    g.dur(30_000, 400_000)
                };
                self.send(g, !from_client, TCP_ACK, &[]);
            }
            // Serialization and pacing between segments of a burst.
            self.t += g.dur(15_000, 250_000);
        }
    }

    /// Orderly close initiated by `client_first`'s side: FIN, FIN-ACK, ACK.
    pub fn close(&mut self, g: &mut Gen, client_first: bool) {
        self.send(g, client_first, TCP_FIN | TCP_ACK, &[]);
        self.t += if client_first {
            self.rtt
        } else {
            g.dur(50_000, 400_000)
        };
        self.send(g, !client_first, TCP_FIN | TCP_ACK, &[]);
        self.t += if client_first {
            g.dur(30_000, 300_000)
        } else {
            self.rtt
        };
        self.send(g, client_first, TCP_ACK, &[]);
    }
}
