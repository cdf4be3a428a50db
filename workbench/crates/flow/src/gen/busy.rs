//! Benign traffic that looks like an attack flow by flow: a busy web client's bursts of short
//! and abandoned connections, the site resolvers' own queries (some with large signed answers,
//! some retried), NTP clients, connection attempts to services that are down, refuse, or are
//! only health-checked, and long-lived HTTP connections that send a few bytes now and then.

use rand::Rng;

use super::benign::query_name;
use super::connect::{self, Answer, SERVICE_PORTS};
use super::payload::{self, QTYPE_A, QTYPE_AAAA, QTYPE_DNSKEY, QTYPE_TXT};
use super::session::{Gen, Host, Tcp, MS, SEC};
use super::world::{World, LONG_POLL_FLOWS, NTP_FLOWS, RETRY_FLOWS, UPSTREAM_FLOWS, WEB_BURST_FLOWS};
use super::{Label, BENIGN};
use crate::craft::{TCP_ACK, TCP_PSH};

const WEB_BURST: Label = Label {
    label: BENIGN,
    scenario: "web_burst",
};
const DNS_UPSTREAM: Label = Label {
    label: BENIGN,
    scenario: "dns_upstream",
};
const NTP: Label = Label {
    label: BENIGN,
    scenario: "ntp",
};
const RETRY: Label = Label {
    label: BENIGN,
    scenario: "connect_retry",
};
const LONG_POLL: Label = Label {
    label: BENIGN,
    scenario: "long_poll",
};

/// Every flow of these scenarios, at uniform times in `0..span`.
pub fn generate(g: &mut Gen, w: &World, span: u64) {
    let mut made = 0;
    while made < WEB_BURST_FLOWS {
        let t = g.dur(0, span - 30 * SEC);
        made += web_burst(g, w, t, WEB_BURST_FLOWS - made);
    }
    for _ in 0..UPSTREAM_FLOWS {
        let t = g.dur(0, span - 5 * SEC);
        dns_upstream(g, w, t);
    }
    for _ in 0..NTP_FLOWS {
        let t = g.dur(0, span - 5 * 60 * SEC);
        ntp(g, w, t);
    }
    let mut made = 0;
    while made < RETRY_FLOWS {
        let t = g.dur(0, span - 10 * SEC);
        made += retry(g, w, t, RETRY_FLOWS - made);
    }
    for _ in 0..LONG_POLL_FLOWS {
        let t = g.dur(0, span / 2);
        long_poll(g, w, t);
    }
}

/// Small HTTP(S) exchanges on an open connection: requests of a few hundred bytes, mostly small
/// answers (API calls, icons, 304s).
fn small_exchanges(g: &mut Gen, c: &mut Tcp, tls: bool, n: u32) {
    for _ in 0..n {
        c.t += g.dur(MS, 300 * MS);
        let req_len = g.rng.random_range(180..600);
        let request = if tls {
            payload::tls_record(payload::TLS_APPLICATION_DATA, &g.bytes(req_len))
        } else {
            g.bytes(req_len)
        };
        c.transfer(g, true, &request);
        c.t += g.dur(5 * MS, 80 * MS);
        let resp_len = g.rng.random_range(90..1400);
        let response = if tls {
            payload::tls_record(payload::TLS_APPLICATION_DATA, &g.bytes(resp_len))
        } else {
            g.bytes(resp_len)
        };
        c.transfer(g, false, &response);
    }
}

/// A page load: 8-18 connections (at most `budget`) to 1-3 servers within two seconds. Most
/// make one to three small requests; some are preconnects never used, closed by the server's
/// keep-alive timeout; some are aborted with a RST when the user moves on. Returns the flows
/// made.
fn web_burst(g: &mut Gen, w: &World, t0: u64, budget: usize) -> usize {
    let client = World::pick(g, &w.clients);
    let servers: Vec<Host> = (0..g.rng.random_range(1..=3)).map(|_| w.web_server(g)).collect();
    let connections = g.rng.random_range(8..=18).min(budget);
    for _ in 0..connections {
        let server = servers[g.rng.random_range(0..servers.len())];
        let tls = g.chance(0.6);
        let port = if tls { 443 } else { 80 };
        let Some(flow) = g.ephemeral_flow(&client, &server, port, 6, WEB_BURST) else {
            continue;
        };
        let t = t0 + g.dur(0, 2 * SEC);
        let rtt = g.dur(4 * MS, 90 * MS);
        let mut c = Tcp::open(g, flow, client, server, t, rtt);
        match g.rng.random_range(0..100) {
            0..70 => {
                let n = g.rng.random_range(1..=3);
                small_exchanges(g, &mut c, tls, n);
                c.t += g.dur(100 * MS, 5 * SEC);
                let client_first = g.chance(0.6);
                c.close(g, client_first);
            }
            70..85 => {
                let idle = g.dur(5 * SEC, 20 * SEC);
                connect::server_timeout(g, &mut c, idle);
            }
            _ => {
                // The user moves on mid-page: the request went out, the answer is cut short.
                small_exchanges(g, &mut c, tls, 1);
                connect::hang_up(g, &mut c, true);
            }
        }
    }
    connections
}

/// One lookup at an authoritative server, by a site resolver or by a workstation's own
/// validating resolver (unbound, systemd-resolved): mostly a small answer; DNSSEC keys and long
/// TXT records come back at 0.6-1.4 KB; now and then the first query goes unanswered and is
/// sent again after the resolver's timeout.
fn dns_upstream(g: &mut Gen, w: &World, t: u64) {
    let resolver = if g.chance(0.5) {
        World::pick(g, &w.resolvers)
    } else {
        World::pick(g, &w.clients)
    };
    let server = World::pick(g, &w.dns_servers);
    let Some((flow, sport)) = g.open_ephemeral(&resolver, &server, 53, 17, DNS_UPSTREAM) else {
        return;
    };
    let name = query_name(g);
    let qtype = [QTYPE_A, QTYPE_A, QTYPE_AAAA, QTYPE_DNSKEY, QTYPE_TXT][g.rng.random_range(0..5)];
    let mut t = t;
    if g.chance(0.12) {
        let id = g.rng.random::<u16>();
        g.udp(
            flow,
            t,
            (&resolver, sport),
            (&server, 53),
            &payload::dns_query(id, &name, qtype),
        );
        t += g.dur(800 * MS, 1500 * MS);
    }
    let id = g.rng.random::<u16>();
    g.udp(
        flow,
        t,
        (&resolver, sport),
        (&server, 53),
        &payload::dns_query(id, &name, qtype),
    );
    let reply = if qtype == QTYPE_DNSKEY || qtype == QTYPE_TXT {
        let size = g.rng.random_range(600..1440);
        payload::dns_response_padded(id, &name, qtype, size, b'k')
    } else {
        let answers: Vec<_> = (0..g.rng.random_range(1..=4))
            .map(|_| std::net::Ipv4Addr::new(198, 51, 100, g.rng.random_range(10..60)))
            .collect();
        let ttl = g.rng.random_range(30..86400);
        payload::dns_response_a(
            id,
            &name,
            qtype,
            if qtype == QTYPE_A { &answers } else { &[] },
            ttl,
        )
    };
    let rt = t + g.dur(5 * MS, 120 * MS);
    g.udp(flow, rt, (&server, 53), (&resolver, sport), &reply);
}

/// Time queries: ntpd polls from port 123 every 64 s; sntp-style clients ask once from an
/// ephemeral port and retry a few times when the server stays silent.
fn ntp(g: &mut Gen, w: &World, t: u64) {
    let client = World::pick(g, &w.clients);
    let server = World::pick(g, &w.ntp_servers);
    let daemon = g.chance(0.5);
    // A second daemon on the same pair would reuse its 5-tuple: that one uses sntp's port.
    let flow = match daemon {
        true => g.flow(&client, 123, &server, 123, 17, NTP).map(|f| (f, 123)),
        false => None,
    };
    let Some((flow, sport)) = flow.or_else(|| g.open_ephemeral(&client, &server, 123, 17, NTP)) else {
        return;
    };
    let daemon = sport == 123;
    let answered = g.chance(0.8);
    let polls = match (daemon, answered) {
        (true, _) => g.rng.random_range(2..=5),
        (false, true) => 1,
        (false, false) => g.rng.random_range(1..=4),
    };
    let mut t = t;
    for _ in 0..polls {
        let stamp = g.bytes(8);
        g.udp(
            flow,
            t,
            (&client, sport),
            (&server, 123),
            &payload::ntp_time_packet(3, &stamp),
        );
        if answered {
            let rt = t + g.dur(8 * MS, 90 * MS);
            g.udp(
                flow,
                rt,
                (&server, 123),
                (&client, sport),
                &payload::ntp_time_packet(4, &stamp),
            );
        }
        t += if daemon {
            g.dur(62 * SEC, 66 * SEC)
        } else {
            g.dur(SEC, 2 * SEC)
        };
    }
}

/// An application reaching a service: down (retransmitted SYNs, or given up after one when
/// another address answered first), refusing (RST), or up and only checked (a health check or
/// a lost happy-eyeballs race: connect, then close or reset). A failed attempt is tried again
/// from a new port up to twice. Returns the flows made (at most `budget`).
fn retry(g: &mut Gen, w: &World, t: u64, budget: usize) -> usize {
    let client = World::pick(g, &w.clients);
    let (server, port) = if g.chance(0.6) {
        (
            World::pick(g, &w.ssh_servers),
            SERVICE_PORTS[g.rng.random_range(0..SERVICE_PORTS.len())],
        )
    } else {
        (w.web_server(g), [80, 443][g.rng.random_range(0..2)])
    };
    let answer = Answer::draw(g, 45, 35);
    let attempts = if answer == Answer::Accepted {
        1
    } else {
        g.rng.random_range(1..=3).min(budget)
    };
    let mut t = t;
    let mut made = 0;
    for _ in 0..attempts {
        let Some(flow) = g.ephemeral_flow(&client, &server, port, 6, RETRY) else {
            continue;
        };
        made += 1;
        let rtt = g.dur(MS / 2, 40 * MS);
        let retries = g.rng.random_range(0..=3);
        if let Some(mut c) = connect::connect(g, flow, (client, server), t, rtt, answer, retries) {
            let reset = g.chance(0.5);
            connect::hang_up(g, &mut c, reset);
        }
        t += g.dur(SEC, 8 * SEC);
    }
    made.max(1)
}

/// A long-lived HTTP connection (long poll, telemetry, a chat client): one request, then every
/// 10-30 s a few bytes from the client that the server mostly only acknowledges.
fn long_poll(g: &mut Gen, w: &World, t: u64) {
    let client = World::pick(g, &w.clients);
    let server = w.web_server(g);
    let tls = g.chance(0.3);
    let port = if tls { 443 } else { 80 };
    let Some(flow) = g.ephemeral_flow(&client, &server, port, 6, LONG_POLL) else {
        return;
    };
    let rtt = g.dur(10 * MS, 60 * MS);
    let mut c = Tcp::open(g, flow, client, server, t, rtt);
    c.t += g.dur(MS, 5 * MS);
    let len = g.rng.random_range(120..400);
    let request = if tls {
        payload::tls_record(payload::TLS_APPLICATION_DATA, &g.bytes(len))
    } else {
        g.bytes(len)
    };
    c.transfer(g, true, &request);
    for _ in 0..g.rng.random_range(6..=16) {
        c.t += g.dur(10 * SEC, 30 * SEC);
        let n = g.rng.random_range(8..60);
        let beat = g.bytes(n);
        c.send(g, true, TCP_PSH | TCP_ACK, &beat);
        c.t += c.rtt;
        if g.chance(0.3) {
            let n = g.rng.random_range(20..60);
            let answer = g.bytes(n);
            c.send(g, false, TCP_PSH | TCP_ACK, &answer);
            c.t += g.dur(MS / 10, MS);
            c.send(g, true, TCP_ACK, &[]);
        } else {
            c.send(g, false, TCP_ACK, &[]);
        }
    }
    if g.chance(0.5) {
        c.t += g.dur(MS, SEC);
        c.close(g, true);
    }
}
