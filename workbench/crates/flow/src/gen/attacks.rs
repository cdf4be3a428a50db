//! Attack campaigns: SYN flood, horizontal and vertical port scans, DNS and NTP reflection, and
//! slowloris. Each takes its start time; [`World`] decides where the attacker sits.

use std::net::Ipv4Addr;

use rand::seq::SliceRandom;
use rand::Rng;

use super::payload;
use super::session::{endpoints, Gen, Host, Tcp, MS, SEC};
use super::world::{os_ttl, World, AMP_FLOWS, HSCAN_FLOWS, SLOWLORIS_FLOWS, SYN_FLOOD_FLOWS, VSCAN_FLOWS};
use super::Label;
use crate::craft::{self, TcpSegment, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN};

const SYN_FLOOD: Label = Label {
    label: "SYN_FLOOD",
    scenario: "syn_flood",
};
const HSCAN: Label = Label {
    label: "PORTSCAN",
    scenario: "portscan_horizontal",
};
const VSCAN: Label = Label {
    label: "PORTSCAN",
    scenario: "portscan_vertical",
};
const AMP_DNS: Label = Label {
    label: "UDP_AMPLIFICATION",
    scenario: "amplification_dns_any",
};
const AMP_NTP: Label = Label {
    label: "UDP_AMPLIFICATION",
    scenario: "amplification_ntp_monlist",
};
const SLOWLORIS: Label = Label {
    label: "SLOW_HTTP",
    scenario: "slowloris",
};

/// A lone segment outside any [`Tcp`] bookkeeping (probes and their answers).
#[allow(clippy::too_many_arguments)]
fn segment(
    g: &mut Gen,
    flow: super::session::FlowId,
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

/// Spoofed SYNs at a web server, none ever completed. The server answers most with a SYN-ACK
/// and retransmits it (1 s, then 3 s later) to a source that never replies; once its backlog
/// is full it drops the rest silently.
pub fn syn_flood(g: &mut Gen, w: &World, start: u64) {
    let attacker = w.attacker(g);
    let victim = w.web_servers.first().copied().unwrap_or(attacker);
    let mut t = start;
    for _ in 0..SYN_FLOOD_FLOWS {
        t += g.dur(MS / 2, 8 * MS);
        let src = w.spoofed(g, attacker);
        let Some((flow, sport)) = g.open_ephemeral(&src, &victim, 80, 6, SYN_FLOOD) else {
            continue;
        };
        let seq = g.rng.random::<u32>();
        // Flood tools use a fixed small window or copy a common OS's.
        let window = [512, 1024, 64240][g.rng.random_range(0..3)];
        segment(g, flow, t, (&src, sport), (&victim, 80), seq, 0, TCP_SYN, window);
        if g.chance(0.7) {
            let sseq = g.rng.random::<u32>();
            let mut rt = t + g.dur(10 * MS, 40 * MS);
            for retry in 0..g.rng.random_range(1..=3) {
                let flags = TCP_SYN | TCP_ACK;
                segment(
                    g,
                    flow,
                    rt,
                    (&victim, 80),
                    (&src, sport),
                    sseq,
                    seq.wrapping_add(1),
                    flags,
                    65160,
                );
                rt += SEC << retry;
            }
        }
    }
}

/// A SYN probe and the target's answer: nothing (filtered; the scanner retries once), RST
/// (closed), or SYN-ACK (open) which the scanner tears down with a RST.
fn probe(
    g: &mut Gen,
    flow: super::session::FlowId,
    t: u64,
    scanner: (&Host, u16),
    target: (&Host, u16),
    open: Option<bool>,
) {
    let seq = g.rng.random::<u32>();
    segment(g, flow, t, scanner, target, seq, 0, TCP_SYN, 1024);
    let rtt = g.dur(MS / 5, 5 * MS);
    match open {
        None => segment(g, flow, t + SEC, scanner, target, seq, 0, TCP_SYN, 1024),
        Some(false) => segment(
            g,
            flow,
            t + rtt,
            target,
            scanner,
            0,
            seq.wrapping_add(1),
            TCP_RST | TCP_ACK,
            0,
        ),
        Some(true) => {
            let sseq = g.rng.random::<u32>();
            segment(
                g,
                flow,
                t + rtt,
                target,
                scanner,
                sseq,
                seq.wrapping_add(1),
                TCP_SYN | TCP_ACK,
                64240,
            );
            let teardown = t + rtt + g.dur(10_000, 100_000);
            segment(
                g,
                flow,
                teardown,
                scanner,
                target,
                seq.wrapping_add(1),
                0,
                TCP_RST,
                0,
            );
        }
    }
}

/// One port across many hosts of the server network, from one source port (as a SYN scanner
/// keeps it for a run).
pub fn horizontal_scan(g: &mut Gen, w: &World, start: u64) {
    let scanner = w.attacker(g);
    let port = [22, 445, 3389][g.rng.random_range(0..3)];
    let sport = g.rng.random_range(32768..=60999);
    let mut hosts: Vec<u16> = (1..1022).collect();
    hosts.shuffle(&mut g.rng);
    let mut t = start;
    for h in hosts.into_iter().take(HSCAN_FLOWS) {
        t += g.dur(2 * MS, 30 * MS);
        let target = Host {
            ip: Ipv4Addr::new(10, 20, (h >> 8) as u8, (h & 0xff) as u8),
            ttl: os_ttl(g, 0, 1),
        };
        let Some(flow) = g.flow(&scanner, sport, &target, port, 6, HSCAN) else {
            continue;
        };
        let open = match g.rng.random_range(0..10) {
            0..6 => None,
            6..9 => Some(false),
            _ => Some(true),
        };
        probe(g, flow, t, (&scanner, sport), (&target, port), open);
    }
}

/// Many ports of one host: closed ports answer RST, the few open ones SYN-ACK.
pub fn vertical_scan(g: &mut Gen, w: &World, start: u64) {
    let scanner = w.attacker(g);
    let target = w.ssh_servers.first().copied().unwrap_or(scanner);
    let sport = g.rng.random_range(32768..=60999);
    let open_ports = [22u16, 80, 443];
    let mut ports: Vec<u16> = (1..=1024).filter(|p| !open_ports.contains(p)).collect();
    ports.shuffle(&mut g.rng);
    ports.truncate(VSCAN_FLOWS.saturating_sub(open_ports.len()));
    ports.extend(open_ports);
    ports.shuffle(&mut g.rng);
    let mut t = start;
    for port in ports {
        t += g.dur(MS, 15 * MS);
        let Some(flow) = g.flow(&scanner, sport, &target, port, 6, VSCAN) else {
            continue;
        };
        probe(
            g,
            flow,
            t,
            (&scanner, sport),
            (&target, port),
            Some(open_ports.contains(&port)),
        );
    }
}

/// Reflectors on the internet (198.18.0.0/15, the benchmarking range).
fn reflectors(g: &mut Gen, n: usize) -> Vec<Host> {
    let mut v: Vec<u32> = (0..2048).collect();
    v.shuffle(&mut g.rng);
    v.into_iter()
        .take(n)
        .map(|i| Host {
            // Odd last octets 1-255 over 198.18.0-15.x: 2048 distinct addresses, none a .0.
            ip: Ipv4Addr::new(198, 18, (i >> 7) as u8, ((i & 0x7f) * 2 + 1) as u8),
            ttl: os_ttl(g, 4, 10),
        })
        .collect()
}

/// One reflected flow: the spoofed victim's port and the reflector, and when it starts.
struct Reflected {
    flow: super::session::FlowId,
    t: u64,
    victim: Host,
    sport: u16,
    reflector: Host,
}

/// A reflection campaign: requests with the victim's address spoofed go to [`AMP_FLOWS`]
/// reflectors on `port`, one flow each, started a few ms apart from `start`; `exchange` writes
/// each flow's datagrams.
fn reflection(
    g: &mut Gen,
    w: &World,
    start: u64,
    port: u16,
    label: Label,
    exchange: fn(&mut Gen, Reflected),
) {
    let attacker = w.attacker(g);
    let victim = w.spoofed(g, attacker);
    for (i, reflector) in reflectors(g, AMP_FLOWS).into_iter().enumerate() {
        let Some((flow, sport)) = g.open_ephemeral(&victim, &reflector, port, 17, label) else {
            continue;
        };
        let t = start + i as u64 * g.dur(MS, 20 * MS);
        exchange(
            g,
            Reflected {
                flow,
                t,
                victim,
                sport,
                reflector,
            },
        );
    }
}

/// Small ANY queries with the victim's address as source; each reflector answers with a
/// response of about 1.2-1.45 KB (one datagram: no IP fragments).
pub fn dns_amplification(g: &mut Gen, w: &World, start: u64) {
    reflection(g, w, start, 53, AMP_DNS, |g, r| {
        let mut t = r.t;
        for _ in 0..g.rng.random_range(2..=4) {
            let id = g.rng.random::<u16>();
            let query = payload::dns_query(id, "example.org", payload::QTYPE_ANY);
            g.udp(r.flow, t, (&r.victim, r.sport), (&r.reflector, 53), &query);
            let size = g.rng.random_range(1200..1440);
            let reply = payload::dns_response_any(id, "example.org", size, b'v');
            let rt = t + g.dur(5 * MS, 60 * MS);
            g.udp(r.flow, rt, (&r.reflector, 53), (&r.victim, r.sport), &reply);
            t += g.dur(20 * MS, 200 * MS);
        }
    });
}

/// monlist requests (48 bytes) answered by several 440-byte datagrams each.
pub fn ntp_amplification(g: &mut Gen, w: &World, start: u64) {
    reflection(g, w, start, 123, AMP_NTP, |g, r| {
        let mut t = r.t;
        for _ in 0..g.rng.random_range(1..=2) {
            let request = payload::ntp_monlist_request();
            g.udp(r.flow, t, (&r.victim, r.sport), (&r.reflector, 123), &request);
            let mut rt = t + g.dur(5 * MS, 60 * MS);
            let parts = g.rng.random_range(3..=6u8);
            let fill = g.bytes(72);
            for seq in 0..parts {
                let more = seq + 1 < parts;
                let entries = if more { 6 } else { g.rng.random_range(1..=6) };
                let reply = payload::ntp_monlist_response(seq, entries, more, &fill);
                g.udp(r.flow, rt, (&r.reflector, 123), (&r.victim, r.sport), &reply);
                rt += g.dur(50_000, 500_000);
            }
            t = rt + g.dur(50 * MS, 300 * MS);
        }
    });
}

/// Many connections to one web server, each sending a request line and a few headers, then one
/// more header line every 10-15 s so the server never sees the end of the request. The server
/// gives up on some (FIN after its timeout); the rest are still open when the capture ends.
pub fn slowloris(g: &mut Gen, w: &World, start: u64) {
    let attacker = w.attacker(g);
    let victim = w.web_servers.get(1).copied().unwrap_or(attacker);
    for i in 0..SLOWLORIS_FLOWS {
        let Some(flow) = g.ephemeral_flow(&attacker, &victim, 80, 6, SLOWLORIS) else {
            continue;
        };
        let rtt = g.dur(10 * MS, 40 * MS);
        let t = start + i as u64 * g.dur(5 * MS, 60 * MS);
        let mut c = Tcp::open(g, flow, attacker, victim, t, rtt);
        c.t += g.dur(MS, 5 * MS);
        let head = format!(
            "GET /?{} HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept-language: en-US,en,q=0.5\r\n",
            g.rng.random_range(0..2000)
        );
        c.transfer(g, true, head.as_bytes());
        let rounds = g.rng.random_range(8..=20);
        for _ in 0..rounds {
            c.t += g.dur(10 * SEC, 15 * SEC);
            let line = format!("X-a: {}\r\n", g.rng.random_range(1..5000));
            c.send(g, true, TCP_PSH | TCP_ACK, line.as_bytes());
            c.t += c.rtt;
            c.send(g, false, TCP_ACK, &[]);
        }
        if g.chance(0.5) {
            c.t += g.dur(5 * SEC, 15 * SEC);
            c.send(g, false, TCP_FIN | TCP_ACK, &[]);
            c.t += g.dur(MS / 10, MS);
            c.send(g, true, TCP_ACK, &[]);
        }
    }
}
