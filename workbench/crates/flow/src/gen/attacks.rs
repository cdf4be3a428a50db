//! Attack campaigns: SYN flood, horizontal and vertical port scans, DNS and NTP reflection, and
//! slowloris. Each runs as [`Campaign`] says (start, flows, attacker); [`World`] decides where
//! the attacker sits. The same tools make both variants' flows: raw SYN floods and scanners,
//! but also floods that complete their handshakes, connect() scans with the OS's own SYNs,
//! reflectors that do not amplify, and slowloris at the pace of a long poll, so a share of the
//! attack flows looks like benign traffic flow by flow.

use std::net::Ipv4Addr;

use rand::seq::SliceRandom;
use rand::Rng;

use super::benign::query_name;
use super::connect::{self, segment, Answer, SERVICE_PORTS};
use super::payload;
use super::session::{FlowId, Gen, Host, Tcp, MS, SEC};
use super::world::{os_ttl, Campaign, World, POPULAR_WEB_SERVERS};
use super::Label;
use crate::craft::{TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN};

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

/// Share of a flood's connections that complete the handshake (a connection flood from real
/// addresses, holding or briefly using each connection) rather than spoof a lone SYN.
const FLOOD_HANDSHAKE_SHARE: f64 = 0.3;

/// A SYN flood at the most popular web server's port 80. Most SYNs are spoofed and never completed: the server answers
/// most with a SYN-ACK and retransmits it (1 s, then 2 s later) to a source that never replies,
/// and once its backlog is full drops the rest silently. The others come from hosts that
/// complete the handshake, then hold the connection until the server times it out, or send a
/// request and reset.
pub fn syn_flood(g: &mut Gen, w: &World, c: &Campaign) {
    // The most popular site, which benign clients keep using during the flood.
    let victim = w.web_servers.first().copied().unwrap_or(c.attacker);
    let port = 80;
    let mut t = c.start;
    for _ in 0..c.flows {
        t += g.dur(MS / 2, 8 * MS);
        let src = w.spoofed(g, c.attacker);
        let Some((flow, sport)) = g.open_ephemeral(&src, &victim, port, 6, SYN_FLOOD) else {
            continue;
        };
        if g.chance(FLOOD_HANDSHAKE_SHARE) {
            let rtt = g.dur(4 * MS, 60 * MS);
            let mut conn = Tcp::open(g, flow, src, victim, t, rtt);
            if g.chance(0.5) {
                let idle = g.dur(5 * SEC, 30 * SEC);
                connect::server_timeout(g, &mut conn, idle);
            } else {
                conn.t += g.dur(MS, 50 * MS);
                let len = g.rng.random_range(180..600);
                let request = g.bytes(len);
                conn.transfer(g, true, &request);
                conn.t += g.dur(5 * MS, 80 * MS);
                let len = g.rng.random_range(90..1400);
                let response = g.bytes(len);
                conn.transfer(g, false, &response);
                connect::hang_up(g, &mut conn, true);
            }
            continue;
        }
        let seq = g.rng.random::<u32>();
        // Flood tools use a fixed small window or copy a common OS's.
        let window = [512, 1024, 64240, 29200][g.rng.random_range(0..4)];
        segment(
            g,
            flow,
            t,
            (&src, sport),
            (&victim, port),
            seq,
            0,
            TCP_SYN,
            window,
        );
        if g.chance(0.7) {
            let sseq = g.rng.random::<u32>();
            let mut rt = t + g.dur(10 * MS, 40 * MS);
            for retry in 0..g.rng.random_range(1..=3) {
                let flags = TCP_SYN | TCP_ACK;
                segment(
                    g,
                    flow,
                    rt,
                    (&victim, port),
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
fn probe(g: &mut Gen, flow: FlowId, t: u64, scanner: (&Host, u16), target: (&Host, u16), answer: Answer) {
    let seq = g.rng.random::<u32>();
    segment(g, flow, t, scanner, target, seq, 0, TCP_SYN, 1024);
    let rtt = g.dur(MS / 5, 5 * MS);
    match answer {
        Answer::Silent => segment(g, flow, t + SEC, scanner, target, seq, 0, TCP_SYN, 1024),
        Answer::Refused => segment(
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
        Answer::Accepted => {
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

/// How a scan campaign probes: a raw SYN scanner (one source port, a tool's window, fast), or a
/// slow connect() scan through the OS (a new ephemeral port and the OS's SYN per probe, up to
/// a second apart), which flow by flow is an application's connection attempt.
struct Scanner {
    host: Host,
    connect: bool,
    sport: u16,
    /// Gap between two probes.
    gap: (u64, u64),
}

impl Scanner {
    fn new(g: &mut Gen, host: Host) -> Scanner {
        let connect = g.chance(0.5);
        Scanner {
            host,
            connect,
            sport: g.rng.random_range(32768..=60999),
            gap: if connect {
                (100 * MS, SEC)
            } else {
                (2 * MS, 30 * MS)
            },
        }
    }

    /// One probe of `target:port` at `t`; false when its 5-tuple was taken.
    fn probe(&self, g: &mut Gen, t: u64, target: Host, port: u16, answer: Answer, label: Label) -> bool {
        if self.connect {
            let Some(flow) = g.ephemeral_flow(&self.host, &target, port, 6, label) else {
                return false;
            };
            let rtt = g.dur(MS / 5, 5 * MS);
            let retries = g.rng.random_range(0..=1);
            if let Some(mut c) = connect::connect(g, flow, (self.host, target), t, rtt, answer, retries) {
                connect::hang_up(g, &mut c, true);
            }
        } else {
            let Some(flow) = g.flow(&self.host, self.sport, &target, port, 6, label) else {
                return false;
            };
            probe(g, flow, t, (&self.host, self.sport), (&target, port), answer);
        }
        true
    }
}

/// One service port across many hosts of the server network.
pub fn horizontal_scan(g: &mut Gen, _w: &World, c: &Campaign) {
    let scanner = Scanner::new(g, c.attacker);
    let port = SERVICE_PORTS[g.rng.random_range(0..5)];
    let mut hosts: Vec<u16> = (1..1022).collect();
    hosts.shuffle(&mut g.rng);
    let mut t = c.start;
    for h in hosts.into_iter().take(c.flows) {
        t += g.dur(scanner.gap.0, scanner.gap.1);
        let target = Host {
            ip: Ipv4Addr::new(10, 20, (h >> 8) as u8, (h & 0xff) as u8),
            ttl: os_ttl(g, 0, 1),
        };
        let answer = Answer::draw(g, 60, 30);
        scanner.probe(g, t, target, port, answer, HSCAN);
    }
}

/// Many ports of one host: closed ports answer RST, the few open ones SYN-ACK; the service
/// ports come first, as scanners order them.
pub fn vertical_scan(g: &mut Gen, w: &World, c: &Campaign) {
    let scanner = Scanner::new(g, c.attacker);
    let target = World::pick(g, &w.ssh_servers);
    let open_ports = [22u16, 80, 443];
    let mut ports: Vec<u16> = (1..=1024).filter(|p| !SERVICE_PORTS.contains(p)).collect();
    ports.shuffle(&mut g.rng);
    ports.truncate(c.flows.saturating_sub(SERVICE_PORTS.len()));
    let mut order: Vec<u16> = SERVICE_PORTS.to_vec();
    order.shuffle(&mut g.rng);
    order.extend(ports);
    let mut t = c.start;
    for port in order.into_iter().take(c.flows) {
        t += g.dur(scanner.gap.0, scanner.gap.1);
        let answer = if open_ports.contains(&port) {
            Answer::Accepted
        } else {
            Answer::Refused
        };
        scanner.probe(g, t, target, port, answer, VSCAN);
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

/// One reflected flow: the spoofed victim's port and the reflector, when it starts, whether
/// the reflector amplifies, and the gap between the attacker's requests.
struct Reflected {
    flow: FlowId,
    t: u64,
    victim: Host,
    sport: u16,
    reflector: Host,
    amplifies: bool,
    gap: (u64, u64),
}

/// A reflection campaign: requests with the victim's address spoofed go to one reflector per
/// flow on `port`, started a few ms apart; a quarter of the reflectors do not amplify (patched,
/// rate-limited). A fast campaign sends its requests tens of ms apart, a low-rate one seconds
/// apart. `exchange` writes each flow's datagrams.
fn reflection(
    g: &mut Gen,
    w: &World,
    c: &Campaign,
    port: u16,
    label: Label,
    exchange: fn(&mut Gen, Reflected),
) {
    let victim = w.spoofed(g, c.attacker);
    let gap = if g.chance(0.5) {
        (20 * MS, 200 * MS)
    } else {
        (500 * MS, 3 * SEC)
    };
    for (i, reflector) in reflectors(g, c.flows).into_iter().enumerate() {
        let Some((flow, sport)) = g.open_ephemeral(&victim, &reflector, port, 17, label) else {
            continue;
        };
        let t = c.start + i as u64 * g.dur(MS, 20 * MS);
        let amplifies = g.chance(0.75);
        exchange(
            g,
            Reflected {
                flow,
                t,
                victim,
                sport,
                reflector,
                amplifies,
                gap,
            },
        );
    }
}

/// ANY queries for the usual names with the victim's address as source; an amplifying
/// reflector answers each with about 1.0-1.45 KB (one datagram: no IP fragments), the others
/// with a short refusal.
pub fn dns_amplification(g: &mut Gen, w: &World, c: &Campaign) {
    reflection(g, w, c, 53, AMP_DNS, |g, r| {
        let mut t = r.t;
        let name = query_name(g);
        for _ in 0..g.rng.random_range(1..=4) {
            let id = g.rng.random::<u16>();
            let query = payload::dns_query(id, &name, payload::QTYPE_ANY);
            g.udp(r.flow, t, (&r.victim, r.sport), (&r.reflector, 53), &query);
            let reply = if r.amplifies {
                let size = g.rng.random_range(1000..1440);
                payload::dns_response_any(id, &name, size, b'v')
            } else {
                payload::dns_response_a(id, &name, payload::QTYPE_ANY, &[], 300)
            };
            let rt = t + g.dur(5 * MS, 60 * MS);
            g.udp(r.flow, rt, (&r.reflector, 53), (&r.victim, r.sport), &reply);
            t += g.dur(r.gap.0, r.gap.1);
        }
    });
}

/// monlist requests (48 bytes, the size of a time query) answered by several 440-byte
/// datagrams each by an amplifying reflector, and not at all by the others.
pub fn ntp_amplification(g: &mut Gen, w: &World, c: &Campaign) {
    reflection(g, w, c, 123, AMP_NTP, |g, r| {
        let mut t = r.t;
        for _ in 0..g.rng.random_range(1..=3) {
            let request = payload::ntp_monlist_request();
            g.udp(r.flow, t, (&r.victim, r.sport), (&r.reflector, 123), &request);
            let mut rt = t + g.dur(5 * MS, 60 * MS);
            if r.amplifies {
                let parts = g.rng.random_range(3..=6u8);
                let fill = g.bytes(72);
                for seq in 0..parts {
                    let more = seq + 1 < parts;
                    let entries = if more { 6 } else { g.rng.random_range(1..=6) };
                    let reply = payload::ntp_monlist_response(seq, entries, more, &fill);
                    g.udp(r.flow, rt, (&r.reflector, 123), (&r.victim, r.sport), &reply);
                    rt += g.dur(50_000, 500_000);
                }
            }
            t = rt + g.dur(r.gap.0, r.gap.1);
        }
    });
}

/// Many connections to one web server, each sending a request line and a few headers, then one
/// more header line every 10-15 s (a patient campaign: 10-30 s) so the server never sees the
/// end of the request. The server gives up on some (FIN after its timeout); the rest are still
/// open when the capture ends.
pub fn slowloris(g: &mut Gen, w: &World, c: &Campaign) {
    let victim = World::pick(g, &w.web_servers[..POPULAR_WEB_SERVERS]);
    let pace = if g.chance(0.5) {
        (10 * SEC, 15 * SEC)
    } else {
        (10 * SEC, 30 * SEC)
    };
    for i in 0..c.flows {
        let Some(flow) = g.ephemeral_flow(&c.attacker, &victim, 80, 6, SLOWLORIS) else {
            continue;
        };
        let rtt = g.dur(10 * MS, 40 * MS);
        let t = c.start + i as u64 * g.dur(5 * MS, 60 * MS);
        let mut conn = Tcp::open(g, flow, c.attacker, victim, t, rtt);
        conn.t += g.dur(MS, 5 * MS);
        let head = format!(
            "GET /?{} HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64)\r\nAccept-language: en-US,en,q=0.5\r\n",
            g.rng.random_range(0..2000)
        );
        conn.transfer(g, true, head.as_bytes());
        let rounds = g.rng.random_range(6..=18);
        for _ in 0..rounds {
            conn.t += g.dur(pace.0, pace.1);
            let line = format!("X-a: {}\r\n", g.rng.random_range(1..5000));
            conn.send(g, true, TCP_PSH | TCP_ACK, line.as_bytes());
            conn.t += conn.rtt;
            conn.send(g, false, TCP_ACK, &[]);
        }
        if g.chance(0.5) {
            conn.t += g.dur(5 * SEC, 15 * SEC);
            conn.send(g, false, TCP_FIN | TCP_ACK, &[]);
            conn.t += g.dur(MS / 10, MS);
            conn.send(g, true, TCP_ACK, &[]);
        }
    }
}
