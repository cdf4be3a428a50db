//! Benign traffic: web sessions (TLS-like on 443, plain HTTP on 80), DNS lookups, interactive
//! SSH sessions.

use rand::Rng;

use super::payload::{self, QTYPE_A, QTYPE_AAAA};
use super::session::{Gen, Host, Tcp, MS, SEC};
use super::world::{World, DNS_FLOWS, SSH_FLOWS, WEB_FLOWS};
use super::{Label, BENIGN};
use crate::craft::{TCP_ACK, TCP_PSH};

const WEB_TLS: Label = Label {
    label: BENIGN,
    scenario: "web_tls",
};
const WEB_HTTP: Label = Label {
    label: BENIGN,
    scenario: "web_http",
};
const DNS: Label = Label {
    label: BENIGN,
    scenario: "dns",
};
const SSH: Label = Label {
    label: BENIGN,
    scenario: "ssh",
};

const NAMES: [&str; 12] = [
    "www.example.com",
    "api.example.net",
    "cdn.example.org",
    "mail.example.com",
    "login.example.net",
    "static.example.org",
    "updates.example.com",
    "docs.example.net",
    "news.example.org",
    "img.example.com",
    "time.example.net",
    "chat.example.org",
];

/// A name to look up: one of the usual domains, a third of the time a host under it (as a
/// browser's subresources are). Reflection attacks ask for the same names, so query sizes give
/// nothing away.
pub fn query_name(g: &mut Gen) -> String {
    let base = NAMES[g.rng.random_range(0..NAMES.len())];
    if g.chance(0.33) {
        format!("h{}.{}", g.rng.random_range(1..200), base)
    } else {
        base.to_string()
    }
}

/// Every benign flow, each starting at a uniform time in `0..span` (SSH sessions early enough
/// to end inside it).
pub fn generate(g: &mut Gen, w: &World, span: u64) {
    for i in 0..WEB_FLOWS {
        let t = g.dur(0, span - 10 * SEC);
        let client = World::pick(g, &w.clients);
        let server = w.web_server(g);
        // Four in five over TLS, the same count in every capture.
        let tls = i % 5 != 0;
        web(g, client, server, t, tls);
    }
    for _ in 0..DNS_FLOWS {
        let t = g.dur(0, span - SEC);
        let client = World::pick(g, &w.clients);
        let resolver = World::pick(g, &w.resolvers);
        dns(g, client, resolver, t);
    }
    for _ in 0..SSH_FLOWS {
        let t = g.dur(0, span / 2);
        let client = World::pick(g, &w.clients);
        let server = World::pick(g, &w.ssh_servers);
        ssh(g, client, server, t);
    }
    super::busy::generate(g, w, span);
}

/// A response body size: mostly small API answers and pages, sometimes an image or a script.
fn response_size(g: &mut Gen) -> usize {
    match g.rng.random_range(0..100) {
        0..75 => g.rng.random_range(300..1500),
        75..97 => g.rng.random_range(1500..6000),
        _ => g.rng.random_range(6000..16000),
    }
}

/// Random lowercase text (an HTML-ish body that compresses as poorly as real content).
fn text(g: &mut Gen, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| b"abcdefghijklmnopqrstuvwxyz <>/\n"[g.rng.random_range(0..31)])
        .collect()
}

fn web(g: &mut Gen, client: Host, server: Host, t: u64, tls: bool) {
    let (port, label) = if tls { (443, WEB_TLS) } else { (80, WEB_HTTP) };
    let Some(flow) = g.ephemeral_flow(&client, &server, port, 6, label) else {
        return;
    };
    let rtt = g.dur(4 * MS, 90 * MS);
    let mut c = Tcp::open(g, flow, client, server, t, rtt);
    if tls {
        let hello = payload::tls_record(payload::TLS_HANDSHAKE, &g.bytes(512));
        c.transfer(g, true, &hello);
        c.t += g.dur(MS, 8 * MS);
        let cert_len = g.rng.random_range(1200..2600);
        let cert = payload::tls_record(payload::TLS_HANDSHAKE, &g.bytes(cert_len));
        c.transfer(g, false, &cert);
        c.t += g.dur(MS, 5 * MS);
        let kex_len = g.rng.random_range(88..121);
        let kex = payload::tls_record(payload::TLS_HANDSHAKE, &g.bytes(kex_len));
        c.transfer(g, true, &kex);
        let mut fin = payload::tls_record(payload::TLS_CHANGE_CIPHER_SPEC, &[1]);
        fin.extend(payload::tls_record(payload::TLS_HANDSHAKE, &g.bytes(40)));
        c.t += g.dur(MS, 3 * MS);
        c.transfer(g, false, &fin);
    }
    let exchanges = g.rng.random_range(1..=2);
    for i in 0..exchanges {
        c.t += if i == 0 {
            g.dur(2 * MS, 40 * MS)
        } else {
            g.dur(80 * MS, 3 * SEC)
        };
        let body = response_size(g);
        let (request, response) = if tls {
            let req_len = g.rng.random_range(250..900);
            (
                payload::tls_record(payload::TLS_APPLICATION_DATA, &g.bytes(req_len)),
                payload::tls_record(payload::TLS_APPLICATION_DATA, &g.bytes(body)),
            )
        } else {
            let path_len = g.rng.random_range(4..40);
            let path = text(g, path_len);
            let req = format!(
                "GET /{} HTTP/1.1\r\nHost: {}\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: */*\r\n\r\n",
                String::from_utf8_lossy(&path).replace(|ch: char| !ch.is_ascii_lowercase(), "-"),
                server.ip
            )
            .into_bytes();
            let mut resp =
                format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {body}\r\n\r\n")
                    .into_bytes();
            resp.extend(text(g, body));
            (req, resp)
        };
        c.transfer(g, true, &request);
        c.t += g.dur(MS, 40 * MS);
        c.transfer(g, false, &response);
    }
    c.t += g.dur(50 * MS, 2 * SEC);
    let client_first = g.chance(0.7);
    c.close(g, client_first);
}

fn dns(g: &mut Gen, client: Host, resolver: Host, t: u64) {
    let Some((flow, sport)) = g.open_ephemeral(&client, &resolver, 53, 17, DNS) else {
        return;
    };
    let name = query_name(g);
    let qtype = if g.chance(0.7) { QTYPE_A } else { QTYPE_AAAA };
    let id = g.rng.random::<u16>();
    g.udp(
        flow,
        t,
        (&client, sport),
        (&resolver, 53),
        &payload::dns_query(id, &name, qtype),
    );
    let answers: Vec<_> = if qtype == QTYPE_A {
        (0..g.rng.random_range(1..=4))
            .map(|_| std::net::Ipv4Addr::new(198, 51, 100, g.rng.random_range(10..60)))
            .collect()
    } else {
        Vec::new()
    };
    let ttl = g.rng.random_range(30..3600);
    let reply = payload::dns_response_a(id, &name, qtype, &answers, ttl);
    let t = t + g.dur(MS / 2, 60 * MS);
    g.udp(flow, t, (&resolver, 53), (&client, sport), &reply);
}

/// Login, then typing: one small encrypted packet per keystroke, echoed by the server and
/// acknowledged, with typing gaps, pauses to think, and now and then a command's output.
fn ssh(g: &mut Gen, client: Host, server: Host, t: u64) {
    let Some(flow) = g.ephemeral_flow(&client, &server, 22, 6, SSH) else {
        return;
    };
    let rtt = g.dur(MS / 2, 20 * MS);
    let mut c = Tcp::open(g, flow, client, server, t, rtt);
    c.t += g.dur(2 * MS, 10 * MS);
    c.transfer(g, false, b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n");
    c.t += g.dur(MS, 5 * MS);
    c.transfer(g, true, b"SSH-2.0-OpenSSH_9.6\r\n");
    // Key exchange and authentication: alternating messages of typical sizes.
    for (from_client, lo, hi) in [
        (true, 1400, 1600),
        (false, 1000, 1200),
        (true, 44, 60),
        (false, 500, 1100),
        (true, 44, 80),
        (false, 44, 80),
        (true, 600, 700),
        (false, 44, 60),
    ] {
        c.t += g.dur(MS, 15 * MS);
        let n = g.rng.random_range(lo..hi);
        let data = g.bytes(n);
        c.transfer(g, from_client, &data);
    }
    let keystrokes = g.rng.random_range(20..60);
    for _ in 0..keystrokes {
        c.t += match g.rng.random_range(0..100) {
            0..85 => g.dur(80 * MS, 350 * MS),
            _ => g.dur(SEC, 8 * SEC),
        };
        let key = g.bytes(36);
        c.send(g, true, TCP_PSH | TCP_ACK, &key);
        c.t += c.rtt;
        let echo = g.bytes(36);
        c.send(g, false, TCP_PSH | TCP_ACK, &echo);
        c.t += g.dur(MS / 10, 2 * MS);
        c.send(g, true, TCP_ACK, &[]);
        if g.chance(0.04) {
            c.t += g.dur(5 * MS, 200 * MS);
            let n = g.rng.random_range(200..1500);
            let output = g.bytes(n);
            c.transfer(g, false, &output);
        }
    }
    c.t += g.dur(20 * MS, 200 * MS);
    c.close(g, false);
}
